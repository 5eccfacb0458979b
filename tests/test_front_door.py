"""FrontDoor and FrontDoorRoute on their own, in the style of Pulumi's testing-unit-py: mocks per test, the wire form
(camelCase inputs as the engine receives them) asserted once the outputs resolve; and the offline fake's answers and
change rules for the Front Door types."""
from __future__ import annotations

import json
import re
import uuid
from typing import Any, Optional

import pulumi
import pytest

from components.front_door import (ADDITIONAL_LATENCY_MS, BOT_MANAGER_RULE_SET, DEFAULT_RULE_SET,
                                   FRONT_DOOR_LOG_CATEGORIES, FRONT_DOOR_ROUTE_TYPE, FRONT_DOOR_TYPE, FrontDoor,
                                   FrontDoorArgs, FrontDoorRoute, FrontDoorRouteArgs, waf_policy_name)
from components.monitoring import MonitoringHub
from components.site import HEALTH_CHECK_PATH
from offline.change_rules import rule_for
from offline.mock_engine import RecordingMonitor, start_mocks
from offline.project import PROJECT_DIR
from offline.stack_config import load_stack_config
from settings.clouds import PUBLIC
from settings.stack_settings import NAMESPACE, CustomDomain, Settings

REGIONS = PROJECT_DIR / "examples" / "regions.yaml"
PROFILE = "azure-native:cdn:Profile"
WAF = "azure-native:frontdoor:Policy"
ENDPOINT = "azure-native:cdn:AFDEndpoint"
ORIGIN_GROUP = "azure-native:cdn:AFDOriginGroup"
ORIGIN = "azure-native:cdn:AFDOrigin"
ROUTE = "azure-native:cdn:Route"
SECURITY_POLICY = "azure-native:cdn:SecurityPolicy"
CUSTOM_DOMAIN = "azure-native:cdn:AFDCustomDomain"
DIAGNOSTICS = "azure-native:monitor:DiagnosticSetting"
RECORD_SET = "azure-native:dns:RecordSet"
GROUP_NAME = "mw-regions-rg"
WORKSPACE = "/subscriptions/0/resourceGroups/logs/providers/Microsoft.OperationalInsights/workspaces/logs"
ZONE_ID = "/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/dns/providers/Microsoft.Network/dnszones/" \
          "contoso.com"
# The two regions' sites of one service, as App Service names them in the public cloud.
ORIGINS = [("westeurope", PUBLIC.site_host("mw-regions-iris")),
           ("northeurope", PUBLIC.site_host("mw-regions-iris-northeurope"))]


def region_values(front_door: Optional[dict] = None, **iris: Any) -> dict[str, str]:
    """examples/regions.yaml as the CLI hands it over: frontDoor replaced when given, keys merged into iris's."""
    values = dict(load_stack_config(config_file=REGIONS).values)
    if front_door is not None:
        values["model-webapp:frontDoor"] = json.dumps(front_door)
    models = json.loads(values["model-webapp:models"])
    models["iris"].update(iris)
    values["model-webapp:models"] = json.dumps(models)
    return values


def start(front_door: Optional[dict] = None, **iris: Any) -> tuple[RecordingMonitor, Settings]:
    monitor = start_mocks(region_values(front_door, **iris), "regions")
    return monitor, Settings.from_config(pulumi.Config(NAMESPACE), stack="regions")


def hub(s: Settings) -> MonitoringHub:
    secret = pulumi.Output.secret("fake")
    return MonitoringHub(pulumi.Output.from_input(WORKSPACE), secret, secret, None, s.monitoring, dict(s.tags))


def iris(s: Settings) -> Settings:
    return next(view for view in s.services if view.service == "iris")


def one(monitor: RecordingMonitor, typ: str):
    (found,) = [r for r in monitor.registrations if r.type == typ]
    return found


def of_type(monitor: RecordingMonitor, typ: str) -> list:
    return [r for r in monitor.registrations if r.type == typ]


