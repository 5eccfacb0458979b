"""The policy pack's Front Door rules (several regions): each resource rule against the wire form the program
registers and each way of breaking it; the stack rules over a Front Door graph, with ids a preview cannot know yet;
and the same verdicts through the analyzer protocol, offline and over gRPC."""
from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from pulumi.runtime.rpc import UNKNOWN
from pulumi_policy import (PolicyCustomTimeouts, PolicyResource, PolicyResourceOptions, ResourceValidationArgs,
                           StackValidationArgs)
from pulumi_policy.proxy import unknown_checking_proxy

from offline.mock_engine import ProgramRun, Registration
from offline.policy_check import evaluate, load_policy_config
from offline.project import PROJECT_DIR
from policies.pack import POLICIES
from policies.props import (FRONT_DOOR_CUSTOM_DOMAIN, FRONT_DOOR_ENDPOINT, FRONT_DOOR_ORIGIN, FRONT_DOOR_ORIGIN_GROUP,
                            FRONT_DOOR_PROFILE, FRONT_DOOR_ROUTE, FRONT_DOOR_SECURITY_POLICY, FRONT_DOOR_WAF_POLICY,
                            WEB_APP, WEB_APP_SLOT)
from tests.helpers import changed

RULES = {p.name: p for p in POLICIES}
RESOURCE_RULES = ("front-door-waf-prevention", "front-door-https-only-routes", "front-door-tls12",
                  "front-door-health-probes", "front-door-origin-certificate-check")
STACK_RULES = ("front-door-waf-attached", "front-door-only-ingress")
FDID = "2c6c8e0a-5b0e-4f0c-9d55-1f3a0c3b7e21"  # the profile's frontDoorId output
OTHER_FDID = "9f1e4b77-0d3c-4a8e-8c2f-6a5d3e2b1c00"  # another profile's: what a copied id would be
SUBSCRIPTION = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-mw-regions"
PROFILE_ID = f"{SUBSCRIPTION}/providers/Microsoft.Cdn/profiles/mw-regions-fd"


# -- the wire form the program registers (the design's) ----------------------------------------------------------------
WAF = {"sku": {"name": "Premium_AzureFrontDoor"}, "location": "Global", "policyName": "mwregionswaf",
       "policySettings": {"enabledState": "Enabled", "mode": "Prevention"},
       "customRules": {"rules": [{"name": "ratelimit", "ruleType": "RateLimitRule", "rateLimitThreshold": 1000}]}}
ROUTE = {"supportedProtocols": ["Http", "Https"], "httpsRedirect": "Enabled", "forwardingProtocol": "HttpsOnly",
         "patternsToMatch": ["/*"], "linkToDefaultDomain": "Enabled", "originGroup": {"id": f"{PROFILE_ID}/og"}}
CUSTOM_DOMAIN = {"customDomainName": "score-contoso-com", "hostName": "score.contoso.com",
                 "tlsSettings": {"certificateType": "ManagedCertificate", "minimumTlsVersion": "TLS12"}}
ORIGIN_GROUP = {"healthProbeSettings": {"probePath": "/", "probeProtocol": "Https", "probeRequestType": "GET",
                                        "probeIntervalInSeconds": 30},
                "loadBalancingSettings": {"sampleSize": 4, "successfulSamplesRequired": 3,
                                          "additionalLatencyInMilliseconds": 50},
                "sessionAffinityState": "Disabled"}
ORIGIN = {"hostName": "mw-regions-iris.azurewebsites.net", "originHostHeader": "mw-regions-iris.azurewebsites.net",
          "enforceCertificateNameCheck": True, "httpPort": 80, "httpsPort": 443, "priority": 1, "weight": 1000,
          "enabledState": "Enabled"}


def run_rule(name: str, typ: str, props: dict) -> list[str]:
    """The resource rule's messages for one resource, its props behind the engine's unknown-checking proxy."""
    options = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None)
    messages: list[str] = []
    RULES[name].validate(ResourceValidationArgs(typ, unknown_checking_proxy(props), "urn:r", "r", options, None, {}),
                         lambda message, _urn=None: messages.append(message))
    return messages


