"""Entry script of the scoring service: init() loads the model, run() answers POST /score.

Request:  {"data": [[10 numbers], ...]}  with Content-Type: application/json
Response: [prediction, ...], one per row; bad input is a 4xx with {"error": "..."}, never a 500.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import joblib
import numpy as np
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
    root = Path(os.environ.get("AZUREML_MODEL_DIR", "."))
    found = sorted(root.rglob(MODEL_FILE))
    if not found:
        raise FileNotFoundError(f"no {MODEL_FILE} under AZUREML_MODEL_DIR={root}")
    model = joblib.load(found[0])


def _refuse_constant(name: str) -> float:
    # Python's json accepts NaN and Infinity, which are not JSON and not features.
    raise BadRequest(f"{name} is not allowed: every value must be a finite number")


def parse_rows(body: bytes, content_type: str | None) -> list[list[float]]:
    """The rows of a request body, or BadRequest naming what is wrong with it."""
    if (content_type or "").split(";")[0].strip().lower() != "application/json":
        raise BadRequest("Content-Type must be application/json", 415)
    if not body or not body.strip():
        raise BadRequest('request body is empty: send {"data": [[10 numbers], ...]}')
    try:
        payload = json.loads(body, parse_constant=_refuse_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise BadRequest(f'request body must be a JSON object {{"data": [...]}}, not {type(payload).__name__}')
    if "data" not in payload:
        raise BadRequest('request body has no "data" key: send {"data": [[10 numbers], ...]}')
    rows = payload["data"]
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise BadRequest('"data" must be a list of rows, each a list of 10 numbers')
    if not rows:
        raise BadRequest('"data" has no rows')
    if len(rows) > MAX_ROWS:
        raise BadRequest(f'"data" has {len(rows)} rows; at most {MAX_ROWS} per request')
    for i, row in enumerate(rows):
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
    return rows


def predict(rows: list[list[float]]) -> list[float]:
    return model.predict(np.asarray(rows, dtype=float)).tolist()


def _error(message: str, status: int) -> AMLResponse:
    return AMLResponse({"error": message}, status, json_str=True)


@rawhttp
def run(request):
    if request.method != "POST":
        return _error("use POST with a JSON body", 405)
    try:
        rows = parse_rows(request.get_data(), request.headers.get("Content-Type"))
    except BadRequest as exc:
        return _error(str(exc), exc.status)
    return AMLResponse(predict(rows), 200, json_str=True)
