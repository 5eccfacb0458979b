"""The thin adapter over azure-mgmt-web that the custom domain's providers call: how App Service sees a host name's
DNS, a host-name binding's TLS state, a certificate's thumbprint.

Everything that talks to Azure for the custom domain is here, behind `HostNameService`, so the providers can be
tested against an in-memory fake. Clients and credentials are made per call and never kept beyond it.

API facts (azure-mgmt-web 11.0.1, App Service API 2025-05-01): `web_apps.analyze_custom_hostname` is what the
portal's custom-domain validation calls; `web_apps.get_host_name_binding` / `create_or_update_host_name_binding`
read and PUT one binding (the PUT carries the whole binding, so the create-time properties are copied from the GET,
as Terraform's azurerm_app_service_certificate_binding does); `certificates.get` reads a certificate's thumbprint.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional, Protocol

from settings.clouds import PUBLIC, Cloud

from .app_service import Site, web_client

SNI = "SniEnabled"
DISABLED = "Disabled"
_ARM_ID = re.compile(r"^/subscriptions/(?P<subscription_id>[^/]+)/resourceGroups/(?P<resource_group>[^/]+)/providers/"
                     r"Microsoft\.Web/(?P<kind>sites|certificates)/(?P<name>[^/]+)(?:/hostNameBindings/(?P<host>[^/]+))?$",
                     re.IGNORECASE)


@dataclass(frozen=True)
class Binding:
    host_name: str
    ssl_state: Optional[str]  # Disabled | SniEnabled | IpBasedEnabled
    thumbprint: Optional[str]

    def serves(self, thumbprint: Optional[str]) -> bool:
        """Whether this binding already serves TLS by SNI with that certificate."""
        return self.ssl_state == SNI and bool(thumbprint) and (self.thumbprint or "").upper() == thumbprint.upper()


@dataclass(frozen=True)
class HostNameAnalysis:
    """What App Service's DNS check sees for a host name; None where the service reported nothing."""

    verification: Optional[str] = None  # customDomainVerificationTest: Passed | Failed | Skipped
    failure: Optional[str] = None  # its failure message, when it gives one
    cname_records: Optional[list[str]] = None
    a_records: Optional[list[str]] = None
    conflict: Optional[str] = None  # the app that already holds the host name, when there is one


class HostNameService(Protocol):
    def analyze(self, host_name: str) -> HostNameAnalysis: ...
    def binding(self, host_name: str) -> Optional[Binding]: ...
    def set_tls(self, host_name: str, ssl_state: str, thumbprint: Optional[str]) -> Binding: ...
    def certificate_thumbprint(self, certificate_id: str) -> Optional[str]: ...


def _text(value) -> Optional[str]:
    """An SDK enum member (a str subclass) or text, as plain text."""
    return None if value is None else str(getattr(value, "value", value))


def parse_site(arm_id: str, cloud: Cloud = PUBLIC) -> tuple[Site, Optional[str]]:
    """The site of a site id or host-name binding id, in the stack's cloud, and the binding's host name (None for a
    site id)."""
    found = _ARM_ID.match(arm_id or "")
    if found is None or found["kind"].lower() != "sites":
        raise ValueError(f"{arm_id!r} is not the ARM id of an App Service site or one of its host-name bindings")
    return Site(found["subscription_id"], found["resource_group"], found["name"], cloud), found["host"]


def parse_certificate(arm_id: str) -> tuple[str, str]:
    """(resource group, name) of an App Service certificate id."""
    found = _ARM_ID.match(arm_id or "")
    if found is None or found["kind"].lower() != "certificates" or found["host"]:
        raise ValueError(f"{arm_id!r} is not the ARM id of an App Service certificate")
    return found["resource_group"], found["name"]


class AzureHostNames:
    """HostNameService on azure-mgmt-web; one client per call, one instance per provider call."""

    def __init__(self, site: Site) -> None:
        self.site = site

    def _client(self):
        return web_client(self.site.subscription_id, self.site.cloud)

    def analyze(self, host_name: str) -> HostNameAnalysis:
        s = self.site
        found = self._client().web_apps.analyze_custom_hostname(s.resource_group, s.name, host_name=host_name)
        failure = found.custom_domain_verification_failure_info
        conflict = None
        if found.has_conflict_on_scale_unit or found.has_conflict_across_subscription:
            conflict = found.conflicting_app_resource_id or "an app in another subscription"
        return HostNameAnalysis(verification=_text(found.custom_domain_verification_test),
                                failure=getattr(failure, "message", None), cname_records=found.c_name_records,
                                a_records=found.a_records, conflict=conflict)

    def binding(self, host_name: str) -> Optional[Binding]:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            found = self._client().web_apps.get_host_name_binding(self.site.resource_group, self.site.name, host_name)
        except ResourceNotFoundError:
            return None
        return Binding(host_name, _text(found.ssl_state), found.thumbprint)

    def set_tls(self, host_name: str, ssl_state: str, thumbprint: Optional[str]) -> Binding:
        from azure.mgmt.web.models import HostNameBinding

        apps, s = self._client().web_apps, self.site
        current = apps.get_host_name_binding(s.resource_group, s.name, host_name)
        body = HostNameBinding(
            site_name=current.site_name, domain_id=current.domain_id, azure_resource_name=current.azure_resource_name,
            azure_resource_type=current.azure_resource_type, host_name_type=current.host_name_type,
            custom_host_name_dns_record_type=current.custom_host_name_dns_record_type,
            ssl_state=ssl_state, thumbprint=thumbprint)  # None leaves the thumbprint out: unbound
        updated = apps.create_or_update_host_name_binding(s.resource_group, s.name, host_name, body)
        return Binding(host_name, _text(updated.ssl_state), updated.thumbprint)

    def certificate_thumbprint(self, certificate_id: str) -> Optional[str]:
        from azure.core.exceptions import ResourceNotFoundError

        group, name = parse_certificate(certificate_id)
        try:
            return self._client().certificates.get(group, name).thumbprint or None
        except ResourceNotFoundError:
            return None
