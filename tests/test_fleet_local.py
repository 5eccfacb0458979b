"""The local tools on a stack with several models: `--service <name>` picks the one that local.serve and local.demo
rehearse and local.smoke tests, with that service's own entry script, workers, model, auth, access and smoke request."""
from __future__ import annotations

import http.server
import importlib.util
import json
import os
import stat
import threading
from pathlib import Path

import pytest
import yaml

from local import demo, serve, smoke
from local.serve import EXAMPLE_ENTRY_SCRIPT, EXAMPLE_MODEL_DIR, UsageError, free_port, service_spec
from offline.project import PROJECT_DIR

FLEET = PROJECT_DIR / "examples" / "fleet.yaml"
EXAMPLES = PROJECT_DIR / "examples"
LISTED = "(diabetes, iris, wine)"


def fleet_file(tmp_path: Path, **config) -> Path:
    """A copy of the example with model-webapp:<key> changed (models.<service> keys merged in under `models`)."""
    doc = yaml.safe_load(FLEET.read_text())
    for key, value in config.items():
        if key == "models":
            for service, keys in value.items():
                doc["config"]["model-webapp:models"][service].update(keys)
        else:
            doc["config"][f"model-webapp:{key}"] = value
    path = tmp_path / "fleet.yaml"  # paths in it are the project's, as in every stack file: it may live anywhere
    path.write_text(yaml.safe_dump(doc))
    return path


# -- local.serve and local.demo: which service ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def roomy(tmp_path_factory) -> Path:
    """The example on eight vCPUs (two workers each), iris with five of its own."""
    return fleet_file(tmp_path_factory.mktemp("roomy"), sku="P3v3", models={"iris": {"workerCount": 5}})


def test_a_service_is_rehearsed_with_its_own_script_workers_model_and_request(roomy):
    iris = service_spec(config_file=roomy, service="iris")
    wine = service_spec(config_file=roomy, service="wine")
    assert (iris.stack, iris.service, iris.label) == ("fleet", "iris", "stack fleet, service iris")
    assert iris.entry_script == EXAMPLES / "iris" / "src" / "score.py"
    assert wine.entry_script == EXAMPLES / "wine" / "src" / "score.py"
    assert (iris.worker_count, wine.worker_count) == (5, 2)  # each read from its own site's WORKER_COUNT
    assert iris.smoke_request == EXAMPLES / "iris" / "sample-request.json"
    assert wine.smoke_request == EXAMPLES / "wine" / "sample-request.json"
    assert (iris.model.name, wine.model.name) == ("iris-logreg", "wine-logreg")
    assert iris.port == wine.port == 5001
    assert not iris.is_example and iris.model_dir is None  # their models are not the example's to train


def test_the_example_model_among_the_services_is_served_from_model_artifacts():
    spec = service_spec(config_file=FLEET, service="diabetes")
    assert spec.is_example and spec.entry_script == EXAMPLE_ENTRY_SCRIPT and spec.model_dir == EXAMPLE_MODEL_DIR
    assert spec.smoke_request == PROJECT_DIR / "model" / "sample-request.json" and spec.worker_count == 1


@pytest.mark.parametrize("tool", [serve, demo])
def test_a_stack_with_models_and_no_service_is_an_error_listing_them(tool, capsys):
    assert tool.main(["--config-file", str(FLEET)]) == 2
    err = capsys.readouterr().err
    assert f"stack fleet serves 3 models: pick one with --service {LISTED}" in err and "Traceback" not in err


def test_an_unknown_service_is_an_error_listing_the_services(capsys):
    assert serve.main(["--config-file", str(FLEET), "--service", "irsi"]) == 2
    assert f"stack fleet has no service 'irsi': pick one with --service {LISTED}" in capsys.readouterr().err


@pytest.mark.parametrize("tool", [serve, demo])
def test_service_on_a_one_model_stack_says_it_has_one_model(tool, capsys):
    assert tool.main(["--stack", "dev", "--service", "iris"]) == 2
    assert "stack dev has one model (no models map)" in capsys.readouterr().err
    with pytest.raises(UsageError, match="has one model"):
        service_spec("dev", service="diabetes")


def test_a_service_with_its_own_code_asks_for_its_model_folder_naming_the_service(capsys):
    assert demo.main(["--config-file", str(FLEET), "--service", "wine"]) == 2
    err = capsys.readouterr().err
    assert "stack fleet, service wine serves examples/wine/src/score.py, not the example's" in err
    assert "wine-logreg version 1" in err and "--model-dir" in err


def test_the_demo_serves_the_named_service_and_sends_its_smoke_request(tmp_path, capsys):
    trainer = importlib.util.spec_from_file_location("iris_train", EXAMPLES / "iris" / "train.py")
    module = importlib.util.module_from_spec(trainer)
    trainer.loader.exec_module(module)
    model = tmp_path / "iris-model"
    module.train(model)
    code = demo.main(["--config-file", str(FLEET), "--service", "iris", "--model-dir", str(model),
                      "--port", str(free_port())])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"stack fleet, service iris: entry script examples/iris/src/score.py, model folder {model}" in out
    assert "starting azmlinfsrv for stack fleet, service iris" in out
    assert "(examples/iris/sample-request.json)" in out
    assert "\n200\n" in out and "[0, 1, 2]" in out  # iris's own three rows of four features, one class each


