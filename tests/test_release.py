"""Safe releases: the staging slot hardened like production, the health-gated swap, and the way back."""
from __future__ import annotations

import copy
import json

import pytest
from pulumi.runtime.proto import provider_pb2

from offline.mock_engine import run_program
from offline.policy_check import evaluate, load_policy_config
from offline.project import PROJECT_DIR
from providers import retries, rollback
from providers.slot_swap import SlotSwapProvider, SwapGateError
from tests.engine_harness import DynamicProviderPlugin
from tests.fake_app_service import NEW, OLD, FakeSiteService
from tests.helpers import AUTH, FTP, SCM, WEB_APP, app_settings, stack_values
from tests.test_settings import problems_of

SLOT = "azure-native:web:WebAppSlot"
AUTH_SLOT = "azure-native:web:WebAppAuthSettingsV2Slot"
FTP_SLOT, SCM_SLOT = "azure-native:web:WebAppFtpAllowedSlot", "azure-native:web:WebAppScmAllowedSlot"
STICKY = "azure-native:web:WebAppSlotConfigurationNames"
SWAP = "pulumi-python:dynamic/model-webapp:SlotSwap"
TWO_ROWS = json.loads((PROJECT_DIR / "model" / "sample-request.json").read_text())["data"]


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    monkeypatch.setattr(retries, "RETRY_BASE_SECONDS", 0.0)


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


# -- the SlotSwap provider, against an in-memory App Service ------------------------------------------------
def props(**changes) -> dict:
    base = {"subscription_id": "s", "resource_group": "rg", "site_name": "app", "slot_name": "staging",
            "expected_image": NEW, "health_path": "/", "health_timeout_minutes": 20, "smoke_rows": TWO_ROWS,
            "auth_audience": None, "provider_version": "1"}
    return {**base, **changes}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def provider_for(service: FakeSiteService, clock: Clock | None = None) -> SlotSwapProvider:
    clock = clock or Clock()
    return SlotSwapProvider(service_factory=service.factory, clock=clock, sleep=clock.sleep)


def test_a_healthy_slot_is_swapped_once():
    service = FakeSiteService()
    result = provider_for(service).create(props(auth_audience="api://x"))
    assert service.swaps == 1 and service.production == NEW and service.slot_image == OLD
    assert result.outs["live_image"] == NEW and result.outs["previous_image"] == OLD
    (url, body, token), = service.posts
    assert url == "https://app-staging.azurewebsites.net/score" and json.loads(body) == {"data": TWO_ROWS}
    assert token == "token-for-api://x" and service.tokens == ["api://x"]


@pytest.mark.parametrize("fake, fragment", [
    (dict(health=503), "was not healthy within 20 minutes (its health path answered 503"),
    (dict(smoke_status=400), "failed the smoke request: 400"),
    (dict(smoke_predictions=1), "wanted 200 with 2 predictions"),
    (dict(slot_image=OLD.replace("1", "3"), stuck=True), "the slot runs"),
])
def test_a_failed_gate_swaps_nothing_and_names_the_slot(fake, fragment):
    service = FakeSiteService(**fake)
    clock = Clock()
    with pytest.raises(SwapGateError) as raised:
        provider_for(service, clock).create(props())
    message = str(raised.value)
    assert fragment in message and "slot staging" in message and "production is untouched" in message
    assert "az webapp log tail --name app --resource-group rg --slot staging" in message
    assert service.swaps == 0 and service.production == OLD


def test_the_new_image_is_written_into_the_slot_then_gated_and_swapped():
    service = FakeSiteService(production=OLD, slot_image=OLD)  # the slot holds the previous release's image
    provider_for(service).create(props())
    assert f"set staging {NEW}" in service.calls and service.swaps == 1
    assert (service.production, service.slot_image) == (NEW, OLD)  # the previous image stays one swap away
    assert service.calls.index(f"set staging {NEW}") < service.calls.index("swap staging")


def test_a_slot_that_never_runs_the_new_image_is_waited_for_until_the_deadline():
    service, clock = FakeSiteService(slot_image=OLD, stuck=True), Clock()
    with pytest.raises(SwapGateError, match="within 20 minutes"):
        provider_for(service, clock).create(props())
    assert clock.now >= 20 * 60 and service.calls.count("image staging") > 10 and service.swaps == 0


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
    assert service.swaps == 1 and service.production == NEW


def test_transient_errors_are_retried():
    service = FakeSiteService(transient_failures=3)
    provider_for(service).create(props())
    assert service.swaps == 1


def test_the_rollback_command_swaps_back(capsys):
    service = FakeSiteService(production=NEW, slot_image=OLD)
    code = rollback.main(["--resource-group", "rg", "--app", "app", "--slot", "staging", "--subscription", "s"],
                         factory=service.factory)
    assert code == 0 and service.swaps == 1 and service.production == OLD
    assert "next `pulumi up` swaps nothing" in capsys.readouterr().out


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