def settled(*components, outputs: tuple = ()) -> pulumi.Output:
    """The outputs, once every child of the components is registered (their ids resolved): what a check reads."""
    resources: list[pulumi.Resource] = []
    for c in components:
        if isinstance(c, FrontDoor):
            resources += [c.profile, c.waf] + ([c.diagnostics] if c.diagnostics else [])
        else:
            resources += [c.endpoint, c.origin_group, *c.origins, c.route, c.security_policy, *c.dns_records,
                          *([c.custom_domain] if c.custom_domain else [])]
    return pulumi.Output.all(*outputs, *(r.id for r in resources)).apply(lambda v: v[:len(outputs)])


# -- the profile, its WAF and its logs --------------------------------------------------------------------------------

@pulumi.runtime.test
def test_premium_profile_waf_with_rate_limit_and_managed_rules_and_its_logs_in_the_workspace():
    monitor, s = start()
    front_door = FrontDoor("mw-regions-fd", FrontDoorArgs(s, GROUP_NAME, hub(s)))

    def check(args):
        front_door_id, waf_id, urn = args
        profile, waf, diagnostics = one(monitor, PROFILE), one(monitor, WAF), one(monitor, DIAGNOSTICS)
        assert profile.inputs["sku"] == {"name": "Premium_AzureFrontDoor"}
        assert profile.inputs["location"] == "global" and profile.inputs["resourceGroupName"] == GROUP_NAME
        assert profile.inputs["tags"] == dict(s.tags)
        assert uuid.UUID(front_door_id)  # the fake answers a GUID, as ARM does
        assert waf.inputs["sku"] == profile.inputs["sku"] and waf.inputs["location"] == "Global"
        assert re.fullmatch(r"[A-Za-z][A-Za-z0-9]{0,127}", waf.inputs["policyName"])
        assert waf.inputs["policySettings"] == {"enabledState": "Enabled", "mode": "Prevention"}
        (rule,) = waf.inputs["customRules"]["rules"]
        assert rule["ruleType"] == "RateLimitRule" and rule["action"] == "Block" and rule["enabledState"] == "Enabled"
        assert rule["rateLimitThreshold"] == 1000 and rule["rateLimitDurationInMinutes"] == 1
        assert rule["groupBy"] == [{"variableName": "SocketAddr"}]  # per client IP
        (condition,) = rule["matchConditions"]  # every request: no socket address is in the documentation range
        assert condition == {"matchVariable": "SocketAddr", "operator": "IPMatch", "negateCondition": True,
                             "matchValue": ["192.0.2.0/24"]}
        sets = {(m["ruleSetType"], m["ruleSetVersion"]): m for m in waf.inputs["managedRules"]["managedRuleSets"]}
        assert set(sets) == {DEFAULT_RULE_SET, BOT_MANAGER_RULE_SET}
        assert sets[DEFAULT_RULE_SET]["ruleSetAction"] == "Block"
        assert waf_id.endswith(f"/{waf.inputs['policyName']}")
        assert diagnostics.inputs["workspaceId"] == WORKSPACE and profile.urn in diagnostics.dependencies
        assert [log["category"] for log in diagnostics.inputs["logs"] if log["enabled"]] == \
            list(FRONT_DOOR_LOG_CATEGORIES) == ["FrontDoorAccessLog", "FrontDoorHealthProbeLog",
                                                "FrontDoorWebApplicationFirewallLog"]
        assert all(r.parent == urn for r in (profile, waf, diagnostics))
        assert urn.endswith(f"{FRONT_DOOR_TYPE}::mw-regions-fd")

    return settled(front_door, outputs=(front_door.front_door_id, front_door.waf_policy_id, front_door.urn)).apply(check)


@pulumi.runtime.test
def test_standard_waf_has_the_rate_limit_alone_in_detection_and_no_logs_without_monitoring():
    monitor, s = start({"sku": "Standard_AzureFrontDoor", "waf": {"mode": "Detection", "rateLimitPerMinute": 300}})
    front_door = FrontDoor("mw-regions-fd", FrontDoorArgs(s, GROUP_NAME, None))

    def check(_):
        profile, waf = one(monitor, PROFILE), one(monitor, WAF)
        assert profile.inputs["sku"] == waf.inputs["sku"] == {"name": "Standard_AzureFrontDoor"}
        assert waf.inputs["policySettings"]["mode"] == "Detection"
        assert waf.inputs["customRules"]["rules"][0]["rateLimitThreshold"] == 300
        assert "managedRules" not in waf.inputs  # Standard has no managed rule sets
        assert not of_type(monitor, DIAGNOSTICS)

    return settled(front_door).apply(check)


