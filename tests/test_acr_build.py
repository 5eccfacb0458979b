"""AcrImageBuild's provider against an in-memory ACR (tests/fake_acr.py), and the stack that builds with it."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from offline.change_rules import rule_for
from offline.mock_engine import run_program
from offline.plan import plan_document, render_table
from offline.project import ACR_BUILD_TYPE, PACKAGE_TYPE, PROJECT_DIR
from providers import retries
from providers.acr_build import PROVIDER_VERSION, AcrBuildError, AcrImageBuildProvider, file_hash, image_name
from providers.content_hash import content_hash
from providers.registry_images import ImageCheckError
from tests.fake_acr import LOG_LINK, LOGIN_SERVER, FakeAcr, FakeClock, dockerfile_config
from tests.helpers import WEB_APP, app_settings, assert_pickles_without, stack_values

# A pinned base other than the default, so that a change of it can be told apart.
BASE = "mcr.microsoft.com/azureml/minimal-py311-inference:20250101.v1"
PINNED = re.compile(rf"^{re.escape(LOGIN_SERVER)}/model-webapp/diabetes-ridge@sha256:[0-9a-f]{{64}}$")




def props_for(code: Path, **overrides) -> dict:
    props = {
        "subscription_id": "00000000-0000-0000-0000-000000000000", "resource_group": "rg-aml",
        "workspace_name": "mlw-models", "registry": None, "model_name": "diabetes-ridge", "model_version": "1",
        "source_dir": str(code / "src"), "entry_script": "score.py", "environment_spec": str(code / "environment.yml"),
        "environment_spec_hash": file_hash(code / "environment.yml"), "base_image": BASE,
        "environment_variables": {}, "content_hash": content_hash(code / "src", code / "environment.yml"),
        "timeout_minutes": 60, "provider_version": PROVIDER_VERSION,
    }
    props.update(overrides)
    return props


def provider_with(acr: FakeAcr) -> AcrImageBuildProvider:
    return AcrImageBuildProvider(service_factory=acr.factory, clock=acr.clock, sleep=acr.clock.sleep)


def refusing_factory(_workspace):
    raise AssertionError("diff and check must not call the service")


# -- create ---------------------------------------------------------------------------------------
def test_create_builds_once_through_an_acr_run_and_pins_its_digest(code):
    acr = FakeAcr()
    outs = provider_with(acr).create(props_for(code)).outs
    assert acr.builds == 1 and acr.downloads == [("diabetes-ridge", "1")]
    assert PINNED.match(outs["image"]) and outs["login_server"] == LOGIN_SERVER and outs["run_id"] == "ca1"
    (run,) = acr.runs.values()
    repository, tag = image_name(props_for(code))
    assert run.request.image_names == (f"{repository}:{tag}",) and run.request.docker_file_path == "Dockerfile"
    assert run.request.platform == ("Linux", "amd64") and run.request.timeout_seconds == 3600
    # The run was waited for through Queued and Running on the injected clock, not real time.
    assert acr.clock.sleeps and sum(acr.clock.sleeps) >= acr.queue_seconds + acr.build_seconds
    # What was uploaded is the context: the Dockerfile from the base image, the code and the downloaded model.
    files = acr.files(run)
    assert files["Dockerfile"].decode().splitlines()[2] == f"FROM {BASE}"
    assert files["code/score.py"] == (code / "src" / "score.py").read_bytes()
    assert files["model/diabetes-ridge/model.joblib"] == b"FAKE model bytes"
    # Its facts are read back from the image the run pushed, as the site will run it.
    assert outs["image_port"] == 5001 and outs["image_entry_script"] == "/var/azureml-app/score.py"
    assert outs["image_cmd"][0] == "azmlinfsrv" and outs["image_model_dir"] == "/var/azureml-app/azureml-models"
    assert acr.registries_asked == [None]  # the workspace's registry


def test_the_same_inputs_build_once_and_the_second_create_reuses_the_image(code):
    acr = FakeAcr()
    first = provider_with(acr).create(props_for(code)).outs
    second = provider_with(acr).create(props_for(code)).outs
    assert acr.builds == 1 and len(acr.downloads) == 1 and len(acr.uploads) == 1
    assert second["image"] == first["image"] and second["run_id"] is None


def test_the_tag_is_content_addressed(code):
    same = image_name(props_for(code)), image_name(props_for(code))
    assert same[0] == same[1]
    assert image_name(props_for(code, content_hash="0" * 64))[1] != same[0][1]
    assert image_name(props_for(code, base_image=BASE.replace("20250101", "20250201")))[1] != same[0][1]
    assert image_name(props_for(code, timeout_minutes=90)) == same[0]  # the wait does not shape the image


def test_an_image_already_in_the_registry_is_reused_never_rebuilt(code):
    acr = FakeAcr()
    props = props_for(code)
    repository, tag = image_name(props)
    config = dockerfile_config(acr.context(source_dir=code / "src", entry_script="score.py",
                                           environment_spec=code / "environment.yml", base_image=BASE, model_dir=None,
                                           server_environment={}).files["Dockerfile"].decode())
    digest = acr.images.push(repository, config, tag=tag)
    outs = provider_with(acr).create(props).outs
    assert acr.builds == 0 and acr.downloads == [] and acr.uploads == []
    assert outs["image"] == f"{LOGIN_SERVER}/{repository}@{digest}"


def test_a_run_that_reports_no_digest_is_pinned_from_its_tag(code):
    acr = FakeAcr(report_digest=False)
    outs = provider_with(acr).create(props_for(code)).outs
    assert PINNED.match(outs["image"]) and acr.calls.count("get_manifest") >= 2


@pytest.mark.parametrize("operation", ["registry", "download_model", "upload_source", "schedule_run", "get_run",
                                       "get_manifest"])
def test_transient_errors_are_retried_then_the_build_succeeds(code, operation):
    acr = FakeAcr(transient={operation: 2})  # a 429, then a 503
    outs = provider_with(acr).create(props_for(code)).outs
    assert PINNED.match(outs["image"]) and acr.builds == 1
    assert acr.calls.count(operation) >= 3 and acr.transient[operation] == 0


def test_transient_errors_give_up_after_the_last_attempt(code):
    acr = FakeAcr(transient={"schedule_run": retries.RETRY_ATTEMPTS})
    with pytest.raises(Exception, match="Service Unavailable|Too Many Requests"):
        provider_with(acr).create(props_for(code))
    assert acr.calls.count("schedule_run") == retries.RETRY_ATTEMPTS and acr.builds == 0


def test_a_failed_run_says_why_with_its_log_link(code):
    acr = FakeAcr(fail_with="pip install -r requirements.txt returned a non-zero code: 1")
    with pytest.raises(AcrBuildError) as raised:
        provider_with(acr).create(props_for(code))
    message = str(raised.value)
    assert "run ca1 ended Failed: pip install -r requirements.txt returned a non-zero code: 1" in message
    assert f"build log: {LOG_LINK.format(run_id='ca1')}" in message
    assert acr.calls.count("log_url") == 1 and not acr.images.tags


def test_a_run_that_outlives_the_timeout_says_what_to_do(code):
    acr = FakeAcr(build_seconds=3 * 3600)
    with pytest.raises(AcrBuildError) as raised:
        provider_with(acr).create(props_for(code, timeout_minutes=5))
    message = str(raised.value)
    assert "run ca1 is still Running after 5 minutes (packageTimeoutMinutes)" in message
    assert "the next `pulumi up` looks for its tag first" in message and "az acr task logs" in message
    assert 5 * 60 <= sum(acr.clock.sleeps) < 6 * 60


def test_a_conda_only_dependency_is_refused_before_anything_is_uploaded(code):
    spec = code / "environment.yml"
    spec.write_text(spec.read_text().replace("  - pip\n", "  - pip\n  - libgomp\n"))
    acr = FakeAcr()
    with pytest.raises(AcrBuildError, match="conda-only dependencies .* libgomp"):
        provider_with(acr).create(props_for(code))
    assert acr.uploads == [] and acr.builds == 0
    failures = AcrImageBuildProvider(service_factory=refusing_factory).check({}, props_for(code)).failures
    assert [f.property for f in failures] == ["environment_spec"] and "libgomp" in failures[0].reason


def test_an_image_that_cannot_serve_the_model_is_refused(code, monkeypatch):
    import tests.fake_acr as fake

    monkeypatch.setattr(fake, "dockerfile_config", lambda text: {"config": {"ExposedPorts": {}, "Env": []}})
    with pytest.raises(ImageCheckError, match="exposes no TCP port"):
        provider_with(FakeAcr()).create(props_for(code))


def test_check_names_a_base_image_that_is_not_microsofts_pinned_inference_image(code):
    for base in ("mcr.microsoft.com/azureml/minimal-py311-inference:latest", "python:3.11-slim"):
        failures = AcrImageBuildProvider(service_factory=refusing_factory).check(
            {}, props_for(code, base_image=base)).failures
        assert [f.property for f in failures] == ["base_image"]
    assert AcrImageBuildProvider(service_factory=refusing_factory).check({}, props_for(code)).failures == []


# -- diff -----------------------------------------------------------------------------------------
def diff(olds: dict, news: dict):
    return AcrImageBuildProvider(service_factory=refusing_factory).diff("id", olds, news)


@pytest.mark.parametrize("key, value", [
    ("content_hash", "0" * 64), ("environment_spec_hash", "1" * 64), ("model_version", "2"),
    ("base_image", BASE.replace("20250101", "20250201")), ("entry_script", "other.py"),
    ("registry", "otherregistry.azurecr.io"), ("environment_variables", {"AZUREML_LOG_LEVEL": "DEBUG"}),
])
def test_inputs_that_shape_the_image_rebuild(code, key, value):
    assert key in diff(props_for(code), props_for(code, **{key: value})).replaces


def test_equal_inputs_are_no_change_and_a_timeout_change_keeps_the_image(code):
    assert diff(props_for(code), props_for(code)).changes is False
    acr = FakeAcr()
    provider = provider_with(acr)
    olds = provider.create(props_for(code)).outs
    news = props_for(code, timeout_minutes=90)
    result = provider.diff("id", olds, news)
    assert result.changes is True and result.replaces == []
    assert provider.update("id", olds, news).outs["image"] == olds["image"] and acr.builds == 1


def test_refresh_drops_an_image_gone_from_the_registry(code):
    acr = FakeAcr()
    outs = provider_with(acr).create(props_for(code)).outs
    assert provider_with(acr).read("id", outs).id == "id"
    acr.images.tags.clear()
    assert provider_with(acr).read("id", outs).id == ""


def test_provider_pickles_without_clients_or_credentials():
    assert_pickles_without(AcrImageBuildProvider(), (b"ContainerRegistryManagementClient", b"MLClient",
                                                     b"DefaultAzureCredential", b"BlobClient", b"_thread.lock",
                                                     b"service_factory", b"FakeClock"))


# -- the stack ------------------------------------------------------------------------------------
def acr_dev(**overrides):
    return run_program(stack_values("dev", build={"builder": "acrTask"}, **overrides), "dev")


def test_dev_with_acr_task_builds_its_image_and_its_site_runs_it():
    run = acr_dev()
    assert run.of_type(PACKAGE_TYPE) == []
    build = run.one(ACR_BUILD_TYPE)
    assert build.name == "mw-dev-image"
    inputs = build.inputs
    assert inputs["base_image"].startswith("mcr.microsoft.com/azureml/minimal-py312-inference@sha256:")
    assert inputs["environment_spec_hash"] == file_hash(PROJECT_DIR / "model" / "environment.yml")
    assert inputs.get("registry") is None and inputs["model_version"] == "1"
    site = run.one(WEB_APP)
    assert site.inputs["siteConfig"]["linuxFxVersion"] == f"DOCKER|{build.state['image']}"
    assert app_settings(site)["WEBSITES_PORT"] == "5001" and run.outputs["image"] == build.state["image"]
    assert run.outputs["image_facts"]["cmd"][0] == "azmlinfsrv"
    assert "ACR Tasks build from mcr.microsoft.com/azureml/minimal-py312-inference" in \
        render_table(plan_document(run, []), run)


def test_a_plan_or_alert_change_does_not_rebuild_and_a_model_version_does():
    def build_of(**overrides):
        return acr_dev(**overrides).one(ACR_BUILD_TYPE).as_json()

    before = build_of()
    for overrides in ({"sku": "S1", "workerCount": "4"}, {"monitoring": {"cpuPercent": 50}}):
        verdict = rule_for(ACR_BUILD_TYPE)(before, build_of(**overrides), [])
        assert verdict.facts["rebuild"] is False, overrides
    verdict = rule_for(ACR_BUILD_TYPE)(before, build_of(model={"name": "diabetes-ridge", "version": "2"}), [])
    assert verdict.op == "replace" and verdict.replace_because == ("model_version",)


def test_acr_task_beside_a_ready_image_is_a_settings_error():
    image = f"{LOGIN_SERVER}/package@sha256:" + "c" * 64
    with pytest.raises(Exception, match=r"build.builder = 'acrTask': builds an image, and image is set"):
        acr_dev(image=image)


def test_models_entries_choose_their_builder_each():
    fleet = {"built": {"model": {"name": "diabetes-ridge", "version": "1"}, "build": {"builder": "acrTask"}},
             "packaged": {"model": {"name": "diabetes-ridge", "version": "1"}}}
    run = run_program(stack_values("dev", model=None, code=None, models=fleet), "dev")
    assert [r.name for r in run.of_type(ACR_BUILD_TYPE)] == ["mw-dev-built-image"]
    assert [r.name for r in run.of_type(PACKAGE_TYPE)] == ["mw-dev-packaged-package"]
