"""A custom host name with a free managed TLS certificate, bound in one `pulumi up` (model-webapp:customDomain).

Order, each step depending on the one before:
  DNS records (Azure DNS zone: TXT asuid.<label> = the site's customDomainVerificationId, and a CNAME to the site's
  default host name, or an A record to its inbound IP at a zone apex) ->
  HostNameDnsCheck (App Service sees the records; without a zone, the records to create are its message) ->
  WebAppHostNameBinding (plain; sslState and thumbprint belong to the SNI step, hence ignore_changes) ->
  web.Certificate (free, managed: canonicalName on the plan) ->
  SniBinding (SNI TLS with the certificate's thumbprint on the same binding: the "bind twice" step).

The binding is on the production site only: custom domains do not swap with deployment slots.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_azure_native as azure_native
from pulumi_azure_native import dns, resources, web

from providers.dns_check import HostNameDnsCheck
from providers.sni_binding import SniBinding
from settings.clouds import PUBLIC, Cloud, provider_environment
from settings.stack_settings import CustomDomain, DnsZone, Settings

# The site's inbound IP is in the ARM GET of Microsoft.Web/sites as properties.inboundIpAddress, but in no API spec
# (azure-rest-api-specs issues 12974 and 27377), so azure-native's WebApp has no such output: read it generically.
SITE_API_VERSION = "2024-11-01"
RECORD_TTL_SECONDS = 3600
ZONE_WAIT_SECONDS = 300  # records the stack just wrote to Azure DNS: seconds where the zone is delegated
EXTERNAL_WAIT_SECONDS = 60  # records someone else creates: they exist or they do not


@dataclass(frozen=True)
class BoundDomain:
    host_name: str
    records_to_create: Optional[pulumi.Output[list]]  # None when the stack writes them to an Azure DNS zone


def dns_records(host_name: str, apex: bool, verification_id: str, target: str) -> list[dict[str, str]]:
    """The two records App Service needs, as fully qualified names: what the user creates, and what the check awaits."""
    # fact: cert-txt-and-cname
    return [{"type": "TXT", "name": f"asuid.{host_name}", "value": verification_id},
            {"type": "A" if apex else "CNAME", "name": host_name, "value": target}]


def _inbound_ip(properties: Optional[dict], site_name: str, cloud: Cloud = PUBLIC) -> str:
    address = (properties or {}).get("inboundIpAddress")
    if not address:
        raise pulumi.RunError(
            f"App Service reported no inboundIpAddress for site {site_name}, which the A record of an apex domain needs: "
            "use a subdomain (such as score.<your zone>, bound by CNAME), or find the address with nslookup "
            f"{cloud.site_host(site_name)} and report this")
    return address


def _zone_records(name: str, domain: CustomDomain, zone: DnsZone, apex: bool, verification_id: pulumi.Output[str],
                  target: pulumi.Output[str], parent: pulumi.Resource, cloud: Cloud = PUBLIC) -> list[pulumi.Resource]:
    # The zone may be in another subscription than the stack's default provider, in the stack's cloud.
    provider = azure_native.Provider(f"{name}-dns", subscription_id=zone.subscription_id,
                                     **provider_environment(cloud), opts=pulumi.ResourceOptions(parent=parent))
    label = "@" if apex else domain.host_name[: -len(zone.name) - 1]
    common = dict(resource_group_name=zone.resource_group, zone_name=zone.name, ttl=RECORD_TTL_SECONDS)
    opts = pulumi.ResourceOptions(parent=parent, provider=provider)
    verification = dns.RecordSet(f"{name}-domain-txt", record_type="TXT",
                                 relative_record_set_name="asuid" if apex else f"asuid.{label}",
                                 txt_records=[dns.TxtRecordArgs(value=[verification_id])], **common, opts=opts)
    if apex:
        pointer = dns.RecordSet(f"{name}-domain-a", record_type="A", relative_record_set_name="@",
                                a_records=[dns.ARecordArgs(ipv4_address=target)], **common, opts=opts)
    else:
        pointer = dns.RecordSet(f"{name}-domain-cname", record_type="CNAME", relative_record_set_name=label,
                                cname_record=dns.CnameRecordArgs(cname=target), **common, opts=opts)
    return [verification, pointer]


def bind_custom_domain(name: str, settings: Settings, site: web.WebApp, plan_id: pulumi.Input[str],
                       group_name: pulumi.Input[str], parent: pulumi.Resource) -> Optional[BoundDomain]:
    """The custom domain of the production site, when model-webapp:customDomain is set; None otherwise."""
    domain = settings.custom_domain
    if domain is None:
        return None
    zone, apex, host = domain.zone, domain.apex, domain.host_name
    if apex:
        found = resources.get_resource_output(
            api_version=SITE_API_VERSION, resource_provider_namespace="Microsoft.Web", parent_resource_path="",
            resource_type="sites", resource_group_name=group_name, resource_name=site.name)
        target = pulumi.Output.all(found.properties, site.name).apply(lambda v: _inbound_ip(*v, settings.cloud))
    else:
        target = site.default_host_name
    records = pulumi.Output.all(site.custom_domain_verification_id, target).apply(
        lambda v: dns_records(host, apex, *v))
    written = _zone_records(name, domain, zone, apex, site.custom_domain_verification_id, target, parent,
                            settings.cloud) if zone else []
    cloud = None if settings.cloud == PUBLIC else settings.cloud.name

    check = HostNameDnsCheck(f"{name}-domain-dns", site.id, host, records,
                             ZONE_WAIT_SECONDS if zone else EXTERNAL_WAIT_SECONDS, zone.name if zone else None,
                             opts=pulumi.ResourceOptions(parent=parent, depends_on=written), cloud=cloud)
    binding = web.WebAppHostNameBinding(
        f"{name}-domain", name=site.name, site_name=site.name, resource_group_name=group_name, host_name=host,
        host_name_type="Verified", custom_host_name_dns_record_type="A" if apex else "CName", ssl_state="Disabled",
        # SniBinding turns TLS on, and App Service moves it to each renewed certificate: neither is drift to undo.
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[check], ignore_changes=["sslState", "thumbprint"]))
    # No tags: the certificate PUT ignores them (azure-rest-api-specs issue 14529), so they would show as drift.
    # Access restrictions, auth and private endpoints no longer stop issuance or renewal: the front ends answer
    # DigiCert's token request themselves; a public DNS record is what it needs. fact: cert-managed-behind-restrictions
    certificate = web.Certificate(
        f"{name}-domain-cert", resource_group_name=group_name, location=settings.location, server_farm_id=plan_id,
        canonical_name=host,
        # An apex name has no CNAME to validate by: Microsoft's apex template asks for the HTTP token.
        domain_validation_method="http-token" if apex else None,  # fact: cert-apex-http-token
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[binding]))
    SniBinding(f"{name}-domain-tls", binding.id, host, certificate.id, certificate.thumbprint,
               opts=pulumi.ResourceOptions(parent=parent, depends_on=[binding, certificate]), cloud=cloud)
    return BoundDomain(host_name=host, records_to_create=None if zone else records)
