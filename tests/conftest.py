"""Fixtures shared by the scoring service's tests and the smoke test: one trained model, one local service."""
from __future__ import annotations

import sys
from dataclasses import replace

import pytest

from local.serve import LocalService, free_port, service_spec
from offline.project import PROJECT_DIR

sys.path.insert(0, str(PROJECT_DIR / "model"))
from train import train  # noqa: E402  (model/train.py)


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("model")
    train(folder)
    return folder


@pytest.fixture(scope="session")
def service(model_dir):
    """azmlinfsrv on a free loopback port with the dev stack's entry script, port aside, and workers."""
    spec = replace(service_spec("dev", model_dir), port=free_port())
    with LocalService(spec) as running:
        yield running