# rule -> (type, passing fixtures, failing fixtures with what the message must say to fix it)
RESOURCE_CASES = {
    "front-door-waf-prevention": (FRONT_DOOR_WAF_POLICY, {"ok": WAF}, {
        "detection": (changed(WAF, policySettings__mode="Detection"), "model-webapp:frontDoor.waf.mode Prevention"),
        "disabled": (changed(WAF, policySettings__enabledState="Disabled"), "policySettings.enabledState Enabled"),
        "mode-unset": (changed(WAF, policySettings__mode=None), "policySettings.mode Prevention"),
        "no-settings": (changed(WAF, policySettings=None), "policySettings.enabledState Enabled"),
    }),
    "front-door-https-only-routes": (FRONT_DOOR_ROUTE, {
        "ok": ROUTE, "https-only-protocols": changed(ROUTE, supportedProtocols=["Https"], httpsRedirect=None),
    }, {
        "match-request": (changed(ROUTE, forwardingProtocol="MatchRequest"), "forwarding_protocol='HttpsOnly'"),
        "http-only": (changed(ROUTE, forwardingProtocol="HttpOnly"), "forwarding_protocol='HttpsOnly'"),
        "forwarding-unset": (changed(ROUTE, forwardingProtocol=None), "forwarding_protocol='HttpsOnly'"),
        "http-not-redirected": (changed(ROUTE, httpsRedirect="Disabled"), "https_redirect='Enabled'"),
        "protocols-unset": (changed(ROUTE, supportedProtocols=None, httpsRedirect=None), "https_redirect='Enabled'"),
    }),
    "front-door-tls12": (FRONT_DOOR_CUSTOM_DOMAIN, {
        "ok": CUSTOM_DOMAIN, "tls13": changed(CUSTOM_DOMAIN, tlsSettings__minimumTlsVersion="TLS13"),
        "predefined-2023": changed(CUSTOM_DOMAIN, tlsSettings__cipherSuiteSetType="TLS12_2023"),
    }, {
        "tls10": (changed(CUSTOM_DOMAIN, tlsSettings__minimumTlsVersion="TLS10"), "minimum_tls_version='TLS12'"),
        "unset": (changed(CUSTOM_DOMAIN, tlsSettings__minimumTlsVersion=None), "minimum_tls_version='TLS12'"),
        "no-tls-settings": (changed(CUSTOM_DOMAIN, tlsSettings=None), "minimum_tls_version='TLS12'"),
        "tls10-cipher-suites": (changed(CUSTOM_DOMAIN, tlsSettings__cipherSuiteSetType="TLS10_2019"),
                                "cipher_suite_set_type='TLS12_2023'"),
    }),
    "front-door-health-probes": (FRONT_DOOR_ORIGIN_GROUP, {"ok": ORIGIN_GROUP}, {
        "no-probes": (changed(ORIGIN_GROUP, healthProbeSettings=None), "set health_probe_settings"),
        "no-path": (changed(ORIGIN_GROUP, healthProbeSettings__probePath=None), "healthProbeSettings.probePath"),
        "http-probe": (changed(ORIGIN_GROUP, healthProbeSettings__probeProtocol="Http"),
                       "healthProbeSettings.probeProtocol Https"),
        "probe-not-set": (changed(ORIGIN_GROUP, healthProbeSettings__probeProtocol="NotSet"),
                          "healthProbeSettings.probeProtocol Https"),
    }),
    "front-door-origin-certificate-check": (FRONT_DOOR_ORIGIN, {"ok": ORIGIN}, {
        "off": (changed(ORIGIN, enforceCertificateNameCheck=False), "enforce_certificate_name_check=True"),
        "unset": (changed(ORIGIN, enforceCertificateNameCheck=None), "enforce_certificate_name_check=True"),
    }),
}


@pytest.mark.parametrize("rule", RESOURCE_RULES)
def test_each_front_door_resource_rule_passes_the_designs_wire_form_and_names_the_fix_for_each_break(rule):
    typ, passing, failing = RESOURCE_CASES[rule]
    for name, props in passing.items():
        assert run_rule(rule, typ, props) == [], name
    for name, (props, fix) in failing.items():
        messages = run_rule(rule, typ, props)
        assert messages and any(fix in m for m in messages), (name, messages)


