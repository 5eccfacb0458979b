"""Entry script of the scoring service: init() loads the model, run() answers POST /score.

Request:  {"data": [[10 numbers], ...]}  with Content-Type: application/json
Response: [prediction, ...], one per row; bad input is a 4xx with {"error": "..."}, never a 500.
"""
from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

import joblib
import numpy as np
import sklearn
from azureml_inference_server_http.api.aml_request import rawhttp
from azureml_inference_server_http.api.aml_response import AMLResponse

MODEL_FILE = "model.joblib"
N_FEATURES = 10
MAX_ROWS = 1000  # bounds the work one request can ask for; documented in the README

model = None


class BadRequest(ValueError):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def init() -> None:
    global model
    # fact: local-azmlinfsrv-sets-model-dir (azmlinfsrv --model_dir sets it; the package image sets it too)
    root = os.environ.get("AZUREML_MODEL_DIR")
    if not root:
        raise RuntimeError(f"AZUREML_MODEL_DIR is not set: it must name the folder that holds {MODEL_FILE} "
                           "(azmlinfsrv --model_dir sets it; so does the package image)")
    found = sorted(Path(root).rglob(MODEL_FILE))  # a registered folder model sits one folder down
    if not found:
        raise FileNotFoundError(f"no {MODEL_FILE} under AZUREML_MODEL_DIR={root}: {_holds(Path(root))}")
    model = joblib.load(found[0])
    _answer_other_methods_too()


def _holds(folder: Path, most: int = 10) -> str:
    """What a folder holds, in a few words: the start of a failed init()'s message."""
    if not folder.is_dir():
        return "no such folder" if not folder.exists() else "it is a file, not a folder"
    entries = sorted(p.relative_to(folder).as_posix() + ("/" if p.is_dir() else "") for p in folder.rglob("*"))
    if not entries:
        return "the folder is empty"
    more = f" and {len(entries) - most} more" if len(entries) > most else ""
    return f"it holds {', '.join(entries[:most])}{more}"


def _answer_other_methods_too() -> None:
    """PUT, DELETE or PATCH /score get the {"error": ...} of a GET, not the server's own {"message": ...}.

    azmlinfsrv routes only GET, POST and OPTIONS to run(); other methods get its app-wide 405 handler. init() runs
    while the server registers its blueprint, before the blueprint's deferred set-up is applied, so a 405 handler
    added here reaches the app. Another server version without that order keeps its own answer: nothing fails.
    """
    # fact: local-azmlinfsrv-put-score-never-reaches-run
    routes = sys.modules.get("azureml_inference_server_http.server.routes")  # None in process: no server to tell
    try:
        routes.main_blueprint.app_errorhandler(405)(_method_not_allowed)
    except (AttributeError, AssertionError):  # AssertionError: Flask says the blueprint's set-up is over
        pass


def _method_not_allowed(exc):
    from flask import request

    if request.path.rstrip("/") == "/score":
        return _error("use POST with a JSON body", 405)
    # Other paths keep the server's own answer (create_app.handle_404_error), with the methods they allow.
    response = AMLResponse({"message": exc.description}, 405, json_str=True)
    if getattr(exc, "valid_methods", None):
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response


def _refuse_constant(name: str) -> float:
    # Python's json accepts NaN and Infinity, which are not JSON and not features.
    raise BadRequest(f"{name} is not allowed: every value must be a finite number")


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)


def parse_rows(body: bytes, content_type: str | None) -> np.ndarray:
    """The rows of a request body as an (n, 10) float array, or BadRequest naming what is wrong with it.

    A good request is checked with a few whole-body and whole-array operations; only a request that fails them is
    walked row by row and value by value, which names the first problem in row order.
    """
    if (content_type or "").split(";")[0].strip().lower() != "application/json":
        raise BadRequest("Content-Type must be application/json", 415)
    if not body or body.isspace():  # isspace, unlike strip, copies nothing
        raise BadRequest('request body is empty: send {"data": [[10 numbers], ...]}')
    try:
        # What json.loads(body, parse_constant=...) does, without building a decoder per request.
        payload = _DECODER.decode(body.decode(json.detect_encoding(body), "surrogatepass"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise BadRequest(f'request body must be a JSON object {{"data": [...]}}, not {type(payload).__name__}')
    if "data" not in payload:
        raise BadRequest('request body has no "data" key: send {"data": [[10 numbers], ...]}')
    rows = payload["data"]
    if isinstance(rows, list) and 0 < len(rows) <= MAX_ROWS:
        features = _numbers_only(body, rows)
        if features is not None:
            return features
    # Something is off (or unusual): the checks in the order users are told about them.
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise BadRequest('"data" must be a list of rows, each a list of 10 numbers')
    if not rows:
        raise BadRequest('"data" has no rows')
    if len(rows) > MAX_ROWS:
        raise BadRequest(f'"data" has {len(rows)} rows; at most {MAX_ROWS} per request')
    _explain(rows)
    # Good after all, e.g. an integer beyond int64 or a second key: every value is a finite number.
    return np.array(rows, dtype=float)


def _numbers_only(body: bytes, rows: list) -> np.ndarray | None:
    """The rows as an (n, 10) float array when the body can hold nothing but finite numbers in them; else None.

    np.array(dtype=float) would quietly turn "1" into 1.0, true into 1.0 and null into nan. A body whose only quotes
    are those of the "data" key has no strings, and one with no "l" or "u" has no true, false or null: both are
    byte searches (memchr), far cheaper than looking at every value's type.
    """
    first = body.find(b'"')
    second = body.find(b'"', first + 1)
    if body.find(b'"', second + 1) != -1 or b"l" in body or b"u" in body:
        return None
    try:
        features = np.array(rows, dtype=float)
    except (ValueError, TypeError, OverflowError):  # rows of unequal length, nested lists, integers beyond float
        return None
    if features.ndim != 2 or features.shape[1] != N_FEATURES or not np.isfinite(features).all():
        return None  # 1e999 parses as inf
    return features


def _explain(rows: list) -> None:
    """The first problem in row order, value by value: the messages users get for a bad request."""
    for i, row in enumerate(rows):
        if row and all(isinstance(value, list) for value in row):
            raise BadRequest(f"row {i} is a list of lists: send each row as a flat list of {N_FEATURES} numbers, "
                             f'{{"data": [[{N_FEATURES} numbers], ...]}}')
        if len(row) != N_FEATURES:
            raise BadRequest(f"row {i} has {len(row)} values; expected {N_FEATURES}")
        for j, value in enumerate(row):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise BadRequest(f"row {i}, column {j} is {json.dumps(value)}: expected a number")
            try:
                finite = math.isfinite(value)
            except OverflowError:  # an integer too large for a float
                finite = False
            if not finite:
                raise BadRequest(f"row {i}, column {j} is not a finite number")


def predict(features: np.ndarray) -> list[float]:
    # parse_rows has checked shape, type and finiteness: scikit-learn need not check them again per call.
    with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
        return model.predict(features).tolist()


def _error(message: str, status: int) -> AMLResponse:
    response = AMLResponse({"error": message}, status, json_str=True)
    if status == 405:
        response.headers["Allow"] = "POST"
    return response


@rawhttp
def run(request):
    if request.method != "POST":
        return _error("use POST with a JSON body", 405)
    try:
        features = parse_rows(request.get_data(), request.headers.get("Content-Type"))
    except BadRequest as exc:
        return _error(str(exc), exc.status)
    return AMLResponse(predict(features), 200, json_str=True)
