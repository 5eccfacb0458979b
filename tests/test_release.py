"""Safe releases: the staging slot hardened like production, the health-gated swap, and the way back."""
from __future__ import annotations

import copy
import json

import pytest
from pulumi.runtime.proto import provider_pb2

from offline.mock_engine import run_program
from offline.policy_check import evaluate, load_policy_config
from offline.project import PROJECT_DIR
from providers import rollback
from providers.app_service import RUNNER_RULE_PRIORITY, runner_address_from, runner_allowed
from providers.site_rollout import RolloutError, SiteRolloutProvider
from providers.slot_swap import SlotSwapProvider, SwapGateError
from tests.engine_harness import DynamicProviderPlugin
from tests.fake_app_service import BROKEN, NEW, OLD, PRIVATE_ENDPOINT_IP, PRIVATE_SITE_PAGE, PUBLIC_FRONT_END, \
    PULL_SECONDS, RUNNER_IP, FakeSiteService
from tests.helpers import AUTH, FTP, SCM, WEB_APP, app_settings, stack_values
from tests.helpers import problems_of

SLOT = "azure-native:web:WebAppSlot"
AUTH_SLOT = "azure-native:web:WebAppAuthSettingsV2Slot"
FTP_SLOT, SCM_SLOT = "azure-native:web:WebAppFtpAllowedSlot", "azure-native:web:WebAppScmAllowedSlot"
STICKY = "azure-native:web:WebAppSlotConfigurationNames"
SWAP = "pulumi-python:dynamic/model-webapp:SlotSwap"
ROLLOUT = "pulumi-python:dynamic/model-webapp:SiteRollout"
RUNNER_RULE_WIRE = {"name": "release-gate", "ipAddress": f"{RUNNER_IP}/32", "action": "Allow",
                    "priority": RUNNER_RULE_PRIORITY,
                    "description": "model-webapp release: the deploying runner, for the duration of the gate"}
TWO_ROWS = json.loads((PROJECT_DIR / "model" / "sample-request.json").read_text())["data"]



# -- the plan --------------------------------------------------------------------------------------------
def test_the_slot_is_hardened_exactly_like_production(prod):
    site, slot = prod.one(WEB_APP), prod.one(SLOT)
    assert slot.inputs["slot"] == "staging" and slot.inputs["name"] == site.state["name"]
    assert {k: v for k, v in slot.inputs.items() if k not in ("name", "slot")} == site.inputs
    assert set(site.dependencies) - {slot.urn} <= set(slot.dependencies) | {site.urn}


def test_the_slot_has_its_own_basic_auth_auth_and_sticky_warm_up(prod):
    slot = prod.one(SLOT)
    for typ, production in ((FTP_SLOT, FTP), (SCM_SLOT, SCM)):
        guard = prod.one(typ)
        assert guard.inputs["allow"] is False and guard.inputs["slot"] == "staging"
        assert slot.urn in guard.dependencies and prod.one(production).inputs["allow"] is False
    auth, auth_slot = prod.one(AUTH), prod.one(AUTH_SLOT)
    assert {k: v for k, v in auth_slot.inputs.items() if k != "slot"} == auth.inputs
    assert auth.inputs["globalValidation"]["excludedPaths"] == ["/"]  # the health path, matched exactly
    settings = app_settings(slot)
    assert settings["WEBSITE_SWAP_WARMUP_PING_PATH"] == "/" and settings["WEBSITE_SWAP_WARMUP_PING_STATUSES"] == "200"
    assert prod.one(STICKY).inputs["appSettingNames"] == ["WEBSITE_SWAP_WARMUP_PING_PATH",
                                                          "WEBSITE_SWAP_WARMUP_PING_STATUSES"]


def test_the_swap_releases_the_slots_image_after_the_slot(prod):
    swap, slot = prod.one(SWAP), prod.one(SLOT)
    assert slot.urn in swap.dependencies and prod.one(AUTH_SLOT).urn in swap.dependencies
    i = swap.inputs
    assert i["expected_image"] == slot.inputs["siteConfig"]["linuxFxVersion"]
    assert (i["slot_name"], i["health_path"], i["health_timeout_minutes"]) == ("staging", "/", 20)
    assert i["smoke_rows"] == TWO_ROWS
    assert i["auth_audience"] == "api://22222222-2222-2222-2222-222222222222"
    assert i["subscription_id"] and i["resource_group"] and i["site_name"]