@pulumi.runtime.test
def test_premium_without_managed_rules_when_the_settings_turn_them_off():
    monitor, s = start({"sku": "Premium_AzureFrontDoor", "waf": {"managedRuleSets": False}})
    front_door = FrontDoor("mw-regions-fd", FrontDoorArgs(s, GROUP_NAME, hub(s)))
    return settled(front_door).apply(lambda _: _no_managed_rules(monitor))


def _no_managed_rules(monitor: RecordingMonitor) -> None:
    assert "managedRules" not in one(monitor, WAF).inputs


def test_the_waf_policy_name_is_letters_and_digits_starting_with_a_letter():
    assert waf_policy_name("mw-prod-fd") == "mwprodfdwaf"
    assert waf_policy_name("1st-stack_fd") == "waf1ststackfdwaf"
    assert len(waf_policy_name("a" * 300)) == 128


# -- one service's route ----------------------------------------------------------------------------------------------

@pulumi.runtime.test
def test_a_route_probes_two_regions_origins_over_https_and_is_created_after_them():
    monitor, s = start()
    front_door = FrontDoor("mw-regions-fd", FrontDoorArgs(s, GROUP_NAME, hub(s)))
    route = FrontDoorRoute("mw-regions-iris-fd", FrontDoorRouteArgs(iris(s), front_door, ORIGINS))

    def check(args):
        host_name, scoring_uri, waf_id, urn = args
        profile, endpoint, group = one(monitor, PROFILE), one(monitor, ENDPOINT), one(monitor, ORIGIN_GROUP)
        profile_name = profile.state["name"]
        assert endpoint.inputs["enabledState"] == "Enabled" and endpoint.inputs["profileName"] == profile_name
        assert host_name == endpoint.state["hostName"] and host_name.endswith(f".z01.{PUBLIC.front_door_suffix}")
        assert scoring_uri == f"https://{host_name}/score"
        assert group.inputs["healthProbeSettings"] == {"probePath": HEALTH_CHECK_PATH, "probeProtocol": "Https",
                                                       "probeRequestType": "GET", "probeIntervalInSeconds": 30}
        assert group.inputs["loadBalancingSettings"] == {"sampleSize": 4, "successfulSamplesRequired": 3,
                                                         "additionalLatencyInMilliseconds": ADDITIONAL_LATENCY_MS}
        assert group.inputs["sessionAffinityState"] == "Disabled"
        origins = {o.name: o for o in of_type(monitor, ORIGIN)}  # registered in no fixed order
        assert sorted(origins) == ["mw-regions-iris-fd-origin-northeurope", "mw-regions-iris-fd-origin-westeurope"]
        for region, site in ORIGINS:
            origin = origins[f"mw-regions-iris-fd-origin-{region}"]
            assert origin.inputs["hostName"] == origin.inputs["originHostHeader"] == site
            assert origin.inputs["enforceCertificateNameCheck"] is True and origin.inputs["enabledState"] == "Enabled"
            assert (origin.inputs["httpPort"], origin.inputs["httpsPort"]) == (80, 443)
            assert (origin.inputs["priority"], origin.inputs["weight"]) == (1, 1000)
            assert origin.inputs["originGroupName"] == group.state["name"]
        r = one(monitor, ROUTE)
        assert {o.urn for o in origins.values()} <= set(r.dependencies)  # ARM refuses a route whose group has no origin
        assert r.inputs["endpointName"] == endpoint.state["name"]
        assert r.inputs["originGroup"]["id"].endswith(f"/{group.state['name']}")
        assert r.inputs["supportedProtocols"] == ["Http", "Https"] and r.inputs["httpsRedirect"] == "Enabled"
        assert r.inputs["forwardingProtocol"] == "HttpsOnly" and r.inputs["patternsToMatch"] == ["/*"]
        assert r.inputs["linkToDefaultDomain"] == "Enabled" and "customDomains" not in r.inputs
        security = one(monitor, SECURITY_POLICY)
        parameters = security.inputs["parameters"]
        assert parameters["type"] == "WebApplicationFirewall" and parameters["wafPolicy"] == {"id": waf_id}
        (association,) = parameters["associations"]
        assert association["patternsToMatch"] == ["/*"]
        assert [d["id"] for d in association["domains"]] == [_id_of(endpoint)]
        assert not of_type(monitor, CUSTOM_DOMAIN) and route.dns_records_to_create is None
        assert all(x.parent == urn for x in (endpoint, group, r, security, *origins.values()))
        assert urn.endswith(f"pulumi:pulumi:Stack${FRONT_DOOR_ROUTE_TYPE}::mw-regions-iris-fd")

    return settled(front_door, route, outputs=(route.host_name, route.scoring_uri, front_door.waf_policy_id,
                                               route.urn)).apply(check)