def test_front_door_resource_rules_look_only_at_their_own_type():
    types = {typ for typ, *_ in RESOURCE_CASES.values()} | {WEB_APP, FRONT_DOOR_PROFILE}
    for rule, (typ, _passing, failing) in RESOURCE_CASES.items():
        for props, _fix in failing.values():
            assert all(run_rule(rule, other, props) == [] for other in types - {typ})


def test_waf_prevention_is_advisory_in_dev_and_mandatory_in_prod_and_where_no_config_names_it():
    assert RULES["front-door-waf-prevention"].enforcement_level.value == "advisory"
    assert load_policy_config("dev")["front-door-waf-prevention"]["level"] == "advisory"
    assert load_policy_config("prod")["front-door-waf-prevention"]["level"] == "mandatory"
    assert load_policy_config("a-stack-with-no-policy-config")["front-door-waf-prevention"]["level"] == "mandatory"
    for rule in (*RESOURCE_RULES[1:], *STACK_RULES):
        assert RULES[rule].enforcement_level.value == "mandatory"
        assert load_policy_config("dev")[rule]["level"] == "mandatory"


# -- stack rules ----------------------------------------------------------------------------------------------------
FRONT_DOOR_RULE = {"name": "allow-front-door", "tag": "ServiceTag", "ipAddress": "AzureFrontDoor.Backend",
                   "action": "Allow", "priority": 300, "headers": {"x-azure-fdid": [FDID]}}
WARMUP_RULES = [{"name": f"allow-swap-warmup-{cidr.split('.')[0]}", "ipAddress": cidr, "action": "Allow",
                 "priority": 400 + i, "description": "App Service's own swap warm-up (internal addresses)"}
                for i, cidr in enumerate(("10.0.0.0/8", "100.0.0.0/8"))]
OFFICE_RANGE = {"name": "allow-range-1", "ipAddress": "203.0.113.0/24", "action": "Allow", "priority": 100}


def locked(rules: list, **site_config: Any) -> dict:
    """A site's wire form behind Front Door: these access rules, Deny for everyone else, the SCM site under them."""
    config = {"ipSecurityRestrictions": rules, "ipSecurityRestrictionsDefaultAction": "Deny",
              "scmIpSecurityRestrictionsUseMain": True, "healthCheckPath": "/"}
    return {"name": "mw-regions-iris", "httpsOnly": True,
            "siteConfig": {k: v for k, v in {**config, **site_config}.items() if v is not None}}


def fd_rule(*ids: str, header: str = "x-azure-fdid") -> dict:
    return {**FRONT_DOOR_RULE, "headers": {header: list(ids)}}


def res(typ: str, name: str, props: dict, deps: list | None = None) -> PolicyResource:
    """A resource as AnalyzeStack hands it to a stack rule: props behind the unknown-checking proxy."""
    options = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None)
    return PolicyResource(typ, unknown_checking_proxy(copy.deepcopy(props)), f"urn:{name}", name, options, None, None,
                          deps or [], {})


def stack_messages(rule: str, resources: list) -> list[tuple[str, str]]:
    """(resource name, message) for each violation the stack rule reports."""
    found: list[tuple[str, str]] = []
    RULES[rule].validate(StackValidationArgs(resources, {}),
                         lambda message, urn=None: found.append(((urn or "urn:stack").removeprefix("urn:"), message)))
    return found


def profile(front_door_id: Any = FDID, sku: str = "Premium_AzureFrontDoor") -> PolicyResource:
    props = {"sku": {"name": sku}, "location": "global", "name": "mw-regions-fd"}
    if front_door_id is not None:
        props["frontDoorId"] = front_door_id
    return res(FRONT_DOOR_PROFILE, "fd", props)


def ingress(site_props: dict, slot_props: dict | None = None, fd: PolicyResource | None = None) -> list:
    """A Front Door stack's profile, one site and (optionally) its slot."""
    resources = [fd if fd is not None else profile(), res(WEB_APP, "site", site_props)]
    if slot_props is not None:
        resources.append(res(WEB_APP_SLOT, "slot", {**slot_props, "slot": "staging"}))
    return resources


