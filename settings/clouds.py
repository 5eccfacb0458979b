"""The Azure clouds a stack can deploy to, and every host, authority and name that differs between them.

A stack names its cloud once, in `azure-native:environment` (public, china, usgovernment: the azure-native
provider's own values); everything that names a host or an authority takes it from here, as Terraform's azurerm
and the Azure SDKs derive every endpoint from one cloud setting. Each value's Microsoft source is in
docs/azure-facts.md under the id on its line. This is the only module of the project that spells a cloud's host.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping, Optional

ENVIRONMENT_KEY = "azure-native:environment"


@dataclass(frozen=True)
class Unavailable:
    """A feature a cloud does not offer: why we say so, where Microsoft says it, and what to do instead."""
    feature: str  # in words, as a message names it
    source: str  # Microsoft's page
    alternative: str  # what the stack can do instead


@dataclass(frozen=True)
class Cloud:
    name: str  # the azure-native:environment value
    title: str  # as a message names it
    app_host_suffix: str  # <site>.<suffix>: a site's default host name
    scm_host_suffix: str  # <site>.<suffix>: its Kudu (SCM) host
    registry_suffix: str  # <registry>.<suffix>: a container registry's login server
    authority_host: str  # Entra ID authority host, as azure-identity's AzureAuthorityHosts spells it
    issuer_authority: str  # what an Entra v2.0 token's iss starts with: https://<host>
    arm_endpoint: str  # Azure Resource Manager, as azure-mgmt-* takes it for base_url
    arm_audience: str  # ARM's token audience; a credential asks for <audience>/.default
    registry_audience: str  # the audience azure-containerregistry asks tokens for
    ml_cloud: str  # what azure-ai-ml's MLClient(..., cloud=...) takes
    insights_suffix: str  # Application Insights ingestion: https://<region>-<n>.in.<suffix>/
    sites_private_dns_zone: str  # private endpoint DNS zone of App Service sites
    registry_private_dns_zone: str  # ... and of container registries
    # Azure Front Door Standard/Premium: <endpoint>-<hash>.<suffix> is an endpoint's host name; None where the cloud
    # has no Front Door Standard/Premium (its `unavailable` says why and what to do instead).
    front_door_suffix: Optional[str] = None
    unavailable: Mapping[str, Unavailable] = field(default_factory=lambda: MappingProxyType({}), hash=False,
                                                   compare=False)

    def __copy__(self) -> "Cloud":
        return self  # immutable: the settings' copies share it

    def __deepcopy__(self, _memo: dict) -> "Cloud":
        return self

    @property
    def arm_scope(self) -> str:
        return f"{self.arm_audience}/.default"

    @property
    def authority(self) -> str:
        """The authority azure-identity's credentials take (`authority=`): https://<host>."""
        return f"https://{self.authority_host}"

    def site_host(self, site: str) -> str:
        return f"{site}.{self.app_host_suffix}"

    def issuer(self, tenant_id: str) -> str:
        """The iss of a v2.0 token of the tenant: what App Service's Entra provider checks."""
        return f"{self.issuer_authority}/{tenant_id}/v2.0"

    def missing(self, feature: str) -> Optional[Unavailable]:
        return self.unavailable.get(feature)


# Microsoft's container registry, where Azure ML's prebuilt inference images are published (one host for every cloud
# the images are pulled from by an ACR Tasks build; whether a sovereign cloud's build agents reach it is unverified).
MICROSOFT_CONTAINER_REGISTRY = "mcr.microsoft.com"  # fact: build-inference-base-image

PACKAGING = "packaging"  # Azure ML model packaging (models.package(), the ModelPackage resource)
FRONT_DOOR = "frontDoor"  # Azure Front Door Standard/Premium (profiles, endpoints, origins, its WAF)
FRONT_DOOR_MANAGED_CERTIFICATE = "frontDoorManagedCertificate"

PUBLIC = Cloud(
    name="public", title="the Azure public cloud",
    app_host_suffix="azurewebsites.net", scm_host_suffix="scm.azurewebsites.net",  # fact: cloud-app-host-suffix
    registry_suffix="azurecr.io",  # fact: cloud-registry-suffix
    authority_host="login.microsoftonline.com",  # fact: cloud-authority-host
    issuer_authority="https://login.microsoftonline.com",  # fact: cloud-auth-issuer
    arm_endpoint="https://management.azure.com", arm_audience="https://management.azure.com",  # fact: cloud-arm
    # ACR-scoped tokens: a registry may refuse ARM-scoped ones (authentication-as-arm disabled), never these.
    registry_audience="https://containerregistry.azure.net",  # fact: registry-acr-audience
    ml_cloud="AzureCloud",  # fact: cloud-ml-name
    insights_suffix="applicationinsights.azure.com",  # fact: cloud-insights-suffix
    sites_private_dns_zone="privatelink.azurewebsites.net",  # fact: cloud-private-dns-zones
    registry_private_dns_zone="privatelink.azurecr.io",
    front_door_suffix="azurefd.net",  # fact: fd-endpoint-host-suffix
)

