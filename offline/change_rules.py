"""How each resource type turns changed inputs into update or replace, and what its change means to a reader.

The offline diff (offline/diff.py) finds which input paths changed; a rule here says what the engine would do with
them. A rule is a function (old resource, new resource, changed paths) -> Verdict, where a resource is one entry of
the plan JSON (None when it is created or deleted). Give a new resource type its own rule by adding it to RULES:
the line it returns as `meaning` is shown under the resource and collected in the summary.
"""
from __future__ import annotations

import importlib
import inspect
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from pulumi.runtime.rpc import UNKNOWN as ENGINE_UNKNOWN

from providers.acr_build import AcrImageBuildProvider
from providers.model_package import ModelPackageProvider
from providers.site_rollout import SiteRolloutProvider
from providers.slot_swap import SlotSwapProvider

from .mock_engine import UNKNOWN
from .project import ACR_BUILD_TYPE, PACKAGE_TYPE, ROLLOUT_TYPE, SWAP_TYPE

Resource = dict[str, Any]


@dataclass(frozen=True)
class Verdict:
    op: str  # "create", "update", "replace", "delete" or "same"
    replace_because: tuple[str, ...] = ()  # the changed paths that force the replacement
    meaning: Optional[str] = None  # one line for a reader: what this change costs or does
    facts: dict[str, Any] = field(default_factory=dict)  # the same, for machines (JSON)


Rule = Callable[[Optional[Resource], Optional[Resource], list[str]], Verdict]


def top(path: str) -> str:
    return re.split(r"[.\[]", path, maxsplit=1)[0]


def _plain(old: Optional[Resource], new: Optional[Resource], changed: list[str],
           replace_keys: frozenset[str] = frozenset()) -> Verdict:
    if old is None:
        return Verdict("create")
    if new is None:
        return Verdict("delete")
    because = tuple(p for p in changed if top(p) in replace_keys)
    return Verdict("replace" if because else "update" if changed else "same", because)


# -- azure-native ----------------------------------------------------------------------------------------------------
# The provider replaces a resource when an input in its ARM URL path changes (its name, resource group, scope...) or
# an input its metadata marks force-new. The path inputs are read from the installed SDK: they are exactly the
# arguments of the type's get_<resource>() function. The force-new marks live in the provider binary, which is not
# here: ARM refuses to move a resource (`location`), and pulumi-azure-native's forceNewMap names these for the types
# this stack declares. `pulumi preview` has the last word.
FORCE_NEW = {
    "*": {"location"},
    "azure-native:web:WebApp": {"kind"},
    "azure-native:web:WebAppSlot": {"kind"},
    "azure-native:authorization:RoleAssignment": {"principalId"},
    # ARM refuses a new sku in a profile's PUT; the provider replaces the profile (pulumi-azure-native #2230, #3432).
    "azure-native:cdn:Profile": {"sku"},  # fact: fd-profile-sku-replace
}
_PATH_FALLBACK = ("resourceGroupName", "name", "resourceName", "scope")  # types without a get function
_path_inputs_cache: dict[str, frozenset[str]] = {}