def test_only_ingress_passes_sites_and_slots_that_admit_only_the_stacks_front_door():
    assert stack_messages("front-door-only-ingress", ingress(locked([FRONT_DOOR_RULE]),
                                                             locked([FRONT_DOOR_RULE, *WARMUP_RULES]))) == []
    # A Deny rule only narrows who gets in; ARM's header names are case-insensitive.
    deny = {"name": "deny-range", "ipAddress": "198.51.100.0/24", "action": "Deny", "priority": 50}
    assert stack_messages("front-door-only-ingress", ingress(locked([deny, fd_rule(FDID, header="X-Azure-FDID")]))) \
        == []


def test_only_ingress_reports_a_site_missing_the_header():
    no_header = {k: v for k, v in FRONT_DOOR_RULE.items() if k != "headers"}
    for rule in (no_header, fd_rule()):
        ((where, message),) = stack_messages("front-door-only-ingress", ingress(locked([rule])))
        assert where == "site"
        assert "admits every customer's Front Door" in message and "add the header with the profile's frontDoorId" \
            in message


def test_only_ingress_reports_another_profiles_id_and_a_second_id_beside_ours():
    for rule in (fd_rule(OTHER_FDID), fd_rule(FDID, OTHER_FDID)):
        ((where, message),) = stack_messages("front-door-only-ingress", ingress(locked([rule])))
        assert where == "site" and "admits a Front Door other than this stack's" in message
        assert "take it from the profile's output" in message
        assert OTHER_FDID not in message and FDID not in message


def test_only_ingress_accepts_an_id_not_known_until_deployment():
    # A first preview: the profile's frontDoorId is unknown (or absent: a new resource's inputs), and so is the header
    # the site takes from it.
    for fd in (profile(UNKNOWN), profile(None)):
        assert stack_messages("front-door-only-ingress", ingress(locked([fd_rule(UNKNOWN)]),
                                                                 locked([fd_rule(UNKNOWN), *WARMUP_RULES]), fd)) == []
    # The profile known, the site's header not yet (the site is replaced in this preview): accepted too.
    assert stack_messages("front-door-only-ingress", ingress(locked([fd_rule(UNKNOWN)]))) == []
    # Whole lists unknown: judged at deployment.
    assert stack_messages("front-door-only-ingress", ingress(locked(UNKNOWN))) == []
    assert stack_messages("front-door-only-ingress", ingress(locked([{**FRONT_DOOR_RULE, "headers": UNKNOWN}]))) == []


def test_only_ingress_refuses_a_missing_header_or_a_literal_id_while_the_profiles_id_is_unknown():
    # A profile this preview creates has no id yet: a literal id in a site cannot be its.
    ((_, literal),) = stack_messages("front-door-only-ingress", ingress(locked([fd_rule(FDID)]), fd=profile(UNKNOWN)))
    assert "admits a Front Door other than this stack's" in literal
    ((_, missing),) = stack_messages("front-door-only-ingress", ingress(locked([fd_rule()]), fd=profile(UNKNOWN)))
    assert "admits every customer's Front Door" in missing


def test_only_ingress_admits_the_swap_warmup_ranges_on_slots_only():
    assert stack_messages("front-door-only-ingress", ingress(locked([FRONT_DOOR_RULE]),
                                                             locked([FRONT_DOOR_RULE, *WARMUP_RULES]))) == []
    found = stack_messages("front-door-only-ingress", ingress(locked([FRONT_DOOR_RULE, *WARMUP_RULES])))
    assert [w for w, _ in found] == ["site", "site"]
    assert all("admits callers other than the stack's Front Door" in m and "remove the rule" in m for _, m in found)
    assert "allow-swap-warmup-10" in found[0][1]


