"""The three-model example (examples/fleet.yaml): one platform, three services on it, each with its own package,
release gate, alerts and workers, planned as `make plans` plans it; and the two example models it adds."""
from __future__ import annotations

import collections
import importlib.util
import json
import os
import shutil
import subprocess
from pathlib import Path

import joblib
import numpy as np
import pytest
import yaml
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from offline import plan
from offline.mock_engine import ProgramRun, run_program
from offline.project import PACKAGE_TYPE, PROJECT_DIR, SWAP_TYPE
from offline.stack_config import load_stack_config
from settings.skus import SKUS
from settings.stack_settings import AUTONAME_SUFFIX, SITE_NAME_LIMIT
from tests.helpers import IDENTITY, PLAN, SERVICE, WEB_APP, app_settings

FLEET = PROJECT_DIR / "examples" / "fleet.yaml"
SLOT = "azure-native:web:WebAppSlot"
WORKSPACE = "azure-native:operationalinsights:Workspace"
ALERT = "azure-native:monitor:MetricAlert"
SERVICES = ("diabetes", "iris", "wine")
EXAMPLE_MODELS = {"iris": 4, "wine": 13}  # the models examples/ adds, and their number of features
SMOKE_REQUESTS = {"diabetes": PROJECT_DIR / "model" / "sample-request.json",
                  "iris": PROJECT_DIR / "examples" / "iris" / "sample-request.json",
                  "wine": PROJECT_DIR / "examples" / "wine" / "sample-request.json"}


def fleet_values(**models_changes) -> dict[str, str]:
    """The example's config as the CLI hands it over; models.<service> keys changed by `service={key: value}`."""
    values = dict(load_stack_config(config_file=FLEET).values)
    if models_changes:
        models = json.loads(values["model-webapp:models"])
        for service, keys in models_changes.items():
            models[service].update(keys)
        values["model-webapp:models"] = json.dumps(models)
    return values


@pytest.fixture(scope="module")
def fleet() -> ProgramRun:
    return run_program(fleet_values(), "fleet")


def by_service(run: ProgramRun, typ: str) -> dict[str, list]:
    """The resources of a type grouped by the service component they belong to (None: not a service's)."""
    services = {r.urn: r.name.rsplit("-", 1)[-1] for r in run.of_type(SERVICE)}
    grouped = collections.defaultdict(list)
    for r in run.of_type(typ):
        grouped[services.get(r.parent)].append(r)
    return dict(grouped)


# -- the stack file and its plan --------------------------------------------------------------------------------
def test_the_example_is_not_a_stack_of_the_project_root():
    assert FLEET.is_file() and not (PROJECT_DIR / "Pulumi.fleet.yaml").exists()
    assert sorted(p.name for p in PROJECT_DIR.glob("Pulumi.*.yaml")) == ["Pulumi.dev.yaml", "Pulumi.prod.yaml"]


