"""Stack settings: one frozen pydantic model of the `model-webapp:` config namespace, validated in full at once.
Fields carry constraints and descriptions, cross-key rules are model validators; settings.docs generates from it."""
from __future__ import annotations

import contextlib
import difflib
import ipaddress
import json
import re
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal, Mapping, Optional, get_args

import pulumi
from pulumi.runtime import config as runtime_config
from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, PrivateAttr,
                      StringConstraints, ValidationError, ValidationInfo, WithJsonSchema, field_validator,
                      model_validator)
from pydantic.alias_generators import to_camel, to_snake
from pydantic_core import PydanticCustomError

from .clouds import (ENVIRONMENT_KEY, FRONT_DOOR, FRONT_DOOR_MANAGED_CERTIFICATE, MICROSOFT_CONTAINER_REGISTRY,
                     PACKAGING, PUBLIC, Cloud, cloud_problem)
from .clouds import cloud as cloud_named
from .images import image_problem, image_shape
from .regions import ZONES_SOURCE, has_zones, region_name, region_problem
from .skus import AUTOSCALE_TIERS, SKUS, Sku, sku_problem

NAMESPACE = "model-webapp"
PROJECT_DIR = Path(__file__).resolve().parent.parent
ALLOWED: dict[str, str] = {}  # pattern -> what a value must be, in our words (pydantic's never reach the user)
ENVIRONMENT_ASSET, MODEL_VERSION = r"^azureml:[\w.-]+:\d+$", r"^[0-9]+$"
# A package for App Service holds its model: "download" packages fetch it from Azure ML when they start, which only
# works on Azure ML endpoints. providers/model_package.py checks its input against the same tuple.
MOUNT_MODES = ("copy",)  # fact: pkg-copy-mode
ENVIRONMENT_SUFFIXES = (".yml", ".yaml", ".txt")  # conda files, or pip requirements (providers/packaging.py)
SMOKE_REQUEST_FILE = "sample-request.json"  # beside the code folder, not in it: that folder is packaged


def text(pattern: str, allowed: str, **constraints: Any) -> Any:
    ALLOWED[pattern] = allowed
    return Annotated[str, StringConstraints(pattern=pattern, **constraints)]


def request_rows(path: Path) -> list:
    """The rows of a scoring request file; FileNotFoundError, or ValueError saying what the file must be."""
    try:
        rows = json.loads(path.read_bytes())["data"]
    except (ValueError, KeyError, TypeError):
        rows = None
    if not (isinstance(rows, list) and rows and all(isinstance(r, list) for r in rows)):
        raise ValueError('a JSON file {"data": [[...], ...]} with a row or more')
    return rows


def check(problems: list[tuple[str, Any, str]]) -> None:
    """Raises every cross-key problem found: (key below the model, its value or None when unset, what is allowed)."""
    if problems:
        raise PydanticCustomError("problems", "cross-key rules", {"problems": problems})


def _flag_text(value: Any) -> Any:
    # Pulumi hands the program every top-level key as text ("true"); a nested one may be text too
    # (`pulumi config set --path`). Those two words are the flag; "yes", "1" or "True" are refused.
    return {"true": True, "false": False}.get(value, value) if isinstance(value, str) else value


Guid = text(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$", "must be a GUID")
Flag = Annotated[bool, BeforeValidator(_flag_text), Field(strict=True)]  # true or false, not "yes"


def _zone_flag(value: Any) -> Any:
    # A flag with a third word: 1 or "yes" must not pass for true (Literal[True] alone would take 1).
    value = _flag_text(value)
    if value == "auto" or isinstance(value, bool):
        return value
    raise PydanticCustomError("allowed", "must be auto, true or false")


ZoneFlag = Annotated[Literal["auto", True, False], BeforeValidator(_zone_flag), WithJsonSchema(
    {"anyOf": [{"type": "string", "enum": ["auto", "true", "false"]}, {"type": "boolean"}]})]
AutoFlag = ZoneFlag  # auto, true or false: auto decides from the other keys
Percent, Count = Annotated[int, Field(ge=1, le=100)], Annotated[int, Field(ge=1, le=30)]
Frozen = AfterValidator(MappingProxyType)


def _sku(name: Any) -> Sku:
    if isinstance(name, Sku):
        return name
    problem = sku_problem(str(name))
    if problem:
        raise PydanticCustomError("allowed", problem)
    return SKUS[str(name)]


def _context_cloud(info: ValidationInfo) -> Cloud:
    """The stack's cloud, handed in with the validation context (a name or a Cloud); an unknown name is reported
    by Settings.from_config, and the rest is judged as in the public cloud meanwhile."""
    given = (info.context or {}).get("cloud")
    if isinstance(given, Cloud):
        return given
    return PUBLIC if cloud_problem(given) else cloud_named(given)


def _region(location: str, info: ValidationInfo) -> str:
    problem = region_problem(location, _context_cloud(info).ml_cloud)
    if problem:
        raise PydanticCustomError("allowed", problem)
    return location


def _mount_mode(mode: str) -> str:
    if mode == "download":
        raise PydanticCustomError("allowed", "download packages only run on Azure ML endpoints: the image holds no "
                                  "model and fetches it from Azure ML when it starts, so on App Service init() finds "
                                  "nothing; use copy (the model inside the image), or leave the key unset")
    if mode not in MOUNT_MODES:
        raise PydanticCustomError("allowed", "must be copy (the model is copied into the package image)")
    return mode


SkuName = Annotated[Sku, BeforeValidator(_sku), PlainSerializer(lambda s: s.name),
                    WithJsonSchema({"type": "string", "enum": list(SKUS)})]


class Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True,
                              coerce_numbers_to_str=True, regex_engine="python-re")


class Workspace(Part):
    subscription_id: Guid = Field(description="Subscription of the Azure ML workspace.")
    resource_group: text(r"^[-\w.()]{1,90}$", "must be a resource group name (1-90 letters, digits, -_.())") = \
        Field(description="Resource group of the workspace.")
    name: text(r"^[A-Za-z0-9][\w-]{2,32}$", "must be a workspace name (3-33 letters, digits, hyphens, underscores)") = \
        Field(description="Name of the workspace.")


class Model(Part):
    name: text(r"^[A-Za-z0-9][\w.-]{0,254}$", "must be a registered model name (letters, digits, -_.)") = \
        Field(description="Name of the registered model.")
    version: text(MODEL_VERSION, "must be the model's version number, such as 1 (not a label like latest)") = \
        Field(description="Version of the registered model, a number.")


class InferenceCode(Part):
    source_dir: Path = Field(Path("model/src"), description="Folder of the entry script and its modules.")
    entry_script: str = Field("score.py", description="The script with init() and run(), inside sourceDir.")
    environment_spec: str = Field("model/environment.yml", description="A conda .yml/.yaml or pip requirements "
                                  ".txt file, or an environment asset azureml:<name>:<version>.")

    @field_validator("environment_spec")
    @classmethod
    def _asset_shape(cls, spec: str) -> str:
        if spec.startswith("azureml:"):
            if not re.match(ENVIRONMENT_ASSET, spec):
                raise PydanticCustomError("allowed", "an environment asset must read azureml:<name>:<version>")
        elif Path(spec).suffix not in ENVIRONMENT_SUFFIXES:
            raise PydanticCustomError("allowed", "must be a conda file (.yml or .yaml), a pip requirements file "
                                      "(.txt), or an environment asset azureml:<name>:<version>")
        return spec

    @property
    def environment_asset(self) -> Optional[str]:
        return self.environment_spec if self.environment_spec.startswith("azureml:") else None

    @property
    def environment_file(self) -> Optional[Path]:
        return None if self.environment_asset else Path(self.environment_spec)


class Autoscale(Part):
    enabled: Flag = Field(False, description="Scale the plan out and in on CPU (Standard tier or above).")
    min_instances: Count = Field(1, description="Fewest instances.")
    max_instances: Count = Field(3, description="Most instances (the SKU's limit applies).")
    default_instances: int = Field(0, ge=0, le=30, description="Instances when metrics are missing; 0 means min.")
    scale_out_cpu_percent: Percent = Field(70, description="Average CPU % above which one instance is added.")
    scale_in_cpu_percent: Percent = Field(30, description="Average CPU % below which one instance is removed.")

    @model_validator(mode="after")
    def _ordered(self) -> "Autoscale":
        low, high, cpu_in, cpu_out = self.min_instances, self.max_instances, self.scale_in_cpu_percent, \
            self.scale_out_cpu_percent
        check([p for p, wrong in (
            (("minInstances", low, f"must not exceed autoscale.maxInstances ({high})"), low > high),
            (("defaultInstances", self.start, f"must be from minInstances ({low}) to maxInstances ({high})"),
             low <= high and not low <= self.start <= high),
            (("scaleInCpuPercent", cpu_in, f"must be below autoscale.scaleOutCpuPercent ({cpu_out}), or the plan "
              "flaps"), cpu_in >= cpu_out)) if wrong and self.enabled])
        return self

    @property
    def start(self) -> int:
        return self.default_instances or self.min_instances


