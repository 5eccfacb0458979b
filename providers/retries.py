"""Retrying Azure calls that failed for a passing reason: throttling, server errors, dropped connections."""
from __future__ import annotations

import time
from typing import Any, Callable

import pulumi

RETRY_ATTEMPTS = 5
RETRY_BASE_SECONDS = 5.0


def is_transient(exc: BaseException) -> bool:
    """Throttling, server errors and dropped connections: worth another try."""
    from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

    if isinstance(exc, (ServiceRequestError, ServiceResponseError, ConnectionError, TimeoutError)):
        return True
    status = getattr(exc, "status_code", None) if isinstance(exc, HttpResponseError) else None
    return status is not None and (status == 429 or status >= 500)


def with_retries(call: Callable[[], Any], what: str, attempts: int = RETRY_ATTEMPTS) -> Any:
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except Exception as exc:  # noqa: BLE001 - classified below
            if attempt == attempts or not is_transient(exc):
                raise
            delay = RETRY_BASE_SECONDS * 2 ** (attempt - 1)
            pulumi.log.warn(f"{what}: transient error ({type(exc).__name__}: {exc}); retry {attempt} in {delay:.0f} s")
            time.sleep(delay)
    raise AssertionError("unreachable")
