"""Fixtures shared by the tests: the planned dev and prod stacks, one trained model, one local service."""
from __future__ import annotations

import shutil
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from local.serve import LocalService, free_port, service_spec
from offline.mock_engine import ProgramRun, run_program
from offline.project import PROJECT_DIR
from providers import retries

sys.path.insert(0, str(PROJECT_DIR / "model"))
from train import train  # noqa: E402  (model/train.py)


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    """Retried Azure calls wait between attempts with real sleeps: none in the tests, which count attempts instead."""
    monkeypatch.setattr(retries, "RETRY_BASE_SECONDS", 0.0)


@pytest.fixture
def code(tmp_path) -> Path:
    """A copy of the example's code folder and environment spec, free to change."""
    shutil.copytree(PROJECT_DIR / "model" / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(PROJECT_DIR / "model" / "environment.yml", tmp_path / "environment.yml")
    return tmp_path


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


# The repository's two stacks, planned once per session. Read them only: a test that changes a plan deep-copies it.
@pytest.fixture(scope="session")
def dev() -> ProgramRun:
    from tests.helpers import stack_values

    return run_program(stack_values("dev"), "dev")


@pytest.fixture(scope="session")
def prod() -> ProgramRun:
    from tests.helpers import stack_values

    return run_program(stack_values("prod"), "prod")