def test_production_and_the_slot_leave_their_image_to_the_swap(prod, dev):
    assert prod.one(WEB_APP).options["ignoreChanges"] == ["siteConfig.linuxFxVersion"]
    assert prod.one(SLOT).options["ignoreChanges"] == ["siteConfig.linuxFxVersion"]
    assert prod.outputs["staging_slot"] == "staging"
    assert dev.one(WEB_APP).options["ignoreChanges"] == []
    assert not [r for r in dev.registrations if r.type in (SLOT, SWAP, AUTH_SLOT, FTP_SLOT, SCM_SLOT, STICKY)]
    assert "WEBSITE_SWAP_WARMUP_PING_PATH" not in app_settings(dev.one(WEB_APP))
    assert dev.outputs["staging_slot"] is None


def test_in_place_on_a_standard_plan_and_no_smoke_request():
    run = run_program(stack_values("prod", release={"strategy": "inPlace"}), "prod")
    assert not run.of_type(SLOT) and not run.of_type(SWAP)
    run = run_program(stack_values("prod", release={"smokeRequest": ""}), "prod")
    assert "smoke_rows" not in run.one(SWAP).inputs  # None: the gate sends no request


@pytest.mark.parametrize("release, key, fragment", [
    ({"strategy": "slot"}, "release.strategy", "sku B1 is Basic"),
    ({"strategy": "blueGreen"}, "release.strategy", "must be one of slot, inPlace"),
    ({"slotName": "Staging_1"}, "release.slotName", "slot name"),
    ({"healthTimeoutMinutes": 0}, "release.healthTimeoutMinutes", "from 1 to 120"),
])
def test_bad_release_settings(release, key, fragment):
    message = problems_of("dev", release=release)
    assert any(f"model-webapp:{key} " in line and fragment in line for line in message.splitlines()), message


def test_a_missing_or_malformed_smoke_request_is_a_settings_error(tmp_path):
    assert "release.smokeRequest = 'nope.json': no such file" in problems_of("prod", release={"smokeRequest": "nope.json"})
    assert 'release.smokeRequest = \'model/environment.yml\': must be a JSON file' in \
        problems_of("prod", release={"smokeRequest": "model/environment.yml"})


# -- the policy pack: the slot passes what production passes --------------------------------------------------
@pytest.mark.parametrize("path, weak, rule", [
    ("httpsOnly", False, "web-app-https-only"), ("siteConfig.minTlsVersion", "1.0", "web-app-min-tls"),
    ("siteConfig.ftpsState", "AllAllowed", "web-app-ftps-disabled"),
    ("siteConfig.remoteDebuggingEnabled", True, "web-app-no-remote-debugging"),
    ("siteConfig.healthCheckPath", "", "web-app-health-check"), ("identity", None, "web-app-managed-identity"),
    ("sshEnabled", True, "web-app-ssh-disabled"), ("siteConfig.alwaysOn", False, "web-app-always-on"),
])
def test_a_slot_weakened_one_property_at_a_time_is_caught(prod, path, weak, rule):
    run = copy.deepcopy(prod)
    slot = run.one(SLOT)
    *parents, last = path.split(".")
    target = slot.engine_inputs
    for step in parents:
        target = target[step]
    target[last] = weak
    fired = {(v["rule"], v["resource"]) for v in evaluate(run, load_policy_config("prod")) if v["level"] == "mandatory"}
    assert (rule, slot.urn) in fired and {r for r, _ in fired} == {rule}


def test_slots_below_standard_are_refused_by_the_pack(prod):
    run = copy.deepcopy(prod)
    plan = run.one("azure-native:web:AppServicePlan")
    plan.engine_inputs["sku"]["tier"] = "Basic"
    fired = {v["rule"] for v in evaluate(run) if v["level"] == "mandatory"}
    assert "slot-standard-tier" in fired