def _id_of(r) -> str:
    return f"/subscriptions/00000000-0000-0000-0000-00000000fake/resourceGroups/fake/providers/{r.type}/{r.state['name']}"


@pulumi.runtime.test
def test_session_affinity_and_the_probe_interval_come_from_the_settings():
    monitor, s = start({"sku": "Premium_AzureFrontDoor", "healthProbeIntervalSeconds": 60, "sessionAffinity": True})
    front_door = FrontDoor("mw-regions-fd", FrontDoorArgs(s, GROUP_NAME, None))
    route = FrontDoorRoute("mw-regions-iris-fd", FrontDoorRouteArgs(iris(s), front_door, ORIGINS))

    def check(_):
        group = one(monitor, ORIGIN_GROUP)
        assert group.inputs["healthProbeSettings"]["probeIntervalInSeconds"] == 60
        assert group.inputs["sessionAffinityState"] == "Enabled"

    return settled(front_door, route).apply(check)


@pulumi.runtime.test
def test_a_custom_domain_without_a_zone_gets_a_managed_tls12_certificate_and_names_the_records_to_create():
    monitor, s = start(customDomain={"hostName": "score.contoso.com"})
    front_door = FrontDoor("mw-regions-fd", FrontDoorArgs(s, GROUP_NAME, None))
    route = FrontDoorRoute("mw-regions-iris-fd", FrontDoorRouteArgs(iris(s), front_door, ORIGINS))

    def check(args):
        records, scoring_uri, host_name = args
        domain = one(monitor, CUSTOM_DOMAIN)
        assert domain.inputs["hostName"] == "score.contoso.com"
        assert domain.inputs["customDomainName"] == "score-contoso-com"  # resource names take no dots
        assert domain.inputs["tlsSettings"] == {"certificateType": "ManagedCertificate", "minimumTlsVersion": "TLS12"}
        token = domain.state["validationProperties"]["validationToken"]
        assert records == [{"type": "TXT", "name": "_dnsauth.score.contoso.com", "value": token},
                           {"type": "CNAME", "name": "score.contoso.com", "value": host_name}]
        assert scoring_uri == "https://score.contoso.com/score"
        r = one(monitor, ROUTE)
        assert r.inputs["customDomains"] == [{"id": _id_of(domain)}] and r.inputs["linkToDefaultDomain"] == "Enabled"
        (association,) = one(monitor, SECURITY_POLICY).inputs["parameters"]["associations"]
        assert [d["id"] for d in association["domains"]] == [_id_of(one(monitor, ENDPOINT)), _id_of(domain)]
        assert not of_type(monitor, RECORD_SET)

    return settled(front_door, route, outputs=(route.dns_records_to_create, route.scoring_uri, route.host_name)).apply(check)


