"""Several regions behind one Azure Front Door (examples/regions.yaml: two regions, two services): a platform per
region, a site per service and region, Front Door in front of them, every site admitting only that Front Door, and
releases region by region; planned as `make plans` plans it."""
from __future__ import annotations

import collections
import json

import pytest

from offline import plan
from offline.diff import compare
from offline.diff_render import render_diff_table
from offline.mock_engine import ProgramRun, run_program
from offline.project import PACKAGE_TYPE, PROJECT_DIR, ROLLOUT_TYPE, SWAP_TYPE
from offline.stack_config import load_stack_config
from providers import rollback
from tests.fake_app_service import FakeSiteService
from tests.helpers import GROUP, PLAN, PLATFORM, SERVICE, WEB_APP, stack_values

REGIONS = PROJECT_DIR / "examples" / "regions.yaml"
SLOT = "azure-native:web:WebAppSlot"
PROFILE = "azure-native:cdn:Profile"
ENDPOINT = "azure-native:cdn:AFDEndpoint"
ORIGIN_GROUP = "azure-native:cdn:AFDOriginGroup"
ORIGIN = "azure-native:cdn:AFDOrigin"
ROUTE = "azure-native:cdn:Route"
WAF = "azure-native:frontdoor:Policy"
SECURITY_POLICY = "azure-native:cdn:SecurityPolicy"
CUSTOM_DOMAIN = "azure-native:cdn:AFDCustomDomain"
DIAGNOSTICS = "azure-native:monitor:DiagnosticSetting"
HOST_BINDING = "azure-native:web:WebAppHostNameBinding"
SERVICES = ("diabetes", "iris")


def region_values(**changes) -> dict[str, str]:
    """The example's config as the CLI hands it over; top-level keys replaced (None removes one), and
    `models_<service>={key: value}` merged into that service's keys."""
    values = dict(load_stack_config(config_file=REGIONS).values)
    models = json.loads(values["model-webapp:models"])
    for key, value in changes.items():
        if key.startswith("models_"):
            models[key.removeprefix("models_")].update(value)
        elif value is None:
            values.pop(f"model-webapp:{key}", None)
        else:
            values[f"model-webapp:{key}"] = json.dumps(value) if isinstance(value, (dict, list)) else str(value)
    values["model-webapp:models"] = json.dumps(models)
    return values


@pytest.fixture(scope="module")
def regions() -> ProgramRun:
    return run_program(region_values(), "regions")


def service_of(run: ProgramRun, r) -> str:
    """The ModelService component a resource sits under."""
    parents = {s.urn: s.name for s in run.of_type(SERVICE)}
    return parents[r.parent]


def front_door_id(run: ProgramRun) -> str:
    return run.one(PROFILE).state["frontDoorId"]