class EntraAuth(Part):
    enabled: Flag = Field(False, description="Require Entra ID tokens; anonymous callers get 401.")
    tenant_id: Optional[Guid] = Field(None, description="Tenant of the API's app registration.")
    client_id: Optional[Guid] = Field(None, description="Client id of the API's app registration.")
    allowed_audiences: Optional[list[Annotated[str, StringConstraints(min_length=1)]]] = Field(
        None, min_length=1, description="Token audiences accepted; default api://<clientId>.")
    # fact: auth-any-tenant-app-without-allowed-applications
    allowed_client_applications: Optional[list[Guid]] = Field(
        None, min_length=1, description="Client ids (application ids) of the applications that may call; others get "
        "403. Unset: any application in the tenant that can get a token for the API gets in.")
    allowed_principals: Optional[list[Guid]] = Field(
        None, min_length=1, description="Object ids of the users or service principals (apps, managed identities) "
        "that may call: the token's oid, at most 13; unset: any.")

    @model_validator(mode="after")
    def _ids_when_enabled(self) -> "EntraAuth":
        problems = [(key, None, "must be a GUID (required when auth.enabled is true)")
                    for key in ("tenantId", "clientId") if self.enabled and not getattr(self, to_snake(key))]
        problems += [(key, getattr(self, to_snake(key)), "has no effect while auth.enabled is false: enable auth, or "
                      "remove it") for key in ("allowedClientApplications", "allowedPrincipals")
                     if not self.enabled and getattr(self, to_snake(key))]
        # fact: auth-allowed-principals-500-characters
        if self.allowed_principals and len("".join(self.allowed_principals)) > 500:
            problems.append(("allowedPrincipals", self.allowed_principals, "App Service takes at most 500 characters "
                             "of object ids (13 GUIDs): list fewer, or admit callers by their client application "
                             "(allowedClientApplications)"))
        check(problems)
        return self

    @property
    def audiences(self) -> tuple[str, ...]:
        return tuple(self.allowed_audiences or [f"api://{self.client_id}"])


def _cidr(value: str) -> str:
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError:
        raise PydanticCustomError("allowed", "must be a CIDR range such as 203.0.113.0/24 (host bits zero)") from None
    if network.prefixlen == 0:
        raise PydanticCustomError("allowed", "allows every address: list the ranges that may call, or leave access unset")
    return str(network)


class Access(Part):
    allowed_ip_ranges: Optional[list[Annotated[str, AfterValidator(_cidr)]]] = Field(
        None, min_length=1, description="CIDR ranges that may call the site; everything else gets 403.")
    allow_azure_front_door_id: Optional[Guid] = Field(None, description="The Front Door profile's id (its "
                                                      "X-Azure-FDID header value) allowed through the AzureFrontDoor.Backend service tag.")

    @model_validator(mode="after")
    def _something_allowed(self) -> "Access":
        check([] if self.allowed_ip_ranges or self.allow_azure_front_door_id else
              [("allowedIpRanges", None, "set it, or allowAzureFrontDoorId, or leave access unset (open to all)")])
        return self


class Release(Part):
    strategy: Optional[Literal["slot", "inPlace"]] = Field(None, description="slot: the new image starts in a staging "
                                                           "slot, passes a health gate and is swapped in; inPlace: "
                                                           "written straight into production. Default slot on Standard "
                                                           "tier and above, inPlace below (slots need Standard).")
    slot_name: text(r"^[a-z][a-z0-9-]{0,39}$", "must be a slot name (lowercase letters, digits, hyphens)") = Field(
        "staging", description="The staging slot's name.")
    health_timeout_minutes: int = Field(20, ge=1, le=120, description="How long the gate waits for the slot to run "
                                        "the new image and answer its health check (Azure ML images are large).")
    smoke_request: Optional[str] = Field(None, description="A JSON request {\"data\": [[...], ...]} sent to /score "
                                         "after each release (before the swap on a slot); 200 with one prediction "
                                         "per row is required. Unset: sample-request.json beside the code folder "
                                         "(model/sample-request.json for model/src), required when the stack builds "
                                         "its package; \"\" sends none.")