def _getter_names(resource: str) -> tuple[str, ...]:
    """The SDK's name for a type's get function: get_afd_endpoint for AFDEndpoint (an acronym is one word), and the
    plain split as a fallback."""
    return tuple(dict.fromkeys(
        "get_" + re.sub(pattern, "_", resource).lower()
        for pattern in (r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", r"(?<=[a-z0-9])(?=[A-Z])")))


def azure_path_inputs(type_token: str) -> frozenset[str]:
    """The wire names of the inputs in a resource's ARM URL path, from the SDK's get function and Args class."""
    if type_token not in _path_inputs_cache:
        _, module_name, resource = type_token.split(":")
        found: set[str] = set()
        try:
            module = importlib.import_module(f"pulumi_azure_native.{module_name}")
            args_class = getattr(module, f"{resource}Args", None)
            getter = next((getattr(module, g) for g in _getter_names(resource) if hasattr(module, g)), None)
        except ImportError:
            module, args_class, getter = None, None, None
        if args_class is not None:
            properties = {name: getattr(getattr(args_class, name), "fget", None) for name in dir(args_class)
                          if isinstance(getattr(args_class, name, None), property)}
            wire = {name: getattr(fget, "_pulumi_name", name) for name, fget in properties.items()}
            if getter is not None:
                found = {wire[p] for p in inspect.signature(getter).parameters if p in wire}
            else:
                found = set(wire.values()) & set(_PATH_FALLBACK)
        _path_inputs_cache[type_token] = frozenset(found or _PATH_FALLBACK)
    return _path_inputs_cache[type_token]


def azure_native(old: Optional[Resource], new: Optional[Resource], changed: list[str]) -> Verdict:
    typ = (new or old)["type"]
    keys = azure_path_inputs(typ) | FORCE_NEW["*"] | FORCE_NEW.get(typ, set())
    return _plain(old, new, changed, frozenset(keys))


# -- Front Door -------------------------------------------------------------------------------------------------------
def front_door_profile(old: Optional[Resource], new: Optional[Resource], changed: list[str]) -> Verdict:
    """The profile as the provider treats it, saying what its replacement costs: a new profile has a new frontDoorId
    (every site's access rule changes with it) and its endpoints new host names; Standard -> Premium in place is
    Microsoft's upgrade operation, not a PUT. fact: fd-profile-sku-replace"""
    verdict = azure_native(old, new, changed)
    if verdict.op != "replace":
        return verdict
    tiers = [(r or {}).get("inputs", {}).get("sku", {}).get("name") for r in (old, new)]
    how = (f"the tier changes ({tiers[0]} -> {tiers[1]}): to keep the profile, upgrade it in place first (the "
           "profile's Configuration > Upgrade in the portal, or Update-AzFrontDoorCdnProfile -ProfileUpgradeParameter; "
           "Standard -> Premium only, no downgrade), then `pulumi refresh`"
           if any(top(p) == "sku" for p in verdict.replace_because) else f"{', '.join(verdict.replace_because)} changed")
    return Verdict("replace", verdict.replace_because,
                   f"Front Door: NEW PROFILE (a new frontDoorId the sites then admit, new endpoint host names), because "
                   f"{how}", {"newFrontDoorId": True, "because": list(verdict.replace_because)})


# -- the package image ------------------------------------------------------------------------------------------------
def _provider_inputs(resource: Resource) -> dict[str, Any]:
    """Plan inputs as the engine hands them to the provider: no pickled provider, unknowns as the engine's marker."""
    return {k: ENGINE_UNKNOWN if v == UNKNOWN else v for k, v in resource["inputs"].items() if k != "__provider"}


def model_package(old: Optional[Resource], new: Optional[Resource], changed: list[str]) -> Verdict:
    """Rebuild or not, decided by the provider's own diff (providers/model_package.py), never a copy of its rules."""
    if old is None:
        return Verdict("create", meaning="package image: BUILD (new package: minutes to tens of minutes)",
                       facts={"rebuild": True, "because": ["new package"]})
    if new is None:
        return Verdict("delete", meaning="package image: no longer built by this stack (its environment is archived)",
                       facts={"rebuild": False, "because": []})
    result = ModelPackageProvider().diff("", _provider_inputs(old), _provider_inputs(new))
    replaces = tuple(result.replaces or ())
    if replaces:
        return Verdict("replace", replaces,
                       f"package image: REBUILD (minutes to tens of minutes), because {', '.join(replaces)} changed",
                       {"rebuild": True, "because": list(replaces)})
    op = "update" if result.changes else "same"
    tail = f"; updated in place: {', '.join(changed)}" if op == "update" else ""
    return Verdict(op, (), f"package image: no rebuild{tail}", {"rebuild": False, "because": []})


def acr_image_build(old: Optional[Resource], new: Optional[Resource], changed: list[str]) -> Verdict:
    """Rebuild or not, decided by the ACR build provider's own diff (providers/acr_build.py)."""
    if old is None:
        return Verdict("create", meaning="image: BUILD with ACR Tasks (new image: minutes, billed per build second)",
                       facts={"rebuild": True, "because": ["new image"]})
    if new is None:
        return Verdict("delete", meaning="image: no longer built by this stack (the image stays in its registry)",
                       facts={"rebuild": False, "because": []})
    result = AcrImageBuildProvider().diff("", _provider_inputs(old), _provider_inputs(new))
    replaces = tuple(result.replaces or ())
    if replaces:
        return Verdict("replace", replaces, f"image: REBUILD with ACR Tasks (minutes, billed per build second), "
                       f"because {', '.join(replaces)} changed", {"rebuild": True, "because": list(replaces)})
    op = "update" if result.changes else "same"
    tail = f"; updated in place: {', '.join(changed)}" if op == "update" else ""
    return Verdict(op, (), f"image: no rebuild{tail}", {"rebuild": False, "because": []})


# -- the release through the slot ---------------------------------------------------------------------------------------
def slot_swap(old: Optional[Resource], new: Optional[Resource], changed: list[str]) -> Verdict:
    """Whether a swap will happen, decided by the swap provider's own diff (providers/slot_swap.py)."""
    if new is None:
        return Verdict("delete", meaning="release: no more swaps (releases go in place); the sites are left as they are",
                       facts={"swap": False})
    slot = new["inputs"].get("slot_name", "staging")
    if old is None:
        return Verdict("create", meaning=f"release: the gate runs on slot {slot}; production is swapped only if it "
                                         "does not run the image yet", facts={"swap": True})
    result = SlotSwapProvider().diff("", _provider_inputs(old), _provider_inputs(new))
    replaces = tuple(result.replaces or ())
    if replaces:
        return Verdict("replace", replaces, f"release: SWAP {slot} into production after the health gate, because "
                       f"{', '.join(replaces)} changed", {"swap": True, "because": list(replaces)})
    return Verdict("update" if result.changes else "same", (), "release: no swap", {"swap": False})


# -- the in-place release's wait ----------------------------------------------------------------------------------------
def site_rollout(old: Optional[Resource], new: Optional[Resource], changed: list[str]) -> Verdict:
    """Whether the site is restarted and waited for, decided by the provider's own diff (providers/site_rollout.py)."""
    if new is None:
        return Verdict("delete", meaning="release: no more in-place wait (releases go through a slot)",
                       facts={"restart": False})
    if old is None:
        return Verdict("create", meaning="release: the site is stopped, started and waited for until the new "
                                         "container answers", facts={"restart": True})
    result = SiteRolloutProvider().diff("", _provider_inputs(old), _provider_inputs(new))
    replaces = tuple(result.replaces or ())
    if replaces:
        return Verdict("replace", replaces, "release: RESTART the site and wait for the new container, because "
                       f"{', '.join(replaces)} changed", {"restart": True, "because": list(replaces)})
    if not result.changes:  # nothing to say: the summary of an unchanged dev plan stays as it was
        return Verdict("same")
    return Verdict("update", (), "release: no restart", {"restart": False})


# -- which rule --------------------------------------------------------------------------------------------------------
RULES: dict[str, Rule] = {
    PACKAGE_TYPE: model_package,
    ACR_BUILD_TYPE: acr_image_build,
    SWAP_TYPE: slot_swap,
    ROLLOUT_TYPE: site_rollout,
    "azure-native:cdn:Profile": front_door_profile,
}


def rule_for(type_token: str) -> Rule:
    if type_token in RULES:
        return RULES[type_token]
    if type_token.startswith("azure-native:"):
        return azure_native
    return _plain