# -- the example and its plan ----------------------------------------------------------------------------------
def test_the_example_plans_clean_with_every_rule_mandatory(capsys):
    code = plan.main(["--config-file", str(REGIONS), "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    doc = json.loads(out)
    assert doc["stack"] == "regions" and doc["policyConfig"] is None and doc["violations"] == []


def test_two_platforms_four_sites_and_one_front_door(regions):
    counts = collections.Counter(r.type for r in regions.registrations)
    assert counts[PLATFORM] == 2 and counts[GROUP] == 2 and counts[PLAN] == 2
    assert counts[SERVICE] == 4 and counts[WEB_APP] == 4 and counts[SLOT] == 4 and counts[SWAP_TYPE] == 4
    assert counts[PROFILE] == 1 and counts[WAF] == 1
    assert counts[ENDPOINT] == 2 and counts[ORIGIN_GROUP] == 2 and counts[ORIGIN] == 4 and counts[ROUTE] == 2
    assert counts[SECURITY_POLICY] >= 1
    # One image per service, built once and served in both regions.
    assert counts[PACKAGE_TYPE] == 2
    images = collections.defaultdict(set)
    for site in regions.of_type(WEB_APP):
        images[service_of(regions, site).split("-")[2]].add(site.inputs["siteConfig"]["linuxFxVersion"])
    assert {k: len(v) for k, v in images.items()} == {"diabetes": 1, "iris": 1}


def test_each_region_has_its_platform_in_its_region_and_the_primary_keeps_the_one_region_names(regions):
    plans = {p.inputs["location"]: p for p in regions.of_type(PLAN)}
    assert set(plans) == {"westeurope", "northeurope"}
    assert sorted(p.name for p in regions.of_type(PLATFORM)) == ["mw-regions", "mw-regions-northeurope"]
    sites = {s.name: s.inputs["location"] for s in regions.of_type(WEB_APP)}
    assert sites == {"mw-regions-diabetes-app": "westeurope", "mw-regions-iris-app": "westeurope",
                     "mw-regions-diabetes-northeurope-app": "northeurope",
                     "mw-regions-iris-northeurope-app": "northeurope"}
    # Every site sits on its own region's plan and group.
    groups = {g.urn: g.inputs["location"] for g in regions.of_type(GROUP)}
    for platform in regions.of_type(PLATFORM):
        region = "northeurope" if platform.name.endswith("northeurope") else "westeurope"
        group = next(g for g in regions.of_type(GROUP) if g.parent == platform.urn)
        assert groups[group.urn] == region


def test_adding_a_region_keeps_every_resource_of_the_one_region_stack_and_updates_only_its_access(regions):
    one = run_program(region_values(regions=None, location="westeurope", frontDoor=None), "regions")
    mine = {r.urn for r in regions.registrations}
    assert {r.urn for r in one.registrations} <= mine
    comparison = compare(plan.plan_document(one, []), plan.plan_document(regions, []))
    assert {c.op for c in comparison.changes} == {"create", "update"}
    updated = [c for c in comparison.changes if c.op == "update"]
    assert sorted(c.type for c in updated) == sorted([SLOT, SLOT, WEB_APP, WEB_APP])  # the primary's sites and slots
    assert all(p.path.startswith(("siteConfig.ipSecurityRestrictions", "siteConfig.scmIpSecurityRestrictionsUseMain"))
               for c in updated for p in c.properties)


def test_every_site_and_slot_admits_only_the_profiles_front_door(regions):
    fdid = front_door_id(regions)
    assert fdid
    for site in regions.of_type(WEB_APP) + regions.of_type(SLOT):
        config = site.inputs["siteConfig"]
        assert config["ipSecurityRestrictionsDefaultAction"] == "Deny"
        assert config["scmIpSecurityRestrictionsUseMain"] is True
        allowed = [r for r in config["ipSecurityRestrictions"] if r["action"] == "Allow"]
        front = [r for r in allowed if r.get("tag") == "ServiceTag"]
        assert front == [{"name": "allow-front-door", "tag": "ServiceTag", "ipAddress": "AzureFrontDoor.Backend",
                          "action": "Allow", "priority": 300, "headers": {"x-azure-fdid": [fdid]}}]
        others = [r["ipAddress"] for r in allowed if r.get("tag") != "ServiceTag"]
        # Only a slot admits more: the swap's internal warm-up.
        assert others == ([] if site.type == WEB_APP else ["10.0.0.0/8", "100.0.0.0/8"])


def test_one_origin_group_per_service_with_each_regions_site_as_an_origin(regions):
    hosts = {s.name.removesuffix("-app"): s.state["defaultHostName"] for s in regions.of_type(WEB_APP)}
    groups = {g.urn: g for g in regions.of_type(ORIGIN_GROUP)}
    by_group = collections.defaultdict(list)
    for origin in regions.of_type(ORIGIN):
        group_urns = [d for d in origin.dependencies if d in groups]
        assert len(group_urns) == 1
        by_group[group_urns[0]].append(origin)
        assert origin.inputs["hostName"] == origin.inputs["originHostHeader"]
        assert origin.inputs["hostName"] in hosts.values()
        assert origin.inputs["enforceCertificateNameCheck"] is True
    assert len(by_group) == 2
    for urn, origins in by_group.items():
        probe = groups[urn].inputs["healthProbeSettings"]
        assert probe["probePath"] == "/" and probe["probeProtocol"] == "Https"
        # Both regions of one service: the primary's site and the other region's site of the same service.
        served = sorted(next(n for n, h in hosts.items() if h == o.inputs["hostName"]) for o in origins)
        service = served[0].split("-")[2]
        assert served == [f"mw-regions-{service}", f"mw-regions-{service}-northeurope"]


def test_each_route_waits_for_its_origins_and_is_https_only(regions):
    origins = {o.urn for o in regions.of_type(ORIGIN)}
    for route in regions.of_type(ROUTE):
        assert len(origins & set(route.dependencies)) == 2  # ARM refuses a route before an enabled origin
        assert route.inputs["forwardingProtocol"] == "HttpsOnly" and route.inputs["httpsRedirect"] == "Enabled"


def test_the_waf_is_attached_to_every_endpoint_and_the_profile_logs_to_the_primary_workspace(regions):
    waf = regions.one(WAF)
    assert waf.inputs["policySettings"]["mode"] == "Prevention"
    attached = [d["id"] for p in regions.of_type(SECURITY_POLICY) for a in p.inputs["parameters"]["associations"]
                for d in a["domains"]]
    endpoints = regions.of_type(ENDPOINT)
    assert len(attached) == len(endpoints) == 2
    profile = regions.one(PROFILE)
    logs = [d for d in regions.of_type(DIAGNOSTICS) if profile.urn in d.dependencies]
    assert len(logs) == 1
    categories = {c.get("category") for c in logs[0].inputs["logs"]}
    assert {"FrontDoorAccessLog", "FrontDoorHealthProbeLog", "FrontDoorWebApplicationFirewallLog"} <= categories


# -- releases, region by region --------------------------------------------------------------------------------
def test_the_second_regions_swap_waits_for_the_first_regions(regions):
    swaps = {s.name: s for s in regions.of_type(SWAP_TYPE)}
    for service in SERVICES:
        first, second = swaps[f"mw-regions-{service}-swap"], swaps[f"mw-regions-{service}-northeurope-swap"]
        assert first.urn in second.dependencies
        assert not {s.urn for s in swaps.values()} & set(first.dependencies)  # the primary goes first
        # ... and no service waits for another: each service's regions form their own chain.
        assert {s.urn for s in swaps.values()} & set(second.dependencies) == {first.urn}


def test_in_place_releases_wait_region_by_region_through_the_site(regions):
    run = run_program(region_values(models_diabetes={"release": {"strategy": "inPlace"}},
                                    models_iris={"release": {"strategy": "inPlace"}}), "regions")
    rollouts = {r.name: r for r in run.of_type(ROLLOUT_TYPE)}
    sites = {s.name: s for s in run.of_type(WEB_APP)}
    for service in SERVICES:
        # In place the site's update is the release: the second region's site is updated after the first's rollout.
        assert rollouts[f"mw-regions-{service}-rollout"].urn in sites[f"mw-regions-{service}-northeurope-app"].dependencies
        assert not any(r.urn in sites[f"mw-regions-{service}-app"].dependencies for r in rollouts.values())


def test_the_plan_and_its_diff_show_the_release_order(regions, capsys):
    assert plan.main(["--config-file", str(REGIONS)]) == 0
    table = capsys.readouterr().out
    line = next(l for l in table.splitlines() if "mw-regions-iris-northeurope-swap" in l)
    assert line.rstrip().endswith("after mw-regions-iris-swap")
    first = next(l for l in table.splitlines() if "mw-regions-iris-swap " in l)
    assert "after" not in first.split("gate", 1)[1]
    old = plan.plan_document(regions, [])
    changed = run_program(region_values(models_iris={"model": {"name": "iris-logreg", "version": "2"}}), "regions")
    lines = "\n".join(render_diff_table(compare(old, plan.plan_document(changed, []))))
    assert "mw-regions-iris-northeurope-swap: " in lines
    northeurope = next(l for l in lines.splitlines() if l.startswith("mw-regions-iris-northeurope-swap: "))
    assert northeurope.endswith("(once mw-regions-iris-swap has passed its gate)")


# -- outputs -----------------------------------------------------------------------------------------------------
def test_the_scoring_uri_is_front_doors_and_each_regions_site_is_an_output(regions):
    endpoints = {e.name: e.state["hostName"] for e in regions.of_type(ENDPOINT)}
    models = regions.outputs["models"]
    assert set(models) == set(SERVICES)
    for service, out in models.items():
        assert out["scoring_uri"] == f"https://{out['front_door_host_name']}/score"
        assert out["front_door_host_name"] in endpoints.values()
        assert set(out["regions"]) == {"westeurope", "northeurope"}
        assert out["regions"]["northeurope"]["app_name"].startswith(f"mw-regions-{service}-northeurope-app")
        assert out["regions"]["westeurope"]["app_name"] == out["app_name"]
        groups = {r["resource_group_name"] for r in out["regions"].values()}
        assert len(groups) == 2  # each region's own group, for the rollback of one region
    assert regions.outputs["front_door_profile_name"]


def test_the_rollback_names_its_region_on_a_stack_of_several(capsys, monkeypatch, regions):
    monkeypatch.setattr(rollback, "_stack_outputs", lambda _stack: regions.outputs)
    service = FakeSiteService(production="img:new", slot_image="img:old")
    args = ["--stack", "regions", "--service", "iris", "--subscription", "s"]
    assert rollback.main(args, factory=service.factory) == 2
    assert "pick one with --region (westeurope, northeurope)" in capsys.readouterr().err and service.swaps == 0
    assert rollback.main([*args, "--region", "northeurope"], factory=service.factory) == 0
    iris = regions.outputs["models"]["iris"]["regions"]["northeurope"]
    assert service.swaps == 1
    assert f"site s/{iris['resource_group_name']}/{iris['app_name']}" in service.calls


# -- one region behind Front Door; a custom domain on Front Door ------------------------------------------------
def test_one_region_may_sit_behind_front_door():
    run = run_program(region_values(regions=None, location="westeurope"), "regions")
    assert len(run.of_type(PLATFORM)) == 1 and len(run.of_type(ORIGIN)) == 2 and run.one(PROFILE)
    fdid = front_door_id(run)
    for site in run.of_type(WEB_APP):
        rules = site.inputs["siteConfig"]["ipSecurityRestrictions"]
        assert [r["headers"] for r in rules] == [{"x-azure-fdid": [fdid]}]
    assert "regions" not in run.outputs["models"]["iris"]


def test_a_custom_domain_moves_to_front_door():
    run = run_program(region_values(models_iris={"customDomain": {"hostName": "iris.example.com"}}), "regions")
    assert not run.of_type(HOST_BINDING)  # the sites keep their own names: Front Door holds the domain
    domain = run.one(CUSTOM_DOMAIN)
    assert domain.inputs["hostName"] == "iris.example.com"
    assert domain.inputs["tlsSettings"]["certificateType"] == "ManagedCertificate"
    iris = run.outputs["models"]["iris"]
    assert iris["scoring_uri"] == "https://iris.example.com/score"
    records = {r["type"]: r for r in iris["dns_records_to_create"]}
    assert records["CNAME"]["name"] == "iris.example.com" and records["CNAME"]["value"] == iris["front_door_host_name"]
    assert records["TXT"]["name"] == "_dnsauth.iris.example.com"
    # The route serves the domain and the WAF guards it as it guards the endpoint.
    route = next(r for r in run.of_type(ROUTE) if "-iris-" in r.name)
    (served,) = route.inputs["customDomains"]
    assert served["id"].endswith("/iris-example-com") and domain.urn in route.dependencies
    guarded = [d["id"] for p in run.of_type(SECURITY_POLICY) for a in p.inputs["parameters"]["associations"]
               for d in a["domains"]]
    assert served["id"] in guarded


def test_front_door_in_azure_china_plans_offline_without_making_up_its_host():
    # Front Door is offered in Azure China; no Microsoft source names its endpoint suffix there, so the fake answers
    # a host under .invalid that says so (the real host name comes from Azure).
    image = "mlwmodelsregistry.azurecr.cn/diabetes@sha256:" + "ab" * 32
    values = region_values(regions=["chinanorth3", "chinaeast2"], models_diabetes={"image": image},
                           models_iris={"image": image})
    values["azure-native:environment"] = "china"
    values["azure-native:location"] = "chinanorth3"
    run = run_program(values, "regions")
    hosts = [e.state["hostName"] for e in run.of_type(ENDPOINT)]
    assert hosts and all(h.endswith(".z01.front-door-suffix-unknown-in-china.invalid") for h in hosts)
    assert run.outputs["models"]["iris"]["scoring_uri"].startswith("https://mw-regions-iris-fd-endpoint-")


# -- stacks that set neither regions nor frontDoor -----------------------------------------------------------------
@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_dev_and_prod_plan_exactly_as_before_regions_existed(stack):
    """tests/baselines/<stack>-before-regions.json: the plans made at the commit before this feature (main at
    d8a75ef). Nothing of a deployed one-region stack changes: no resource, no input, no output."""
    name = f"{stack}-before-regions.json"
    old = json.loads((PROJECT_DIR / "tests" / "baselines" / name).read_text())
    new = plan.plan_document(run_program(stack_values(stack), stack), [])
    comparison = compare(old, new, name)
    assert [c.urn for c in comparison.changes] == [] and comparison.outputs == [] and not comparison.moves
    assert comparison.same == len(old["resources"])
