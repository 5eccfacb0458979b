"""Azure Front Door Standard/Premium in front of a stack's sites in several regions (model-webapp:frontDoor).

FrontDoor, one per stack: the profile (its frontDoorId is the X-Azure-FDID every site admits), the WAF policy every
endpoint is attached to, and the profile's logs to the primary region's workspace.
FrontDoorRoute, one per service: an endpoint, an origin group probing each region's site, one origin per region, the
route (HTTPS only, HTTP redirected), the security policy attaching the WAF, and the service's custom domain with
Front Door's managed certificate (the site-level binding is not used behind Front Door).

Order, as ARM requires it: origin group -> origins -> route (a route is refused while its group has no enabled
origin); custom domain -> its DNS records (the TXT value is the domain's validation token).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import pulumi
import pulumi_azure_native as azure_native
from pulumi_azure_native import cdn, dns, frontdoor, monitor

from settings.clouds import FRONT_DOOR, FRONT_DOOR_MANAGED_CERTIFICATE, provider_environment
from settings.regions import region_name
from settings.stack_settings import FRONT_DOOR_ENDPOINT_NAME_MAX, CustomDomain, DnsZone, Settings
from settings.stack_settings import FrontDoor as FrontDoorSettings

from .custom_domain import RECORD_TTL_SECONDS
from .monitoring import MonitoringHub
from .site import HEALTH_CHECK_PATH

FRONT_DOOR_TYPE = "model-webapp:index:FrontDoor"
FRONT_DOOR_ROUTE_TYPE = "model-webapp:index:FrontDoorRoute"

# Access, health probe and WAF logs: the three resource log categories of Microsoft.Cdn/profiles for Front Door.
FRONT_DOOR_LOG_CATEGORIES = ("FrontDoorAccessLog", "FrontDoorHealthProbeLog",  # fact: fd-log-categories
                             "FrontDoorWebApplicationFirewallLog")
# Microsoft's managed rule sets, Premium only: the Default Rule Set (anomaly scoring; Block is the action once a
# request scores 5) and bot protection (each rule keeps its own action: bad bots blocked, good ones allowed).
DEFAULT_RULE_SET = ("Microsoft_DefaultRuleSet", "2.1")  # fact: fd-waf-managed-rule-sets
BOT_MANAGER_RULE_SET = ("Microsoft_BotManagerRuleSet", "1.1")
RATE_LIMIT_RULE = "RateLimitPerClientIp"
RATE_LIMIT_PRIORITY = 100
# A rate-limit rule must have a match condition; "socket address not in TEST-NET-1" matches every request. The
# socket address, not RemoteAddr (from X-Forwarded-For), so a client cannot name its way out of the limit.
NO_CLIENT_RANGE = "192.0.2.0/24"  # RFC 5737 documentation range: no client connects from it
# Health: an origin is healthy while 3 of its last 4 probes succeed; origins whose probe latency is within 50 ms of
# the fastest share traffic (by weight), so a region is not starved over a few milliseconds.
SAMPLE_SIZE, SUCCESSFUL_SAMPLES_REQUIRED = 4, 3  # fact: fd-health-probe
ADDITIONAL_LATENCY_MS = 50  # fact: fd-latency-sensitivity
# Every region's origin is equal: one priority (active-active), one weight (latency decides).
ORIGIN_PRIORITY, ORIGIN_WEIGHT = 1, 1000
ALL_PATHS = ["/*"]
# An endpoint's host name is <endpoint name>-<16 characters>.z01.<suffix>: the settings keep the name within it.
ENDPOINT_NAME_MAX = FRONT_DOOR_ENDPOINT_NAME_MAX


def waf_policy_name(name: str) -> str:
    """A Front Door WAF policy name: letters and digits only, starting with a letter, at most 128 characters (so the
    provider's autoname, the logical name plus a suffix, would be refused for any name with a hyphen)."""
    letters = re.sub(r"[^A-Za-z0-9]", "", name)  # fact: fd-waf-policy-name
    if not letters[:1].isalpha():
        letters = f"waf{letters}"
    return f"{letters}waf"[:128]


def custom_domain_resource_name(host_name: str) -> str:
    """The AFDCustomDomain's name: the host with its dots as hyphens (resource names take no periods); a new host
    name is a new domain resource."""
    return host_name.replace(".", "-")


def front_door_dns_records(host_name: str, validation_token: Optional[str], endpoint_host: str) -> list[dict[str, Any]]:
    """The two records Front Door needs, as fully qualified names: the TXT proving ownership (its value is the
    domain's validation token) and the CNAME sending traffic to the endpoint."""
    # fact: fd-custom-domain-dns
    return [{"type": "TXT", "name": f"_dnsauth.{host_name}", "value": validation_token},
            {"type": "CNAME", "name": host_name, "value": endpoint_host}]


def _refuse_missing(settings: Settings, feature: str, what: str) -> None:
    missing = settings.cloud.missing(feature)
    if missing:
        raise pulumi.RunError(f"{what}: {missing.feature} is not available in {settings.cloud.title} "
                              f"({missing.source}); {missing.alternative}")


@dataclass
class FrontDoorArgs:
    settings: Settings  # the stack's settings (front_door is set)
    resource_group_name: pulumi.Input[str]  # the primary platform's resource group
    hub: Optional[MonitoringHub]  # the primary platform's hub: the profile's logs go to its workspace; None: no logs


class FrontDoor(pulumi.ComponentResource):
    profile: cdn.Profile
    waf: frontdoor.Policy
    diagnostics: Optional[monitor.DiagnosticSetting]  # None when monitoring is off
    profile_name: pulumi.Output[str]
    front_door_id: pulumi.Output[str]  # the profile's frontDoorId: the X-Azure-FDID every site admits
    waf_policy_id: pulumi.Output[str]

    def __init__(self, name: str, args: FrontDoorArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__(FRONT_DOOR_TYPE, name, None, opts)
        s = args.settings
        fd = s.front_door
        if fd is None:
            raise pulumi.RunError(f"{name}: the stack's settings have no frontDoor")
        _refuse_missing(s, FRONT_DOOR, name)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(s.tags)

        # Front Door is global: the profile and its WAF have no region, whichever group holds them.
        self.profile = cdn.Profile(  # fact: fd-sdk-api-versions
            f"{name}-profile", resource_group_name=args.resource_group_name, location="global",
            # Standard -> Premium replaces the profile here (a new frontDoorId and endpoint host names); Microsoft's
            # in-place upgrade is its own operation (see offline/change_rules.py). fact: fd-profile-sku-replace
            sku=cdn.SkuArgs(name=fd.sku), tags=tags, opts=child)
        # Front Door Standard/Premium's WAF is a Microsoft.Network FrontDoorWebApplicationFirewallPolicies resource of
        # the profile's tier (Application Gateway's WAF policy is another resource). fact: fd-waf-resource
        self.waf = waf = frontdoor.Policy(
            f"{name}-waf", resource_group_name=args.resource_group_name, policy_name=waf_policy_name(name),
            location="Global", sku=frontdoor.SkuArgs(name=fd.sku),
            policy_settings=frontdoor.PolicySettingsArgs(enabled_state="Enabled", mode=fd.waf.mode),
            custom_rules=frontdoor.CustomRuleListArgs(rules=[rate_limit_rule(fd.waf.rate_limit_per_minute)]),
            managed_rules=managed_rules(fd), tags=tags, opts=child)
        self.diagnostics = profile_diagnostics(name, args.hub, self.profile, self)

        self.settings = fd  # the routes' health probe and session affinity, one per profile
        self.cloud = s.cloud
        self.resource_group_name = pulumi.Output.from_input(args.resource_group_name)
        self.profile_name = self.profile.name
        self.front_door_id = self.profile.front_door_id
        self.waf_policy_id = waf.id
        self.register_outputs({
            "profile_name": self.profile_name,
            "front_door_id": self.front_door_id,
            "waf_policy_id": self.waf_policy_id,
        })


def rate_limit_rule(per_minute: int) -> frontdoor.CustomRuleArgs:
    """Blocks a client IP for the rest of the minute once it has sent per_minute requests (Standard and Premium)."""
    # fact: fd-waf-rate-limit
    return frontdoor.CustomRuleArgs(
        name=RATE_LIMIT_RULE, priority=RATE_LIMIT_PRIORITY, enabled_state="Enabled", rule_type="RateLimitRule",
        rate_limit_duration_in_minutes=1, rate_limit_threshold=per_minute,
        group_by=[frontdoor.GroupByVariableArgs(variable_name="SocketAddr")],
        match_conditions=[frontdoor.MatchConditionArgs(match_variable="SocketAddr", operator="IPMatch",
                                                       negate_condition=True, match_value=[NO_CLIENT_RANGE])],
        action="Block")


def managed_rules(fd: FrontDoorSettings) -> Optional[frontdoor.ManagedRuleSetListArgs]:
    """Microsoft's rule sets when the settings use them (Premium); None leaves the policy with custom rules only."""
    if not fd.uses_managed_rules:
        return None
    return frontdoor.ManagedRuleSetListArgs(managed_rule_sets=[
        frontdoor.ManagedRuleSetArgs(rule_set_type=DEFAULT_RULE_SET[0], rule_set_version=DEFAULT_RULE_SET[1],
                                     rule_set_action="Block"),
        frontdoor.ManagedRuleSetArgs(rule_set_type=BOT_MANAGER_RULE_SET[0], rule_set_version=BOT_MANAGER_RULE_SET[1]),
    ])


def profile_diagnostics(name: str, hub: Optional[MonitoringHub], profile: cdn.Profile,
                        parent: pulumi.Resource) -> Optional[monitor.DiagnosticSetting]:
    """The profile's access, health probe and WAF logs and its metrics to the hub's workspace (named as the sites'
    are by components/monitoring.py); nothing when monitoring is off."""
    if hub is None:
        return None
    return monitor.DiagnosticSetting(
        f"{name}-diagnostics", name=f"{name}-to-log-analytics", resource_uri=profile.id, workspace_id=hub.workspace_id,
        logs=[monitor.DiagnosticsLogSettingsArgs(category=c, enabled=True) for c in FRONT_DOOR_LOG_CATEGORIES],
        metrics=[monitor.DiagnosticsMetricSettingsArgs(category="AllMetrics", enabled=True)],
        opts=pulumi.ResourceOptions(parent=parent))


@dataclass
class FrontDoorRouteArgs:
    settings: Settings  # the service's primary-region view (customDomain, name)
    front_door: FrontDoor
    origins: Sequence[tuple[str, pulumi.Input[str]]]  # (region, that region's site default host name), primary first


class FrontDoorRoute(pulumi.ComponentResource):
    endpoint: cdn.AFDEndpoint
    origin_group: cdn.AFDOriginGroup
    origins: list[cdn.AFDOrigin]  # in the order of the args' origins, primary first
    route: cdn.Route
    security_policy: cdn.SecurityPolicy
    custom_domain: Optional[cdn.AFDCustomDomain]
    dns_records: list[dns.RecordSet]  # written to the Azure DNS zone (customDomain.dnsZoneId); empty otherwise
    host_name: pulumi.Output[str]  # the endpoint's host name
    scoring_uri: pulumi.Output[str]  # https://<custom domain or endpoint host>/score
    dns_records_to_create: Optional[pulumi.Output[list]]  # customDomain without dnsZoneId: what the user creates

    def __init__(self, name: str, args: FrontDoorRouteArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__(FRONT_DOOR_ROUTE_TYPE, name, None, opts)
        s, fd = args.settings, args.front_door
        regions = [region_name(region) for region, _ in args.origins]
        if not regions:
            raise ValueError(f"{name}: a Front Door route needs at least one origin")
        if len(set(regions)) != len(regions):
            raise ValueError(f"{name}: one origin per region, got {', '.join(regions)}")
        endpoint_name = f"{name}-endpoint"
        if len(endpoint_name) > ENDPOINT_NAME_MAX:
            raise pulumi.RunError(
                f"{name}: the Front Door endpoint name {endpoint_name} is {len(endpoint_name)} characters, at most "
                f"{ENDPOINT_NAME_MAX} fit in its host name's first label: shorten namePrefix or the service's name")
        domain = s.custom_domain
        if domain:  # refused before anything is declared
            _check_custom_domain(name, s, domain)
        child = pulumi.ResourceOptions(parent=self)
        common = dict(resource_group_name=fd.resource_group_name, profile_name=fd.profile_name)
        probe = fd.settings  # the profile's: one probe and affinity setting for every route

        # A profile's children are named after their logical names (no random suffix): the endpoint's is the first
        # label of the service's Front Door host name. fact: fd-child-autoname
        endpoint = cdn.AFDEndpoint(endpoint_name, location="global", enabled_state="Enabled", tags=dict(s.tags),
                                   **common, opts=child)
        # Front Door probes every region's site as App Service's own health check does: GET / over HTTPS, 200 is
        # healthy (azmlinfsrv answers "Healthy"). Origin groups take no tags. fact: fd-tags
        group = cdn.AFDOriginGroup(
            f"{name}-origins",
            health_probe_settings=cdn.HealthProbeParametersArgs(
                probe_path=HEALTH_CHECK_PATH, probe_protocol="Https", probe_request_type="GET",
                probe_interval_in_seconds=probe.health_probe_interval_seconds),
            load_balancing_settings=cdn.LoadBalancingSettingsParametersArgs(
                sample_size=SAMPLE_SIZE, successful_samples_required=SUCCESSFUL_SAMPLES_REQUIRED,
                additional_latency_in_milliseconds=ADDITIONAL_LATENCY_MS),
            session_affinity_state="Enabled" if probe.session_affinity else "Disabled", **common, opts=child)
        # The site's default host name as host and Host header: the name its certificate is issued for, so the
        # certificate name check holds; the custom domain, if any, is Front Door's, not the sites'.
        origins = [cdn.AFDOrigin(
            f"{name}-origin-{region}", origin_group_name=group.name, host_name=host, origin_host_header=host,
            enforce_certificate_name_check=True, http_port=80, https_port=443, priority=ORIGIN_PRIORITY,
            weight=ORIGIN_WEIGHT, enabled_state="Enabled", **common, opts=child)
            for region, (_, host) in zip(regions, args.origins)]

        custom = self._custom_domain(name, domain, fd) if domain else None
        records, written = None, []
        if custom is not None:
            token = custom.validation_properties.apply(lambda v: v.validation_token if v else None)
            records = pulumi.Output.all(token, endpoint.host_name).apply(
                lambda v: front_door_dns_records(domain.host_name, *v))
            if domain.zone:
                written = _zone_records(name, domain, domain.zone, token, endpoint.host_name, fd.cloud, self)

        # A route is refused while its origin group has no enabled origin: created after the origins. Forwarded over
        # HTTPS only; a client's HTTP request is redirected to HTTPS. No caching: every /score call reaches a site.
        route = cdn.Route(  # fact: fd-route-needs-origin
            f"{name}-route", endpoint_name=endpoint.name, origin_group=cdn.ResourceReferenceArgs(id=group.id),
            custom_domains=[cdn.ActivatedResourceReferenceArgs(id=custom.id)] if custom else None,
            supported_protocols=["Http", "Https"], https_redirect="Enabled", forwarding_protocol="HttpsOnly",
            patterns_to_match=ALL_PATHS, link_to_default_domain="Enabled", enabled_state="Enabled", **common,
            opts=pulumi.ResourceOptions(parent=self, depends_on=origins))
        # The profile's WAF on every domain this service answers on: the endpoint's own and the custom domain.
        domains = [cdn.ActivatedResourceReferenceArgs(id=endpoint.id)] + \
            ([cdn.ActivatedResourceReferenceArgs(id=custom.id)] if custom else [])
        security = cdn.SecurityPolicy(
            f"{name}-security",
            parameters=cdn.SecurityPolicyWebApplicationFirewallParametersArgs(
                type="WebApplicationFirewall", waf_policy=cdn.ResourceReferenceArgs(id=fd.waf_policy_id),
                associations=[cdn.SecurityPolicyWebApplicationFirewallAssociationArgs(
                    domains=domains, patterns_to_match=ALL_PATHS)]),
            **common, opts=child)

        self.endpoint, self.origin_group, self.origins, self.route = endpoint, group, origins, route
        self.security_policy, self.custom_domain, self.dns_records = security, custom, written
        self.host_name = endpoint.host_name
        self.dns_records_to_create = records if domain and not domain.zone else None
        self.scoring_uri = (pulumi.Output.from_input(domain.host_name) if domain else endpoint.host_name).apply(
            lambda h: f"https://{h}/score")
        self.register_outputs({
            "host_name": self.host_name,
            "scoring_uri": self.scoring_uri,
            **({"dns_records_to_create": self.dns_records_to_create} if self.dns_records_to_create else {}),
        })

    def _custom_domain(self, name: str, domain: CustomDomain, fd: FrontDoor) -> cdn.AFDCustomDomain:
        # Front Door issues and renews the certificate (DigiCert, TXT-validated); TLS 1.2 is the floor.
        return cdn.AFDCustomDomain(
            f"{name}-domain", custom_domain_name=custom_domain_resource_name(domain.host_name),
            host_name=domain.host_name, tls_settings=cdn.AFDDomainHttpsParametersArgs(
                certificate_type="ManagedCertificate", minimum_tls_version="TLS12"),  # fact: fd-custom-domain-tls
            resource_group_name=fd.resource_group_name, profile_name=fd.profile_name,
            opts=pulumi.ResourceOptions(parent=self))


def _check_custom_domain(name: str, s: Settings, domain: CustomDomain) -> None:
    """A custom domain Front Door can serve with its managed certificate, or a RunError saying what to do instead."""
    # fact: cloud-china-no-front-door-managed-certificate
    _refuse_missing(s, FRONT_DOOR_MANAGED_CERTIFICATE, f"{name}: customDomain {domain.host_name}")
    if domain.apex:
        # An apex takes no CNAME, and the managed certificate of an apex does not renew by itself: Front Door checks
        # for a CNAME to its endpoint first. fact: fd-custom-domain-dns
        raise pulumi.RunError(
            f"{name}: customDomain {domain.host_name} is a zone apex: behind Front Door it needs an alias record and "
            "its managed certificate is not renewed without revalidating by hand; use a subdomain such as "
            f"score.{domain.host_name}")


def _zone_records(name: str, domain: CustomDomain, zone: DnsZone, token: pulumi.Output[Optional[str]],
                  endpoint_host: pulumi.Output[str], cloud, parent: pulumi.Resource) -> list[dns.RecordSet]:
    """The TXT and CNAME in the Azure DNS zone (in its own subscription, in the stack's cloud), as
    components/custom_domain.py writes a site's."""
    provider = azure_native.Provider(f"{name}-dns", subscription_id=zone.subscription_id,
                                     **provider_environment(cloud), opts=pulumi.ResourceOptions(parent=parent))
    label = domain.host_name[: -len(zone.name) - 1]
    common = dict(resource_group_name=zone.resource_group, zone_name=zone.name, ttl=RECORD_TTL_SECONDS)
    opts = pulumi.ResourceOptions(parent=parent, provider=provider)
    return [dns.RecordSet(f"{name}-domain-txt", record_type="TXT", relative_record_set_name=f"_dnsauth.{label}",
                          txt_records=[dns.TxtRecordArgs(value=[token])], **common, opts=opts),
            dns.RecordSet(f"{name}-domain-cname", record_type="CNAME", relative_record_set_name=label,
                          cname_record=dns.CnameRecordArgs(cname=endpoint_host), **common, opts=opts)]
