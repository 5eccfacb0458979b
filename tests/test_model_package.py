"""ModelPackage's provider against an in-memory packaging service, plus the real azure-ai-ml request."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from offline.fake_registry import package_image_config, push_index
from providers import model_package, retries
from providers.content_hash import content_hash
from providers.model_package import ARCHIVED, UNKNOWN, ModelPackageProvider, environment_name, package_key
from providers.packaging import PackageBuildError, PackageRequest, package_request_object
from providers.registry_images import ImageCheckError, RegistryAccessError
from tests.fake_packaging import BASE_REPOSITORY, LOGIN_SERVER, FakePackaging
from policies.props import WEB_APP_SLOT as SLOT
from tests.helpers import WEB_APP, app_settings, assert_pickles_without, stack_values
from offline.fake_azure import FakeAzure
from offline.mock_engine import run_program
from offline.plan import plan_document, render_table
from offline.project import PACKAGE_TYPE, PROJECT_DIR

PINNED = re.compile(r"^[a-z0-9]+\.azurecr\.io/[a-z0-9_./-]+@sha256:[0-9a-f]{64}$")




def props_for(code: Path, **overrides) -> dict:
    props = {
        "subscription_id": "00000000-0000-0000-0000-000000000000", "resource_group": "rg-aml",
        "workspace_name": "mlw-models", "model_name": "diabetes-ridge", "model_version": "1",
        "source_dir": str(code / "src"), "entry_script": "score.py",
        "environment_spec": str(code / "environment.yml"), "environment_asset": None,
        "environment_variables": {}, "model_mount_mode": "copy",
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
    repository, digest = outs["image"].split("/", 1)[1].split("@")
    # The tag is read once, then everything else by the digest it pointed at.
    assert service.registry.reads[0] == ("manifest", repository, "1")
    assert service.registry.tags[(repository, "1")] == digest and PINNED.match(outs["image"])


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
    (lambda c: {"model_mount_mode": "mount"}, "model_mount_mode", "only copy puts the model inside the image"),
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
    ("model_version", "2"), ("workspace_name", "other-ws"), ("model_mount_mode", "download"),
    ("environment_variables", {"AZUREML_LOG_LEVEL": "DEBUG"}), ("provider_version", "1"),
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
def test_refresh_keeps_an_archived_environment_and_the_next_up_restores_it(code):
    service = FakePackaging()
    provider = provider_with(service)
    created = provider.create(props_for(code))
    assert provider.read(created.id, created.outs).outs == created.outs
    service.archive(created.outs["environment_name"], "1")  # someone archived it in the studio
    refreshed = provider.read(created.id, created.outs)
    assert refreshed.id == created.id and refreshed.outs[ARCHIVED] is True
    result = provider.diff(created.id, refreshed.outs, props_for(code))
    assert result.changes is True and result.replaces == []  # an update, not a rebuild
    updated = provider.update(created.id, refreshed.outs, props_for(code)).outs
    assert service.calls.count("restore") == 1 and service.builds == 1
    assert ARCHIVED not in updated and updated["image"] == created.outs["image"]
    assert not service.environments[(created.outs["environment_name"], "1")].archived


def test_refresh_drops_an_environment_that_is_gone(code):
    outs = {**props_for(code), "environment_name": "pkg_gone", "environment_version": "1"}
    assert provider_with(FakePackaging()).read("id", outs).id == ""


def test_an_archived_environment_is_restored_not_built_into_the_same_version(code):
    service = FakePackaging()
    provider = provider_with(service)
    first = provider.create(props_for(code))
    provider.delete(first.id, first.outs)  # destroy archives; a later up wants the same name:version
    second = provider.create(props_for(code))
    assert service.builds == 1 and service.calls.count("restore") == 1
    assert second.outs["image"] == first.outs["image"]
    assert not service.environments[(first.outs["environment_name"], "1")].archived


def test_delete_of_a_missing_environment_is_not_an_error(code):
    service = FakePackaging()
    outs = {**props_for(code), "environment_name": "pkg_gone", "environment_version": "1"}
    provider_with(service).delete("id", outs)
    assert service.calls == ["archive"]


# -- the real azure-ai-ml request -----------------------------------------------------------------
def test_the_request_azure_ai_ml_would_send():
    request = PackageRequest(model_name="diabetes-ridge", model_version="1", source_dir="model/src",
                             entry_script="score.py", base_environment="azureml:scoring_env_abc:1",
                             target_name="pkg_diabetes_ridge_0123", target_version="1",
                             environment_variables={"AZUREML_LOG_LEVEL": "INFO"})
    package = package_request_object(request)
    assert package.environment_version == "1"  # pinned: the name is \w+ and the version digits
    rest = package._to_rest_object()
    assert rest["targetEnvironmentId"] == "pkg_diabetes_ridge_0123"
    assert rest["inferencingServer"]["serverType"] == "AzureMLOnline"
    assert rest["inferencingServer"]["codeConfiguration"] == {"codeId": "model/src", "scoringScript": "score.py"}
    assert rest["baseEnvironmentSource"] == {"baseEnvironmentSourceType": "EnvironmentAsset",
                                             "resourceId": "azureml:scoring_env_abc:1"}
    assert rest["modelConfiguration"] == {"mode": "copy"}  # the default, as Microsoft's examples send it
    assert rest["environmentVariables"] == {"AZUREML_LOG_LEVEL": "INFO"}


def test_each_request_object_is_fresh():
    request = PackageRequest("m", "1", "model/src", "score.py", "azureml:e:1", "pkg_m_1", "1")
    assert package_request_object(request) is not package_request_object(request)


# -- serialisation --------------------------------------------------------------------------------
def test_provider_pickles_without_clients_or_credentials():
    # The engine unpickles it in a process of its own, from the project folder.
    assert_pickles_without(ModelPackageProvider(), (b"MLClient", b"DefaultAzureCredential", b"ContainerRegistryClient",
                                                    b"_thread.lock", b"service_factory"))


# -- copy mode ------------------------------------------------------------------------------------
def test_the_package_is_built_in_copy_mode(code):
    service = FakePackaging()
    provider_with(service).create(props_for(code))
    (request,) = service.requests
    assert package_request_object(request)._to_rest_object()["modelConfiguration"] == {"mode": "copy"}


def test_download_mode_is_refused_with_its_reason(code):
    reason = failures(props_for(code, model_mount_mode="download"))["model_mount_mode"]
    assert "'download' is refused" in reason and "runs only on Azure ML endpoints" in reason


def test_a_private_link_workspace_is_refused_before_building(code):
    service = FakePackaging(public_access="Disabled")
    with pytest.raises(PackageBuildError, match="public network access disabled") as raised:
        provider_with(service).create(props_for(code))
    assert "Private link enabled workspaces don't support packaging" in str(raised.value)
    assert "build.builder: acrTask" in str(raised.value)  # the build path that needs no packaging service
    assert service.builds == 0


def test_a_private_link_build_error_is_named(code):
    service = FakePackaging(public_access=None, fail_with="Operation failed: the workspace has a private endpoint")
    with pytest.raises(PackageBuildError, match="copy mode \"is not supported on private link-enabled workspaces\""):
        provider_with(service).create(props_for(code))


# -- the image proves what it holds ---------------------------------------------------------------
def test_a_complete_image_passes_and_its_facts_reach_the_outputs(code):
    service = FakePackaging()
    outs = provider_with(service).create(props_for(code)).outs
    repository, digest = outs["image"].split("/", 1)[1].split("@")
    reads = list(service.registry.reads)
    manifest = service.registry.get_manifest(LOGIN_SERVER, repository, digest).content
    # Read as the real registry is read: the manifest, then the config blob it names.
    assert reads == [("manifest", repository, digest), ("blob", repository, manifest["config"]["digest"])]
    assert outs["image_port"] == 5001 and outs["image_cmd"] == ["runsvdir", "/var/runit"]
    assert outs["image_entrypoint"] == [] and outs["image_model_dir"] == "/var/azureml-app/azureml-models/diabetes-ridge/1"
    assert outs["image_entry_script"] == "/var/azureml-app/score.py"


def _without(name):
    def edit(config):
        config["config"]["Env"] = [e for e in config["config"]["Env"] if not e.startswith(f"{name}=")]
    return edit


def _ports(*ports):
    def edit(config):
        config["config"]["ExposedPorts"] = {p: {} for p in ports}
    return edit


def _entry_script(value):
    def edit(config):
        _without("AZUREML_ENTRY_SCRIPT")(config)
        config["config"]["Env"].append(f"AZUREML_ENTRY_SCRIPT={value}")
    return edit


@pytest.mark.parametrize("edit, fragment", [
    (_ports(), "it exposes no TCP port"),
    (_ports("5001/udp"), "it exposes no TCP port"),
    (_ports("8080/tcp", "8081/tcp"), "several TCP ports (8080, 8081)"),
    (_without("AZUREML_MODEL_DIR"), "AZUREML_MODEL_DIR is not set"),
    (_without("AZUREML_ENTRY_SCRIPT"), "AZUREML_ENTRY_SCRIPT is not set"),
    (_entry_script("/var/azureml-app/main.py"), "not the stack's entry script 'score.py'"),
])
def test_an_image_that_cannot_serve_the_model_fails_naming_what_is_missing(code, edit, fragment):
    service = FakePackaging(edit_config=edit)
    with pytest.raises(ImageCheckError, match="cannot serve the model on App Service") as raised:
        provider_with(service).create(props_for(code))
    assert fragment in str(raised.value) and "@sha256:" in str(raised.value)


def test_of_azure_mls_inference_ports_the_servers_own_is_routed_to(code):
    # Azure ML's inference images EXPOSE 5001 8883 8888: 5001 is azmlinfsrv's; anything else stays ambiguous.
    service = FakePackaging(edit_config=_ports("8888/tcp", "5001/tcp", "8883/tcp"))
    outs = provider_with(service).create(props_for(code)).outs
    assert outs["image_port"] == 5001


def test_every_problem_is_named_at_once(code):
    def edit(config):
        _ports()(config)
        _without("AZUREML_MODEL_DIR")(config)
    with pytest.raises(ImageCheckError) as raised:
        provider_with(FakePackaging(edit_config=edit)).create(props_for(code))
    assert "exposes no TCP port" in str(raised.value) and "AZUREML_MODEL_DIR is not set" in str(raised.value)


def test_the_base_environments_image_is_refused(code):
    asset = "azureml:team-sklearn:3"
    service = FakePackaging(image_form="base", asset_images={asset: f"{LOGIN_SERVER}/{BASE_REPOSITORY}:3"})
    with pytest.raises(ImageCheckError, match="is the base environment's"):
        provider_with(service).create(props_for(code, environment_spec=None, environment_asset=asset))


def test_a_multi_platform_index_is_read_through_its_linux_amd64_manifest(code):
    service = FakePackaging()
    config = package_image_config("score.py", "diabetes-ridge", "1", port=8080)
    amd64 = service.registry.push("pkg_index", config)
    arm64 = service.registry.push("pkg_index", package_image_config("score.py", "diabetes-ridge", "1", port=9090))
    index = push_index(service.registry, "pkg_index", {("linux", "amd64"): amd64, ("linux", "arm64"): arm64})
    name = environment_name("diabetes-ridge", package_key(props_for(code)))
    service.environments[(name, "1")] = model_package.BuiltEnvironment(
        name, "1", f"azureml:{name}:1", f"{LOGIN_SERVER}/pkg_index@{index}")
    outs = provider_with(service).create(props_for(code)).outs
    assert outs["image_port"] == 8080 and outs["image"].endswith(index) and service.builds == 0


# -- registry roles -------------------------------------------------------------------------------
@pytest.mark.parametrize("form, status", [("tag", 403), ("tag", 401), ("digest", 403)])
def test_a_refused_registry_read_names_the_role_to_grant(code, form, status):
    service = FakePackaging(image_form=form)
    service.registry.refuse_with = status
    with pytest.raises(RegistryAccessError) as raised:
        provider_with(service).create(props_for(code))
    text = str(raised.value)
    assert f"HTTP {status}" in text and LOGIN_SERVER in text
    assert "Container Registry Repository Reader" in text and "AcrPull" in text
    assert "az acr show --name mlwmodelsregistry --query roleAssignmentMode" in text


def test_a_package_of_the_previous_provider_rebuilds_once_in_copy_mode(code):
    old_state = props_for(code, provider_version="1", model_mount_mode="download")
    result = diff(old_state, props_for(code))
    assert set(result.replaces) == {"provider_version", "model_mount_mode"}
    assert diff(props_for(code), props_for(code)).replaces == []  # and only once


# -- the stack follows the image ------------------------------------------------------------------
def _port_of(run, typ=WEB_APP):
    return app_settings(run.one(typ))["WEBSITES_PORT"]


def test_the_site_routes_to_the_port_the_package_image_exposes_and_the_plan_shows_its_facts():
    run = run_program(stack_values("dev"), "dev", FakeAzure(package_port=8080))
    assert _port_of(run) == "8080"
    assert run.outputs["image_port"] == 8080
    assert run.outputs["image_facts"] == {"port": 8080, "entrypoint": [], "cmd": ["runsvdir", "/var/runit"],
                                          "modelDir": "/var/azureml-app/azureml-models/diabetes-ridge/1",
                                          "entryScript": "/var/azureml-app/score.py"}
    table = render_table(plan_document(run, []), run)
    assert "FAKE image: port 8080, runs runsvdir /var/runit" in table


def test_a_promoted_stack_routes_to_the_port_its_upstream_read_from_the_image():
    dev = run_program(stack_values("dev"), "dev", FakeAzure(package_port=8080))
    prod = run_program(stack_values("prod"), "prod", FakeAzure(stack_outputs={"dev": dev.outputs}))
    assert _port_of(prod) == "8080" and _port_of(prod, SLOT) == "8080"
    assert prod.outputs["image_port"] == 8080 and prod.outputs["image_facts"] == dev.outputs["image_facts"]


def test_promoting_from_a_stack_that_exports_no_port_says_what_to_do():
    dev = run_program(stack_values("dev"), "dev")
    old = {k: v for k, v in dev.outputs.items() if k not in ("image_port", "image_facts")}
    with pytest.raises(Exception, match="exports no image_port .* run `pulumi up` on dev first"):
        run_program(stack_values("prod"), "prod", FakeAzure(stack_outputs={"dev": old}))


def test_a_ready_image_routes_to_the_server_port_setting():
    image = f"{LOGIN_SERVER}/package@sha256:" + "c" * 64
    run = run_program(stack_values("dev", image=image, serverPort="8081"), "dev")
    assert _port_of(run) == "8081" and run.outputs["image_port"] == 8081 and "image_facts" not in run.outputs


def test_the_real_adapter_reads_the_registry_with_acr_scoped_tokens(monkeypatch):
    import azure.containerregistry
    from azure.containerregistry import GetManifestResult

    from providers.packaging import AzureMLPackaging

    made = []

    class Client:  # azure-containerregistry's surface, as far as the adapter uses it
        def __init__(self, endpoint, credential, *, audience):
            made.append((endpoint, audience))

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return None

        def get_manifest(self, repository, reference):
            return GetManifestResult(digest="sha256:" + "a" * 64, media_type="application/vnd.oci.image.manifest.v1+json",
                                     manifest={"config": {"digest": f"{repository}:{reference}"}})

        def download_blob(self, repository, digest):
            return Client.Stream()

        class Stream:
            def __enter__(self):
                return iter([b'{"config":', b" {}}"])

            def __exit__(self, *exc):
                return None

    monkeypatch.setattr(azure.containerregistry, "ContainerRegistryClient", Client)
    adapter = AzureMLPackaging(None)
    found = adapter.get_manifest(LOGIN_SERVER, "pkg", "1")
    assert found.content == {"config": {"digest": "pkg:1"}} and found.digest == "sha256:" + "a" * 64
    assert adapter.get_blob(LOGIN_SERVER, "pkg", "sha256:" + "b" * 64) == b'{"config": {}}'
    assert made == [(f"https://{LOGIN_SERVER}", "https://containerregistry.azure.net")] * 2
