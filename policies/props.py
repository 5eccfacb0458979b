"""Reading wire-form (camelCase) properties in rules: nested paths, unknowns, secrets, app settings."""
from __future__ import annotations

import re
from typing import Any, Iterable, Mapping, Optional

WEB_APP = "azure-native:web:WebApp"
PLAN = "azure-native:web:AppServicePlan"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
IDENTITY = "azure-native:managedidentity:UserAssignedIdentity"
AUTOSCALE = "azure-native:monitor:AutoscaleSetting"
AUTH = "azure-native:web:WebAppAuthSettingsV2"
FTP_ALLOWED = "azure-native:web:WebAppFtpAllowed"
SCM_ALLOWED = "azure-native:web:WebAppScmAllowed"

ACR_PULL_ROLE = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
TIERS = ("Free", "Shared", "Basic", "Standard", "PremiumV2", "PremiumV3")
PINNED_IMAGE = re.compile(r"^DOCKER\|[a-z0-9.-]+(:\d+)?/[a-z0-9]+(?:[._/-][a-z0-9]+)*@sha256:[0-9a-f]{64}$")
REGISTRY_SCOPE = re.compile(r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.ContainerRegistry/"
                            r"registries/[^/]+$", re.IGNORECASE)

# What the offline plan writes for a secret or a value not known until deployment.
SECRET_MARKER = "[secret]"
UNKNOWN_MARKER = "[unknown]"
_MISSING = object()


class UnknownValue(Exception):
    """A value needed by a rule is not known yet (preview): the offline plan turns this into an advisory note."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


def value(props: Mapping[str, Any], path: str, default: Any = None) -> Any:
    """props['a']['b'] for path 'a.b'; default when any step is absent; UnknownValue when a step is unknown."""
    current: Any = props
    for step in path.split("."):
        if current == UNKNOWN_MARKER:
            raise UnknownValue(path)
        if not isinstance(current, Mapping):
            return default
        current = current.get(step, _MISSING)
        if current is _MISSING or current is None:
            return default
    if current == UNKNOWN_MARKER:
        raise UnknownValue(path)
    return current


def app_settings(props: Mapping[str, Any]) -> dict[str, Any]:
    settings = value(props, "siteConfig.appSettings", [])
    if settings == UNKNOWN_MARKER:
        raise UnknownValue("siteConfig.appSettings")
    return {s.get("name"): s.get("value") for s in settings or [] if isinstance(s, Mapping)}


def is_secret(raw: Any) -> bool:
    """True for the offline plan's secret marker and for pulumi-policy's Secret wrapper."""
    return raw == SECRET_MARKER or type(raw).__name__ == "Secret"


def tier_rank(tier: Optional[str]) -> int:
    return TIERS.index(tier) if tier in TIERS else -1


def of_type(resources: Iterable[Any], typ: str) -> list[Any]:
    return [r for r in resources if r.resource_type == typ]
