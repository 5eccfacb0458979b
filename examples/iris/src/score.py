"""Entry script of the iris service: init() loads the classifier, run() answers POST /score.

Request:  {"data": [[4 numbers], ...]}  (sepal length, sepal width, petal length, petal width, in cm)
Response: [class, ...], one per row: 0 setosa, 1 versicolor, 2 virginica. Bad input is a 4xx with {"error": "..."}.
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
N_FEATURES = 4
MAX_ROWS = 1000  # bounds the work one request can ask for, as the diabetes example does

model = None


class BadRequest(ValueError):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def init() -> None:
    global model
    root = os.environ.get("AZUREML_MODEL_DIR")
    if not root:
        raise RuntimeError(f"AZUREML_MODEL_DIR is not set: it must name the folder that holds {MODEL_FILE} "
                           "(azmlinfsrv --model_dir sets it; so does the package image)")
    found = sorted(Path(root).rglob(MODEL_FILE))  # a registered folder model sits one folder down
    if not found:
        raise FileNotFoundError(f"no {MODEL_FILE} under AZUREML_MODEL_DIR={root}")
    model = joblib.load(found[0])


def _refuse_constant(name: str) -> float:
    # Python's json accepts NaN and Infinity, which are not JSON and not measurements.
    raise BadRequest(f"{name} is not allowed: every value must be a finite number")


def parse_rows(body: bytes, content_type: str | None) -> np.ndarray:
    """The request's rows as an (n, 4) float array, or BadRequest naming the first problem."""
    if (content_type or "").split(";")[0].strip().lower() != "application/json":
        raise BadRequest("Content-Type must be application/json", 415)
    try:
        payload = json.loads(body or b"null", parse_constant=_refuse_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}") from None
    rows = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(rows, list) or not rows or not all(isinstance(row, list) for row in rows):
        raise BadRequest(f'send {{"data": [[{N_FEATURES} numbers], ...]}} with a row or more')
    if len(rows) > MAX_ROWS:
        raise BadRequest(f'"data" has {len(rows)} rows; at most {MAX_ROWS} per request')
    for i, row in enumerate(rows):
        if len(row) != N_FEATURES:
            raise BadRequest(f"row {i} has {len(row)} values; expected {N_FEATURES}")
        for j, value in enumerate(row):
            # bool is an int to Python, and numpy would read true as 1.0: refused like any other non-number.
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise BadRequest(f"row {i}, column {j} is {json.dumps(value)}: expected a number")
            try:
                finite = math.isfinite(value)
            except OverflowError:  # an integer too large for a float
                finite = False
            if not finite:
                raise BadRequest(f"row {i}, column {j} is not a finite number")
    return np.array(rows, dtype=float)


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
    return AMLResponse([int(c) for c in model.predict(features)], 200, json_str=True)