# -- the SlotSwap provider, against an in-memory App Service that behaves like the real one ------------------------
def props(**changes) -> dict:
    base = {"subscription_id": "s", "resource_group": "rg", "site_name": "app", "slot_name": "staging",
            "expected_image": NEW, "health_path": "/", "health_timeout_minutes": 20, "smoke_rows": TWO_ROWS,
            "auth_audience": None, "provider_version": "1"}
    return {**base, **changes}


def provider_for(service: FakeSiteService) -> SlotSwapProvider:
    return SlotSwapProvider(service_factory=service.factory, clock=service.clock, sleep=service.clock.sleep)


def test_a_good_image_is_tested_on_its_own_container_then_swapped():
    service = FakeSiteService(auth=True)
    result = provider_for(service).create(props(auth_audience="api://x"))
    assert service.swaps == 1 and (service.serving(None), service.serving("staging")) == (NEW, OLD)
    assert result.outs["live_image"] == NEW and result.outs["previous_image"] == OLD
    calls = service.calls
    order = ["stop staging", f"set staging {NEW}", "start staging", "swap staging"]
    assert [calls.index(c) for c in order] == sorted(calls.index(c) for c in order)
    assert service.clock.now >= PULL_SECONDS  # the gate waited for the new container, not the old one
    slot_posts = [(token, json.loads(body)) for url, body, token in service.posts
                  if url == "https://app-staging.azurewebsites.net/score"]
    assert slot_posts == [(service.token("api://x"), {"data": TWO_ROWS}), (None, {"data": TWO_ROWS})]
    prod_posts = [token for url, _body, token in service.posts if url == "https://app.azurewebsites.net/score"]
    assert prod_posts == [service.token("api://x"), None]  # after the swap: scored with a token, refused without


def test_a_broken_image_fails_the_up_and_production_keeps_the_old_one():
    service = FakeSiteService()
    with pytest.raises(SwapGateError) as raised:
        provider_for(service).create(props(expected_image=BROKEN))
    message = str(raised.value)
    assert "slot staging failed the gate" in message and "did not answer GET / with 200 within 20 minutes" in message
    assert "exited with code 1" in message  # the platform's own words, from the container log
    assert f"Production is untouched: it still runs {OLD}" in message
    assert service.swaps == 0 and service.host(None).configured == OLD and service.serving(None) == OLD


def test_a_gate_that_only_read_the_configuration_would_have_passed_on_the_old_container():
    """The gate before issue 18: write the image, see it configured, GET / answers 200: pass. Wrong container."""
    service = FakeSiteService()
    service.set_image("staging", BROKEN)
    configured = service.image("staging")
    answer = service.get("https://app-staging.azurewebsites.net/", None)
    assert configured == BROKEN and answer.status == 200  # what the old gate saw: it passed
    assert service.serving("staging") == OLD  # ... on the old container
    service.clock.sleep(60 * 60)
    assert service.get("https://app-staging.azurewebsites.net/", None).status == 200  # and it never stops passing
    with pytest.raises(SwapGateError, match="did not answer GET / with 200"):
        provider_for(service).create(props(expected_image=BROKEN))  # the new gate stops the old container first


def test_an_anonymous_score_answering_200_on_an_auth_stack_fails_the_gate():
    service = FakeSiteService(auth=True, score_open=True)
    with pytest.raises(SwapGateError) as raised:
        provider_for(service).create(props(auth_audience="api://x"))
    assert "answered an anonymous POST /score with 200, not 401" in str(raised.value)
    assert service.swaps == 0 and service.serving(None) == OLD


def test_a_refused_token_prints_its_claims_never_the_token():
    service = FakeSiteService(auth=True, rejects_tokens=True)
    with pytest.raises(SwapGateError) as raised:
        provider_for(service).create(props(auth_audience="api://x"))
    message = str(raised.value)
    assert "POST /score answered 401 to the token for api://x" in message
    assert "ver='1.0'" in message and "iss='https://sts.windows.net/" in message and "aud='api://x'" in message
    assert service.token("api://x") not in message and "do-not-print" not in message