def test_only_ingress_reports_a_site_or_slot_with_an_extra_ip_range():
    found = stack_messages("front-door-only-ingress", ingress(locked([OFFICE_RANGE, FRONT_DOOR_RULE]),
                                                             locked([FRONT_DOOR_RULE, *WARMUP_RULES, OFFICE_RANGE])))
    assert [w for w, _ in found] == ["site", "slot"]
    assert "site's access rule allow-range-1 admits callers other than the stack's Front Door" in found[0][1]
    assert "slot's access rule allow-range-1" in found[1][1]
    assert "10.0.0.0/8 and 100.0.0.0/8" in found[1][1] and "10.0.0.0/8" not in found[0][1]
    assert "203.0.113.0/24" not in found[0][1]
    # A multi-source rule naming the tag and more, or the tag without ServiceTag, is not the Front Door rule either.
    for rule in ({**FRONT_DOOR_RULE, "ipAddress": "AzureFrontDoor.Backend,AzureCloud"},
                 {**FRONT_DOOR_RULE, "tag": "Default"}):
        messages = [m for _, m in stack_messages("front-door-only-ingress", ingress(locked([rule])))]
        assert any("admits callers other than the stack's Front Door" in m for m in messages)


def test_only_ingress_wants_deny_for_everyone_else_the_scm_site_under_the_same_rules_and_a_front_door_rule():
    found = stack_messages("front-door-only-ingress", ingress(locked(
        [FRONT_DOOR_RULE], ipSecurityRestrictionsDefaultAction="Allow", scmIpSecurityRestrictionsUseMain=False)))
    assert [m.split(":")[0] for _, m in found] == [
        "the site must deny callers no access rule admits (siteConfig.ipSecurityRestrictionsDefaultAction Deny)",
        "the site's SCM site must use the main site's access rules (siteConfig.scmIpSecurityRestrictionsUseMain true)"]
    unset = stack_messages("front-door-only-ingress", ingress(locked(
        [FRONT_DOOR_RULE], ipSecurityRestrictionsDefaultAction=None, scmIpSecurityRestrictionsUseMain=None)))
    assert len(unset) == 2
    # An open site with no rules at all: not denied, and Front Door is not admitted either.
    open_site = {"name": "mw-regions-iris", "siteConfig": {"healthCheckPath": "/"}}
    messages = [m for _, m in stack_messages("front-door-only-ingress", ingress(open_site))]
    assert len(messages) == 3 and "admits no Front Door, so Front Door's requests get 403" in messages[-1]


def test_only_ingress_says_nothing_in_a_stack_without_a_front_door_profile():
    open_site = {"name": "mw-dev", "siteConfig": {"ipSecurityRestrictions": [OFFICE_RANGE]}}
    assert stack_messages("front-door-only-ingress", [res(WEB_APP, "site", open_site)]) == []
    # A classic CDN profile is not a Front Door: nothing to admit.
    assert stack_messages("front-door-only-ingress", [profile(None, sku="Standard_Microsoft"),
                                                      res(WEB_APP, "site", open_site)]) == []


def arm_id(kind: str, name: str) -> str:
    return f"{PROFILE_ID}/{kind}/{name}"


WAF_ID = f"{SUBSCRIPTION}/providers/Microsoft.Network/FrontDoorWebApplicationFirewallPolicies/mwregionswaf"


def waf_graph(domain_ids: list | None = None, waf_id: Any = WAF_ID, waf_in_stack: bool = True,
              with_policy: bool = True, kind: str = "WebApplicationFirewall") -> list:
    """The profile, its WAF policy, an endpoint, a custom domain and the security policy attaching the one to the
    others, ids as ARM gives them (`domain_ids` replaces the association's)."""
    fd = profile()
    waf = res(FRONT_DOOR_WAF_POLICY, "waf", {**WAF, "name": "mwregionswaf"})
    endpoint = res(FRONT_DOOR_ENDPOINT, "endpoint", {"endpointName": "mw-regions-iris", "name": "mw-regions-iris",
                                                     "enabledState": "Enabled"}, [fd])
    domain = res(FRONT_DOOR_CUSTOM_DOMAIN, "domain", {**CUSTOM_DOMAIN, "name": "score-contoso-com"}, [fd])
    ids = domain_ids if domain_ids is not None else [arm_id("afdEndpoints", "mw-regions-iris"),
                                                     arm_id("customDomains", "score-contoso-com")]
    resources = [fd, endpoint, domain] + ([waf] if waf_in_stack else [])
    if with_policy:
        resources.append(res(FRONT_DOOR_SECURITY_POLICY, "security", {"parameters": {
            "type": kind, "wafPolicy": {"id": waf_id},
            "associations": [{"domains": UNKNOWN if ids == UNKNOWN else [{"id": i} for i in ids],
                              "patternsToMatch": ["/*"]}]}},
            [fd, endpoint, domain] + ([waf] if waf_in_stack else [])))
    return resources


