"""The plans the private-networking tests judge: the private example (examples/private.yaml) and a public stack."""
from __future__ import annotations

from offline.mock_engine import ProgramRun, run_program
from offline.project import PROJECT_DIR
from offline.stack_config import load_stack_config

PRIVATE_EXAMPLE = PROJECT_DIR / "examples" / "private.yaml"


def public_run(stack: str = "prod") -> ProgramRun:
    from tests.helpers import stack_values

    return run_program(stack_values(stack), stack)


def private_run() -> ProgramRun:
    """The prod-like private stack as planned: an endpoint per site and slot, public access off on both."""
    config = load_stack_config(None, PRIVATE_EXAMPLE)
    return run_program(dict(config.values), config.stack)