def test_a_production_probe_failing_after_the_swap_swaps_back_at_once():
    service = FakeSiteService(broken_in_production={NEW})
    with pytest.raises(SwapGateError) as raised:
        provider_for(service).create(props())
    message = str(raised.value)
    assert "production failed after the swap" in message and "did not answer GET / with 200 within 3 minutes" in message
    assert f"Swapped back at once: production runs {OLD} again" in message
    assert service.swaps == 2 and service.host(None).configured == OLD and service.serving(None) == OLD


@pytest.mark.parametrize("fake, fragment", [
    (dict(smoke_status=400), "failed the smoke request: 400"),
    (dict(smoke_predictions=1), "wanted 200 with 2 predictions"),
])
def test_a_failed_smoke_request_swaps_nothing(fake, fragment):
    service = FakeSiteService(**fake)
    with pytest.raises(SwapGateError) as raised:
        provider_for(service).create(props())
    message = str(raised.value)
    assert fragment in message and "slot staging" in message and "Production is untouched" in message
    assert "az webapp log tail --name app --resource-group rg --slot staging" in message
    assert service.swaps == 0 and service.serving(None) == OLD


def test_linux_fx_version_is_compared_without_letter_case_and_a_mismatch_prints_both():
    service = FakeSiteService(production=NEW.upper())  # App Service handed the value back in other letters
    assert provider_for(service).create(props()).outs["previous_image"] == OLD
    assert service.swaps == 0 and not [c for c in service.calls if c.startswith(("stop", "set", "start"))]
    other = "DOCKER|mlwreg.azurecr.io/elsewhere@sha256:" + "3" * 64
    service = FakeSiteService(rewrites={NEW: other})  # the slot keeps another image, whatever is written
    with pytest.raises(SwapGateError) as raised:
        provider_for(service).create(props())
    assert f"slot staging's linuxFxVersion is {other!r}, not the expected {NEW!r}" in str(raised.value)
    assert service.swaps == 0


def test_a_slot_that_still_answers_200_once_stopped_is_not_trusted():
    service = FakeSiteService(ignores_stop=True)
    with pytest.raises(SwapGateError, match="still answered 200 on / 5 minutes after it was stopped"):
        provider_for(service).create(props())
    assert service.swaps == 0 and f"set staging {NEW}" not in service.calls


def test_an_unchanged_image_swaps_nothing():
    provider = SlotSwapProvider(service_factory=lambda _site: pytest.fail("diff must not call Azure"))
    olds = {**props(), "live_image": NEW, "previous_image": OLD}
    assert provider.diff("app/staging", olds, props()).changes is False
    assert provider.diff("app/staging", olds, props(health_timeout_minutes=30)).replaces == []
    assert provider.diff("app/staging", olds, props(expected_image=OLD)).replaces == ["expected_image"]


@pytest.mark.parametrize("error", [ConnectionError("dropped"), RuntimeError("the runner was cancelled")])
def test_an_interrupted_swap_is_never_repeated(error):
    service = FakeSiteService(fail_after_swap=error)
    provider = provider_for(service)
    try:
        provider.create(props())  # a dropped connection is looked into; anything else ends this `up`
    except RuntimeError:
        provider.create(props())  # the next `up` finds production on the new image
    assert service.swaps == 1 and service.serving(None) == NEW


def test_transient_errors_are_retried():
    service = FakeSiteService(transient_failures=3)
    provider_for(service).create(props())
    assert service.swaps == 1


# -- releases with `access` ---------------------------------------------------------------------------------------
ACCESS = {"allowedIpRanges": ["198.51.100.0/24"]}


def wire_rules(registration) -> list[dict]:
    return registration.inputs["siteConfig"]["ipSecurityRestrictions"]


