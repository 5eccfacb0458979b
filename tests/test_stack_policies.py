"""The policy pack over this repository's own stacks, through the offline plan's exit code and JSON."""
from __future__ import annotations

import json

import pytest
import yaml

from offline import plan
from offline.fake_azure import FAKE_ADMIN_PASSWORD
from offline.project import PROJECT_DIR

PROD_POLICY_CONFIG = str(PROJECT_DIR / "policies" / "config" / "prod.json")


def plan_json(capsys, *argv: str) -> tuple[int, dict]:
    code = plan.main([*argv, "--format", "json"])
    out, err = capsys.readouterr()
    assert code in (0, 1), err
    return code, json.loads(out)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_repository_stacks_pass_every_mandatory_rule(capsys, stack):
    code, doc = plan_json(capsys, "--stack", stack)
    assert code == 0
    assert [v for v in doc["violations"] if v["level"] == "mandatory"] == []


def weakened_prod(tmp_path, **changes) -> str:
    stack = yaml.safe_load((PROJECT_DIR / "Pulumi.prod.yaml").read_text())
    for key, value in changes.items():
        stack["config"][f"model-webapp:{key}"] = value
    path = tmp_path / "Pulumi.prod-weakened.yaml"
    path.write_text(yaml.safe_dump(stack))
    return str(path)


@pytest.mark.parametrize("changes, rule", [
    (dict(registryAccess="adminCredentials"), "web-app-pull-by-identity"),
    (dict(auth={"enabled": False}), "require-entra-auth"),
    (dict(sku="S1"), "plan-minimum-sku"),
    # Auth on, but any application in the tenant may call: the site's and the slot's auth settings are reported.
    (dict(auth={"enabled": True, "tenantId": "11111111-1111-1111-1111-111111111111",
                "clientId": "22222222-2222-2222-2222-222222222222"}), "entra-auth-allowed-callers"),
])
def test_each_weakness_prod_config_can_express_fires_its_rule(capsys, tmp_path, changes, rule):
    path = weakened_prod(tmp_path, **changes)
    code, doc = plan_json(capsys, "--config-file", path, "--policy-config", PROD_POLICY_CONFIG)
    assert code == 1
    fired = {v["rule"] for v in doc["violations"] if v["level"] == "mandatory"}
    assert fired == {rule}
    assert FAKE_ADMIN_PASSWORD not in json.dumps(doc)


def test_the_unweakened_copy_passes(capsys, tmp_path):
    code, doc = plan_json(capsys, "--config-file", weakened_prod(tmp_path), "--policy-config", PROD_POLICY_CONFIG)
    assert code == 0 and not [v for v in doc["violations"] if v["level"] == "mandatory"]


def test_dev_policy_config_allows_what_prod_forbids(capsys, tmp_path):
    # The same weakened stack, judged by dev's policy config: pull by password is only advisory there.
    path = weakened_prod(tmp_path, registryAccess="adminCredentials")
    code, doc = plan_json(capsys, "--config-file", path, "--policy-config", str(PROJECT_DIR / "policies/config/dev.json"))
    assert code == 0
    assert {v["rule"] for v in doc["violations"]} == {"web-app-pull-by-identity"}


def test_bad_policy_config_exits_2(capsys, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"no-such-rule": "mandatory"}')
    assert plan.main(["--stack", "dev", "--policy-config", str(bad)]) == 2
    assert "no-such-rule" in capsys.readouterr().err


def test_prod_admits_only_its_listed_client_applications_on_the_site_and_the_slot(capsys):
    code, doc = plan_json(capsys, "--stack", "prod")
    listed = yaml.safe_load((PROJECT_DIR / "Pulumi.prod.yaml").read_text())["config"]["model-webapp:auth"][
        "allowedClientApplications"]
    auths = [r for r in doc["resources"] if r["type"] in ("azure-native:web:WebAppAuthSettingsV2",
                                                          "azure-native:web:WebAppAuthSettingsV2Slot")]
    assert code == 0 and len(auths) == 2
    for auth in auths:
        policy = auth["inputs"]["identityProviders"]["azureActiveDirectory"]["validation"]["defaultAuthorizationPolicy"]
        assert policy == {"allowedApplications": listed}  # no allowedPrincipals: prod lists none