# A lowercase FQDN the free managed certificate accepts: letters, digits, hyphens and dots, at most 64 characters.
HOST_NAME = r"^(?=.{4,64}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$"
DNS_ZONE_ID = (r"^/subscriptions/[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}/resource[Gg]roups/[-\w.()]{1,90}/"
               r"providers/[Mm]icrosoft\.[Nn]etwork/dns[Zz]ones/[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
               r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")


def _no_wildcard(host: Any) -> Any:
    if isinstance(host, str) and "*" in host:
        raise PydanticCustomError("allowed", "a wildcard is not supported: the free managed certificate covers one "
                                  "host name; name it, such as score.contoso.com")
    return host


@dataclass(frozen=True)
class DnsZone:
    subscription_id: str
    resource_group: str
    name: str  # lowercase


def is_apex(host_name: str, zone_name: Optional[str]) -> bool:
    """Whether the host is its zone's apex. Without a zone, a name of two labels (contoso.com) is taken as one."""
    return host_name == zone_name if zone_name else host_name.count(".") == 1


class CustomDomain(Part):
    host_name: Annotated[text(HOST_NAME, "must be a lowercase fully qualified domain name such as score.contoso.com "
                              "(letters, digits, hyphens and dots, at most 64 characters)"),
                         BeforeValidator(_no_wildcard)] = Field(
        description="The custom host name, a lowercase FQDN such as score.contoso.com (no wildcard).")
    dns_zone_id: Optional[text(DNS_ZONE_ID, "must be an Azure DNS zone id: /subscriptions/<id>/resourceGroups/<group>/"
                               "providers/Microsoft.Network/dnszones/<zone>")] = Field(
        None, description="An Azure DNS zone the deployment writes the records to; unset: you create them where your "
                          "DNS is (the dns_records_to_create output).")

    @model_validator(mode="after")
    def _host_in_zone(self) -> "CustomDomain":
        zone = self.zone
        check([("hostName", self.host_name, f"is not in the DNS zone {zone.name} (dnsZoneId): use a host name in that "
                "zone, or the zone that holds this host name")]
              if zone and self.host_name != zone.name and not self.host_name.endswith(f".{zone.name}") else [])
        return self

    @property
    def zone(self) -> Optional[DnsZone]:
        if not self.dns_zone_id:
            return None
        parts = self.dns_zone_id.split("/")  # "", subscriptions, <id>, resourceGroups, <group>, providers, ..., <zone>
        return DnsZone(subscription_id=parts[2], resource_group=parts[4], name=parts[-1].lower())

    @property
    def apex(self) -> bool:
        """A zone apex takes an A record, not a CNAME."""
        zone = self.zone
        return is_apex(self.host_name, zone.name if zone else None)


WORKSPACE_ID = (r"^/subscriptions/[0-9a-fA-F-]{36}/resource[Gg]roups/[-\w.()]{1,90}/providers/[Mm]icrosoft\."
                r"[Oo]perational[Ii]nsights/workspaces/[A-Za-z0-9][A-Za-z0-9-]{2,62}$")


class Monitoring(Part):
    enabled: Flag = Field(True, description="Logs, request telemetry and alerts for the site (and its slot).")
    log_analytics_workspace_id: Optional[text(WORKSPACE_ID, "must be a Log Analytics workspace id: /subscriptions/<id>/"
                                              "resourceGroups/<group>/providers/Microsoft.OperationalInsights/"
                                              "workspaces/<name>")] = Field(
        None, description="Send to this existing workspace; unset: the stack creates one.")
    retention_days: int = Field(30, ge=30, le=730, description="Days the created workspace keeps data.")
    daily_cap_gb: float = Field(1.0, gt=0, le=1000, description="Daily ingestion cap of the created workspace, in GB, "
                                "so a chatty model cannot run up a bill.")
    alert_emails: list[text(r"^[^@\s,;]+@[^@\s,;]+\.[A-Za-z]{2,}$", "must be an e-mail address")] = Field(
        [], description="Who the alerts e-mail; empty: alerts show in the portal only.")
    log_responses: Flag = Field(False, description="Send response bodies (the predictions, user data) to Application "
                                "Insights; off by default.")
    http5xx_per_five_minutes: int = Field(5, ge=1, le=10000, description="Alert when /score answers more 5xx than "
                                          "this in five minutes.")
    response_time_seconds: float = Field(5.0, gt=0, le=230, description="Alert when the average response time over "
                                         "five minutes exceeds this.")
    cpu_percent: int = Field(85, ge=1, le=100, description="Alert when the plan's average CPU over ten minutes exceeds "
                             "this.")


# ARM ids of what the landing zone provides, judged from the raw keys (_network_problems) so that a tier problem and a
# malformed id show in the same pass; the patterns reach editors through the stack-file schema.
ARM_PREFIX = r"^/subscriptions/[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}/resource[Gg]roups/[-\w.()]{1,90}/providers/"
SUBNET_ID = ARM_PREFIX + r"[Mm]icrosoft\.[Nn]etwork/virtual[Nn]etworks/[\w.-]{2,64}/subnets/[\w.-]{1,80}$"
PRIVATE_DNS_ZONE_ID = ARM_PREFIX + r"[Mm]icrosoft\.[Nn]etwork/private[Dd]ns[Zz]ones/(?P<zone>[A-Za-z0-9.-]{1,253})$"
SUBNET_SHAPE = ("/subscriptions/<subscription id>/resourceGroups/<group>/providers/Microsoft.Network/virtualNetworks/"
                "<vnet>/subnets/<subnet>")
ZONE_SHAPE = "/subscriptions/<subscription id>/resourceGroups/<group>/providers/Microsoft.Network/privateDnsZones/<zone>"
# Regional VNet integration and private endpoints start at Basic. fact: net-tiers-basic-and-above
NETWORK_TIERS_BELOW = ("Free", "Shared")


def public_access(given: Optional[str], private_endpoint_subnet_id: Optional[str]) -> str:
    """The sites' publicNetworkAccess: as given, or Disabled behind a private endpoint, Enabled otherwise."""
    return given or ("Disabled" if private_endpoint_subnet_id else "Enabled")


class Network(Part):
    integration_subnet_id: Optional[str] = Field(
        None, json_schema_extra={"pattern": SUBNET_ID}, description="Outbound: the subnet the plan's sites join by "
        "regional VNet integration (virtualNetworkSubnetId), one per plan; it must be delegated to "
        "Microsoft.Web/serverFarms (not checked offline). Unset: outbound traffic leaves from App Service's own "
        "addresses.")
    route_all_traffic: Flag = Field(True, description="With integrationSubnetId: the app's own outbound traffic goes "
                                    "through the VNet, its NSGs and routes (outboundVnetRouting.applicationTraffic).")
    pull_image_over_vnet: Flag = Field(True, description="With integrationSubnetId: the image is pulled through the "
                                       "VNet (outboundVnetRouting.imagePullTraffic); the registry must be reachable "
                                       "from the subnet.")
    private_endpoint_subnet_id: Optional[str] = Field(
        None, json_schema_extra={"pattern": SUBNET_ID}, description="Inbound: the subnet a private endpoint of each "
        "site and of its staging slot is placed in (not the integration subnet).")
    private_dns_zone_id: Optional[str] = Field(
        None, json_schema_extra={"pattern": PRIVATE_DNS_ZONE_ID}, description="An existing private DNS zone of the "
        "cloud's App Service sites (its privatelink zone) the endpoints register in; unset: the stack creates no DNS "
        "records (your landing zone's policy, or you, must).")
    public_network_access: Optional[Literal["Enabled", "Disabled"]] = Field(
        None, description="The sites' and slots' public endpoint; default Disabled with privateEndpointSubnetId, "
        "Enabled without.")

    @property
    def public_access(self) -> str:
        """What the sites' publicNetworkAccess is: as set, or Disabled behind a private endpoint."""
        return public_access(self.public_network_access, self.private_endpoint_subnet_id)

    @property
    def dns_zone_name(self) -> Optional[str]:
        match = re.match(PRIVATE_DNS_ZONE_ID, self.private_dns_zone_id or "")
        return match["zone"].lower() if match else None

    @property
    def pulls_over_vnet(self) -> bool:
        return bool(self.integration_subnet_id) and self.pull_image_over_vnet


# Azure Front Door Standard/Premium, in front of the stack's sites in every region (see Several regions).
FRONT_DOOR_SKUS = ("Standard_AzureFrontDoor", "Premium_AzureFrontDoor")
# What one profile holds, per tier: endpoints (one per service) and origins (one per service and region).
# fact: fd-profile-limits
FRONT_DOOR_ENDPOINTS = {"Standard_AzureFrontDoor": 10, "Premium_AzureFrontDoor": 25}
FRONT_DOOR_ORIGINS = {"Standard_AzureFrontDoor": 100, "Premium_AzureFrontDoor": 200}
# An endpoint's host name is <endpoint name>-<16 characters>.z01.<suffix>: a DNS label of at most 63 characters.
FRONT_DOOR_ENDPOINT_NAME_MAX = 63 - 17  # fact: fd-endpoint-name-length


class FrontDoorWaf(Part):
    mode: Literal["Prevention", "Detection"] = Field(
        "Prevention", description="Prevention blocks the requests the WAF's rules match; Detection only logs them.")
    managed_rule_sets: AutoFlag = Field(
        "auto", description="Microsoft's managed rule sets (such as the Default Rule Set): Premium_AzureFrontDoor "
        "only. auto: on with Premium, off with Standard; true with Standard is refused.")
    # ARM takes any threshold from 0 (fact: fd-waf-rate-limit-threshold); 0 would block every request.
    rate_limit_per_minute: int = Field(
        1000, ge=1, description="Requests one client IP address may send per minute; the WAF blocks its further "
        "requests until the minute is over (Detection mode only logs them).")


class FrontDoor(Part):
    sku: Literal[FRONT_DOOR_SKUS] = Field(  # type: ignore[valid-type]
        "Standard_AzureFrontDoor", description="The Front Door profile's tier: Premium adds the WAF's managed rule "
        "sets (and Private Link origins).")
    waf: FrontDoorWaf = Field(FrontDoorWaf(), description="The WAF policy attached to every endpoint.")
    health_probe_interval_seconds: int = Field(  # fact: fd-health-probe-interval-range
        30, ge=1, le=255, description="Seconds between Front Door's health probes of each region's site (GET / over "
        "HTTPS); a region that fails them is taken out of rotation.")
    session_affinity: Flag = Field(False, description="Send a client's later requests to the region that answered "
                                   "its first (a cookie); off: each request goes to the nearest healthy region.")

    @property
    def premium(self) -> bool:
        return self.sku == "Premium_AzureFrontDoor"

    @property
    def uses_managed_rules(self) -> bool:
        """Whether the WAF policy carries Microsoft's managed rule sets: as set, or with auto, on Premium."""
        return self.premium if self.waf.managed_rule_sets == "auto" else self.waf.managed_rule_sets is True


def _pinned(image: Optional[str], info: ValidationInfo) -> Optional[str]:
    cloud = _context_cloud(info)
    problem = image_problem(image, cloud) if image else None
    if problem and problem.startswith("is not pinned"):
        raise PydanticCustomError("allowed", f"must be pinned by digest: {image_shape(cloud)} (a tag such as :latest "
                                  "is refused; leave it empty to build the package)")
    if problem:
        raise PydanticCustomError("allowed", problem)
    return image or None


# Microsoft's current CPU inference base image (Python 3.12), pinned by digest: a tag moves, and the image's
# content hash must name one base. fact: build-inference-base-image
DEFAULT_BASE_IMAGE = (f"{MICROSOFT_CONTAINER_REGISTRY}/azureml/minimal-py312-inference@sha256:"
                      "cfb7101d17e0d397f9369639b9873282c9ea386c709c434bb0100745f647c6c0")
BASE_IMAGE_PATTERN = (rf"^{re.escape(MICROSOFT_CONTAINER_REGISTRY)}/azureml/(curated/)?[a-z0-9][a-z0-9.-]*-inference"
                      r"(:(?!latest$)[\w][\w.-]{0,127}|@sha256:[0-9a-f]{64})$")
REGISTRY_RESOURCE_ID = (r"^/subscriptions/[0-9a-fA-F-]{36}/resource[Gg]roups/[-\w.()]{1,90}/providers/"
                        r"[Mm]icrosoft\.[Cc]ontainer[Rr]egistry/registries/[A-Za-z0-9]{5,50}$")


def _build_registry(value: Optional[str], info: ValidationInfo) -> Optional[str]:
    """A registry resource id, or a login server in the stack's cloud."""
    if not value:
        return None
    suffix = _context_cloud(info).registry_suffix
    if re.match(REGISTRY_RESOURCE_ID, value) or re.match(rf"^[a-z0-9]{{5,50}}\.{re.escape(suffix)}$", value):
        return value
    raise PydanticCustomError("allowed", "must be a container registry resource id (/subscriptions/<id>/resourceGroups/"
                              f"<group>/providers/Microsoft.ContainerRegistry/registries/<name>) or its login server "
                              f"<name>.{suffix}")


class Build(Part):
    builder: Literal["azureml", "acrTask"] = Field(
        "azureml", description="How the stack builds its image: azureml, Azure ML's model package (models.package(), "
        "preview); acrTask, an ACR Tasks build of a generated Dockerfile from Microsoft's inference base image, the "
        "code, the environment's pip requirements and the model's files.")
    base_image: text(BASE_IMAGE_PATTERN, "must be one of Microsoft's inference images, pinned: "
                     "mcr.microsoft.com/azureml/<name>-inference:<tag> (not latest) or @sha256:<64 hex digits>") = \
        Field(DEFAULT_BASE_IMAGE, description="acrTask only: the base image, one of Microsoft's prebuilt inference "
              "images pinned by tag or digest; default minimal-py312-inference (CPU, Python 3.12) by digest.")
    registry: Annotated[Optional[str], AfterValidator(_build_registry)] = Field(
        None, description="acrTask only: the registry that runs the build and holds the image, a registry resource "
        "id or login server; unset: the workspace's (the registry the site pulls from).")


def _as_details(problems: list[tuple[str, Any, str]], data: Any) -> list[dict[str, Any]]:
    return [{"type": PydanticCustomError("problems", "cross-key rules", {"problems": problems}), "loc": (),
             "input": data}] if problems else []


def _raw(mapping: Any, key: str, default: Any = None) -> Any:
    """A key as the stack file spells it (camelCase), or by its field name."""
    if not isinstance(mapping, Mapping):
        return default
    return mapping.get(key, mapping.get(to_snake(key), default))


def _regions_problems(data: Mapping, cloud: Cloud, stack: str) -> list[tuple[str, Any, str]]:
    """From the raw keys, so they are listed with every other problem: regions and location together, the regions
    themselves, what several regions need (frontDoor) and cannot have (network), what frontDoor cannot have (access,
    a cloud without it), and the names of every region's plan and sites."""
    regions, front_door = _raw(data, "regions"), _raw(data, "frontDoor")
    problems: list[tuple[str, Any, str]] = []
    listed = regions if isinstance(regions, list) else []  # anything else is pydantic's to refuse (a list)
    if isinstance(regions, list) and not regions:
        problems.append(("regions", [], "lists no region: name one or more (the first is the primary), or remove "
                         "regions and set location"))
    known: dict[str, int] = {}
    for i, region in enumerate(listed):
        if not isinstance(region, str):
            continue  # pydantic's to refuse (a text value)
        problem = region_problem(region, cloud.ml_cloud)
        if problem:
            problems.append((f"regions[{i}]", region, problem))
        elif region_name(region) in known:
            problems.append((f"regions[{i}]", region, f"is regions[{known[region_name(region)]}] again: list each "
                             "region once"))
        else:
            known[region_name(region)] = i
    # Pulumi.yaml declares location with its default and the engine hands it over as if set (see _fleet_problems):
    # location counts as set when it holds something else, and it may repeat the primary region.
    location, default = _raw(data, "location"), SharedKeys.model_fields["location"].default
    primary = listed[0] if listed and isinstance(listed[0], str) else None
    if primary and location not in (None, "") and \
            region_name(str(location)) not in (region_name(default), region_name(primary)):
        problems.append(("location", location, f"is set, and so is regions, whose first entry ({listed[0]}) is the "
                         "stack's primary region: remove location (regions replaces it), or remove regions for one "
                         "region"))
    if len(listed) > 1 and front_door is None:
        problems.append(("frontDoor", None, f"is required with {len(listed)} regions: something must spread the "
                         "traffic over them and take a failed region out of rotation, and this stack does that with "
                         "Azure Front Door; set frontDoor ({} takes its defaults), or list one region"))
    if len(listed) > 1 and _raw(data, "network") is not None:
        # fact: region-vnet-integration-same-region
        problems.append(("network", _raw(data, "network"), f"serves one region, and regions lists {len(listed)}: "
                         "an integration subnet joins one plan to a VNet of its own region (each region has its own "
                         "plan), and its endpoint subnet is in that VNet too; remove network, or deploy one stack "
                         "per region, each with its region's network"))
    if front_door is not None:
        problems += _front_door_problems(data, cloud) + _front_door_limits(data, stack, max(len(listed), 1))
    problems += _region_name_problems(data, stack, [r for r in listed[1:] if isinstance(r, str)])
    return problems


def _front_door_problems(data: Mapping, cloud: Cloud) -> list[tuple[str, Any, str]]:
    """What frontDoor cannot go with: a cloud without it, access rules of the user's own, or a custom domain where
    Front Door has no managed certificate."""
    problems, front_door = [], _raw(data, "frontDoor")
    sku, waf = _raw(front_door, "sku", FrontDoor.model_fields["sku"].default), _raw(front_door, "waf")
    # fact: fd-managed-rules-premium
    if _flag_text(_raw(waf, "managedRuleSets")) is True and sku != "Premium_AzureFrontDoor":
        problems.append(("frontDoor.waf.managedRuleSets", True, "Microsoft's managed rule sets are a Premium_Azure"
                         f"FrontDoor feature, and frontDoor.sku is {sku}: set sku Premium_AzureFrontDoor, or "
                         "managedRuleSets auto or false"))
    missing = cloud.missing(FRONT_DOOR)
    if missing:
        problems.append(("frontDoor", _raw(data, "frontDoor"), f"{missing.feature} is not offered in {cloud.title} "
                         f"({missing.source}): {missing.alternative}"))
    network = _raw(data, "network")
    if isinstance(network, Mapping):
        access = public_access(_raw(network, "publicNetworkAccess"), _raw(network, "privateEndpointSubnetId"))
        if str(access).lower() == "disabled":  # fact: fd-origin-public-access
            problems.append(("network.publicNetworkAccess", access, "is Disabled (a private endpoint turns the sites' "
                             "public access off), and Front Door reaches each site as a public origin: set "
                             "publicNetworkAccess Enabled (the sites then admit only the stack's Front Door), or remove "
                             "frontDoor (Front Door's Private Link origins are not built by this stack)"))
    models = _raw(data, "models")
    services = [(f"models.{name}.", raw) for name, raw in models.items() if isinstance(raw, Mapping)] \
        if isinstance(models, Mapping) else []
    for prefix, keys in [("", data), *services]:
        if _raw(keys, "access") is not None:
            problems.append((f"{prefix}access", _raw(keys, "access"), "is the program's with frontDoor: every site "
                             "and slot admits only the stack's Front Door (the AzureFrontDoor.Backend service tag "
                             "with this profile's X-Azure-FDID), so rules of your own would open or close it "
                             "wrongly; remove access (Front Door's WAF and auth decide who gets through), or remove "
                             "frontDoor"))
        host = _raw(_raw(keys, "customDomain"), "hostName")
        zone_id = _raw(_raw(keys, "customDomain"), "dnsZoneId")
        zone = str(zone_id).rsplit("/", 1)[-1].lower() if zone_id else None
        if isinstance(host, str) and is_apex(host, zone):  # fact: fd-custom-domain-dns
            problems.append((f"{prefix}customDomain.hostName", host, "is a zone apex: behind Front Door a domain is "
                             "reached by a CNAME to its endpoint, which an apex cannot have, and Front Door does not "
                             f"renew an apex's managed certificate by itself; use a subdomain such as score.{host}"))
        no_certificate = cloud.missing(FRONT_DOOR_MANAGED_CERTIFICATE)
        if host is not None and no_certificate and not missing:
            problems.append((f"{prefix}customDomain.hostName", host, "with frontDoor the custom domain is Front "
                             f"Door's, with a managed certificate, and {no_certificate.feature} are not offered in "
                             f"{cloud.title} ({no_certificate.source}): remove customDomain (callers use the Front "
                             f"Door endpoint's host name), and {no_certificate.alternative} outside this stack"))
    return problems


def _front_door_limits(data: Mapping, stack: str, regions: int) -> list[tuple[str, Any, str]]:
    """What one Front Door profile holds (an endpoint per service, an origin per service and region), and endpoint
    names that fit their host name's first label."""
    sku = _raw(_raw(data, "frontDoor"), "sku", FrontDoor.model_fields["sku"].default)
    if sku not in FRONT_DOOR_SKUS:
        return []  # pydantic's to refuse
    models, prefix = _raw(data, "models"), str(_raw(data, "namePrefix", "mw"))
    services = [str(name) for name in models] if isinstance(models, Mapping) and models else [None]
    problems: list[tuple[str, Any, str]] = []
    if len(services) > FRONT_DOOR_ENDPOINTS[sku]:
        premium = FRONT_DOOR_SKUS[1]
        problems.append(("models", f"{len(services)} services", f"each service is an endpoint of the stack's one "
                         f"Front Door profile, and a {sku} profile holds at most {FRONT_DOOR_ENDPOINTS[sku]}: split "
                         "the models over stacks" + ("" if sku == premium else f", or set frontDoor.sku {premium} "
                                                     f"({FRONT_DOOR_ENDPOINTS[premium]})")))
    elif len(services) * regions > FRONT_DOOR_ORIGINS[sku]:
        problems.append(("regions", f"{regions} regions", f"make {len(services) * regions} origins (one per service "
                         f"and region), and a {sku} profile holds at most {FRONT_DOOR_ORIGINS[sku]}: list fewer "
                         "regions, or split the models over stacks"))
    for service in services:
        endpoint = "-".join(p for p in (prefix, stack, service, "fd-endpoint") if p)
        if len(endpoint) > FRONT_DOOR_ENDPOINT_NAME_MAX:
            key, value = (f"models.{service}", service) if service else ("namePrefix", prefix)
            problems.append((key, value, f"makes the Front Door endpoint name {endpoint} ({len(endpoint)} characters) "
                             f"longer than the {FRONT_DOOR_ENDPOINT_NAME_MAX} that fit in its host name's first "
                             "label: shorten the service name, namePrefix or the stack name"))
    return problems


def _region_name_problems(data: Mapping, stack: str, others: list[str]) -> list[tuple[str, Any, str]]:
    """The plan and sites of every region after the primary carry -<region> in their names: within App Service's
    limits too. Named once, for the longest region, and only where the primary's names fit (otherwise
    _fleet_problems has said so)."""
    if not others:
        return []
    prefix, longest = str(_raw(data, "namePrefix", "mw")), max((region_name(r) for r in others), key=len)
    models = _raw(data, "models")
    services = [str(name) for name in models] if isinstance(models, Mapping) else [None]
    problems = [] if _plan_name_problem(prefix, stack) else _plan_name_problem(prefix, stack, longest)
    for service in services:
        if not _name_problem(prefix, stack, service):
            problems += _name_problem(prefix, stack, service, longest)
    return problems


def _with_primary_location(data: Any, cloud: Cloud) -> Any:
    """With regions, the stack's location is the primary region, regions[0] (a location of its own is refused by
    _regions_problems; an unknown first region is named there, not as location)."""
    regions = _raw(data, "regions")
    if not (isinstance(data, Mapping) and isinstance(regions, list) and regions and isinstance(regions[0], str)):
        return data
    if region_problem(regions[0], cloud.ml_cloud):
        return data
    return {**{k: v for k, v in data.items() if k != "location"}, "location": region_name(regions[0])}


def _fleet_problems(data: Mapping, stack: str) -> list[tuple[str, Any, str]]:
    """From the raw keys, so they are listed with every other problem: the two forms mixed, site names too long,
    one custom domain on two services."""
    models, prefix = _raw(data, "models"), str(_raw(data, "namePrefix", "mw"))
    if not isinstance(models, Mapping):
        required = [] if _raw(data, "model") is not None else \
            [("model", None, "required: the registered model (or list several under models)")]
        return required + _name_problem(prefix, stack, None) + _plan_name_problem(prefix, stack)
    # Pulumi.yaml declares the scalar keys with their defaults and the engine hands those over as if set: a key
    # counts as set when it holds something else.
    problems = [(key, _raw(data, key), "is a key of one model: with models set, put it under models.<name>, or remove "
                 "models for a one-model stack") for field, key in ((f, to_camel(f)) for f in PER_MODEL)
                if _raw(data, key) not in (None, "") and str(_raw(data, key)).lower() != str(
                    ModelKeys.model_fields[field].default).lower()]
    if not models:
        problems.append(("models", {}, "lists no model: name at least one, or remove it"))
    problems += _plan_name_problem(prefix, stack)
    hosts: dict[str, list[str]] = {}
    for name, raw in models.items():
        problems += _name_problem(prefix, stack, str(name))
        host = _raw(_raw(raw, "customDomain", {}), "hostName")
        if isinstance(host, str):
            hosts.setdefault(host.lower(), []).append(str(name))
    problems += [(f"models.{later}.customDomain.hostName", host, f"is also models.{names[0]}'s custom domain: one host "
                  "name serves one site") for host, names in hosts.items() for later in names[1:]]
    return problems


def _network_problems(data: Mapping, cloud: Cloud) -> list[tuple[str, Any, str]]:
    """From the raw keys, so every network problem is listed with every other one: id shapes, the zone's name, the
    plan's tier, keys that would do nothing."""
    network = _raw(data, "network")
    if not isinstance(network, Mapping):
        return []  # unset; anything else is pydantic's to refuse (must be an object)
    given = {key: _raw(network, key) for key in ("integrationSubnetId", "privateEndpointSubnetId", "privateDnsZoneId",
                                                 "publicNetworkAccess", "routeAllTraffic", "pullImageOverVnet")}
    subnets = {key: given[key] for key in ("integrationSubnetId", "privateEndpointSubnetId") if given[key]}
    problems = [(f"network.{key}", value, f"must be a subnet id: {SUBNET_SHAPE}") for key, value in subnets.items()
                if not re.match(SUBNET_ID, str(value))]
    zone = given["privateDnsZoneId"]
    match = re.match(PRIVATE_DNS_ZONE_ID, str(zone)) if zone else None
    if zone and not match:
        problems.append(("network.privateDnsZoneId", zone, f"must be a private DNS zone id: {ZONE_SHAPE}"))
    elif match and match["zone"].lower() != cloud.sites_private_dns_zone:  # fact: cloud-private-dns-zones
        problems.append(("network.privateDnsZoneId", zone, f"is the zone {match['zone']}, but App Service sites' "
                         f"private endpoints in {cloud.title} resolve in {cloud.sites_private_dns_zone}: name that "
                         "zone (an existing one, linked to the VNets that call the sites), or leave it unset"))
    if zone and not given["privateEndpointSubnetId"]:
        problems.append(("network.privateDnsZoneId", zone, "has no effect without privateEndpointSubnetId: set it, "
                         "or remove the zone"))
    # fact: net-integration-subnet-not-endpoint-subnet
    if len(subnets) == 2 and str(subnets["integrationSubnetId"]).lower() == str(
            subnets["privateEndpointSubnetId"]).lower():
        problems.append(("network.privateEndpointSubnetId", subnets["privateEndpointSubnetId"], "is the VNet "
                         "integration subnet, which App Service cannot share with private endpoints: use another "
                         "subnet (it needs no delegation)"))
    problems += [(f"network.{key}", given[key], "has no effect without integrationSubnetId: set it, or remove "
                  f"{key}") for key in ("routeAllTraffic", "pullImageOverVnet")
                 if given[key] is not None and not given["integrationSubnetId"]]
    if not (subnets or given["publicNetworkAccess"]):
        problems.append(("network", dict(network), "sets none of integrationSubnetId, privateEndpointSubnetId, "
                         "publicNetworkAccess: set what your network provides, or remove network"))
    sku = SKUS.get(str(_raw(data, "sku", SharedKeys.model_fields["sku"].default)))
    if sku is not None and sku.tier in NETWORK_TIERS_BELOW:
        what = {"integrationSubnetId": "VNet integration", "privateEndpointSubnetId": "a private endpoint"}
        problems += [(f"network.{key}", value, f"{what[key]} needs a Basic plan or above; sku {sku.name} is "
                      f"{sku.tier}: raise the sku (B1 or above), or remove {key}") for key, value in subnets.items()]
    return problems


def _name_problem(prefix: str, stack: str, service: Optional[str], region: Optional[str] = None
                  ) -> list[tuple[str, Any, str]]:
    """A site is named <prefix>-<stack>[-<service>][-<region> outside the primary]-app plus Pulumi's suffix: within
    App Service's limit."""
    site = "-".join(p for p in (prefix, stack, service, region, "app") if p)
    if len(site) + AUTONAME_SUFFIX <= SITE_NAME_LIMIT:  # fact: site-name-length
        return []
    where = f"in region {region}, " if region else ""
    what = (f"makes the site name {where}{site} ({len(site)} characters, and Pulumi appends {AUTONAME_SUFFIX}), longer "
            f"than App Service's {SITE_NAME_LIMIT}: shorten the service name, namePrefix or the stack name")
    return [(f"models.{service}", service, what)] if service else [("namePrefix", prefix, what)]


def _plan_name_problem(prefix: str, stack: str, region: Optional[str] = None) -> list[tuple[str, Any, str]]:
    plan = "-".join(p for p in (prefix, stack, region, "plan") if p)
    if len(plan) + AUTONAME_SUFFIX <= PLAN_NAME_LIMIT:  # fact: site-name-length
        return []
    where = f"in region {region}, " if region else ""
    return [("namePrefix", prefix, f"makes the plan name {where}{plan} ({len(plan)} characters, and Pulumi appends "
             f"{AUTONAME_SUFFIX}), longer than App Service's {PLAN_NAME_LIMIT}: shorten namePrefix or the stack "
             "name")]


def _zone_obstacle(s: "Settings") -> Optional[str]:
    """Why the plan cannot be zone-redundant; None when it can."""
    sku, auto, cloud = s.sku, s.autoscale, getattr(s, "cloud", None)
    if not sku.supports_zone_redundancy:  # fact: zone-premium-tiers-two-instances
        return (f"zone redundancy needs a Premium v2, v3 or v4 sku; sku {sku.name} is {sku.tier}: raise the sku, or set "
                "zoneRedundant to auto or false")
    # Autoscale may scale in to its minimum: that, not the start count, is what must stay spread over two zones.
    # Azure would run and bill two instances anyway (fact: zone-two-instance-floor); the stack says so up front.
    floor = auto.min_instances if auto.enabled else s.instance_count
    if floor < 2:
        now = f"autoscale.minInstances is {floor}" if auto.enabled else "without autoscale the plan runs one instance"
        return (f"zone redundancy needs at least two instances and {now}: enable autoscale with minInstances 2 or "
                "more, or set zoneRedundant to auto or false")
    if not has_zones(s.location, cloud):  # fact: zone-regions-per-cloud
        return (f"location {s.location} has no availability zones (the list: {ZONES_SOURCE}): deploy to a region with "
                "zones, or set zoneRedundant to auto or false")
    return None


def _model_problems(keys: "ModelKeys", sku: Sku, prefix: str, cloud: Cloud = PUBLIC, front_door: bool = False
                    ) -> list[tuple[str, Any, str]]:
    """What one model's keys cannot do on the shared plan's SKU, or in the stack's cloud (prefix: "" or
    models.<name>.)."""
    problems = []
    missing = cloud.missing(PACKAGING)
    acr_task = keys.build.builder == "acrTask"
    if acr_task and (keys.image or keys.promote_from):
        given = "image" if keys.image else "promoteFrom"
        problems.append((f"{prefix}build.builder", "acrTask", f"builds an image, and {given} is set, so nothing would "
                         f"be built: remove {given}, or build.builder"))
    if acr_task and keys.code.environment_asset:
        problems.append((f"{prefix}code.environmentSpec", keys.code.environment_spec, "an ACR Tasks build installs the "
                         "environment's pip requirements from a file: set a conda .yml (its pip section) or a pip "
                         ".txt file, or use build.builder azureml"))
    if missing and not (keys.image or keys.promote_from or acr_task):
        problems.append((f"{prefix}image", None, f"{missing.feature} is not offered in {cloud.title} "
                         f"({missing.source}), and without image the stack builds its package with it: "
                         f"{missing.alternative}"))
    if keys.image and keys.promote_from:
        problems.append((f"{prefix}promoteFrom", keys.promote_from, "set either image or promoteFrom, not both"))
    if keys.release.strategy == "slot" and not sku.supports_slots:
        problems.append((f"{prefix}release.strategy", "slot", f"deployment slots need Standard tier or above; sku "
                         f"{sku.name} is {sku.tier}: raise the sku or set release.strategy inPlace"))
    # With Front Door the domain and its certificate are Front Door's: the site binds none.
    if keys.custom_domain and sku.tier in ("Free", "Shared") and not front_door:  # no TLS bindings on these tiers
        problems.append((f"{prefix}customDomain.hostName", keys.custom_domain.host_name, "a custom domain with a free "
                         f"managed certificate needs a Basic plan or above; sku {sku.name} is {sku.tier}: raise the "
                         "sku or remove customDomain"))
    return problems


class FileCheck:
    """What the settings' files hold, read from the raw keys: the inference code a stack packages, and the
    smoke request sent to /score after a release. Each problem is (key, value or None, what to do)."""

    def __init__(self, data: Mapping, project_dir: Path):
        self.problems: list[tuple[str, Any, str]] = []
        self.smoke_rows: Optional[list] = None
        self.smoke_path: Optional[Path] = None
        self.project_dir = project_dir
        builds = not (_raw(data, "image") or _raw(data, "promoteFrom"))
        code = _raw(data, "code", {})
        source_dir = self._code(code, builds) if isinstance(code, Mapping) else None
        release = _raw(data, "release", {})
        if isinstance(release, Mapping):
            self._smoke(_raw(release, "smokeRequest"), source_dir, builds)

    def _code(self, code: Mapping, builds: bool) -> Optional[Path]:
        """The code folder, or None when it is missing (reported when the stack builds)."""
        defaults = InferenceCode.model_fields
        source_dir = Path(str(_raw(code, "sourceDir", defaults["source_dir"].default)))
        entry = str(_raw(code, "entryScript", defaults["entry_script"].default))
        spec = str(_raw(code, "environmentSpec", defaults["environment_spec"].default))
        root = self.project_dir / source_dir
        if not root.is_dir():
            if builds:
                self.problems.append(("code.sourceDir", str(source_dir), f"no such folder under {self.project_dir}"))
            return None
        if builds and not (root / entry).is_file():
            self.problems.append(("code.entryScript", entry, f"no such file in {source_dir.as_posix()}/"))
        if builds and Path(spec).suffix in ENVIRONMENT_SUFFIXES and not spec.startswith("azureml:") \
                and not (self.project_dir / spec).is_file():
            self.problems.append(("code.environmentSpec", spec, f"no such file under {self.project_dir} (a conda .yml, "
                                  "a pip requirements .txt, or an asset azureml:<name>:<version>)"))
        return source_dir

    def _smoke(self, given: Any, source_dir: Optional[Path], builds: bool) -> None:
        if given == "":
            return  # sends none, as asked
        if given is not None:
            path, key_value = Path(str(given)), str(given)
        elif source_dir is not None:
            # The model's own request, beside its code: never the example's request sent to another model.
            path, key_value = source_dir.parent / SMOKE_REQUEST_FILE, None
            if not (self.project_dir / path).is_file():
                if builds:
                    self.problems.append(("release.smokeRequest", None, f"no smoke request for this stack's code: "
                                          f"create {path.as_posix()} (a request your model answers, "
                                          '{"data": [[...], ...]}, sent to /score after each release), point '
                                          'release.smokeRequest at another file, or set it to "" to send none'))
                return
        else:
            return
        try:
            self.smoke_rows, self.smoke_path = request_rows(self.project_dir / path), (self.project_dir / path).resolve()
        except FileNotFoundError:
            self.problems.append(("release.smokeRequest", key_value, f"no such file under {self.project_dir}"))
        except ValueError as exc:
            where = "" if key_value is not None else f"{path.as_posix()} (the default, beside code.sourceDir) "
            self.problems.append(("release.smokeRequest", key_value, f"{where}must be {exc}"))


# The keys that describe one model's service: at the top of a one-model stack, or under models.<name>.
PER_MODEL = ("ssh_enabled", "server_port", "worker_count", "container_start_time_limit", "image", "promote_from",
             "model_mount_mode", "package_timeout_minutes", "model", "code", "server_environment", "auth", "access",
             "custom_domain", "release", "build")
SERVICE_NAME = r"^[a-z][a-z0-9-]*[a-z0-9]$"
# App Service site and plan names; Pulumi appends a 7-character random suffix to each
SITE_NAME_LIMIT, PLAN_NAME_LIMIT, AUTONAME_SUFFIX = 60, 40, 7


class ModelKeys(Part):
    """What one model's service is: its model, code or image, release, auth, access, domain and server."""
    ssh_enabled: Flag = Field(False, description="SSH into the container (debugging only; keep false in prod).")
    server_port: int = Field(5001, ge=1024, le=65535,
                             description="Port the server of a ready image listens on (WEBSITES_PORT); a package's "
                             "port, and a promoted one, is read from its image.")
    worker_count: int = Field(0, ge=0, le=64, validate_default=True,
                              description="Inference server workers (WORKER_COUNT); 0 means the SKU's vCPU count.")
    container_start_time_limit: int = Field(600, ge=60, le=1800, description="Seconds App Service waits for the "
                                            "container to answer (WEBSITES_CONTAINER_START_TIME_LIMIT).")
    image: Annotated[Optional[str], AfterValidator(_pinned)] = Field(
        None, description="A ready image <registry>.<the cloud's registry domain>/<repository>@sha256:<64 hex digits> "
        "(the registry in the stack's cloud, azure-native:environment); empty means the stack builds its own package.")
    promote_from: Annotated[Optional[text(r"^([\w.-]+/){0,2}[\w.-]+$", "must be a stack name: dev, or <org>/<project>/"
                                          "<stack>")], BeforeValidator(lambda v: v or None)] = Field(
        None, description="A stack (dev, or org/model-webapp/dev) whose image output this stack deploys.")
    model_mount_mode: Annotated[str, AfterValidator(_mount_mode), WithJsonSchema(
        {"type": "string", "enum": list(MOUNT_MODES)})] = Field(
        "copy", description="How the package holds the model: copy, inside the image. download is refused: such "
        "packages fetch the model from Azure ML at start and only run on Azure ML endpoints.")
    package_timeout_minutes: int = Field(60, ge=5, le=240, description="Longest wait for one package image build.")
    model: Optional[Model] = Field(None, description="The registered model (required unless models is set).")
    code: InferenceCode = Field(InferenceCode(), description="The inference code the package is built from.")
    server_environment: Annotated[dict[text(r"^[A-Za-z_][A-Za-z0-9_]*$", "is not an environment variable name"),
                                       Annotated[str, StringConstraints(max_length=4096)]], Frozen] = Field(
        {}, description="Environment variables baked into the package for the inference server (text values).")
    auth: EntraAuth = Field(EntraAuth(), description="Entra ID authentication of the scoring API.")
    access: Optional[Access] = Field(None, description="Who may call the site: IP ranges and/or one Azure Front Door.")
    custom_domain: Optional[CustomDomain] = Field(None, description="A custom host name with a free managed TLS "
                                                  "certificate (Basic plan or above).")
    release: Release = Field(Release(), description="How a new image reaches production.")
    build: Build = Field(Build(), description="How the stack builds its image when it has neither image nor "
                         "promoteFrom (see Two ways to build the image).")


class Service(ModelKeys):
    """One entry of models: a model served by its own site on the stack's shared plan."""
    model: Model = Field(description="The registered model (required).")
    worker_count: int = Field(0, ge=0, le=64, description="Inference server workers (WORKER_COUNT); 0 means the "
                              "plan's vCPUs divided among the models, at least 1.")


class SharedKeys(Part):
    """What the models of a stack share: the regions, the plan, registry access, the workspace, monitoring, tags."""
    location: Annotated[str, AfterValidator(_region)] = Field(
        "westeurope", description="Azure region for the resource group, plan and web app (a public cloud region "
        "name such as westeurope; the list is settings/regions.py). With regions set, leave it unset.")
    regions: Optional[list[Annotated[str, AfterValidator(region_name)]]] = Field(
        None, json_schema_extra={"minItems": 1}, description="Several Azure regions of the stack's cloud, each with "
        "its own plan and sites, behind frontDoor (required with more than one); the first is the primary, where "
        "names stay as with location and releases go first. Unset: location's one region.")
    name_prefix: text(r"^[a-z][a-z0-9-]{1,19}$", "must be 2-20 characters: a lowercase letter, then lowercase "
                      "letters, digits or hyphens") = Field(
        "mw", description="Prefix of every resource name (2-20 lowercase letters, digits, hyphens).")
    sku: SkuName = Field("B1", validate_default=True, description="App Service plan SKU (Linux plans).")
    registry_access: Literal["managedIdentity", "adminCredentials"] = Field(
        "managedIdentity", description="How the web app pulls from the workspace's registry.")
    registry_permissions: Literal["auto", "rbac", "abac"] = Field("auto", description="The registry's permission "
                                                                  "mode: auto reads it from Azure; abac grants Container Registry Repository Reader, rbac AcrPull.")
    first_pull_wait_seconds: int = Field(90, ge=0, le=900, description="Wait after a new pull role assignment "
                                         "before the site is created, so its first image pull is authorised.")
    workspace: Workspace = Field(description="The Azure ML workspace (required).")
    autoscale: Autoscale = Field(Autoscale(), description="CPU autoscale of the plan (Standard tier or above).")
    zone_redundant: ZoneFlag = Field("auto", description="Spread the plan's instances over the region's availability "
                                     "zones. auto: on for a Premium v2/v3/v4 plan of two or more instances (autoscale "
                                     "minInstances) in a region with zones, off otherwise; true where that is "
                                     "impossible is refused.")
    monitoring: Monitoring = Field(Monitoring(), description="Logs, telemetry and alerts (see When something goes wrong).")
    # Shared, not per model: an integration subnet serves one plan, and the stack's sites share one plan; a landing
    # zone gives a workload one endpoint subnet and one zone, and each service still gets its own endpoints.
    # fact: net-integration-subnet-one-plan
    network: Optional[Network] = Field(None, description="Private networking (see Private networking): outbound VNet "
                                       "integration, private endpoints for every site and slot, and their public "
                                       "access. Unset: public sites, images pulled over the internet.")
    front_door: Optional[FrontDoor] = Field(
        None, description="Azure Front Door Standard/Premium in front of every region's sites (see Several regions): "
        "its endpoint is each service's scoring URI, custom domains move to it, and the sites admit only it. "
        "Required with more than one region.")
    extra_tags: Annotated[dict[Annotated[str, StringConstraints(max_length=512)],
                               Annotated[str, StringConstraints(max_length=256)]], Frozen] = Field(
        {}, alias="tags", description="Extra tags on every resource; environment defaults to the stack name.")


class Settings(ModelKeys, SharedKeys):  # SharedKeys' fields first: sku is known when worker_count is validated
    """The stack's settings. With `models`, the top-level model keys hold only their defaults: read each model's from
    `services` (one one-model Settings per service), never from the stack's own."""
    models: Optional[dict[text(SERVICE_NAME, "must be a service name: lowercase letters, digits and hyphens, "
                               "starting with a letter (it goes into the site's DNS name)"), Service]] = Field(
        None, description="Several models on the shared plan: service name -> the keys of one model (model, code, "
        "image or promoteFrom, workerCount, release, auth, access, customDomain, serverEnvironment, "
        "containerStartTimeLimit, sshEnabled, ...). Unset: the top-level keys describe the stack's one model.")
    _stack: str = PrivateAttr("")
    _cloud: Cloud = PrivateAttr(PUBLIC)
    _smoke_rows: Optional[list] = PrivateAttr(None)
    _smoke_path: Optional[Path] = PrivateAttr(None)
    _service: Optional[str] = PrivateAttr(None)  # the models entry this view is of; None: a one-model stack
    _services: tuple = PrivateAttr(())

    @field_validator("worker_count")
    @classmethod
    def _workers_default_to_vcpus(cls, count: int, info: ValidationInfo) -> int:
        return count or (info.data["sku"].vcpus if "sku" in info.data else 1)

    @model_validator(mode="wrap")
    @classmethod
    def _with_files(cls, data: Any, handler: Any, info: ValidationInfo) -> "Settings":
        """The files the settings name are checked from the raw keys, so a missing folder is reported in the same
        pass as every other problem: pydantic's own after-validators run only once everything else is valid."""
        project_dir = Path((info.context or {}).get("project_dir", PROJECT_DIR))
        models = _raw(data, "models")
        if isinstance(models, Mapping):  # each model's files, under its own key
            files = {name: FileCheck(raw, project_dir) for name, raw in models.items() if isinstance(raw, Mapping)}
            problems = [(f"models.{name}.{key}", value, text) for name, check_ in files.items()
                        for key, value, text in check_.problems]
        else:
            files = {None: FileCheck(data, project_dir)} if isinstance(data, Mapping) else {}
            problems = [p for check_ in files.values() for p in check_.problems]
        stack, cloud = (info.context or {}).get("stack", ""), _context_cloud(info)
        problems += _regions_problems(data, cloud, stack) if isinstance(data, Mapping) else []
        data = _with_primary_location(data, cloud)
        problems += _fleet_problems(data, stack) if isinstance(data, Mapping) else []
        problems += _network_problems(data, _context_cloud(info)) if isinstance(data, Mapping) else []
        try:
            settings = handler(data)
        except ValidationError as exc:
            details = [{"type": PydanticCustomError(e["type"], e["msg"], e.get("ctx")), "loc": e["loc"],
                        "input": e["input"]} for e in exc.errors()]
            raise ValidationError.from_exception_data(exc.title, details + _as_details(problems, data)) from None
        if problems:
            raise ValidationError.from_exception_data(cls.__name__, _as_details(problems, data))
        # The after-validators run once this returns; the views need the stack and the cloud now.
        settings._stack, settings._cloud = stack, _context_cloud(info)
        settings._services = settings._views({name: (f.smoke_rows, f.smoke_path) for name, f in files.items()})
        return settings

    @model_validator(mode="after")
    def _across_keys(self, info: ValidationInfo) -> "Settings":
        self._stack, sku, auto = (info.context or {}).get("stack", ""), self.sku, self.autoscale
        self._cloud = _context_cloud(info)
        problems = []
        if auto.enabled and not sku.supports_autoscale:
            problems.append(("autoscale.enabled", True, f"autoscale needs a {'/'.join(AUTOSCALE_TIERS)} SKU; sku "
                             f"{sku.name} is {sku.tier}: raise the sku or disable autoscale"))
        problems += [(f"autoscale.{key}", count, f"must be a whole number from 1 to {sku.max_instances} on {sku.name}")
                     for key in ("minInstances", "maxInstances", "defaultInstances")
                     for count in [getattr(auto, to_snake(key))] if auto.enabled and count > sku.max_instances]
        if self.zone_redundant is True and _zone_obstacle(self):
            problems.append(("zoneRedundant", True, _zone_obstacle(self)))
        elif self.zone_redundant is True:  # the plan can be; every region must have zones too
            # fact: zone-regions-per-cloud
            problems += [("zoneRedundant", True, f"regions lists {region}, which has no availability zones (the "
                          f"list: {ZONES_SOURCE}): list regions with zones, or set zoneRedundant to auto (each "
                          "region's plan is zone-redundant where it can be) or false")
                         for region in self.locations[1:] if not has_zones(region, self._cloud)]
        front_door = self.front_door is not None
        if self.models is None:
            problems += _model_problems(self, sku, "", self._cloud, front_door)
        else:
            for name, service in self.models.items():
                problems += _model_problems(service, sku, f"models.{name}.", self._cloud, front_door)
        check(problems)
        return self

    def _views(self, files: dict[Optional[str], tuple[Optional[list], Optional[Path]]]) -> tuple["Settings", ...]:
        """One one-model Settings per service: the shared keys, and that service's own."""
        if self.models is None:
            self._smoke_rows, self._smoke_path = files.get(None, (None, None))
            return ()  # `services` is the stack itself (held here, it would compare with itself forever)
        # Every model's container runs on every instance of the plan: fact: site-plan-shared-instances
        share = max(1, self.sku.vcpus // len(self.models))
        views = []
        for name, service in self.models.items():
            view = self.model_copy(update={**{key: getattr(service, key) for key in PER_MODEL}, "models": None,
                                           "worker_count": service.worker_count or share})
            view._stack, view._service, view._services, view._cloud = self._stack, name, (), self._cloud
            view._smoke_rows, view._smoke_path = files.get(name, (None, None))
            views.append(view)
        return tuple(views)

    @property
    def services(self) -> tuple["Settings", ...]:
        """What each service deploys, as a one-model Settings (the stack itself for a one-model stack)."""
        return self._services or (self,)

    @property
    def service(self) -> Optional[str]:
        """The models entry this is the view of; None for a one-model stack."""
        return self._service

    def resource_name(self) -> str:
        """The name a service's resources start with: <prefix>-<stack>, -<service> for a models entry, and outside
        the primary region -<region>."""
        return "-".join(p for p in (self.name_prefix, self._stack, self._service, self._region_suffix) if p)

    def platform_name(self) -> str:
        """The name of the region's platform: <prefix>-<stack>, and outside the primary region -<region>."""
        return "-".join(p for p in (self.name_prefix, self._stack, self._region_suffix) if p)

    @property
    def _region_suffix(self) -> Optional[str]:
        return None if self.is_primary else region_name(self.location)

    @property
    def locations(self) -> tuple[str, ...]:
        """The stack's regions, the primary first: regions, or location's one."""
        return tuple(self.regions) if self.regions else (self.location,)

    @property
    def is_primary(self) -> bool:
        """Whether these are the settings in the primary region (the one whose names are the one-region stack's)."""
        return region_name(self.location) == region_name(self.locations[0])

    def in_region(self, region: str) -> "Settings":
        """The same settings (the stack's or one service's view) in one of the stack's regions: its location is the
        region, and a stack's services are their views in that region."""
        if region_name(region) not in {region_name(r) for r in self.locations}:
            raise ValueError(f"{region} is not one of the stack's regions ({', '.join(self.locations)})")
        region = next(r for r in self.locations if region_name(r) == region_name(region))
        # model_copy keeps the private attributes (stack, cloud, service, smoke request) and revalidates nothing:
        # nothing stored depends on the location, what does (zone_redundancy, names) is computed from it.
        view = self.model_copy(update={"location": region})
        view._services = tuple(service.in_region(region) for service in self._services)
        return view

    @property
    def uses_slot(self) -> bool:
        """Whether new images go through the staging slot: release.strategy, or the tier's default."""
        return self.release.strategy == "slot" or (self.release.strategy is None and self.sku.supports_slots)

    @property
    def smoke_rows(self) -> Optional[list]:
        """The smoke request's rows, read once with the settings; None when no request is sent after a release."""
        return self._smoke_rows

    @property
    def smoke_request_path(self) -> Optional[Path]:
        """The smoke request file the rows came from (resolved); None when none is sent."""
        return self._smoke_path

    @property
    def builds_package(self) -> bool:
        """Whether this stack packages its own code (no image, no promoteFrom)."""
        return not (self.image or self.promote_from)

    @property
    def stack(self) -> str:
        return self._stack

    @property
    def cloud(self) -> Cloud:
        """The stack's cloud (azure-native:environment): every host and authority the stack names comes from it."""
        return self._cloud

    @property
    def uses_managed_identity(self) -> bool:
        return self.registry_access == "managedIdentity"

    @property
    def zone_redundancy(self) -> bool:
        """Whether the plan is zone-redundant: zoneRedundant, or for auto whether the plan can be."""
        return _zone_obstacle(self) is None if self.zone_redundant == "auto" else self.zone_redundant

    @property
    def instance_count(self) -> int:
        return self.autoscale.start if self.autoscale.enabled else 1

    @property
    def tags(self) -> Mapping[str, str]:
        return MappingProxyType({"environment": self.stack, "project": NAMESPACE, "managed-by": "pulumi",
                                 **self.extra_tags})

    @classmethod
    def from_config(cls, config: pulumi.Config, *, stack: str | None = None, project_dir: Path | None = None) -> "Settings":
        """Reads every key set in the namespace; raises one RunError listing every problem, in our words."""
        stack = stack or pulumi.get_stack()
        # Every key the engine handed the program, typos included: Pulumi itself ignores unknown keys.
        keys = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
        raw = {}
        for key in (k.split(":", 1)[1] for k in keys if k.startswith(f"{config.name}:")):
            raw[key] = value = config.get(key)  # text; objects and lists as JSON text
            with contextlib.suppress(json.JSONDecodeError):
                raw[key] = json.loads(value) if value and value.lstrip()[:1] in "{[" else value
        # The cloud is the azure-native provider's own key, so the default provider and the stack agree on it.
        environment = pulumi.Config(ENVIRONMENT_KEY.split(":")[0]).get(ENVIRONMENT_KEY.split(":")[1])
        problems = [f"{ENVIRONMENT_KEY} = {environment!r} {cloud_problem(environment)}"] \
            if cloud_problem(environment) else []
        try:
            settings = cls.model_validate(raw, context={"stack": stack, "project_dir": project_dir or PROJECT_DIR,
                                                        "cloud": environment})
        except ValidationError as exc:
            problems += [line for error in exc.errors() for line in describe(error)]
        if problems:
            raise pulumi.RunError(f"stack '{stack}' has {len(problems)} configuration problem(s):\n"
                                  + "\n".join(f"  - {p}" for p in problems)) from None
        return settings


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else json.dumps(value, default=str)


def _fields_at(loc: tuple) -> tuple[dict, Any]:
    """The fields of the model holding the key at `loc`, and that key's field (None for a map entry or unknown key)."""
    fields, field, steps = Settings.model_fields, None, iter(loc)
    for step in steps:
        field = next((f for n, f in fields.items() if (f.alias or n) == step), None)
        annotation = getattr(field, "annotation", None)
        if field is not None and field.alias == "models":
            annotation, _ = Service, next(steps, None)  # models.<name>.<key>: the name is a map key, not a field
        model = next((t for t in (annotation, *get_args(annotation))
                      if isinstance(t, type) and issubclass(t, BaseModel)), None)  # Optional[Access] too
        if model is None:
            break
        fields = model.model_fields
    return fields, field


def describe(error: dict) -> list[str]:
    """One pydantic error as lines `model-webapp:<key.path> = <value>: <what is allowed>`, in our own words."""
    kind, ctx, loc = error["type"], error.get("ctx") or {}, tuple(str(p) for p in error["loc"] if p != "[key]")
    key, value = f"{NAMESPACE}:{'.'.join(loc)}", error.get("input")
    if kind == "problems":
        return [f"{key}{'.' if loc else ''}{k} " + ("is not set" if v is None else f"= {_show(v)}") + f": {m}"
                for k, v, m in ctx["problems"]]
    fields, field = _fields_at(loc)
    if kind == "missing":
        return [f"{key} is not set: required"]
    bounds = {type(m).__name__: m for m in getattr(field, "metadata", [])}
    low, high = getattr(bounds.get("Ge"), "ge", ctx.get("ge")), getattr(bounds.get("Le"), "le", ctx.get("le"))
    span = f"from {low} to {high}" if high is not None else f"at least {low}" if low is not None else ""
    known = [f.alias for f in fields.values()]
    as_object = "must be an object (a YAML mapping in the stack file)"
    allowed = {
        "allowed": error["msg"], "string_pattern_mismatch": ALLOWED.get(ctx.get("pattern"), "has the wrong form"),
        "extra_forbidden": "unknown key; " + next((f"did you mean {m}?" for m in difflib.get_close_matches(
            loc[-1], known, n=1)), f"known keys: {', '.join(known)}"),
        "literal_error": f"must be one of {ctx.get('expected', '').replace(chr(39), '').replace(' or ', ', ')}",
        "int_parsing": f"must be a whole number{', ' if high is None else ' '}{span}".rstrip(", "), "int_type": "must be a whole number",
        "greater_than_equal": f"must be {span}", "less_than_equal": f"must be {span}",
        "greater_than": f"must be more than {ctx.get('gt')}", "less_than": f"must be less than {ctx.get('lt')}",
        "float_parsing": "must be a number", "float_type": "must be a number",
        "bool_parsing": "must be true or false", "bool_type": "must be true or false", "list_type": "must be a list",
        "string_type": "must be a text value", "string_too_long": f"must be at most {ctx.get('max_length')} characters",
        "model_type": as_object, "model_attributes_type": as_object, "too_short": "must not be empty",
        "dict_type": "must be an object of names to text values",
    }.get(kind, "is not a value this key takes: see the configuration reference in the README")
    return [f"{key} = {_show(value)}: {allowed}"]