def test_the_slot_admits_the_swap_warm_up_and_production_keeps_exactly_its_rules():
    run = run_program(stack_values("prod", access=ACCESS), "prod")
    site, slot = run.one(WEB_APP), run.one(SLOT)
    production = wire_rules(site)
    assert [(r["name"], r["ipAddress"]) for r in production] == [("allow-range-1", "198.51.100.0/24")]
    assert wire_rules(slot)[:len(production)] == production
    warmup = [(r["ipAddress"], r["action"]) for r in wire_rules(slot)[len(production):]]
    assert warmup == [("10.0.0.0/8", "Allow"), ("100.0.0.0/8", "Allow")]
    assert slot.inputs["siteConfig"]["ipSecurityRestrictionsDefaultAction"] == "Deny"
    others = {k: v for k, v in slot.inputs["siteConfig"].items() if k != "ipSecurityRestrictions"}
    assert others == {k: v for k, v in site.inputs["siteConfig"].items() if k != "ipSecurityRestrictions"}


def test_a_stack_with_access_and_a_slot_releases_and_leaves_no_rule_behind():
    run = run_program(stack_values("prod", access=ACCESS), "prod")
    production, slot = wire_rules(run.one(WEB_APP)), wire_rules(run.one(SLOT))
    service = FakeSiteService(restricted=production, slot_rules=slot, auth=True)
    provider_for(service).create(props(auth_audience="api://x"))
    assert service.swaps == 1 and service.serving(None) == NEW
    assert service.host(None).rules == production and service.host("staging").rules == slot  # as declared
    added = [(where, [r for r in rules if r["name"] == "release-gate"]) for where, rules in service.rule_writes]
    assert added == [("staging", [RUNNER_RULE_WIRE]), ("staging", []), ("production", [RUNNER_RULE_WIRE]),
                     ("production", [])]


def test_without_the_warm_up_ranges_the_swap_is_stopped_by_the_slots_rules():
    rules = wire_rules(run_program(stack_values("prod", access=ACCESS), "prod").one(WEB_APP))
    service = FakeSiteService(restricted=rules)  # the slot with production's rules only: the code before issue 18
    with pytest.raises(Exception, match="warm-up request from 10.0.4.12 got 403"):
        provider_for(service).create(props())
    assert service.swaps == 0 and service.serving(None) == OLD


def test_a_runner_seen_under_another_address_is_told_what_to_set():
    rules = [{"name": "allow-range-1", "ipAddress": "198.51.100.0/24", "action": "Allow", "priority": 100}]
    service = FakeSiteService(restricted=rules, reported_ip="192.0.2.50")  # a proxy: App Service sees runner_ip
    with pytest.raises(SwapGateError) as raised:
        provider_for(service).create(props())
    message = str(raised.value)
    assert "the runner is not allowed to call slot staging" in message
    assert "release-gate admits 192.0.2.50/32" in message and "set MODEL_WEBAPP_RUNNER_IP" in message
    assert service.swaps == 0 and all(r["name"] != "release-gate" for r in service.host("staging").rules)


@pytest.mark.parametrize("environ, echo, fragment", [
    ({"MODEL_WEBAPP_RUNNER_IP": "10.1.2.3"}, None, "not a public IPv4 address"),
    ({"MODEL_WEBAPP_RUNNER_IP": "runner"}, None, "'runner', not an IP address"),
    ({}, ConnectionError("offline"), "api.ipify.org could not be reached"),
])
def test_the_runner_address_fails_loudly_and_names_the_variable(environ, echo, fragment):
    def answer() -> str:
        raise echo

    with pytest.raises(RuntimeError) as raised:
        runner_address_from(environ, answer)
    assert fragment in str(raised.value) and "MODEL_WEBAPP_RUNNER_IP" in str(raised.value)
    assert runner_address_from({"MODEL_WEBAPP_RUNNER_IP": " 203.0.113.9 "}, answer) == "203.0.113.9"
    assert runner_address_from({}, lambda: "198.51.100.4\n") == "198.51.100.4"


def test_an_open_site_gets_no_runner_rule():
    service = FakeSiteService()
    with runner_allowed(service, "staging") as address:
        assert address is None
    assert service.rule_writes == []


# -- the in-place path: the `up` ends when the site serves the new image ---------------------------------------------
def rollout_props(**changes) -> dict:
    return {k: v for k, v in props(**changes).items() if k != "slot_name"}