def test_allowed_principals_reach_the_wire_as_identities(capsys, tmp_path):
    callers = ["44444444-4444-4444-4444-444444444444"]
    stack = yaml.safe_load((PROJECT_DIR / "Pulumi.prod.yaml").read_text())
    stack["config"]["model-webapp:auth"]["allowedPrincipals"] = callers
    path = tmp_path / "Pulumi.prod.yaml"
    path.write_text(yaml.safe_dump(stack))
    code, doc = plan_json(capsys, "--config-file", str(path))
    auth = next(r for r in doc["resources"] if r["type"] == "azure-native:web:WebAppAuthSettingsV2")
    policy = auth["inputs"]["identityProviders"]["azureActiveDirectory"]["validation"]["defaultAuthorizationPolicy"]
    assert code == 0 and policy["allowedPrincipals"] == {"identities": callers}


def test_two_services_with_one_custom_domain_violate_a_mandatory_rule_through_the_analyzer(tmp_path):
    """Two sites of one stack, each binding the same host name: the stack rule sees them as the engine sends them."""
    from offline.mock_engine import run_program
    from offline.policy_check import evaluate

    program = tmp_path / "two_services.py"
    program.write_text(
        "from pulumi_azure_native import web\n"
        "for service, host in (('a', 'score.contoso.com'), ('b', 'Score.Contoso.com'), ('c', 'api.contoso.com')):\n"
        "    site = web.WebApp(f'mw-dev-{service}-app', name=f'mw-dev-{service}-app', resource_group_name='rg',\n"
        "                      server_farm_id='plan')\n"
        "    web.WebAppHostNameBinding(f'mw-dev-{service}-domain', name=site.name, resource_group_name='rg',\n"
        "                              host_name=host, ssl_state='Disabled')\n")
    run = run_program({}, "dev", program=program)
    (found,) = [v for v in evaluate(run) if v["rule"] == "custom-domain-one-site"]
    assert found["level"] == "mandatory"
    # Whichever of the two registers second is reported (registration order is the SDK's), naming both sites.
    assert found["resource"].rsplit("::", 1)[-1] in ("mw-dev-a-domain", "mw-dev-b-domain")
    assert found["message"].startswith("host name score.contoso.com is bound to two sites, ")
    assert "mw-dev-a-app in rg" in found["message"] and "mw-dev-b-app in rg" in found["message"]


# -- offline, each resource goes only to the rules that look at its type ---------------------------------------------
def _every_rule_on_every_resource(run, config):
    """The pack as the engine drives it: one servicer of every rule, every resource sent to it."""
    from pulumi_policy import EnforcementLevel
    from pulumi_policy.policy import _PolicyAnalyzerServicer

    from offline.policy_check import _unmarked_secret_settings
    from offline.policy_protocol import analyze_request, analyze_stack_request, configure_request, violations
    from policies.pack import PACK_NAME, POLICIES

    servicer = _PolicyAnalyzerServicer(PACK_NAME, "0.0.1", POLICIES, EnforcementLevel.ADVISORY)
    servicer.Configure(configure_request(config), None)
    found = []
    for r in run.registrations:
        found += violations(servicer.Analyze(analyze_request(r), None), r.urn) + _unmarked_secret_settings(r)
    found += violations(servicer.AnalyzeStack(analyze_stack_request(run.registrations), None))
    return [v if v["resource"] != "stack" else {**v, "resource": f"stack {run.stack}"} for v in found]


STACK_RULES = {"acr-pull-least-privilege", "pull-assignment-before-site", "require-entra-auth", "web-app-always-on",
               "autoscale-standard-tier", "slot-standard-tier", "custom-domain-sni-tls", "custom-domain-one-site",
               "site-logs-to-workspace", "site-private-endpoint"}


def test_every_resource_rule_names_the_types_it_looks_at():
    from policies.resource_rules import RESOURCE_POLICIES, RULE_TYPES

    assert {p.name for p in RESOURCE_POLICIES} == set(RULE_TYPES) and all(RULE_TYPES.values())


