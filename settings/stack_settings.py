"""Stack settings: one immutable, typed object, validated in full before any resource is declared."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Mapping, Optional

import pulumi

from .config_schema import DEFAULTS, NAMESPACE
from .images import IMAGE_PATTERN, IMAGE_SHAPE
from .skus import AUTOSCALE_TIERS, SKUS, Sku

GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
NAME_PREFIX = re.compile(r"^[a-z][a-z0-9-]{1,19}$")
LOCATION = re.compile(r"^[A-Za-z][A-Za-z0-9 ]+$")
RESOURCE_GROUP = re.compile(r"^[-\w.()]{1,90}$")
WORKSPACE_NAME = re.compile(r"^[A-Za-z0-9][\w-]{2,32}$")
MODEL_NAME = re.compile(r"^[A-Za-z0-9][\w.-]{0,254}$")
MODEL_VERSION = re.compile(r"^[0-9]+$")
REGISTRY_ACCESS_MODES = ("managedIdentity", "adminCredentials")
MOUNT_MODES = ("download", "copy")
ENVIRONMENT_ASSET = re.compile(r"^azureml:[\w.-]+:\d+$")
STACK_NAME = re.compile(r"^([\w.-]+/){0,2}[\w.-]+$")
ENV_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Workspace:
    subscription_id: str
    resource_group: str
    name: str


@dataclass(frozen=True)
class Model:
    name: str
    version: str


@dataclass(frozen=True)
class InferenceCode:
    source_dir: Path
    entry_script: str
    environment_spec: Optional[Path]  # a conda/pip file, or None when environment_asset is set
    environment_asset: Optional[str] = None  # azureml:<name>:<version>


@dataclass(frozen=True)
class Autoscale:
    enabled: bool = False
    min_instances: int = 1
    max_instances: int = 1
    default_instances: int = 1
    scale_out_cpu_percent: int = 70
    scale_in_cpu_percent: int = 30


@dataclass(frozen=True)
class EntraAuth:
    enabled: bool = False
    tenant_id: str = ""
    client_id: str = ""
    allowed_audiences: tuple[str, ...] = ()


@dataclass(frozen=True)
class Settings:
    stack: str
    location: str
    name_prefix: str
    sku: Sku
    workspace: Workspace
    model: Model
    code: InferenceCode
    registry_access: str
    autoscale: Autoscale
    auth: EntraAuth
    server_port: int
    worker_count: int
    container_start_time_limit: int
    image: Optional[str]
    promote_from: Optional[str] = None
    model_mount_mode: str = "download"
    package_timeout_minutes: int = 60
    server_environment: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    tags: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def uses_managed_identity(self) -> bool:
        return self.registry_access == "managedIdentity"

    @property
    def instance_count(self) -> int:
        return self.autoscale.default_instances if self.autoscale.enabled else 1

    @classmethod
    def from_config(cls, config: pulumi.Config, *, stack: str | None = None, project_dir: Path | None = None) -> "Settings":
        """Reads and validates every key; raises one RunError listing every problem."""
        return _Reader(config, stack or pulumi.get_stack(), project_dir or Path.cwd()).settings()


def _show(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else repr(value)


class _Reader:
    def __init__(self, config: pulumi.Config, stack: str, project_dir: Path) -> None:
        self.config = config
        self.stack = stack
        self.project_dir = project_dir
        self.problems: list[str] = []

    def problem(self, key: str, value: Any, allowed: str) -> None:
        self.problems.append(f"{NAMESPACE}:{key} = {_show(value)}: {allowed}")

    def missing(self, key: str, allowed: str) -> None:
        self.problems.append(f"{NAMESPACE}:{key} is not set: {allowed}")

    # scalar keys ----------------------------------------------------------------------------
    def text(self, key: str, pattern: re.Pattern | None = None, allowed: str = "") -> str:
        value = self.config.get(key)
        value = DEFAULTS[key] if value is None else value
        if pattern is not None and not pattern.match(value):
            self.problem(key, value, allowed)
        return value

    def integer(self, key: str, low: int, high: int) -> int:
        raw = self.config.get(key)
        if raw is None:
            return int(DEFAULTS[key])
        try:
            value = int(raw)
        except ValueError:
            self.problem(key, raw, f"must be a whole number from {low} to {high}")
            return int(DEFAULTS[key])
        if not low <= value <= high:
            self.problem(key, value, f"must be from {low} to {high}")
        return value

    def obj(self, key: str, required: bool, fields: tuple[str, ...]) -> Optional[dict[str, Any]]:
        """The object at `key`, {} when absent and optional, None when already reported."""
        try:
            value = self.config.get_object(key)
        except (json.JSONDecodeError, pulumi.ConfigTypeError, ValueError):
            self.problem(key, self.config.get(key), "must be an object (a YAML mapping in the stack file)")
            return None
        if value is None:
            if required:
                self.missing(key, f"set an object with {', '.join(fields)}")
                return None
            return {}
        if not isinstance(value, dict):
            self.problem(key, value, f"must be an object with {', '.join(fields)}")
            return None
        for unknown in sorted(set(value) - set(fields)):
            self.problem(f"{key}.{unknown}", value[unknown], f"unknown key; allowed keys are {', '.join(fields)}")
        return value

    # members of object keys -----------------------------------------------------------------
    def member(self, parent: str, obj: Optional[dict], name: str, kind: type, default: Any = None,
               check: Callable[[Any], bool] | None = None, allowed: str = "") -> Any:
        key = f"{parent}.{name}"
        if obj is None:
            return default
        if name not in obj or obj[name] is None:
            if default is None:
                self.missing(key, allowed or f"required in {NAMESPACE}:{parent}")
            return default
        value = obj[name]
        # YAML turns 1 into an int and "1" into a str; accept either for text fields.
        if kind is str and isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        type_ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if not type_ok or (check is not None and not check(value)):
            self.problem(key, value, allowed or f"must be a {kind.__name__}")
            return default
        return value

    # the settings ---------------------------------------------------------------------------
    def settings(self) -> Settings:
        location = self.text("location", LOCATION, "must be an Azure region name such as westeurope")
        name_prefix = self.text("namePrefix", NAME_PREFIX,
                                "must be 2-20 characters: a lowercase letter, then lowercase letters, digits or hyphens")
        sku_name = self.text("sku")
        sku = SKUS.get(sku_name)
        if sku is None:
            self.problem("sku", sku_name, f"must be one of {', '.join(SKUS)}")
            sku = SKUS[str(DEFAULTS["sku"])]
        registry_access = self.text("registryAccess")
        if registry_access not in REGISTRY_ACCESS_MODES:
            self.problem("registryAccess", registry_access, f"must be one of {', '.join(REGISTRY_ACCESS_MODES)}")
        server_port = self.integer("serverPort", 1024, 65535)
        worker_count = self.integer("workerCount", 0, 64) or sku.vcpus
        start_limit = self.integer("containerStartTimeLimit", 60, 1800)
        image = self.config.get("image") or None
        if image is not None and not IMAGE_PATTERN.match(image):
            self.problem("image", image, f"must be pinned by digest: {IMAGE_SHAPE} (a tag such as :latest is "
                                         "refused; leave it empty to build the package)")
        promote_from = self.config.get("promoteFrom") or None
        if promote_from is not None and not STACK_NAME.match(promote_from):
            self.problem("promoteFrom", promote_from, "must be a stack name: dev, or <org>/<project>/<stack>")
        if promote_from is not None and image is not None:
            self.problem("promoteFrom", promote_from, "set either image or promoteFrom, not both")
        mount_mode = self.text("modelMountMode")
        if mount_mode not in MOUNT_MODES:
            self.problem("modelMountMode", mount_mode, f"must be one of {', '.join(MOUNT_MODES)}")
        package_timeout = self.integer("packageTimeoutMinutes", 5, 240)
        workspace = self.workspace()
        model = self.model()
        code = self.code(needs_files=image is None and promote_from is None)
        server_environment = self.server_environment()
        autoscale = self.autoscale(sku, sku_known=sku_name in SKUS)
        auth = self.auth()
        tags = self.tags()
        if self.problems:
            raise pulumi.RunError(
                f"stack '{self.stack}' has {len(self.problems)} configuration problem(s):\n"
                + "\n".join(f"  - {p}" for p in self.problems)
            )
        return Settings(
            stack=self.stack, location=location, name_prefix=name_prefix, sku=sku, workspace=workspace,
            model=model, code=code, registry_access=registry_access, autoscale=autoscale, auth=auth,
            server_port=server_port, worker_count=worker_count, container_start_time_limit=start_limit,
            image=image, promote_from=promote_from, model_mount_mode=mount_mode,
            package_timeout_minutes=package_timeout, server_environment=MappingProxyType(server_environment),
            tags=MappingProxyType(tags),
        )

    def workspace(self) -> Workspace:
        obj = self.obj("workspace", True, ("subscriptionId", "resourceGroup", "name"))
        return Workspace(
            subscription_id=self.member("workspace", obj, "subscriptionId", str, check=GUID.match,
                                        allowed="must be a subscription id (a GUID)") or "",
            resource_group=self.member("workspace", obj, "resourceGroup", str, check=RESOURCE_GROUP.match,
                                       allowed="must be a resource group name (1-90 letters, digits, -_.())") or "",
            name=self.member("workspace", obj, "name", str, check=WORKSPACE_NAME.match,
                             allowed="must be a workspace name (3-33 letters, digits, hyphens, underscores)") or "",
        )

    def model(self) -> Model:
        obj = self.obj("model", True, ("name", "version"))
        return Model(
            name=self.member("model", obj, "name", str, check=MODEL_NAME.match,
                             allowed="must be a registered model name (letters, digits, -_.)") or "",
            version=self.member("model", obj, "version", str, check=MODEL_VERSION.match,
                                allowed="must be the model's version number, such as 1 (not a label like latest)") or "",
        )

    def code(self, needs_files: bool) -> InferenceCode:
        obj = self.obj("code", needs_files, ("sourceDir", "entryScript", "environmentSpec"))
        source_dir = self.member("code", obj, "sourceDir", str, default="model/src")
        entry_script = self.member("code", obj, "entryScript", str, default="score.py")
        spec = self.member("code", obj, "environmentSpec", str, default="model/environment.yml")
        if spec.startswith("azureml:"):
            if not ENVIRONMENT_ASSET.match(spec):
                self.problem("code.environmentSpec", spec, "an environment asset must read azureml:<name>:<version>")
            code = InferenceCode(Path(source_dir), entry_script, None, spec)
        else:
            code = InferenceCode(Path(source_dir), entry_script, Path(spec))
        if needs_files:
            root = self.project_dir / code.source_dir
            if not root.is_dir():
                self.problem("code.sourceDir", source_dir, f"no such folder under {self.project_dir}")
            elif not (root / entry_script).is_file():
                self.problem("code.entryScript", entry_script, f"no such file in {source_dir}/")
            if code.environment_spec is not None and not (self.project_dir / code.environment_spec).is_file():
                self.problem("code.environmentSpec", spec, "no such file (a conda .yml, a pip requirements .txt, "
                                                           "or an asset azureml:<name>:<version>)")
        return code

    def server_environment(self) -> dict[str, str]:
        obj = self.text_map("serverEnvironment")
        for name in obj:
            if not ENV_VAR_NAME.match(name):
                self.problem(f"serverEnvironment.{name}", obj[name], "is not an environment variable name")
        return obj

    def autoscale(self, sku: Sku, sku_known: bool = True) -> Autoscale:
        obj = self.obj("autoscale", False, ("enabled", "minInstances", "maxInstances", "defaultInstances",
                                            "scaleOutCpuPercent", "scaleInCpuPercent"))
        enabled = self.member("autoscale", obj, "enabled", bool, default=False, allowed="must be true or false")
        if not enabled:
            return Autoscale()
        if sku_known and not sku.supports_autoscale:
            self.problem("autoscale.enabled", True, f"autoscale needs a {'/'.join(AUTOSCALE_TIERS)} SKU; "
                                                    f"sku {sku.name} is {sku.tier}: raise the sku or disable autoscale")
        limit = sku.max_instances if sku_known else 30  # an unknown sku is reported once, above
        count = dict(check=lambda v: 1 <= v <= limit, allowed=f"must be a whole number from 1 to {limit} on {sku.name}")
        low = self.member("autoscale", obj, "minInstances", int, default=1, **count)
        high = self.member("autoscale", obj, "maxInstances", int, default=max(low, 3) if limit >= 3 else low, **count)
        start = self.member("autoscale", obj, "defaultInstances", int, default=low, **count)
        percent = dict(check=lambda v: 1 <= v <= 100, allowed="must be a CPU percentage from 1 to 100")
        out_cpu = self.member("autoscale", obj, "scaleOutCpuPercent", int, default=70, **percent)
        in_cpu = self.member("autoscale", obj, "scaleInCpuPercent", int, default=30, **percent)
        if low > high:
            self.problem("autoscale.minInstances", low, f"must not exceed autoscale.maxInstances ({high})")
        elif not low <= start <= high:
            self.problem("autoscale.defaultInstances", start, f"must be from minInstances ({low}) to maxInstances ({high})")
        if in_cpu >= out_cpu:
            self.problem("autoscale.scaleInCpuPercent", in_cpu,
                         f"must be below autoscale.scaleOutCpuPercent ({out_cpu}), or the plan flaps")
        return Autoscale(True, low, high, start, out_cpu, in_cpu)

    def auth(self) -> EntraAuth:
        obj = self.obj("auth", False, ("enabled", "tenantId", "clientId", "allowedAudiences"))
        enabled = self.member("auth", obj, "enabled", bool, default=False, allowed="must be true or false")
        if not enabled:
            return EntraAuth()
        guid = dict(check=GUID.match, allowed="must be a GUID (required when auth.enabled is true)")
        tenant_id = self.member("auth", obj, "tenantId", str, **guid) or ""
        client_id = self.member("auth", obj, "clientId", str, **guid) or ""
        audiences = self.member(
            "auth", obj, "allowedAudiences", list, default=[f"api://{client_id}"],
            check=lambda v: bool(v) and all(isinstance(a, str) and a for a in v),
            allowed="must be a non-empty list of audience strings, such as api://<clientId>",
        )
        return EntraAuth(True, tenant_id, client_id, tuple(audiences))

    def text_map(self, key: str, max_length: int = 4096) -> dict[str, str]:
        """An object of names to text values (numbers are taken as text)."""
        try:
            obj = self.config.get_object(key)
        except (json.JSONDecodeError, pulumi.ConfigTypeError, ValueError):
            obj = self.config.get(key)
        obj = {} if obj is None else obj
        if not isinstance(obj, dict):
            self.problem(key, obj, "must be an object of names to text values")
            return {}
        values = {}
        for name, value in obj.items():
            if not isinstance(value, (str, int)) or isinstance(value, bool) or len(str(value)) > max_length:
                self.problem(f"{key}.{name}", value, f"must be a text value of at most {max_length} characters")
                continue
            values[name] = str(value)
        return values

    def tags(self) -> dict[str, str]:
        tags = {"environment": self.stack, "project": NAMESPACE, "managed-by": "pulumi"}
        for name, value in self.text_map("tags", max_length=256).items():
            if len(name) > 512:
                self.problem(f"tags.{name[:40]}...", value, "tag names are at most 512 characters")
                continue
            tags[name] = value
        return tags