def rollout_for(service: FakeSiteService) -> SiteRolloutProvider:
    return SiteRolloutProvider(service_factory=service.factory, clock=service.clock, sleep=service.clock.sleep)


def test_in_place_a_good_image_ends_when_its_container_answers():
    service = FakeSiteService()
    service.set_image(None, NEW)  # what Pulumi's update of the site did: the old container still answers
    assert service.serving(None) == OLD
    result = rollout_for(service).create(rollout_props())
    assert service.serving(None) == NEW and result.outs["live_image"] == NEW
    assert service.calls.index("stop production") < service.calls.index("start production")
    assert service.clock.now >= PULL_SECONDS


def test_in_place_a_broken_image_fails_with_the_container_log():
    service = FakeSiteService()
    service.set_image(None, BROKEN)
    with pytest.raises(RolloutError) as raised:
        rollout_for(service).create(rollout_props(expected_image=BROKEN))
    message = str(raised.value)
    assert f"app does not serve {BROKEN}" in message and "within 20 minutes" in message
    assert "Last lines of its container log" in message and "exited with code 1" in message


def test_in_place_with_auth_checks_the_anonymous_score():
    service = FakeSiteService(auth=True, score_open=True)
    service.set_image(None, NEW)
    with pytest.raises(RolloutError, match="anonymous POST /score with 200, not 401"):
        rollout_for(service).create(rollout_props(auth_audience="api://x"))


def test_the_rollout_is_replaced_only_by_a_new_image():
    provider = SiteRolloutProvider(service_factory=lambda _site: pytest.fail("diff must not call Azure"))
    olds = {**rollout_props(), "live_image": NEW}
    assert provider.diff("app", olds, rollout_props()).changes is False
    assert provider.diff("app", olds, rollout_props(smoke_rows=None)).replaces == []
    assert provider.diff("app", olds, rollout_props(expected_image=OLD)).replaces == ["expected_image"]


def test_in_place_stacks_wait_for_the_site_and_slot_stacks_do_not(dev, prod):
    rollout, site = dev.one(ROLLOUT), dev.one(WEB_APP)
    assert rollout.inputs["expected_image"] == site.inputs["siteConfig"]["linuxFxVersion"]
    assert site.urn in rollout.dependencies
    assert (rollout.inputs["health_path"], rollout.inputs["health_timeout_minutes"]) == ("/", 20)
    assert "auth_audience" not in rollout.inputs  # dev is anonymous: no 401 check
    assert not prod.of_type(ROLLOUT)
    run = run_program(stack_values("prod", release={"strategy": "inPlace"}), "prod")
    assert run.one(AUTH).urn in run.one(ROLLOUT).dependencies  # the anonymous check runs after auth is configured
    assert run.one(ROLLOUT).inputs["auth_audience"] == "api://22222222-2222-2222-2222-222222222222"


def test_the_rollback_command_swaps_back(capsys):
    service = FakeSiteService(production=NEW, slot_image=OLD)
    code = rollback.main(["--resource-group", "rg", "--app", "app", "--slot", "staging", "--subscription", "s"],
                         factory=service.factory)
    assert code == 0 and service.swaps == 1 and service.host(None).configured == OLD
    assert "next `pulumi up` swaps nothing" in capsys.readouterr().out


def test_the_rollback_of_one_service_of_a_stack_with_models(capsys, monkeypatch):
    models = {"iris": {"app_name": "iris-app", "staging_slot": "staging"},
              "wine": {"app_name": "wine-app", "staging_slot": "canary"}}
    monkeypatch.setattr(rollback, "_stack_outputs", lambda _stack: {"resource_group_name": "rg", "models": models})
    service = FakeSiteService(production=NEW, slot_image=OLD)
    assert rollback.main(["--stack", "fleet", "--subscription", "s"], factory=service.factory) == 2
    assert "pick one with --service (iris, wine)" in capsys.readouterr().err and service.swaps == 0
    assert rollback.main(["--stack", "fleet", "--service", "wine", "--subscription", "s"],
                         factory=service.factory) == 0
    assert service.swaps == 1 and "site s/rg/wine-app" in service.calls and "swap canary" in service.calls


