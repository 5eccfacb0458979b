"""The real inference server (azmlinfsrv) with the example entry script and model, on a free loopback port."""
from __future__ import annotations

import json
import sys

import joblib
import numpy as np
import pytest
import requests

from tests.helpers import WEB_APP, app_settings, stack_values
from offline.mock_engine import run_program
from offline.project import PROJECT_DIR
from local.serve import service_spec
from local.smoke import SAMPLE

sys.path.insert(0, str(PROJECT_DIR / "model"))
from train import MODEL_FILE  # noqa: E402  (model/train.py)

MANUAL_REQUEST = {"data": [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [10, 9, 8, 7, 6, 5, 4, 3, 2, 1]]}
JSON = {"Content-Type": "application/json"}


def score(service, body, headers=JSON):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return requests.post(service.spec.base_url + "/score", data=data, headers=headers, timeout=10)


def test_the_sample_request_is_the_manual_procedures():
    assert json.loads(SAMPLE.read_text()) == MANUAL_REQUEST


def test_manual_procedure_request_gets_the_models_predictions(service, model_dir):
    response = score(service, MANUAL_REQUEST)
    assert response.status_code == 200
    predictions = response.json()
    expected = joblib.load(model_dir / MODEL_FILE).predict(np.asarray(MANUAL_REQUEST["data"], dtype=float))
    assert len(predictions) == 2
    assert predictions == pytest.approx(expected.tolist(), rel=1e-12)


