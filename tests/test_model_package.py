"""ModelPackage's provider against an in-memory packaging service, plus the real azure-ai-ml request."""
from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from providers import model_package, retries
from providers.content_hash import content_hash
from providers.model_package import UNKNOWN, ModelPackageProvider, environment_name, package_key
from providers.packaging import PackageBuildError, PackageRequest, package_request_object
from tests.fake_packaging import LOGIN_SERVER, FakePackaging
from tests.helpers import stack_values
from offline.mock_engine import run_program
from offline.project import PACKAGE_TYPE, PROJECT_DIR

PINNED = re.compile(r"^[a-z0-9]+\.azurecr\.io/[a-z0-9_./-]+@sha256:[0-9a-f]{64}$")


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    monkeypatch.setattr(retries, "RETRY_BASE_SECONDS", 0.0)


@pytest.fixture
def code(tmp_path) -> Path:
    shutil.copytree(PROJECT_DIR / "model" / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(PROJECT_DIR / "model" / "environment.yml", tmp_path / "environment.yml")
    return tmp_path


def props_for(code: Path, **overrides) -> dict:
    props = {
        "subscription_id": "00000000-0000-0000-0000-000000000000", "resource_group": "rg-aml",
        "workspace_name": "mlw-models", "model_name": "diabetes-ridge", "model_version": "1",
        "source_dir": str(code / "src"), "entry_script": "score.py",
        "environment_spec": str(code / "environment.yml"), "environment_asset": None,
        "environment_variables": {}, "model_mount_mode": "download",
        "content_hash": content_hash(code / "src", code / "environment.yml"),
        "timeout_minutes": 60, "provider_version": model_package.PROVIDER_VERSION,
    }
    props.update(overrides)
    return props


def provider_with(service: FakePackaging) -> ModelPackageProvider:
    return ModelPackageProvider(service_factory=service.factory)


def refusing_factory(_workspace):
    raise AssertionError("diff and check must not call the service")


# -- create ---------------------------------------------------------------------------------------
def test_create_builds_once_and_pins_the_image(code):
    service = FakePackaging()
    result = provider_with(service).create(props_for(code))
    assert service.builds == 1
    outs = result.outs
    assert PINNED.match(outs["image"]) and outs["login_server"] == LOGIN_SERVER
    assert re.fullmatch(r"\w+", outs["environment_name"]) and outs["environment_version"] == "1"
    assert result.id == outs["environment_id"]
    (request,) = service.requests
    assert request.target_name == outs["environment_name"]
    assert request.base_environment.startswith("azureml:scoring_env_") and request.entry_script == "score.py"
    assert service.workspaces[0].name == "mlw-models"


def test_second_create_with_the_same_inputs_reuses_the_environment(code):
    service = FakePackaging()
    first = provider_with(service).create(props_for(code))
    second = ModelPackageProvider(service_factory=service.factory).create(props_for(code))
    assert service.builds == 1
    assert second.outs["image"] == first.outs["image"]


def test_environment_name_is_content_addressed(code):
    a, b = props_for(code), props_for(code, model_version="2")
    assert environment_name("diabetes-ridge", package_key(a)) == environment_name("diabetes-ridge", package_key(a))
    assert environment_name("diabetes-ridge", package_key(a)) != environment_name("diabetes-ridge", package_key(b))
    assert re.fullmatch(r"\w+", environment_name("my model.v-2", package_key(a)))


def test_tagged_image_gets_its_digest_from_the_registry(code):
    service = FakePackaging(image_form="tag")
    outs = provider_with(service).create(props_for(code)).outs
    assert "image_digest" in service.calls
    assert PINNED.match(outs["image"])


def test_image_without_tag_or_digest_is_refused(code):
    with pytest.raises(PackageBuildError, match="neither"):
        provider_with(FakePackaging(image_form="bad")).create(props_for(code))


def test_failing_build_raises_the_services_message_and_leaves_nothing(code):
    message = ("Image build failed: pip install returned 1. "
               "Build log: https://mlw.blob.core.windows.net/logs/build/image_build_aggregate_log.txt")
    service = FakePackaging(fail_with=message)
    with pytest.raises(PackageBuildError) as raised:
        provider_with(service).create(props_for(code))
    text = str(raised.value)
    assert "pip install returned 1" in text and "diabetes-ridge:1" in text
    assert "image_build_aggregate_log.txt" in text
    assert service.environments == {} and service.builds == 1


def test_transient_failures_are_retried_then_succeed(code):
    service = FakePackaging(transient_failures=2)
    outs = provider_with(service).create(props_for(code)).outs
    assert service.builds == 3 and PINNED.match(outs["image"])
    # Each retry looks for the environment first, so a build that did finish is never repeated.
    assert service.calls.count("find") >= 3


def test_transient_failures_give_up_after_the_last_attempt(code):
    service = FakePackaging(transient_failures=99)
    with pytest.raises(Exception, match="Service Unavailable"):
        provider_with(service).create(props_for(code))
    assert service.builds == retries.RETRY_ATTEMPTS


def test_build_that_outlives_the_timeout_ends_with_a_clear_message(code):
    service = FakePackaging(build_seconds=3)
    with pytest.raises(PackageBuildError, match="did not finish within .* minutes"):
        provider_with(service).create(props_for(code, timeout_minutes=0.01))


# -- check ----------------------------------------------------------------------------------------
def failures(props) -> dict[str, str]:
    result = ModelPackageProvider(service_factory=refusing_factory).check({}, props)
    return {f.property: f.reason for f in result.failures}


def test_check_accepts_good_inputs(code):
    assert failures(props_for(code)) == {}


@pytest.mark.parametrize("override, prop, fragment", [
    (lambda c: {"source_dir": str(c / "missing")}, "source_dir", "does not exist"),
    (lambda c: {"entry_script": "nope.py"}, "entry_script", "is not in"),
    (lambda c: {"environment_spec": str(c / "missing.yml")}, "environment_spec", "does not exist"),
    (lambda c: {"environment_spec": None}, "environment_spec", "set an environment spec"),
    (lambda c: {"model_version": "latest"}, "model_version", "not a version"),
    (lambda c: {"environment_spec": None, "environment_asset": "my-env"}, "environment_asset", "azureml:<name>"),
    (lambda c: {"model_mount_mode": "mount"}, "model_mount_mode", "download, copy"),
])
def test_check_names_the_bad_input(code, override, prop, fragment):
    found = failures(props_for(code, **override(code)))
    assert prop in found and fragment in found[prop]


# -- diff -----------------------------------------------------------------------------------------
def diff(olds, news):
    return ModelPackageProvider(service_factory=refusing_factory).diff("id", olds, news)


def test_diff_of_equal_inputs_is_no_change_and_calls_nothing(code):
    result = diff(props_for(code), props_for(code))
    assert result.changes is False and result.replaces == []


def test_edit_to_the_entry_script_changes_the_hash_and_replaces(code):
    before = props_for(code)
    script = code / "src" / "score.py"
    script.write_text(script.read_text() + "\n# tuned\n")
    after = props_for(code)
    assert after["content_hash"] != before["content_hash"]
    result = diff(before, after)
    assert result.changes is True and "content_hash" in result.replaces


def test_touching_a_file_changes_nothing(code):
    before = props_for(code)
    os.utime(code / "src" / "score.py", (1, 1))
    (code / "src" / "__pycache__").mkdir()
    (code / "src" / "__pycache__" / "score.cpython-311.pyc").write_bytes(b"\0bytecode")
    assert props_for(code)["content_hash"] == before["content_hash"]


@pytest.mark.parametrize("key, value", [
    ("model_version", "2"), ("workspace_name", "other-ws"), ("model_mount_mode", "copy"),
    ("environment_variables", {"AZUREML_LOG_LEVEL": "DEBUG"}), ("provider_version", "2"),
])
def test_inputs_that_shape_the_image_replace(code, key, value):
    result = diff(props_for(code), props_for(code, **{key: value}))
    assert key in result.replaces


def test_unknown_inputs_during_preview_count_as_changed(code):
    result = diff(props_for(code), props_for(code, content_hash=UNKNOWN))
    assert result.changes is True and "content_hash" in result.replaces


def test_timeout_change_updates_without_rebuilding(code):
    service = FakePackaging()
    provider = provider_with(service)
    olds = provider.create(props_for(code)).outs
    news = props_for(code, timeout_minutes=90)
    result = provider.diff("id", olds, news)
    assert result.changes is True and result.replaces == []
    updated = provider.update("id", olds, news).outs
    assert updated["image"] == olds["image"] and updated["timeout_minutes"] == 90
    assert service.builds == 1


def test_config_change_elsewhere_in_the_stack_causes_no_rebuild():
    def package_inputs(**overrides):
        run = run_program(stack_values("dev", **overrides), "dev")
        return {k: v for k, v in run.one(PACKAGE_TYPE).inputs.items() if k != "__provider"}

    before = package_inputs()
    after = package_inputs(sku="S1", workerCount="4", tags={"owner": "someone-else"})
    assert diff(before, after).replaces == []
    assert diff(before, package_inputs(model={"name": "diabetes-ridge", "version": "2"})).replaces == ["model_version"]


# -- read / delete --------------------------------------------------------------------------------
def test_refresh_reports_an_archived_environment_gone(code):
    service = FakePackaging()
    provider = provider_with(service)
    created = provider.create(props_for(code))
    assert provider.read(created.id, created.outs).id == created.id
    provider.delete(created.id, created.outs)
    assert provider.read(created.id, created.outs).id == ""


def test_delete_of_a_missing_environment_is_not_an_error(code):
    service = FakePackaging()
    outs = {**props_for(code), "environment_name": "pkg_gone", "environment_version": "1"}
    provider_with(service).delete("id", outs)
    assert service.calls == ["archive"]


# -- the real azure-ai-ml request -----------------------------------------------------------------
def test_the_request_azure_ai_ml_would_send():
    request = PackageRequest(model_name="diabetes-ridge", model_version="1", source_dir="model/src",
                             entry_script="score.py", base_environment="azureml:scoring_env_abc:1",
                             target_name="pkg_diabetes_ridge_0123", target_version="1", model_mount_mode="copy",
                             environment_variables={"AZUREML_LOG_LEVEL": "INFO"})
    package = package_request_object(request)
    assert package.environment_version == "1"  # pinned: the name is \w+ and the version digits
    rest = package._to_rest_object()
    assert rest["targetEnvironmentId"] == "pkg_diabetes_ridge_0123"
    assert rest["inferencingServer"]["serverType"] == "AzureMLOnline"
    assert rest["inferencingServer"]["codeConfiguration"] == {"codeId": "model/src", "scoringScript": "score.py"}
    assert rest["baseEnvironmentSource"] == {"baseEnvironmentSourceType": "EnvironmentAsset",
                                             "resourceId": "azureml:scoring_env_abc:1"}
    assert rest["modelConfiguration"]["mode"] == "Copy"
    assert rest["environmentVariables"] == {"AZUREML_LOG_LEVEL": "INFO"}


def test_each_request_object_is_fresh():
    request = PackageRequest("m", "1", "model/src", "score.py", "azureml:e:1", "pkg_m_1", "1")
    assert package_request_object(request) is not package_request_object(request)


# -- serialisation --------------------------------------------------------------------------------
def test_provider_pickles_without_clients_or_credentials():
    from pulumi.dynamic.dynamic import serialize_provider

    blob = base64.b64decode(serialize_provider(ModelPackageProvider()))
    for forbidden in (b"MLClient", b"DefaultAzureCredential", b"ContainerRegistryClient", b"_thread.lock",
                      b"service_factory"):
        assert forbidden not in blob
    # The engine unpickles it in a process of its own, from the project folder.
    script = ("import base64, sys, dill; p = dill.loads(base64.b64decode(sys.stdin.read())); "
              "print(type(p).__module__, type(p).__name__)")
    done = subprocess.run([sys.executable, "-c", script], input=base64.b64encode(blob).decode(), cwd=PROJECT_DIR,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["providers.model_package", "ModelPackageProvider"]