def test_waf_attached_passes_the_designs_security_policy():
    assert stack_messages("front-door-waf-attached", waf_graph()) == []


def test_waf_attached_reports_each_endpoint_and_custom_domain_no_security_policy_associates():
    found = stack_messages("front-door-waf-attached", waf_graph(with_policy=False))
    assert [w for w, _ in found] == ["endpoint", "domain"]
    assert all("no WAF covers this Front Door" in m and "through a cdn SecurityPolicy" in m for _, m in found)
    ((where, message),) = stack_messages("front-door-waf-attached",
                                         waf_graph([arm_id("customDomains", "score-contoso-com")]))
    assert where == "endpoint" and "lists the endpoint's id" in message


def test_waf_attached_reports_a_security_policy_attaching_no_waf_policy_of_the_stack():
    elsewhere = "/subscriptions/s/resourceGroups/other/providers/Microsoft.Network/FrontDoorWebApplicationFirewallPolicies/x"
    for graph in (waf_graph(waf_id=elsewhere, waf_in_stack=False), waf_graph(waf_id=elsewhere),
                  waf_graph(waf_id=None), waf_graph(kind="SomethingElse")):
        found = stack_messages("front-door-waf-attached", graph)
        assert [w for w, _ in found] == ["endpoint", "domain"]
        assert all("attaches no WAF policy of this stack" in m and "wafPolicy.id" in m for _, m in found)


def test_waf_attached_accepts_ids_not_known_until_deployment():
    assert stack_messages("front-door-waf-attached", waf_graph([UNKNOWN, UNKNOWN], waf_id=UNKNOWN)) == []
    assert stack_messages("front-door-waf-attached", waf_graph(UNKNOWN)) == []


# -- through the analyzer protocol: offline, and the pack over gRPC -------------------------------------------------------
def registration(typ: str, name: str, inputs: dict, deps: list[Registration] = (), state: dict | None = None,
                 parent: str = "") -> Registration:
    urn = f"urn:pulumi:regions::model-webapp::{typ}::{name}"
    return Registration(urn=urn, type=typ, name=name, parent=parent, inputs=copy.deepcopy(inputs),
                        dependencies=[d.urn for d in deps], custom=True,
                        state=copy.deepcopy({**inputs, **(state or {})}), engine_inputs=copy.deepcopy(inputs))


def front_door_run(header: Any = FDID, front_door_id: Any = FDID) -> ProgramRun:
    """A Front Door stack as the engine sends it to the pack (a profile with its frontDoorId output, its WAF, an
    endpoint and the security policy, a site and its slot): `header` is what the sites' X-Azure-FDID names."""
    fd = registration(FRONT_DOOR_PROFILE, "mw-regions-fd", {"sku": {"name": "Premium_AzureFrontDoor"},
                                                            "location": "global", "tags": {"environment": "regions"}},
                      state={"frontDoorId": front_door_id} if front_door_id is not None else {})
    waf = registration(FRONT_DOOR_WAF_POLICY, "mw-regions-waf", {**WAF, "name": "mwregionswaf"})
    endpoint = registration(FRONT_DOOR_ENDPOINT, "mw-regions-iris-fd", {"endpointName": "mw-regions-iris",
                                                                        "enabledState": "Enabled"}, [fd],
                            state={"name": "mw-regions-iris", "hostName": "mw-regions-iris.z01.azurefd.net"})
    security = registration(FRONT_DOOR_SECURITY_POLICY, "mw-regions-iris-waf", {"parameters": {
        "type": "WebApplicationFirewall", "wafPolicy": {"id": WAF_ID},
        "associations": [{"domains": [{"id": arm_id("afdEndpoints", "mw-regions-iris")}], "patternsToMatch": ["/*"]}]}},
        [fd, waf, endpoint])
    group = registration(FRONT_DOOR_ORIGIN_GROUP, "mw-regions-iris-og", ORIGIN_GROUP, [fd])
    origin = registration(FRONT_DOOR_ORIGIN, "mw-regions-iris-westeurope", ORIGIN, [group])
    route = registration(FRONT_DOOR_ROUTE, "mw-regions-iris-route", ROUTE, [endpoint, group, origin])
    rule = {**FRONT_DOOR_RULE, "headers": {"x-azure-fdid": [header]}}
    site = registration(WEB_APP, "mw-regions-iris-app", locked([rule]), [fd])
    slot = registration(WEB_APP_SLOT, "mw-regions-iris-slot", {**locked([rule, *WARMUP_RULES]), "slot": "staging"},
                        [fd, site])
    return ProgramRun(stack="regions", registrations=[fd, waf, endpoint, security, group, origin, route, site, slot],
                      outputs={}, invokes=[])