CHINA = Cloud(
    name="china", title="Azure China (operated by 21Vianet)",
    app_host_suffix="chinacloudsites.cn", scm_host_suffix="scm.chinacloudsites.cn",  # fact: cloud-app-host-suffix
    registry_suffix="azurecr.cn",  # fact: cloud-registry-suffix
    authority_host="login.chinacloudapi.cn",  # fact: cloud-authority-host
    # The China tenants' metadata, served from login.chinacloudapi.cn, names another host as the issuer.
    issuer_authority="https://login.partner.microsoftonline.cn",  # fact: cloud-auth-issuer
    arm_endpoint="https://management.chinacloudapi.cn",  # fact: cloud-arm
    arm_audience="https://management.chinacloudapi.cn",
    # No ACR-scoped audience is documented outside the public cloud: the SDK's own list is ARM's.
    registry_audience="https://management.chinacloudapi.cn",  # fact: cloud-registry-audience
    ml_cloud="AzureChinaCloud",  # fact: cloud-ml-name
    insights_suffix="applicationinsights.azure.cn",  # fact: cloud-insights-suffix
    sites_private_dns_zone="privatelink.chinacloudsites.cn",  # fact: cloud-private-dns-zones
    registry_private_dns_zone="privatelink.azurecr.cn",
    # Front Door Standard/Premium is offered here (fact: fd-sovereign-clouds), but no Microsoft source found
    # names its endpoints' host suffix: None, and nothing here spells one.
    front_door_suffix=None,
    unavailable=MappingProxyType({
        PACKAGING: Unavailable(  # fact: cloud-china-no-packaging
            feature="Azure ML model packaging",
            source="Microsoft Learn, Azure Machine Learning feature availability across clouds regions "
                   "(reference-machine-learning-cloud-parity): its Azure operated by 21Vianet table lists no "
                   "model packaging",
            alternative="build the image with ACR Tasks instead (build.builder: acrTask, from Microsoft's inference "
                        "base image), or bring your own: set image to a ready <registry>.azurecr.cn/<repository>@sha256:"
                        "<64 hex digits> image (or promoteFrom a stack that has one)"),
        FRONT_DOOR_MANAGED_CERTIFICATE: Unavailable(  # fact: cloud-china-no-front-door-managed-certificate
            feature="Azure Front Door managed certificates",
            source="docs.azure.cn, Configure HTTPS on an Azure Front Door custom domain: \"Managed certificates are "
                   "not supported in Azure operated by 21Vianet\"",
            alternative="bring your own certificate (Key Vault) on the Front Door custom domain"),
    }),
)

US_GOVERNMENT = Cloud(
    name="usgovernment", title="Azure US Government",
    app_host_suffix="azurewebsites.us", scm_host_suffix="scm.azurewebsites.us",  # fact: cloud-app-host-suffix
    registry_suffix="azurecr.us",  # fact: cloud-registry-suffix
    authority_host="login.microsoftonline.us",  # fact: cloud-authority-host
    issuer_authority="https://login.microsoftonline.us",  # fact: cloud-auth-issuer
    arm_endpoint="https://management.usgovcloudapi.net",  # fact: cloud-arm
    arm_audience="https://management.usgovcloudapi.net",
    registry_audience="https://management.usgovcloudapi.net",  # fact: cloud-registry-audience
    ml_cloud="AzureUSGovernment",  # fact: cloud-ml-name
    insights_suffix="applicationinsights.us",  # fact: cloud-insights-suffix
    sites_private_dns_zone="privatelink.azurewebsites.us",  # fact: cloud-private-dns-zones
    registry_private_dns_zone="privatelink.azurecr.us",
    front_door_suffix="azurefd.us",  # fact: fd-endpoint-host-suffix
    unavailable=MappingProxyType({
        FRONT_DOOR_MANAGED_CERTIFICATE: Unavailable(  # fact: fd-sovereign-clouds
            feature="Azure Front Door managed certificates",
            source="Microsoft Learn, Compare Azure Government and global Azure (compare-azure-government-global-"
                   "azure), Azure Front Door: \"Managed certificate for enabling HTTPS; instead, you need to use your "
                   "own certificate\"",
            alternative="bring your own certificate (Key Vault) on the Front Door custom domain"),
    }),
)

CLOUDS: Mapping[str, Cloud] = MappingProxyType({c.name: c for c in (PUBLIC, CHINA, US_GOVERNMENT)})


def cloud_problem(name: Optional[str]) -> Optional[str]:
    """None for a cloud we know (unset is public); otherwise what the setting must be."""
    if not name or name in CLOUDS:
        return None
    return (f"is not a cloud this project deploys to: use one of {', '.join(CLOUDS)} (unset means public; "
            "the list is settings/clouds.py)")


def cloud(name: Optional[str] = None) -> Cloud:
    """The cloud of an azure-native:environment value; unset is the public cloud. ValueError for another name."""
    problem = cloud_problem(name)
    if problem:
        raise ValueError(f"{ENVIRONMENT_KEY} = {name!r} {problem}")
    return CLOUDS[name or PUBLIC.name]


def host_suffixes() -> tuple[str, ...]:
    """Every cloud's site host suffix, with its leading dot."""
    return tuple(f".{c.app_host_suffix}" for c in CLOUDS.values())


def provider_environment(cloud: Cloud) -> dict[str, str]:
    """The arguments an explicit azure_native.Provider needs to be in the cloud: none for the public cloud, so the
    providers of public stacks keep the inputs they were created with (a provider input change replaces nothing,
    but shows in every plan)."""
    return {} if cloud.name == PUBLIC.name else {"environment": cloud.name}


def cloud_input(cloud: Cloud) -> dict[str, str]:
    """The `cloud` input of the project's dynamic resources: absent for the public cloud, so public stacks' resources
    keep the inputs they were created with (none of their diffs replaces on it)."""
    return {} if cloud.name == PUBLIC.name else {"cloud": cloud.name}