# -- local.smoke: the service's auth, access and smoke request -----------------------------------------------------
class Scorer(http.server.BaseHTTPRequestHandler):
    """A scoring service that answers one number per row sent, and 401 without a token; it records what it got."""
    bodies: list[dict] = []
    tokens: list = []

    def do_POST(self):  # noqa: N802 - the handler's API
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Scorer.bodies.append(body)
        Scorer.tokens.append(self.headers.get("Authorization"))
        status, answer = (401, b"") if "Authorization" not in self.headers else \
            (200, json.dumps([0] * len(body["data"])).encode())
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *_args):
        pass


@pytest.fixture
def scorer():
    server = http.server.HTTPServer(("127.0.0.1", 0), Scorer)
    Scorer.bodies, Scorer.tokens = [], []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/score"
    server.shutdown()


@pytest.fixture
def az(tmp_path, monkeypatch) -> Path:
    """An `az` on the PATH that prints a token and writes down the audience it was asked for."""
    log = tmp_path / "az-args"
    script = tmp_path / "bin" / "az"
    script.parent.mkdir()
    script.write_text(f"#!/bin/sh\necho \"$@\" >> {log}\necho fake-token-for-test\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{script.parent}{os.pathsep}{os.environ['PATH']}")
    return log


@pytest.mark.parametrize("service, audience", [("wine", "api://55555555-5555-5555-5555-555555555555"),
                                               ("iris", "api://44444444-4444-4444-4444-444444444444")])
def test_smoke_sends_the_services_request_with_a_token_for_its_audience(service, audience, scorer, az, capsys):
    code = smoke.main(["--scoring-uri", scorer, "--config-file", str(FLEET), "--service", service])
    out, err = capsys.readouterr()
    assert code == 0, err
    request = json.loads((EXAMPLES / service / "sample-request.json").read_text())
    assert Scorer.bodies == [request, request]  # with the token, then without it (refused: 401)
    assert Scorer.tokens == ["Bearer fake-token-for-test", None]
    assert az.read_text().split()[:4] == ["account", "get-access-token", "--resource", audience]
    assert f"{len(request['data'])} predictions" in out and "without a token: 401" in out


def test_smoke_reads_the_services_access_not_another_services(scorer, az, tmp_path, capsys):
    config = fleet_file(tmp_path, models={"iris": {"access": {"allowedIpRanges": ["198.51.100.0/24"]}}})
    assert smoke.main(["--scoring-uri", scorer, "--config-file", str(config), "--service", "iris"]) == 2
    assert "the stack sets `access`" in capsys.readouterr().err  # iris must admit this machine first
    assert Scorer.bodies == []
    code = smoke.main(["--scoring-uri", scorer, "--config-file", str(config), "--service", "diabetes"])
    assert code == 0, capsys.readouterr().err  # diabetes has no access rules to pass
    assert Scorer.bodies[0] == json.loads((PROJECT_DIR / "model" / "sample-request.json").read_text())


def test_smoke_of_a_stack_with_models_needs_the_service(capsys):
    code = smoke.main(["--scoring-uri", "http://127.0.0.1:1/score", "--config-file", str(FLEET)])
    assert code == 2 and f"pick one with --service {LISTED}" in capsys.readouterr().err
    code = smoke.main(["--scoring-uri", "http://127.0.0.1:1/score", "--stack", "dev", "--service", "iris"])
    assert code == 2 and "stack dev has one model" in capsys.readouterr().err
    code = smoke.main(["--scoring-uri", "http://127.0.0.1:1/score", "--service", "iris"])
    assert code == 2 and "name the stack too (--stack or --config-file)" in capsys.readouterr().err


def test_smoke_keeps_the_scoring_uri_required():
    with pytest.raises(SystemExit) as exited:
        smoke.main(["--config-file", str(FLEET), "--service", "iris"])
    assert exited.value.code == 2


def test_a_service_that_sends_no_smoke_request_is_named_by_its_key(tmp_path, capsys):
    config = fleet_file(tmp_path, models={"wine": {"release": {"smokeRequest": ""}}})
    assert smoke.main(["--scoring-uri", "http://127.0.0.1:1/score", "--config-file", str(config),
                       "--service", "wine"]) == 2
    assert "(models.wine.release.smokeRequest is empty): pass --sample" in capsys.readouterr().err
    assert service_spec(config_file=config, service="wine").smoke_request is None
    with pytest.raises(ValueError, match=r"stack fleet sends no smoke request \(models.wine.release.smokeRequest"):
        demo.request_body(None, "fleet", "wine")