def front_door_violations(found: list[dict]) -> list[tuple[str, str, str]]:
    return [(v["rule"], v["level"], v["resource"].rsplit("::", 1)[-1]) for v in found
            if v["rule"].startswith("front-door-")]


ALL_MANDATORY = load_policy_config("a-stack-with-no-policy-config")


def test_offline_the_stack_rules_see_the_profiles_output_and_the_sites_inputs():
    assert front_door_violations(evaluate(front_door_run(), ALL_MANDATORY)) == []
    assert front_door_violations(evaluate(front_door_run(header=OTHER_FDID), ALL_MANDATORY)) == [
        ("front-door-only-ingress", "mandatory", "mw-regions-iris-app"),
        ("front-door-only-ingress", "mandatory", "mw-regions-iris-slot")]


def test_offline_an_unknown_front_door_id_passes_as_a_preview_sends_it():
    # pulumi.runtime.rpc.UNKNOWN is the sentinel the engine sends for a value a preview cannot know.
    assert front_door_violations(evaluate(front_door_run(header=UNKNOWN, front_door_id=UNKNOWN), ALL_MANDATORY)) == []
    assert front_door_violations(evaluate(front_door_run(header=UNKNOWN, front_door_id=None), ALL_MANDATORY)) == []
    assert {v[0] for v in front_door_violations(evaluate(front_door_run(front_door_id=UNKNOWN), ALL_MANDATORY))} \
        == {"front-door-only-ingress"}


def broken_run() -> ProgramRun:
    """Every Front Door rule broken once: WAF detecting, an HTTP route, no probes, no certificate check, the endpoint
    without a WAF, the site admitting an office range beside Front Door."""
    run = front_door_run()
    by_type = {r.type: r for r in run.registrations}
    for props in (by_type[FRONT_DOOR_WAF_POLICY].engine_inputs, by_type[FRONT_DOOR_WAF_POLICY].state):
        props["policySettings"]["mode"] = "Detection"
    by_type[FRONT_DOOR_ROUTE].engine_inputs["forwardingProtocol"] = "MatchRequest"
    by_type[FRONT_DOOR_ORIGIN_GROUP].engine_inputs.pop("healthProbeSettings")
    by_type[FRONT_DOOR_ORIGIN].engine_inputs["enforceCertificateNameCheck"] = False
    run.registrations.remove(by_type[FRONT_DOOR_SECURITY_POLICY])
    by_type[WEB_APP].engine_inputs["siteConfig"]["ipSecurityRestrictions"].insert(0, OFFICE_RANGE)
    return run


def test_offline_scoped_rules_judge_the_front_door_graph_exactly_as_every_rule_on_every_resource():
    from tests.test_stack_policies import _every_rule_on_every_resource

    for run in (front_door_run(), front_door_run(UNKNOWN, UNKNOWN), broken_run()):
        for config in (load_policy_config("dev"), load_policy_config("prod"), ALL_MANDATORY):
            scoped = evaluate(run, config)
            assert sorted(map(json.dumps, scoped)) == sorted(map(json.dumps, _every_rule_on_every_resource(run, config)))
    fired = front_door_violations(evaluate(broken_run(), load_policy_config("dev")))
    assert {(rule, level) for rule, level, _ in fired} == {
        ("front-door-waf-prevention", "advisory"), ("front-door-https-only-routes", "mandatory"),
        ("front-door-health-probes", "mandatory"), ("front-door-origin-certificate-check", "mandatory"),
        ("front-door-waf-attached", "mandatory"), ("front-door-only-ingress", "mandatory")}
    assert ("front-door-waf-prevention", "mandatory", "mw-regions-waf") in \
        front_door_violations(evaluate(broken_run(), load_policy_config("prod")))