def test_the_rollback_command_refuses_without_a_slot(capsys):
    assert rollback.main(["--resource-group", "rg", "--app", "app", "--subscription", "s"]) == 2
    assert "there is no slot to roll back to" in capsys.readouterr().err
    same = FakeSiteService(production=NEW, slot_image=NEW)
    assert rollback.main(["--resource-group", "rg", "--app", "app", "--slot", "staging", "--subscription", "s"],
                         factory=same.factory) == 1
    assert same.swaps == 0 and "nothing to roll back to" in capsys.readouterr().err


# -- as the engine runs it: pickled, in a fresh process, over gRPC -------------------------------------------
def test_the_swap_provider_pickles_without_clients_and_runs_in_a_fresh_process(prod):
    swap = prod.one(SWAP)
    plugin = DynamicProviderPlugin("prod")
    try:
        inputs, failures = plugin.check(swap.urn, swap.engine_inputs)
        assert failures == [] and inputs["health_timeout_minutes"] == 20.0
        olds = {**inputs, "live_image": inputs["expected_image"], "previous_image": None}
        assert plugin.diff(swap.urn, olds, inputs).changes == provider_pb2.DiffResponse.DIFF_NONE
        replaced = plugin.diff(swap.urn, olds, {**inputs, "expected_image": OLD})
        assert list(replaced.replaces) == ["expected_image"]
        _inputs, failures = plugin.check(swap.urn, {**swap.engine_inputs, "expected_image": "nginx:latest"})
        assert [p for p, _ in failures] == ["expected_image"]
    finally:
        plugin.stop()


