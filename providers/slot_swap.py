"""SlotSwap: the release of a new image through the staging slot, as a resource of the stack.

Create (and replace, when the expected image changes) writes the expected image into the slot, then runs the gate:
(a) the slot runs the expected image and answers its health path with 200; (b) the smoke request, when set, gets 200 with one prediction per row;
(c) the slot is swapped into production; (d) production is confirmed on the expected image. A failed gate
raises before (c): production is untouched. Production already on the expected image (a first deploy, or a
retry after an interrupted swap) is never swapped again. Delete does nothing to the sites.

The image of both sites belongs to this resource, not to their declarations (ignore_changes on both): after a swap
production runs the new image and the slot the previous one, and neither is drift for a refresh to undo.

Like ModelPackage, the pickled provider holds no client or credential: `AzureSiteService` is made per call.
"""
from __future__ import annotations

import json
import time
from typing import Any, Callable, Optional

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ReadResult, ResourceProvider, \
    UpdateResult
from pulumi.runtime.rpc import UNKNOWN

from .app_service import AzureSiteService, Site, SiteService, prediction_problem
from .retries import is_transient, with_retries

PROVIDER_VERSION = "1"
POLL_SECONDS = 15.0
OUTPUT_KEYS = ("live_image", "previous_image")
SWAP_KEYS = ("subscription_id", "resource_group", "site_name", "slot_name", "expected_image", "provider_version")
ServiceFactory = Callable[[Site], SiteService]


class SwapGateError(Exception):
    """The slot did not pass the gate; production was not touched."""


def _site(props: dict[str, Any]) -> Site:
    return Site(props["subscription_id"], props["resource_group"], props["site_name"])