@pytest.fixture(scope="module")
def pack():
    from offline.stack_config import load_stack_config
    from tests.engine_harness import PolicyPackPlugin

    plugin = PolicyPackPlugin("dev", load_stack_config("dev").values)
    yield plugin
    plugin.stop()


def test_over_grpc_the_pack_judges_the_front_door_graph_and_its_unknown_ids_alike(pack):
    assert pack.configure({"all": "mandatory"}) == []
    assert front_door_violations(pack.analyze(front_door_run().registrations)) == []
    assert front_door_violations(pack.analyze(front_door_run(UNKNOWN, UNKNOWN).registrations)) == []
    assert front_door_violations(pack.analyze(front_door_run(header=OTHER_FDID).registrations)) == [
        ("front-door-only-ingress", "mandatory", "mw-regions-iris-app"),
        ("front-door-only-ingress", "mandatory", "mw-regions-iris-slot")]
    assert sorted(front_door_violations(pack.analyze(broken_run().registrations))) == \
        sorted(front_door_violations(evaluate(broken_run(), ALL_MANDATORY)))


def test_the_pack_spells_the_access_constants_as_the_components_do():
    from components import access
    from policies import props

    assert props.SWAP_WARMUP_RANGES == access.SWAP_WARMUP_RANGES
    assert props.FRONT_DOOR_TAG == access.FRONT_DOOR_TAG
    assert f'headers={{"{props.FRONT_DOOR_ID_HEADER}": ' in (PROJECT_DIR / "components" / "access.py").read_text()


# -- the regions example (examples/regions.yaml), as the program plans it ---------------------------------------------
@pytest.fixture(scope="module")
def regions_run() -> ProgramRun:
    from offline.mock_engine import run_program
    from offline.stack_config import load_stack_config

    config = load_stack_config(config_file=PROJECT_DIR / "examples" / "regions.yaml")
    return run_program(dict(config.values), config.stack)


def test_the_regions_example_passes_every_front_door_rule_scoped_as_unscoped(regions_run):
    from tests.test_stack_policies import _every_rule_on_every_resource

    scoped = evaluate(regions_run, ALL_MANDATORY)
    assert front_door_violations(scoped) == []
    assert sorted(map(json.dumps, scoped)) == \
        sorted(map(json.dumps, _every_rule_on_every_resource(regions_run, ALL_MANDATORY)))
    # Each rule had something to judge: the plan registers every type the rules look at.
    judged = {r.type for r in regions_run.registrations}
    assert {FRONT_DOOR_PROFILE, FRONT_DOOR_WAF_POLICY, FRONT_DOOR_ENDPOINT, FRONT_DOOR_SECURITY_POLICY, FRONT_DOOR_ROUTE,
            FRONT_DOOR_ORIGIN_GROUP, FRONT_DOOR_ORIGIN, WEB_APP, WEB_APP_SLOT} <= judged


def test_the_regions_example_with_a_site_admitting_another_front_door_or_an_endpoint_without_waf_is_refused(regions_run):
    run = copy.deepcopy(regions_run)
    site = next(r for r in run.registrations if r.type == WEB_APP)
    site.engine_inputs["siteConfig"]["ipSecurityRestrictions"][0]["headers"]["x-azure-fdid"] = [OTHER_FDID]
    security = next(r for r in run.registrations if r.type == FRONT_DOOR_SECURITY_POLICY)
    run.registrations.remove(security)
    endpoint = next(r for r in run.registrations if r.urn in security.dependencies and r.type == FRONT_DOOR_ENDPOINT)
    assert sorted(front_door_violations(evaluate(run, ALL_MANDATORY))) == sorted([
        ("front-door-only-ingress", "mandatory", site.name), ("front-door-waf-attached", "mandatory", endpoint.name)])
