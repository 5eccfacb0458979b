"""The policy pack and the dynamic providers as the engine really runs them: own processes, gRPC, doubles, secrets."""
from __future__ import annotations

import copy
import json

import pytest
from pulumi.runtime.proto import provider_pb2

from tests.engine_harness import DynamicProviderPlugin, PolicyPackPlugin
from tests.helpers import WEB_APP, stack_values
from offline.fake_azure import FAKE_ADMIN_PASSWORD
from offline.mock_engine import ProgramRun, run_program
from offline.project import PACKAGE_TYPE, PROJECT_DIR
from offline.stack_config import load_stack_config

POLICY_CONFIG = {stack: json.loads((PROJECT_DIR / "policies" / "config" / f"{stack}.json").read_text())
                 for stack in ("dev", "prod")}


@pytest.fixture(scope="module")
def pack():
    plugin = PolicyPackPlugin("dev", load_stack_config("dev").values)
    yield plugin
    plugin.stop()


@pytest.fixture(scope="module")
def runs() -> dict[str, ProgramRun]:
    return {"dev": run_program(stack_values("dev"), "dev"), "prod": run_program(stack_values("prod"), "prod"),
            "dev-admin": run_program(stack_values("dev", registryAccess="adminCredentials"), "dev")}


def mandatory(found: list[dict]) -> list[dict]:
    return [v for v in found if v["level"] == "mandatory"]


def with_site(run: ProgramRun, site) -> list:
    """The whole stack with its site replaced: stack rules need the rest."""
    return [site if r.urn == site.urn else r for r in run.registrations]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_each_policy_config_file_is_valid_against_the_packs_schemas(pack, stack):
    assert pack.configure(POLICY_CONFIG[stack]) == []


def test_a_policy_config_the_schemas_refuse_is_reported(pack):
    errors = pack.configure({"plan-minimum-sku": {"minimumTier": "Gold"}, "web-app-port-matches-server":
                             {"serverPort": "5001"}})
    assert any(e.startswith("plan-minimum-sku: minimumTier") for e in errors)
    assert any(e.startswith("web-app-port-matches-server: serverPort") for e in errors)


@pytest.mark.parametrize("run_name, config", [("dev", "dev"), ("prod", "prod"), ("dev-admin", "dev")])
def test_clean_stacks_give_no_mandatory_diagnostic_over_grpc(pack, runs, run_name, config):
    assert pack.configure(POLICY_CONFIG[config]) == []
    found = pack.analyze(runs[run_name].registrations)
    assert mandatory(found) == []
    assert FAKE_ADMIN_PASSWORD not in json.dumps(found)


def test_the_registry_password_reaches_the_pack_unwrapped(pack, runs):
    # What made "must be a secret" a false violation: the engine sends a secret, pulumi-policy unwraps it.
    site = runs["dev-admin"].one(WEB_APP)
    (password,) = [s["value"] for s in site.engine_inputs["siteConfig"]["appSettings"]
                   if s["name"] == "DOCKER_REGISTRY_SERVER_PASSWORD"]
    assert password == {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
                        "value": FAKE_ADMIN_PASSWORD}
    beside_identity = copy.deepcopy(site)
    beside_identity.engine_inputs["siteConfig"]["acrUseManagedIdentityCreds"] = True
    assert pack.configure(POLICY_CONFIG["dev"]) == []
    found = mandatory(pack.analyze(with_site(runs["dev-admin"], beside_identity)))
    assert "web-app-registry-password" in {v["rule"] for v in found}


@pytest.mark.parametrize("path, weak, rule", [
    ("httpsOnly", False, "web-app-https-only"),
    ("siteConfig.minTlsVersion", "1.0", "web-app-min-tls"),
    ("siteConfig.ftpsState", "AllAllowed", "web-app-ftps-disabled"),
    ("siteConfig.remoteDebuggingEnabled", True, "web-app-no-remote-debugging"),
])
def test_a_weakened_site_gives_one_diagnostic_from_the_matching_rule(pack, runs, path, weak, rule):
    site = copy.deepcopy(runs["dev"].one(WEB_APP))
    *parents, last = path.split(".")
    target = site.engine_inputs
    for step in parents:
        target = target[step]
    target[last] = weak
    assert pack.configure(POLICY_CONFIG["dev"]) == []
    found = mandatory(pack.analyze(with_site(runs["dev"], site)))
    assert [(v["rule"], v["resource"]) for v in found] == [(rule, site.urn)]


# -- the package provider, as the engine runs it ----------------------------------------------------
@pytest.fixture(scope="module")
def provider():
    plugin = DynamicProviderPlugin("dev")
    yield plugin
    plugin.stop()


@pytest.fixture(scope="module")
def package(runs):
    return runs["dev"].one(PACKAGE_TYPE)


def test_check_accepts_the_planned_inputs(provider, package):
    inputs, failures = provider.check(package.urn, package.engine_inputs)
    assert failures == []
    assert inputs["content_hash"] == package.engine_inputs["content_hash"]
    assert inputs["timeout_minutes"] == 60.0  # a double on the wire, as the engine sends numbers


def test_check_names_source_dir_when_the_folder_is_missing(provider, package):
    _inputs, failures = provider.check(package.urn, {**package.engine_inputs, "source_dir": "model/no-such-folder"})
    assert [prop for prop, _reason in failures] == ["source_dir"]
    assert "model/no-such-folder" in failures[0][1]


def _olds(package) -> dict:
    return {**json.loads(json.dumps(package.state)), **package.engine_inputs}


def test_diff_replaces_for_new_content(provider, package):
    news = {**package.engine_inputs, "content_hash": "0" * 64}
    response = provider.diff(package.urn, _olds(package), news)
    assert response.changes == provider_pb2.DiffResponse.DIFF_SOME
    assert list(response.replaces) == ["content_hash"]


def test_diff_updates_in_place_for_a_new_timeout(provider, package):
    response = provider.diff(package.urn, _olds(package), {**package.engine_inputs, "timeout_minutes": 90.0})
    assert response.changes == provider_pb2.DiffResponse.DIFF_SOME
    assert list(response.replaces) == []


def test_diff_sees_no_change_for_equal_inputs(provider, package):
    response = provider.diff(package.urn, _olds(package), dict(package.engine_inputs))
    assert response.changes == provider_pb2.DiffResponse.DIFF_NONE
    assert list(response.replaces) == []