def test_the_example_plans_clean_by_its_file_name_with_every_rule_mandatory(capsys):
    code = plan.main(["--config-file", str(FLEET), "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    doc = json.loads(out)
    assert doc["stack"] == "fleet"  # examples/fleet.yaml: the stem, as for any file not named Pulumi.<stack>.yaml
    assert doc["policyConfig"] is None and doc["violations"] == []  # no policies/config/fleet.json: prod's bar or more


def test_one_platform_carries_three_services(fleet):
    counts = collections.Counter(r.type for r in fleet.registrations)
    assert counts[PLAN] == 1 and counts[IDENTITY] == 1 and counts[WORKSPACE] == 1
    assert counts[SERVICE] == 3
    for typ in (WEB_APP, SLOT, SWAP_TYPE, PACKAGE_TYPE):
        groups = by_service(fleet, typ)
        assert sorted(groups) == sorted(SERVICES), typ
        assert all(len(found) == 1 for found in groups.values()), typ


def test_every_service_has_its_own_alert_set_and_the_plan_one_cpu_alert(fleet):
    alerts = by_service(fleet, ALERT)
    sets = {service: sorted(a.name.rsplit("-alert-", 1)[1] for a in found) for service, found in alerts.items()}
    assert sets == {None: ["cpu"], **{s: ["5xx", "health", "latency"] for s in SERVICES}}
    # Each set watches its own site (the scope is the site's id, which ends in its name), not another service's.
    for service in SERVICES:
        app = fleet.outputs["models"][service]["app_name"]
        assert all(a.inputs["scopes"] == [a.inputs["scopes"][0]] and a.inputs["scopes"][0].endswith(f"/{app}")
                   for a in alerts[service]), service


def test_names_are_unique_and_sites_fit_app_services_limit(fleet):
    urns = [r.urn for r in fleet.registrations]
    assert len(urns) == len(set(urns))
    names = collections.Counter((r.type, r.name) for r in fleet.registrations)
    assert [n for n, count in names.items() if count > 1] == []
    sites = [r.name for r in fleet.of_type(WEB_APP)]
    assert sorted(sites) == [f"mw-fleet-{s}-app" for s in SERVICES]
    assert all(len(site) + AUTONAME_SUFFIX <= SITE_NAME_LIMIT for site in sites)
    assert all(len(o["app_name"]) <= SITE_NAME_LIMIT for o in fleet.outputs["models"].values())
    # The swaps release their own site, each from its own slot.
    for service in SERVICES:
        (swap,) = by_service(fleet, SWAP_TYPE)[service]
        assert swap.inputs["site_name"] == fleet.outputs["models"][service]["app_name"]


def test_each_gate_sends_its_own_models_smoke_request(fleet):
    for service, path in SMOKE_REQUESTS.items():
        (swap,) = by_service(fleet, SWAP_TYPE)[service]
        assert swap.inputs["smoke_rows"] == json.loads(path.read_text())["data"], service
    widths = {s: len(by_service(fleet, SWAP_TYPE)[s][0].inputs["smoke_rows"][0]) for s in SERVICES}
    assert widths == {"diabetes": 10, "iris": 4, "wine": 13}


def test_per_service_keys_reach_only_their_service(fleet):
    swaps = {s: by_service(fleet, SWAP_TYPE)[s][0].inputs for s in SERVICES}
    assert {s: (i["slot_name"], i["health_timeout_minutes"]) for s, i in swaps.items()} == {
        "diabetes": ("staging", 20), "iris": ("staging", 20), "wine": ("canary", 30)}
    assert {s: i["auth_audience"] for s, i in swaps.items()} == {
        "diabetes": "api://22222222-2222-2222-2222-222222222222", "iris": "api://44444444-4444-4444-4444-444444444444",
        "wine": "api://55555555-5555-5555-5555-555555555555"}
    auth = by_service(fleet, "azure-native:web:WebAppAuthSettingsV2")
    audiences = {s: found[0].inputs["identityProviders"]["azureActiveDirectory"]["validation"]["allowedAudiences"]
                 for s, found in auth.items()}
    assert audiences == {s: [i["auth_audience"]] for s, i in swaps.items()}
    callers = {s: found[0].inputs["identityProviders"]["azureActiveDirectory"]["validation"][
        "defaultAuthorizationPolicy"]["allowedApplications"] for s, found in auth.items()}
    assert callers["wine"] == ["33333333-3333-3333-3333-333333333333", "66666666-6666-6666-6666-666666666666"]
    assert callers["diabetes"] == callers["iris"] == ["33333333-3333-3333-3333-333333333333"]
    assert {s: o["staging_slot"] for s, o in fleet.outputs["models"].items()} == {
        "diabetes": "staging", "iris": "staging", "wine": "canary"}


def workers(run: ProgramRun) -> dict[str, str]:
    return {service: app_settings(found[0])["WORKER_COUNT"] for service, found in by_service(run, WEB_APP).items()}


def test_worker_count_is_the_plans_vcpus_shared_among_the_models(fleet):
    sku = yaml.safe_load(FLEET.read_text())["config"]["model-webapp:sku"]
    share = max(1, SKUS[sku].vcpus // len(SERVICES))
    assert workers(fleet) == {s: str(share) for s in SERVICES}
    # With room to share: eight vCPUs are two workers each; a service's own workerCount is its own.
    bigger = dict(fleet_values(iris={"workerCount": 5}), **{"model-webapp:sku": "P3v3"})
    assert SKUS["P3v3"].vcpus == 8
    assert workers(run_program(bigger, "fleet")) == {"diabetes": "2", "iris": "5", "wine": "2"}


def test_the_models_output_lists_each_services_scoring_uri(fleet):
    models = fleet.outputs["models"]
    assert sorted(models) == sorted(SERVICES)
    for service, out in models.items():
        assert out["app_name"].startswith(f"mw-fleet-{service}-app")
        assert out["default_host_name"] == f"{out['app_name']}.azurewebsites.net"
        assert out["scoring_uri"] == f"https://{out['default_host_name']}/score"
    assert "scoring_uri" not in fleet.outputs  # the one-model outputs are a one-model stack's


# -- one model's code changes: that model's package and swap, nothing else --------------------------------------------
def test_editing_one_models_code_rebuilds_and_releases_that_model_only(tmp_path, capsys):
    iris = tmp_path / "iris"
    shutil.copytree(PROJECT_DIR / "examples" / "iris", iris, ignore=shutil.ignore_patterns("artifacts"))
    doc = yaml.safe_load(FLEET.read_text())
    doc["config"]["model-webapp:models"]["iris"]["code"].update(
        sourceDir=str(iris / "src"), environmentSpec=str(iris / "requirements.txt"))
    config = tmp_path / "fleet.yaml"  # the same stack name as the example's: plans of one stack compare
    config.write_text(yaml.safe_dump(doc))
    assert plan.main(["--config-file", str(config), "--format", "json"]) == 0
    old = tmp_path / "old.json"
    old.write_text(capsys.readouterr().out)
    with open(iris / "src" / "score.py", "a") as script:
        script.write("\n# one model's edit\n")
    assert plan.main(["--config-file", str(config), "--against", str(old), "--format", "json"]) == 0
    diff = json.loads(capsys.readouterr().out)
    changed = sorted((c["type"], c["urn"].rsplit("::", 1)[1], c["op"]) for c in diff["changes"])
    assert changed == [(PACKAGE_TYPE, "mw-fleet-iris-package", "replace"), (SWAP_TYPE, "mw-fleet-iris-swap", "replace")]
    rebuilds = {m["urn"].rsplit("::", 1)[1]: m["rebuild"] for m in diff["meanings"] if m["type"] == PACKAGE_TYPE}
    swaps = {m["urn"].rsplit("::", 1)[1]: m["swap"] for m in diff["meanings"] if m["type"] == SWAP_TYPE}
    assert rebuilds == {"mw-fleet-diabetes-package": False, "mw-fleet-iris-package": True,
                        "mw-fleet-wine-package": False}
    assert swaps == {"mw-fleet-diabetes-swap": False, "mw-fleet-iris-swap": True, "mw-fleet-wine-swap": False}
    assert [c["path"] for c in diff["outputChanges"]] == ["models.iris.image"]
    # The summary says which model each sentence is about.
    assert plan.main(["--config-file", str(config), "--against", str(old)]) == 0
    text = capsys.readouterr().out
    assert "mw-fleet-iris-package: package image: REBUILD" in text and "mw-fleet-iris-swap: release: SWAP" in text
    assert "mw-fleet-wine-package: package image: no rebuild" in text


# -- the two example models: trained like the first, scored by the same contract ------------------------------------
def load_example(name: str, what: str):
    spec = importlib.util.spec_from_file_location(f"fleet_{name}_{what}", PROJECT_DIR / "examples" / name /
                                                  ("train.py" if what == "train" else "src/score.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module", params=sorted(EXAMPLE_MODELS))
def example(request, tmp_path_factory):
    """An example's entry script, init() run on a model trained into a temporary folder."""
    name = request.param
    folder = tmp_path_factory.mktemp(name)
    load_example(name, "train").train(folder)
    script = load_example(name, "score")
    before = os.environ.get("AZUREML_MODEL_DIR")
    os.environ["AZUREML_MODEL_DIR"] = str(folder)
    try:
        script.init()
    finally:
        os.environ.pop("AZUREML_MODEL_DIR") if before is None else os.environ.__setitem__("AZUREML_MODEL_DIR", before)
    return name, script, folder


def post(script, body, content_type: str = "application/json", method: str = "POST"):
    request = Request(EnvironBuilder(method=method, data=body, content_type=content_type).get_environ())
    response = script.run(request)
    return response.status_code, json.loads(response.get_data())


def test_an_example_scores_its_sample_request_one_class_per_row(example):
    name, script, folder = example
    body = (PROJECT_DIR / "examples" / name / "sample-request.json").read_bytes()
    rows = json.loads(body)["data"]
    assert all(len(row) == EXAMPLE_MODELS[name] == script.N_FEATURES for row in rows)
    status, predictions = post(script, body)
    assert status == 200
    assert predictions == joblib.load(folder / "model.joblib").predict(np.asarray(rows)).tolist()
    assert predictions == [0, 1, 2]  # the sample's rows are one of each class, from the bundled data


@pytest.mark.parametrize("body, content_type, method, status, fragment", [
    (b"{data", "application/json", "POST", 400, "not valid JSON"),
    (b"", "application/json", "POST", 400, '{"data": [['),
    (b'{"rows": [[1]]}', "application/json", "POST", 400, '{"data": [['),
    (b'{"data": [[1, 2]]}', "application/json", "POST", 400, "row 0 has 2 values"),
    (b'{"data": [[true]]}', "application/json", "POST", 400, "row 0 has 1 values"),
    (b'{"data": [1]}', "application/json", "POST", 400, "with a row or more"),
    (b'{"data": [[1]]}', "text/plain", "POST", 415, "Content-Type must be application/json"),
    (b"", "application/json", "GET", 405, "use POST"),
])
def test_an_example_answers_bad_input_with_a_4xx_and_an_error(example, body, content_type, method, status, fragment):
    _name, script, _folder = example
    got, payload = post(script, body, content_type, method)
    assert got == status and fragment in payload["error"]


def test_an_example_names_a_bad_value_by_row_and_column(example):
    name, script, _folder = example
    width = EXAMPLE_MODELS[name]
    for value, fragment in (('"1"', 'is "1": expected a number'), ("true", "is true: expected a number"),
                            ("null", "is null"), ("NaN", "NaN is not allowed"), ("1e999", "not a finite number")):
        row = ", ".join(["1"] * (width - 1) + [value])
        got, payload = post(script, f'{{"data": [[{", ".join(["1"] * width)}], [{row}]]}}'.encode())
        assert got == 400 and fragment in payload["error"], value
        if value != "NaN":
            assert f"row 1, column {width - 1}" in payload["error"]


def test_an_examples_init_needs_azureml_model_dir(monkeypatch, tmp_path):
    for name in EXAMPLE_MODELS:
        script = load_example(name, "score")
        monkeypatch.delenv("AZUREML_MODEL_DIR", raising=False)
        with pytest.raises(RuntimeError, match="AZUREML_MODEL_DIR is not set"):
            script.init()
        monkeypatch.setenv("AZUREML_MODEL_DIR", str(tmp_path))
        with pytest.raises(FileNotFoundError, match="no model.joblib"):
            script.init()


def test_an_example_trains_the_same_model_every_time_into_a_git_ignored_folder(tmp_path):
    for name in EXAMPLE_MODELS:
        trainer = load_example(name, "train")
        assert trainer.DEFAULT_OUTPUT == PROJECT_DIR / "examples" / name / "artifacts"
        first = joblib.load(trainer.train(tmp_path / name / "1"))
        second = joblib.load(trainer.train(tmp_path / name / "2"))
        probe = np.asarray(json.loads((PROJECT_DIR / "examples" / name / "sample-request.json").read_text())["data"])
        assert first.predict_proba(probe).tolist() == second.predict_proba(probe).tolist()
        ignored = subprocess.run(["git", "-C", str(PROJECT_DIR), "check-ignore", "-q",
                                  f"examples/{name}/artifacts/model.joblib"])
        assert ignored.returncode == 0, f"examples/{name}/artifacts/ is not git-ignored"


def test_each_example_model_has_its_own_kind_of_environment_file():
    models = yaml.safe_load(FLEET.read_text())["config"]["model-webapp:models"]
    specs = {s: Path(models[s]["code"]["environmentSpec"]) for s in SERVICES}
    assert {s: p.suffix for s, p in specs.items()} == {"diabetes": ".yml", "iris": ".txt", "wine": ".yml"}
    assert all((PROJECT_DIR / p).is_file() for p in specs.values())
    assert "azureml-inference-server-http" in (PROJECT_DIR / specs["iris"]).read_text()
    assert "azureml-inference-server-http" in json.dumps(yaml.safe_load((PROJECT_DIR / specs["wine"]).read_text()))
    # The smoke request sits beside the code, not in it: a new request must not rebuild the image.
    assert all(not (PROJECT_DIR / models[s]["code"]["sourceDir"] / "sample-request.json").exists() for s in SERVICES)