@pulumi.runtime.test
def test_a_custom_domain_in_an_azure_dns_zone_gets_its_txt_and_cname_written_there():
    monitor, s = start(customDomain={"hostName": "score.contoso.com", "dnsZoneId": ZONE_ID})
    front_door = FrontDoor("mw-regions-fd", FrontDoorArgs(s, GROUP_NAME, None))
    route = FrontDoorRoute("mw-regions-iris-fd", FrontDoorRouteArgs(iris(s), front_door, ORIGINS))
    assert route.dns_records_to_create is None

    def check(args):
        (host_name,) = args
        records = {r.inputs["recordType"]: r for r in of_type(monitor, RECORD_SET)}
        assert set(records) == {"TXT", "CNAME"}
        token = one(monitor, CUSTOM_DOMAIN).state["validationProperties"]["validationToken"]
        txt, cname = records["TXT"].inputs, records["CNAME"].inputs
        assert txt["relativeRecordSetName"] == "_dnsauth.score" and txt["txtRecords"] == [{"value": [token]}]
        assert cname["relativeRecordSetName"] == "score" and cname["cnameRecord"] == {"cname": host_name}
        assert {txt["zoneName"], cname["zoneName"]} == {"contoso.com"}
        assert {txt["resourceGroupName"], cname["resourceGroupName"]} == {"dns"}
        (provider,) = [r for r in monitor.registrations if r.type == "pulumi:providers:azure-native"]
        assert provider.inputs["subscriptionId"] == ZONE_ID.split("/")[2]  # the zone's subscription

    return settled(front_door, route, outputs=(route.host_name,)).apply(check)


def test_an_apex_custom_domain_is_refused_behind_front_door():
    # The settings refuse it with every other problem; the component refuses it too, for settings made otherwise.
    with pytest.raises(pulumi.RunError, match="zone apex.*use a subdomain such as score.contoso.com"):
        start(customDomain={"hostName": "contoso.com"})
    _, s = start()
    front_door = FrontDoor("mw-regions-fd", FrontDoorArgs(s, GROUP_NAME, None))
    apex = iris(s).model_copy(update={"custom_domain": CustomDomain(host_name="contoso.com")})
    with pytest.raises(pulumi.RunError, match="zone apex.*use a subdomain such as score.contoso.com"):
        FrontDoorRoute("mw-regions-iris-fd", FrontDoorRouteArgs(apex, front_door, ORIGINS))


def test_a_route_needs_one_origin_per_region():
    _, s = start()
    front_door = FrontDoor("mw-regions-fd", FrontDoorArgs(s, GROUP_NAME, None))
    with pytest.raises(ValueError, match="at least one origin"):
        FrontDoorRoute("a-fd", FrontDoorRouteArgs(iris(s), front_door, []))
    with pytest.raises(ValueError, match="one origin per region"):
        FrontDoorRoute("b-fd", FrontDoorRouteArgs(iris(s), front_door, [ORIGINS[0], ("West Europe", "x")]))


def test_an_endpoint_name_too_long_for_its_host_label_is_refused():
    _, s = start()
    front_door = FrontDoor("mw-regions-fd", FrontDoorArgs(s, GROUP_NAME, None))
    name = "a" * 40  # + "-endpoint": 49 characters, + "-<16>" would overflow a 63-character DNS label
    with pytest.raises(pulumi.RunError, match="at most 46 fit in its host name's first label"):
        FrontDoorRoute(name, FrontDoorRouteArgs(iris(s), front_door, ORIGINS))


@pulumi.runtime.test
def test_two_routes_and_two_profiles_coexist_in_one_stack():
    monitor, s = start()
    views = {v.service: v for v in s.services}
    doors = [FrontDoor(f"{s.resource_name()}-fd{suffix}", FrontDoorArgs(s, GROUP_NAME, hub(s))) for suffix in ("", "2")]
    routes = [FrontDoorRoute(f"{views[name].resource_name()}-fd", FrontDoorRouteArgs(views[name], door, ORIGINS))
              for name, door in (("diabetes", doors[0]), ("iris", doors[1]))]

    def check(args):
        door_urns, route_urns, hosts = args[:2], args[2:4], args[4:]
        urns = [r.urn for r in monitor.registrations]
        assert len(urns) == len(set(urns))
        assert len({w.inputs["policyName"] for w in of_type(monitor, WAF)}) == 2
        assert len(set(hosts)) == 2 and len(of_type(monitor, ORIGIN)) == 4
        assert {r.name for r in of_type(monitor, ROUTE)} == {"mw-regions-diabetes-fd-route", "mw-regions-iris-fd-route"}
        profile_of = {p.parent: p.state["name"] for p in of_type(monitor, PROFILE)}
        route_of = {r.parent: r for r in of_type(monitor, ROUTE)}
        for door_urn, route_urn in zip(door_urns, route_urns):  # each route in its own profile
            assert route_of[route_urn].inputs["profileName"] == profile_of[door_urn]

    return settled(*doors, *routes, outputs=(*(d.urn for d in doors), *(r.urn for r in routes),
                                              *(r.host_name for r in routes))).apply(check)