# -- the offline diff says whether a release swaps ----------------------------------------------------------------
def test_the_offline_diff_says_when_a_swap_will_happen(capsys, tmp_path):
    from offline import plan

    assert plan.main(["--stack", "prod", "--format", "json"]) == 0
    old = json.loads(capsys.readouterr().out)
    same = tmp_path / "same.json"
    same.write_text(json.dumps(old))
    assert plan.main(["--stack", "prod", "--against", str(same)]) == 0
    assert "release: no swap" in capsys.readouterr().out.lower()
    swap = next(r for r in old["resources"] if r["type"] == SWAP)
    swap["inputs"]["expected_image"] = OLD  # the plan of the base branch released another image
    before = tmp_path / "before.json"
    before.write_text(json.dumps(old))
    assert plan.main(["--stack", "prod", "--against", str(before), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    (change,) = [c for c in doc["changes"] if c["type"] == SWAP]
    assert change["op"] == "replace" and change["meaning"]["swap"] is True
    assert "SWAP staging into production" in change["meaning"]["text"]


def test_the_pickled_swap_provider_holds_no_client_credential_or_test_double(prod):
    import base64

    blob = base64.b64decode(prod.one(SWAP).engine_inputs["__provider"])  # what the engine stores in state
    for forbidden in (b"WebSiteManagementClient", b"DefaultAzureCredential", b"service_factory", b"FakeSiteService",
                      b"_thread.lock"):
        assert forbidden not in blob
    assert b"providers.slot_swap" in blob  # pickled by module path: providers/slot_swap.py must not move


def test_the_rollout_provider_pickles_without_clients_and_runs_in_a_fresh_process(dev):
    import base64

    rollout = dev.one(ROLLOUT)
    blob = base64.b64decode(rollout.engine_inputs["__provider"])
    for forbidden in (b"WebSiteManagementClient", b"DefaultAzureCredential", b"service_factory", b"FakeSiteService",
                      b"_thread.lock"):
        assert forbidden not in blob
    assert b"providers.site_rollout" in blob  # pickled by module path: providers/site_rollout.py must not move
    plugin = DynamicProviderPlugin("dev")
    try:
        inputs, failures = plugin.check(rollout.urn, rollout.engine_inputs)
        assert failures == []
        olds = {**inputs, "live_image": inputs["expected_image"]}
        assert plugin.diff(rollout.urn, olds, inputs).changes == provider_pb2.DiffResponse.DIFF_NONE
        assert list(plugin.diff(rollout.urn, olds, {**inputs, "expected_image": OLD}).replaces) == ["expected_image"]
    finally:
        plugin.stop()


def test_the_offline_diff_says_when_the_site_restarts(capsys, tmp_path):
    from offline import plan

    assert plan.main(["--stack", "dev", "--format", "json"]) == 0
    old = json.loads(capsys.readouterr().out)
    rollout = next(r for r in old["resources"] if r["type"] == ROLLOUT)
    rollout["inputs"]["expected_image"] = OLD
    before = tmp_path / "before.json"
    before.write_text(json.dumps(old))
    assert plan.main(["--stack", "dev", "--against", str(before), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    (change,) = [c for c in doc["changes"] if c["type"] == ROLLOUT]
    assert change["op"] == "replace" and change["meaning"]["restart"] is True
    assert "RESTART the site" in change["meaning"]["text"]
    assert [c["type"] for c in doc["changes"] if c["op"] != "same"] == [ROLLOUT]  # nothing else moves


# -- behind a private endpoint: unreachable from here is not unhealthy ----------------------------------------------
def private_service(**changes) -> FakeSiteService:
    return FakeSiteService(public_access="Disabled", **changes)


def test_a_runner_outside_the_network_fails_fast_saying_so_before_the_slot_is_stopped():
    service = private_service()
    with pytest.raises(SwapGateError) as raised:
        provider_for(service).create(props())
    message = str(raised.value)
    assert "slot staging is unreachable from this runner (not unhealthy)" in message
    assert f"app-staging.azurewebsites.net resolves to {PUBLIC_FRONT_END}, a public address" in message
    assert "self-hosted runner in the VNet" in message and "privatelink.azurewebsites.net" in message
    assert "repository variable DEPLOY_RUNS_ON" in message and "did not answer GET /" not in message
    assert not [c for c in service.calls if c.startswith(("stop", "set", "start"))]  # nothing was touched
    assert service.clock.now == 0 and service.swaps == 0 and service.serving("staging") == OLD


def test_a_runner_inside_the_network_releases_through_the_private_endpoints():
    service = private_service(runner_inside=True)
    result = provider_for(service).create(props())
    assert service.swaps == 1 and result.outs["live_image"] == NEW and service.serving(None) == NEW
    assert {"public access staging", "public access production"} <= set(service.calls)


def test_the_public_front_ends_403_to_a_private_site_is_reported_as_unreachable_at_once(monkeypatch):
    """A resolver that gives a private address (a hosts-file entry, a proxy) while calls still reach the public side."""
    service = private_service()
    monkeypatch.setattr(service, "addresses", lambda host: [PRIVATE_ENDPOINT_IP])
    with pytest.raises(SwapGateError) as raised:
        provider_for(service).create(props())
    message = str(raised.value)
    assert f"GET / answered 403 ({PRIVATE_SITE_PAGE[:200]!r}): slot staging has public network access disabled" \
        in message and "unreachable from here (not unhealthy)" in message and "self-hosted runner" in message
    assert service.clock.now < 60  # not after the health timeout, nor the access rule's grace
    assert service.swaps == 0 and service.host(None).configured == OLD


def test_inside_with_private_dns_but_no_route_names_the_route_after_the_timeout():
    service = private_service(runner_inside=True, endpoint_routed=False)
    with pytest.raises(SwapGateError) as raised:
        provider_for(service).create(props())
    assert "no answer came: check the route from this runner to the endpoint's subnet" in str(raised.value)


def test_the_in_place_rollout_of_a_private_site_refuses_an_outside_runner_before_stopping_it():
    service = private_service()
    with pytest.raises(RolloutError, match=r"production is unreachable from this runner \(not unhealthy\)"):
        rollout_for(service).create(rollout_props())
    assert "stop production" not in service.calls and service.serving(None) == OLD


def test_a_public_site_is_not_resolved_at_all(monkeypatch):
    service = FakeSiteService()
    monkeypatch.setattr(service, "addresses", lambda host: pytest.fail("a public site needs no DNS check"))
    provider_for(service).create(props())
    assert service.swaps == 1