class SlotSwapProvider(ResourceProvider):
    serialize_as_secret_always = False  # nothing secret in it

    def __init__(self, service_factory: Optional[ServiceFactory] = None,
                 clock: Optional[Callable[[], float]] = None, sleep: Optional[Callable[[float], None]] = None) -> None:
        super().__init__()
        # Only tests pass these; the real ones are looked up per call, so nothing live is pickled.
        for name, value in (("service_factory", service_factory), ("clock", clock), ("sleep", sleep)):
            if value is not None:
                setattr(self, name, value)

    def _service(self, props: dict[str, Any]) -> SiteService:
        return (getattr(self, "service_factory", None) or AzureSiteService)(_site(props))

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures = []
        image = news.get("expected_image")
        if image != UNKNOWN and not str(image or "").startswith("DOCKER|"):
            failures.append(CheckFailure("expected_image", "must be the slot's linuxFxVersion, DOCKER|<image>"))
        minutes = news.get("health_timeout_minutes")
        if minutes != UNKNOWN and not (isinstance(minutes, (int, float)) and 1 <= minutes <= 120):
            failures.append(CheckFailure("health_timeout_minutes", "must be from 1 to 120 minutes"))
        rows = news.get("smoke_rows")
        if rows not in (None, UNKNOWN) and not (isinstance(rows, list) and rows):
            failures.append(CheckFailure("smoke_rows", "must be a non-empty list of rows, or unset"))
        return CheckResult(news, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # Only a new image (or a new place to release it) swaps; a new timeout or smoke request waits for the next.
        replaces = [k for k in SWAP_KEYS if news.get(k) == UNKNOWN or olds.get(k) != news.get(k)]
        others = [k for k in set(news) | set(olds) if k not in SWAP_KEYS + OUTPUT_KEYS and k != "__provider"
                  and olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(replaces or others), replaces=replaces, delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> CreateResult:
        service, slot, expected = self._service(props), props["slot_name"], props["expected_image"]
        live = with_retries(lambda: service.image(None), "reading production's image")
        if live == expected:
            # A first deploy (production created with this image) or a retry after a swap that went through.
            previous = with_retries(lambda: service.image(slot), f"reading slot {slot}'s image")
            return self._done(props, previous if previous != expected else None)
        if with_retries(lambda: service.image(slot), f"reading slot {slot}'s image") != expected:
            with_retries(lambda: service.set_image(slot, expected), f"writing the new image into slot {slot}")
        self._gate(service, props)

        def swap_once() -> None:
            # A swap is not idempotent: after a dropped connection, look before swapping again.
            try:
                service.swap_with_production(slot)
            except Exception as exc:  # noqa: BLE001 - only a passing error is looked into
                if not is_transient(exc) or service.image(None) != expected:
                    raise

        with_retries(swap_once, f"swapping slot {slot} into production")
        now_live = with_retries(lambda: service.image(None), "reading production's image")
        if now_live != expected:
            raise SwapGateError(f"the swap of slot {slot} finished but production runs {now_live!r}, not {expected!r}: "
                                f"{self._log_hint(props, None)}")
        return self._done(props, live)

    def _done(self, props: dict[str, Any], previous: Optional[str]) -> CreateResult:
        outs = {**props, "live_image": props["expected_image"], "previous_image": previous}
        return CreateResult(id_=f"{props['site_name']}/{props['slot_name']}", outs=outs)

    def _gate(self, service: SiteService, props: dict[str, Any]) -> None:
        slot, expected = props["slot_name"], props["expected_image"]
        clock, sleep = getattr(self, "clock", time.monotonic), getattr(self, "sleep", time.sleep)
        deadline = clock() + float(props.get("health_timeout_minutes") or 20) * 60
        token = service.token(props["auth_audience"]) if props.get("auth_audience") else None
        host = with_retries(lambda: service.host_name(slot), f"reading slot {slot}'s host name")
        state = "no answer yet"
        while True:
            image = with_retries(lambda: service.image(slot), f"reading slot {slot}'s image")
            if image != expected:
                state = f"the slot runs {image!r}, not the expected {expected!r}"
            else:
                answer = service.get(f"https://{host}{props.get('health_path') or '/'}", token)
                if answer.status == 200:
                    break
                state = f"its health path answered {answer.status or 'nothing'}: {answer.body[:200]}"
            if clock() >= deadline:
                raise SwapGateError(f"slot {slot} was not healthy within {props.get('health_timeout_minutes')} minutes "
                                    f"({state}); production is untouched. {self._log_hint(props, slot)}")
            sleep(POLL_SECONDS)
        if props.get("smoke_rows"):
            rows = props["smoke_rows"]
            answer = service.post(f"https://{host}/score", json.dumps({"data": rows}), token)
            problem = prediction_problem(answer.status, answer.body, len(rows))
            if problem:
                raise SwapGateError(f"slot {slot} failed the smoke request: {answer.status or 'no answer'}, POST /score "
                                    f"{problem} (wanted 200 with {len(rows)} predictions); production is untouched. "
                                    f"{self._log_hint(props, slot)}")

    @staticmethod
    def _log_hint(props: dict[str, Any], slot: Optional[str]) -> str:
        where = f" --slot {slot}" if slot else ""
        return f"Read its log: az webapp log tail --name {props['site_name']} --resource-group {props['resource_group']}{where}"

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        live = self._service(props).image(None)
        return ReadResult(id_=id_, outs={**props, "live_image": live})

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs={**news, **{k: olds.get(k) for k in OUTPUT_KEYS}})

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return None  # the sites stay as they are; the swap is history


class SlotSwap(pulumi.dynamic.Resource, module="model-webapp", name="SlotSwap"):
    live_image: pulumi.Output[str]
    previous_image: pulumi.Output[Optional[str]]

    def __init__(self, name: str, props: dict[str, Any], opts: Optional[pulumi.ResourceOptions] = None,
                 provider: Optional[SlotSwapProvider] = None) -> None:
        super().__init__(provider or SlotSwapProvider(), name,
                         {"provider_version": PROVIDER_VERSION, **props, **{k: None for k in OUTPUT_KEYS}}, opts)
