"""RoleAssignmentWait: a bounded pause after a new role assignment, so the first use of the role is authorised.

Why: Azure RBAC changes "can take up to 10 minutes to take effect" (Microsoft Learn, Troubleshoot Azure RBAC,
"Role assignment changes are not being detected"); a web app created right after its identity's AcrPull
assignment can have its first image pull refused, and App Service is not documented to retry that pull
(unverified: no Microsoft source says whether or when it does). Waiting only when the assignment is new costs
nothing on later runs. The default (90 s, model-webapp:firstPullWaitSeconds) covers the one to two minutes
reported for new managed identities (azure-dev issue 7529) without holding every first `up` for ten.

The provider calls no Azure API and holds nothing but an optional sleep function for tests.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Optional

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ResourceProvider, UpdateResult
from pulumi.runtime.rpc import UNKNOWN

MAX_SECONDS = 900


# fact: registry-role-propagation
class RoleAssignmentWaitProvider(ResourceProvider):
    serialize_as_secret_always = False  # nothing secret in it

    def __init__(self, sleep: Optional[Callable[[float], None]] = None) -> None:
        super().__init__()
        if sleep is not None:  # tests only: the real one is looked up per call
            self.sleep = sleep

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        seconds = news.get("seconds")
        failures = []
        if seconds != UNKNOWN and not (isinstance(seconds, (int, float)) and 0 <= seconds <= MAX_SECONDS):
            failures.append(CheckFailure("seconds", f"must be a number of seconds from 0 to {MAX_SECONDS}"))
        if not news.get("assignment_id"):
            failures.append(CheckFailure("assignment_id", "the role assignment to wait for is missing"))
        return CheckResult(news, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # A new assignment is a new propagation: replace, and so wait again. A new duration alone waits for nothing.
        replaces = ["assignment_id"] if news.get("assignment_id") in (UNKNOWN, None) or \
            news.get("assignment_id") != olds.get("assignment_id") else []
        changed = replaces or [k for k in ("seconds", "why") if olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> CreateResult:
        seconds = float(props.get("seconds") or 0)
        if seconds:
            pulumi.log.info(f"waiting {seconds:g} s for {props.get('why') or 'the role assignment'} to take effect")
            getattr(self, "sleep", time.sleep)(seconds)
        return CreateResult(id_=f"wait-{str(props['assignment_id']).rsplit('/', 1)[-1]}", outs=props)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=news)

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return None  # nothing was made


class RoleAssignmentWait(pulumi.dynamic.Resource, module="model-webapp", name="RoleAssignmentWait"):
    assignment_id: pulumi.Output[str]
    seconds: pulumi.Output[float]

    def __init__(self, name: str, assignment_id: pulumi.Input[str], seconds: int, why: str,
                 opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__(RoleAssignmentWaitProvider(), name,
                         {"assignment_id": assignment_id, "seconds": seconds, "why": why}, opts)