BAD_REQUESTS = {
    "not json": (b"{data: [1,2]", JSON, "not valid JSON"),
    "not an object": ([[1] * 10], JSON, "must be a JSON object"),
    "data missing": ({"rows": [[1] * 10]}, JSON, 'no "data" key'),
    "data not a list": ({"data": "1,2,3"}, JSON, "list of rows"),
    "row not a list": ({"data": [1, 2, 3]}, JSON, "list of rows"),
    "wrong length": ({"data": [[1] * 10, [1] * 9]}, JSON, "row 1 has 9 values"),
    "non-numeric": ({"data": [[1] * 9 + ["x"]]}, JSON, "row 0, column 9"),
    "boolean": ({"data": [[True] + [1] * 9]}, JSON, "row 0, column 0"),
    "null": ({"data": [[None] + [1] * 9]}, JSON, "expected a number"),
    "nan": (b'{"data": [[NaN, 1, 1, 1, 1, 1, 1, 1, 1, 1]]}', JSON, "NaN is not allowed"),
    "infinity": (b'{"data": [[1, 1, 1, 1, 1, 1, 1, 1, 1, -Infinity]]}', JSON, "-Infinity is not allowed"),
    "overflow": (b'{"data": [[1e999, 1, 1, 1, 1, 1, 1, 1, 1, 1]]}', JSON, "not a finite number"),
    "huge integer": (b'{"data": [[' + b"9" * 400 + b', 1, 1, 1, 1, 1, 1, 1, 1, 1]]}', JSON, "not a finite number"),
    "no rows": ({"data": []}, JSON, "no rows"),
    "rows one level too deep": ({"data": [[list(range(10))]]}, JSON,
                                "row 0 is a list of lists: send each row as a flat list of 10 numbers"),
    "every row wrapped": ({"data": [[[1] * 10, [2] * 10]]}, JSON, "row 0 is a list of lists"),
    "too many rows": ({"data": [[1] * 10] * 1001}, JSON, "at most 1000"),
    "empty body": (b"", JSON, "empty"),
    "wrong content type": (json.dumps(MANUAL_REQUEST), {"Content-Type": "text/plain"}, "application/json"),
    "no content type": (json.dumps(MANUAL_REQUEST).encode(), {}, "application/json"),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_input_is_a_4xx_with_a_json_error(service, case):
    body, headers, fragment = BAD_REQUESTS[case]
    response = score(service, body, headers)
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    assert fragment in response.json()["error"]


def test_service_keeps_serving_after_bad_input(service):
    for body, headers, _ in BAD_REQUESTS.values():
        score(service, body, headers)
    assert score(service, MANUAL_REQUEST).status_code == 200


def test_get_score_is_refused(service):
    response = requests.get(service.spec.base_url + "/score", timeout=10)
    assert response.status_code == 405 and "POST" in response.json()["error"]


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_every_other_method_on_score_gets_the_same_json_error(service, method):
    # GET reaches run(); PUT, DELETE and PATCH never do (azmlinfsrv routes only GET, POST and OPTIONS to it).
    response = requests.request(method, service.spec.base_url + "/score", json=MANUAL_REQUEST, timeout=10)
    assert response.status_code == 405
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == {"error": "use POST with a JSON body"}
    assert response.headers["Allow"] == "POST"


def test_other_paths_keep_the_servers_own_answers(service):
    # The entry script's 405 handler answers for /score only: elsewhere the server's {"message": ...} is unchanged.
    put_root = requests.put(service.spec.base_url + "/", timeout=10)
    assert put_root.status_code == 405 and "message" in put_root.json() and "GET" in put_root.headers["Allow"]
    missing = requests.get(service.spec.base_url + "/nowhere", timeout=10)
    assert missing.status_code == 404 and "message" in missing.json()


def test_health_check_path_answers(service):
    response = requests.get(service.spec.base_url + "/", timeout=10)
    assert response.status_code == 200


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_serve_uses_the_port_and_workers_the_stack_declares(stack, model_dir):
    site = run_program(stack_values(stack), stack).one(WEB_APP)
    declared = app_settings(site)
    spec = service_spec(stack, model_dir)
    assert spec.port == int(declared["WEBSITES_PORT"])
    assert spec.worker_count == int(declared["WORKER_COUNT"])
    assert spec.entry_script == PROJECT_DIR / "model" / "src" / "score.py"


# -- the entry script in process: the whole-array checks must refuse what the value-by-value walk refuses ----------
@pytest.fixture(scope="module")
def entry_script(model_dir):
    import importlib.util
    import os

    before = os.environ.get("AZUREML_MODEL_DIR")
    os.environ["AZUREML_MODEL_DIR"] = str(model_dir)
    try:
        spec = importlib.util.spec_from_file_location("score_in_process", PROJECT_DIR / "model" / "src" / "score.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.init()
    finally:
        os.environ.pop("AZUREML_MODEL_DIR") if before is None else os.environ.__setitem__("AZUREML_MODEL_DIR", before)
    return module


@pytest.mark.parametrize("body, fragment", [
    (b'{"data": [["1", 1, 1, 1, 1, 1, 1, 1, 1, 1]]}', 'row 0, column 0 is "1"'),  # numpy would read "1" as 1.0
    (b'{"data": [[1, 1, 1, 1, 1, 1, 1, 1, 1, true]]}', "row 0, column 9 is true"),  # ... and true as 1.0
    (b'{"data": [[1, 1, 1, 1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1, 1, 1, [1]]]}', "row 1, column 9 is [1]"),
    (b'{"data": [[1, 1, 1, 1, 1, 1, 1, 1, 1, {}]]}', "row 0, column 9 is {}"),
    (b'{"data": [[1, 1, 1, 1, 1, 1, 1, 1, 1, 1], [2, 2]]}', "row 1 has 2 values"),
    (b'{"data": [[1, 1, 1, 1, 1, 1, 1, 1, 1, 1e400], [2, 2]]}', "row 0, column 9 is not a finite number"),
    (b'{"data": [[1, 1], "x"]}', "list of rows"),
    (b'{"data": [[1, 1, 1, 1, 1, 1, 1, 1, 1, 1], [[1, 2], [3, 4]]]}', "row 1 is a list of lists"),
])
def test_bad_values_are_named_by_row_and_column_in_process(entry_script, body, fragment):
    with pytest.raises(entry_script.BadRequest, match=fragment.replace("[", r"\[").replace("{", r"\{")):
        entry_script.parse_rows(body, "application/json")


@pytest.mark.parametrize("body", [
    b'{"data": [[1180591620717411303424, 1, 1, 1, 1, 1, 1, 1, 1, 1]]}',  # beyond int64, still a float
    b'{"data": [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]], "note": "full of true and null"}',  # a second key
    b'{"data": [[0.5, -1, 2e-3, 4, 5, 6, 7, 8, 9, 10]]}',
])
def test_good_requests_outside_the_fast_path_are_scored_the_same(entry_script, body):
    rows = json.loads(body)["data"]
    features = entry_script.parse_rows(body, "application/json")
    assert features.tolist() == np.asarray(rows, dtype=float).tolist()
    expected = entry_script.model.predict(np.asarray(rows, dtype=float)).tolist()
    assert entry_script.predict(features) == pytest.approx(expected, rel=1e-12)


# -- init(): the model folder comes from AZUREML_MODEL_DIR, and nowhere else ------------------------------------------
def test_init_without_azureml_model_dir_names_the_variable(entry_script, monkeypatch, tmp_path):
    monkeypatch.delenv("AZUREML_MODEL_DIR", raising=False)
    monkeypatch.chdir(tmp_path)  # a model.joblib in the working directory must not be picked up
    (tmp_path / MODEL_FILE).write_bytes(b"")
    with pytest.raises(RuntimeError, match="AZUREML_MODEL_DIR is not set"):
        entry_script.init()


def test_init_names_the_folder_and_what_it_holds_when_no_model_is_in_it(entry_script, monkeypatch, tmp_path):
    (tmp_path / "outputs").mkdir()
    (tmp_path / "outputs" / "model.pkl").write_bytes(b"")
    monkeypatch.setenv("AZUREML_MODEL_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=rf"no model.joblib under AZUREML_MODEL_DIR={tmp_path}: "
                                                r"it holds outputs/, outputs/model.pkl$"):
        entry_script.init()
    monkeypatch.setenv("AZUREML_MODEL_DIR", str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="missing: no such folder"):
        entry_script.init()
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("AZUREML_MODEL_DIR", str(empty))
    with pytest.raises(FileNotFoundError, match="the folder is empty"):
        entry_script.init()


def test_init_finds_a_model_one_folder_down_as_a_registered_folder_model_is_laid_out(entry_script, model_dir,
                                                                                   monkeypatch, tmp_path):
    (tmp_path / "outputs").mkdir()
    (tmp_path / "outputs" / MODEL_FILE).write_bytes((model_dir / MODEL_FILE).read_bytes())
    monkeypatch.setenv("AZUREML_MODEL_DIR", str(tmp_path))
    before = entry_script.model
    try:
        entry_script.init()
        assert entry_script.model is not before
    finally:
        entry_script.model = before