# -- the offline fake and the change rules ----------------------------------------------------------------------------

def entry(typ: str, **inputs: Any) -> dict[str, Any]:
    return {"type": typ, "inputs": inputs}


def test_a_new_front_door_tier_replaces_the_profile_and_says_what_that_costs():
    rule = rule_for(PROFILE)
    old = entry(PROFILE, resourceGroupName="rg", location="global", sku={"name": "Standard_AzureFrontDoor"})
    new = entry(PROFILE, resourceGroupName="rg", location="global", sku={"name": "Premium_AzureFrontDoor"})
    verdict = rule(old, new, ["sku.name"])
    assert verdict.op == "replace" and verdict.replace_because == ("sku.name",)
    assert "NEW PROFILE" in verdict.meaning and "upgrade it in place first" in verdict.meaning
    assert "Standard_AzureFrontDoor -> Premium_AzureFrontDoor" in verdict.meaning
    assert rule(old, old, ["tags.owner"]).op == "update"


@pytest.mark.parametrize("typ, path, op", [
    (ENDPOINT, "profileName", "replace"), (ORIGIN_GROUP, "originGroupName", "replace"),
    (ORIGIN, "originGroupName", "replace"), (ORIGIN, "hostName", "update"), (ROUTE, "endpointName", "replace"),
    (ROUTE, "customDomains[0].id", "update"), (SECURITY_POLICY, "securityPolicyName", "replace"),
    (CUSTOM_DOMAIN, "customDomainName", "replace"), (WAF, "policyName", "replace"),
    (WAF, "customRules.rules[0].rateLimitThreshold", "update"),
])
def test_front_door_children_replace_on_their_arm_path_and_update_otherwise(typ, path, op):
    assert rule_for(typ)(entry(typ), entry(typ), [path]).op == op


def test_the_fake_answers_what_front_door_answers():
    from offline.fake_azure import FakeAzure
    from pulumi.runtime.mocks import MockResourceArgs

    start_mocks(region_values(), "regions")  # the stack's cloud: public
    fake = FakeAzure()

    def created(typ: str, name: str, **inputs: Any) -> dict[str, Any]:
        return fake.new_resource(MockResourceArgs(typ, name, inputs, None, None, None))[1]

    profile = created(PROFILE, "p", profileName="mwfd", sku={"name": "Standard_AzureFrontDoor"})
    assert profile["name"] == "mwfd" and uuid.UUID(profile["frontDoorId"])
    endpoint = created(ENDPOINT, "e", endpointName="iris")
    assert re.fullmatch(rf"iris-[0-9a-f]{{16}}\.z01\.{re.escape(PUBLIC.front_door_suffix)}", endpoint["hostName"])
    domain = created(CUSTOM_DOMAIN, "d", customDomainName="score-contoso-com", hostName="score.contoso.com")
    assert set(domain["validationProperties"]) == {"validationToken", "expirationDate"}
    assert domain["domainValidationState"] == "Pending"
    waf = created(WAF, "w", policyName="mwfdwaf")
    assert waf["name"] == "mwfdwaf"
    # Autonamed: a profile's children keep their logical name, the profile gets the random suffix.
    assert created(ENDPOINT, "mw-iris-fd-endpoint")["hostName"].startswith("mw-iris-fd-endpoint-")
    assert created(ORIGIN_GROUP, "mw-iris-fd-origins")["name"] == "mw-iris-fd-origins"
    assert created(PROFILE, "mw-fd-profile")["name"] != "mw-fd-profile"
