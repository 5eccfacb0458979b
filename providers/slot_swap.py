"""SlotSwap: the release of a new image through the staging slot, as a resource of the stack.

Create (and replace, when the expected image changes) runs the gate on the slot: stop it, write the expected image,
start it (a stopped slot has no old container left to answer for the new one), then its health path, the smoke
request and, with auth, an anonymous POST /score that must get 401 (providers/site_rollout.py has those checks).
A failed gate raises before the swap: production is untouched and keeps its image. After the swap, production's
health path and /score are probed; on failure the slot is swapped back at once and the `up` fails with what was seen.
Production already on the expected image (a first deploy, or a retry after an interrupted swap) is never swapped again.
On a stack with `access`, each probed host admits this runner through a temporary rule (removed afterwards).
Delete does nothing to the sites.

The image of both sites belongs to this resource, not to their declarations (ignore_changes on both): after a swap
production runs the new image and the slot the previous one, and neither is drift for a refresh to undo.

Like ModelPackage, the pickled provider holds no client or credential: `AzureSiteService` is made per call.
"""
from __future__ import annotations

from typing import Any, Optional

import pulumi
from pulumi.dynamic import CreateResult, ReadResult, UpdateResult

from settings.clouds import cloud

from .app_service import SiteService, log_tail, runner_allowed, same_image
from .retries import is_transient, with_retries
from .site_rollout import ReleaseCheckError, SiteReleaseProvider, Target, check_scoring, clock_and_sleep, reachable, \
    restart_on, wait_healthy

PROVIDER_VERSION = "1"
POST_SWAP_MINUTES = 3.0  # production may answer 502/503 for a moment after the swap
OUTPUT_KEYS = ("live_image", "previous_image")
SWAP_KEYS = ("subscription_id", "resource_group", "site_name", "slot_name", "expected_image", "provider_version")


class SwapGateError(Exception):
    """The slot did not pass the gate (production untouched), or production failed after the swap (swapped back)."""


def _say(message: str) -> None:
    pulumi.log.info(message)


def swap_until(service: SiteService, slot: str, wanted: str, what: str) -> None:
    """Swaps `slot` with production so that production runs `wanted`; a swap is not idempotent, so after a dropped
    connection look before swapping again."""
    def once() -> None:
        try:
            service.swap_with_production(slot)
        except Exception as exc:  # noqa: BLE001 - only a passing error is looked into
            if not is_transient(exc) or not same_image(service.image(None), wanted):
                raise

    with_retries(once, what)


class SlotSwapProvider(SiteReleaseProvider):
    replace_keys, output_keys = SWAP_KEYS, OUTPUT_KEYS

    def create(self, props: dict[str, Any]) -> CreateResult:
        service, slot, expected = self._service(props), props["slot_name"], props["expected_image"]
        live = with_retries(lambda: service.image(None), "reading production's image")
        if same_image(live, expected):
            # A first deploy (production created with this image) or a retry after a swap that went through.
            previous = with_retries(lambda: service.image(slot), f"reading slot {slot}'s image")
            return self._done(props, None if same_image(previous, expected) else previous)
        audience = props.get("auth_audience")
        token = service.token(audience) if audience else None
        try:
            self._gate(service, props, token)
        except ReleaseCheckError as exc:
            raise SwapGateError(f"slot {slot} failed the gate: {exc}. Production is untouched: it still runs {live}. "
                                f"{log_tail(service, slot)}\n{self._log_hint(props, slot)}") from None
        swap_until(service, slot, expected, f"swapping slot {slot} into production")
        now_live = with_retries(lambda: service.image(None), "reading production's image")
        if not same_image(now_live, expected):
            raise SwapGateError(f"the swap of slot {slot} finished but production's linuxFxVersion is {now_live!r}, not "
                                f"the expected {expected!r}: {self._log_hint(props, None)}")
        try:
            self._probe_production(service, props, token)
        except ReleaseCheckError as exc:
            seen = log_tail(service, None)
            # fact: release-swap-reverts-on-failure
            swap_until(service, slot, live, f"swapping slot {slot} back out of production")
            back = with_retries(lambda: service.image(None), "reading production's image")
            raise SwapGateError(f"production failed after the swap: {exc}. Swapped back at once: production runs "
                                f"{back} again and slot {slot} holds {expected}. {seen}") from None
        return self._done(props, live)

    def _done(self, props: dict[str, Any], previous: Optional[str]) -> CreateResult:
        outs = {**props, "live_image": props["expected_image"], "previous_image": previous}
        return CreateResult(id_=f"{props['site_name']}/{props['slot_name']}", outs=outs)

    def _gate(self, service: SiteService, props: dict[str, Any], token: Optional[str]) -> None:
        """Only answers of a container started from the expected image count: the slot is stopped first."""
        slot, clock_sleep = props["slot_name"], clock_and_sleep(self)
        minutes = float(props.get("health_timeout_minutes") or 20)
        with runner_allowed(service, slot, _say) as runner:
            host = with_retries(lambda: service.host_name(slot), f"reading slot {slot}'s host name")
            t = Target(service, slot, host, *clock_sleep, runner, token, props.get("auth_audience"),
                       rule_added_at=clock_sleep[0](), cloud=cloud(props.get("cloud")))
            reachable(t)  # before the slot is stopped
            restart_on(t, props["expected_image"], write=True)
            wait_healthy(t, props.get("health_path") or "/", minutes)
            check_scoring(t, props.get("smoke_rows"), minutes)

    def _probe_production(self, service: SiteService, props: dict[str, Any], token: Optional[str]) -> None:
        clock_sleep = clock_and_sleep(self)
        with runner_allowed(service, None, _say) as runner:
            host = with_retries(lambda: service.host_name(None), "reading production's host name")
            t = Target(service, None, host, *clock_sleep, runner, token, props.get("auth_audience"),
                       rule_added_at=clock_sleep[0](), cloud=cloud(props.get("cloud")))
            reachable(t)
            wait_healthy(t, props.get("health_path") or "/", POST_SWAP_MINUTES)
            check_scoring(t, props.get("smoke_rows"), POST_SWAP_MINUTES)

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