@pytest.mark.parametrize("stack, changes, stack_rule_fires", [
    ("dev", {}, False), ("prod", {}, False),
    # Stacks that break resource and stack rules of several kinds: the same violations either way.
    ("dev", {"sshEnabled": "true", "registryAccess": "adminCredentials", "tags": {"owner": "x"}}, False),
    ("dev", {"monitoring": {"enabled": False}, "customDomain": {"hostName": "score.contoso.com"}}, True),
    ("prod", {"auth": None, "monitoring": {"enabled": False}}, True),
])
def test_rules_scoped_by_type_judge_exactly_as_every_rule_on_every_resource(stack, changes, stack_rule_fires):
    from offline.mock_engine import run_program
    from offline.policy_check import evaluate, load_policy_config
    from tests.helpers import stack_values

    values = stack_values(stack, **changes)
    run = run_program(values, stack)
    for config in (load_policy_config(stack), load_policy_config("a-stack-with-no-policy-config")):
        scoped = evaluate(run, config)
        assert sorted(map(json.dumps, scoped)) == sorted(map(json.dumps, _every_rule_on_every_resource(run, config)))
        if changes:
            assert scoped  # the comparison is not of two empty lists
            assert any(v["rule"] in STACK_RULES for v in scoped) or not stack_rule_fires


# -- private networking --------------------------------------------------------------------------------------------
PRIVATE_RULES = ("site-private-endpoint", "site-public-network-disabled")
LANDING_ZONE = {"all": "mandatory", **{rule: {"enforcementLevel": "mandatory", "requirePrivate": True}
                                        for rule in PRIVATE_RULES}}


def landing_zone_config(tmp_path):
    from offline.policy_check import load_policy_config

    path = tmp_path / "landing-zone.json"
    path.write_text(json.dumps(LANDING_ZONE))
    return load_policy_config("private", path)


def half_private():
    """The private plan with the slot's endpoint gone and its public access back on: both rules have a site to name."""
    from tests.private_plan import private_run

    run = private_run()
    slot = run.one("azure-native:web:WebAppSlot")
    run.registrations = [r for r in run.registrations if not (r.type == "azure-native:network:PrivateEndpoint"
                                                              and slot.urn in r.dependencies)]
    for props in (slot.inputs, slot.engine_inputs, slot.state):
        props["publicNetworkAccess"] = "Enabled"
    return run, slot


def test_private_rules_scoped_by_type_judge_exactly_as_every_rule_on_every_resource(tmp_path):
    from offline.policy_check import evaluate, load_policy_config
    from tests.private_plan import private_run

    broken, _slot = half_private()
    for run in (private_run(), broken):
        for config in (load_policy_config("prod"), load_policy_config("a-stack-with-no-policy-config"),
                       landing_zone_config(tmp_path)):
            scoped = evaluate(run, config)
            assert sorted(map(json.dumps, scoped)) == \
                sorted(map(json.dumps, _every_rule_on_every_resource(run, config)))
    assert {v["rule"] for v in evaluate(broken, landing_zone_config(tmp_path))} >= set(PRIVATE_RULES)


def test_the_private_plan_passes_a_landing_zones_policy_config(tmp_path):
    from offline.policy_check import evaluate
    from tests.private_plan import private_run

    assert [v for v in evaluate(private_run(), landing_zone_config(tmp_path)) if v["rule"] in PRIVATE_RULES] == []


def test_a_half_private_app_is_noted_by_default_and_refused_where_the_config_says_so(tmp_path):
    from offline.policy_check import evaluate, load_policy_config

    run, slot = half_private()
    for config, level in ((load_policy_config("prod"), "advisory"), (landing_zone_config(tmp_path), "mandatory")):
        found = {(v["rule"], v["resource"], v["level"]) for v in evaluate(run, config) if v["rule"] in PRIVATE_RULES}
        assert found == {(rule, slot.urn, level) for rule in PRIVATE_RULES}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_public_stacks_are_not_noted_by_their_own_config_and_refused_by_a_landing_zones(tmp_path, stack):
    from offline.mock_engine import run_program
    from offline.policy_check import evaluate, load_policy_config
    from tests.helpers import stack_values

    run = run_program(stack_values(stack), stack)
    assert [v for v in evaluate(run, load_policy_config(stack)) if v["rule"] in PRIVATE_RULES] == []
    assert [v for v in evaluate(run, load_policy_config("no-file")) if v["rule"] in PRIVATE_RULES] == []
    refused = {(v["rule"], v["resource"]) for v in evaluate(run, landing_zone_config(tmp_path))
               if v["rule"] in PRIVATE_RULES and v["level"] == "mandatory"}
    sites = [r.urn for r in run.registrations if r.type in ("azure-native:web:WebApp", "azure-native:web:WebAppSlot")]
    assert refused == {(rule, urn) for rule in PRIVATE_RULES for urn in sites}
