"""SiteRollout: an in-place release ends when the site serves the new image; and the checks both release paths share.

"While the new container is being pulled and started, App Service continues to serve requests from the old
container" (Microsoft Learn, configure-custom-container): a 200 right after an image change may come from the old
image. So a release never trusts an answer until the old container is gone: it stops the site (or slot), sees that
the front end no longer routes to a container ("Error 403 - This web app is stopped"), makes sure the configured
linuxFxVersion is the expected one, and starts it. From then on the only container that can answer is one of the
configured image; the health path, the smoke request and, on stacks with auth, an anonymous POST /score (which must
be refused with 401) are asked of it. A failure carries the last lines of the container log, read through ARM.

SiteRollout is that wait for stacks without a slot (dev): created, and replaced whenever the site's linuxFxVersion
changes, after the site. SlotSwap (providers/slot_swap.py) runs the same checks on the slot, then after the swap on
production. Like the other providers, the pickled object holds no client or credential.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ReadResult, ResourceProvider, \
    UpdateResult
from pulumi.runtime.rpc import UNKNOWN

from settings.clouds import PUBLIC, Cloud, cloud

from .app_service import RUNNER_ADDRESS_VARIABLE, RUNNER_RULE, Answer, AzureSiteService, Site, SiteService, \
    forbidden_from_outside, log_tail, outside_network, prediction_problem, runner_allowed, same_image, token_claims, \
    where
from .retries import with_retries

PROVIDER_VERSION = "1"
POLL_SECONDS = 15.0
STOP_WAIT_SECONDS = 300.0  # how long a stopped site may go on answering 200 before the release refuses to trust it
ACCESS_GRACE_SECONDS = 120.0  # a new access rule takes a moment to reach every front end (fact: access-rule-propagation)
STARTING = {0, 502, 503, 504}  # the front end while no container is ready (fact: site-starting-answers-5xx)
OUTPUT_KEYS = ("live_image",)
ROLLOUT_KEYS = ("subscription_id", "resource_group", "site_name", "expected_image", "provider_version")
ServiceFactory = Callable[[Site], SiteService]


class ReleaseCheckError(Exception):
    """What the site answered that a healthy new container would not have."""


class RolloutError(Exception):
    """The site did not come up on the new image."""


def stopped_page(answer: Answer) -> bool:
    # fact: site-stopped-answers-403
    return answer.status == 403 and "stopped" in answer.body.lower()


@dataclass
class Target:
    """One host under test: production or a slot, and how to call it."""
    service: SiteService
    slot: Optional[str]
    host: str
    clock: Callable[[], float]
    sleep: Callable[[float], None]
    runner: Optional[str] = None  # this runner's address when a temporary rule admits it; None: the site is open
    token: Optional[str] = None
    audience: Optional[str] = None
    rule_added_at: float = 0.0
    cloud: Cloud = PUBLIC  # whose authority issues the tokens the site accepts
    private: bool = False  # public network access is off: only its private endpoint answers

    @property
    def name(self) -> str:
        return where(self.slot)

    def url(self, path: str) -> str:
        return f"https://{self.host}{path}"

    def refused(self, answer: Answer, what: str) -> ReleaseCheckError:
        """A 403 that is not the stopped page: the public front end of a private site, or the access restrictions."""
        if self.private:
            return ReleaseCheckError(forbidden_from_outside(self.name, what, answer.body, self.cloud))
        # fact: access-default-deny-403
        if self.runner:
            advice = (f"rule {RUNNER_RULE} admits {self.runner}/32, so App Service sees this runner under another "
                      f"address (a proxy or NAT): set {RUNNER_ADDRESS_VARIABLE} to the runner's public egress address")
        else:
            advice = ("the site's access rules do not deny by default, so this 403 is not theirs: read the container "
                      "log below")
        return ReleaseCheckError(f"{what} answered 403 ({answer.body[:200]!r}): the runner is not allowed to call "
                                 f"{self.name}; {advice}")

    def unauthorized(self, answer: Answer, what: str) -> ReleaseCheckError:
        if self.token:
            # fact: auth-token-claims
            return ReleaseCheckError(
                f"{what} answered 401 to the token for {self.audience} (its claims: {token_claims(self.token)}): the "
                f"site accepts tokens whose iss matches the auth settings' openIdIssuer (v2.0 issuer: "
                f"{self.cloud.issuer('<tenant>')}; a ver 1.0 token has iss https://sts.windows.net/"
                f"<tenant>/) and whose aud is one of auth.allowedAudiences")
        return ReleaseCheckError(f"{what} answered 401 to an anonymous call: {answer.body[:200]!r}")


def reachable(t: Target) -> None:
    """Before anything is stopped: a site with public network access off must be reachable from this runner through
    its private endpoint, or the gate would wait out the health timeout and call a healthy site unhealthy. ARM alone
    tells whether it is private; the resolver tells whether this runner would reach the endpoint."""
    access = with_retries(lambda: t.service.public_network_access(t.slot), f"reading {t.name}'s public network access")
    t.private = str(access or "").lower() == "disabled"
    if t.private:
        problem = outside_network(t.name, t.host, access, t.service.addresses(t.host), t.cloud)
        if problem:
            raise ReleaseCheckError(problem)


def restart_on(t: Target, expected: str, write: bool) -> None:
    """Stop, make sure the configured image is `expected` (writing it into a slot when `write`), start."""
    service = t.service
    # The old container answers while a new image is pulled; a restart pulls the configured image.
    # fact: release-old-container-serves-during-pull
    # fact: release-restart-pulls-configured-image
    with_retries(lambda: service.stop(t.slot), f"stopping {t.name}")
    deadline = t.clock() + STOP_WAIT_SECONDS
    while True:  # no answer may be trusted while an old container could still give it
        answer = service.get(t.url("/"), None)
        if answer.status != 200:
            break
        if t.clock() >= deadline:
            raise ReleaseCheckError(f"{t.name} still answered 200 on / {STOP_WAIT_SECONDS / 60:.0f} minutes after it "
                                    "was stopped: an old container may still be serving, so no answer could be "
                                    "trusted to come from the new image")
        t.sleep(POLL_SECONDS)
    configured = with_retries(lambda: service.image(t.slot), f"reading {t.name}'s image")
    if write and not same_image(configured, expected):
        with_retries(lambda: service.set_image(t.slot, expected), f"writing the new image into {t.name}")
        configured = with_retries(lambda: service.image(t.slot), f"reading {t.name}'s image")
    if not same_image(configured, expected):
        raise ReleaseCheckError(f"{t.name}'s linuxFxVersion is {configured!r}, not the expected {expected!r} "
                                "(compared without regard to letter case)")
    with_retries(lambda: service.start(t.slot), f"starting {t.name}")


def wait_healthy(t: Target, path: str, minutes: float) -> None:
    """Polls the health path until 200; the front end answers 502/503 (or nothing) while the container starts."""
    deadline, state = t.clock() + minutes * 60, "no answer yet"
    while True:
        answer = t.service.get(t.url(path), t.token)
        if answer.status == 200:
            return
        if answer.status == 403 and not stopped_page(answer):
            if t.private or not t.runner or t.clock() >= t.rule_added_at + ACCESS_GRACE_SECONDS:
                raise t.refused(answer, f"GET {path}")
            state = "403 while the runner's access rule reaches the front ends"
        elif answer.status == 401:
            raise t.unauthorized(answer, f"GET {path}")
        else:
            state = f"{answer.status or 'no answer'}: {answer.body[:200]}"
        if t.clock() >= deadline:
            hint = (" (its public network access is disabled and its name resolves to the private endpoint, but no "
                    "answer came: check the route from this runner to the endpoint's subnet and its NSG rules)"
                    if t.private and not answer.status else "")
            raise ReleaseCheckError(f"{t.name} did not answer GET {path} with 200 within {minutes:g} minutes of its "
                                    f"start (last: {state}){hint}")
        t.sleep(POLL_SECONDS)


def _post(t: Target, body: str, token: Optional[str], deadline: float) -> Answer:
    while True:
        answer = t.service.post(t.url("/score"), body, token)
        if answer.status not in STARTING or t.clock() >= deadline:
            return answer
        t.sleep(POLL_SECONDS)


def check_scoring(t: Target, rows: Optional[list], minutes: float) -> None:
    """The smoke request (200, one number per row) and, with auth, an anonymous POST /score that must get 401."""
    deadline = t.clock() + minutes * 60
    if rows:
        answer = _post(t, json.dumps({"data": rows}), t.token, deadline)
        if answer.status == 401:
            raise t.unauthorized(answer, "POST /score")
        if answer.status == 403 and not stopped_page(answer):
            raise t.refused(answer, "POST /score")
        problem = prediction_problem(answer.status, answer.body, len(rows))
        if problem:
            raise ReleaseCheckError(f"{t.name} failed the smoke request: {answer.status or 'no answer'}, POST /score "
                                    f"{problem} (wanted 200 with {len(rows)} predictions, one per row)")
    if t.audience:
        # fact: auth-excluded-path-match
        answer = _post(t, json.dumps({"data": rows or []}), None, deadline)
        if answer.status != 401:
            raise ReleaseCheckError(
                f"{t.name} answered an anonymous POST /score with {answer.status or 'nothing'}, not 401 "
                f"({answer.body[:200]!r}): /score must refuse callers without a token; if it answered 200, the "
                "health path's exclusion from auth (excludedPaths [\"/\"]) opens more than /")


def clock_and_sleep(provider: Any) -> tuple[Callable[[], float], Callable[[float], None]]:
    return getattr(provider, "clock", time.monotonic), getattr(provider, "sleep", time.sleep)


def _say(message: str) -> None:
    pulumi.log.info(message)


def check_release_props(news: dict[str, Any]) -> list[CheckFailure]:
    failures = []
    image = news.get("expected_image")
    if image != UNKNOWN and not str(image or "").upper().startswith("DOCKER|"):
        failures.append(CheckFailure("expected_image", "must be the site's linuxFxVersion, DOCKER|<image>"))
    minutes = news.get("health_timeout_minutes")
    if minutes != UNKNOWN and not (isinstance(minutes, (int, float)) and 1 <= minutes <= 120):
        failures.append(CheckFailure("health_timeout_minutes", "must be from 1 to 120 minutes"))
    rows = news.get("smoke_rows")
    if rows not in (None, UNKNOWN) and not (isinstance(rows, list) and rows):
        failures.append(CheckFailure("smoke_rows", "must be a non-empty list of rows, or unset"))
    return failures


class SiteReleaseProvider(ResourceProvider):
    """What the two release providers share: the site service made per call, time, and the check of their inputs."""
    serialize_as_secret_always = False  # nothing secret in it

    def __init__(self, service_factory: Optional[ServiceFactory] = None,
                 clock: Optional[Callable[[], float]] = None, sleep: Optional[Callable[[float], None]] = None) -> None:
        super().__init__()
        # Only tests pass these; the real ones are looked up per call, so nothing live is pickled.
        for name, value in (("service_factory", service_factory), ("clock", clock), ("sleep", sleep)):
            if value is not None:
                setattr(self, name, value)

    def _service(self, props: dict[str, Any]) -> SiteService:
        site = Site(props["subscription_id"], props["resource_group"], props["site_name"], cloud(props.get("cloud")))
        return (getattr(self, "service_factory", None) or AzureSiteService)(site)

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        return CheckResult(news, check_release_props(news))

    replace_keys: tuple[str, ...] = ()  # what makes a new release; each provider names its own
    output_keys: tuple[str, ...] = ()

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # Only a new image (or another site or slot) releases again; a new timeout or smoke request waits for the next.
        replaces = [k for k in self.replace_keys if news.get(k) == UNKNOWN or olds.get(k) != news.get(k)]
        others = [k for k in set(news) | set(olds) if k not in self.replace_keys + self.output_keys
                  and k != "__provider" and olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(replaces or others), replaces=replaces, delete_before_replace=False)


class SiteRolloutProvider(SiteReleaseProvider):
    replace_keys, output_keys = ROLLOUT_KEYS, OUTPUT_KEYS

    def create(self, props: dict[str, Any]) -> CreateResult:
        service, expected = self._service(props), props["expected_image"]
        clock, sleep = clock_and_sleep(self)
        minutes = float(props.get("health_timeout_minutes") or 20)
        audience = props.get("auth_audience")
        token = service.token(audience) if audience else None
        try:
            with runner_allowed(service, None, _say) as runner:
                host = with_retries(lambda: service.host_name(None), "reading the site's host name")
                t = Target(service, None, host, clock, sleep, runner, token, audience, rule_added_at=clock(),
                           cloud=cloud(props.get("cloud")))
                reachable(t)
                restart_on(t, expected, write=False)
                wait_healthy(t, props.get("health_path") or "/", minutes)
                check_scoring(t, props.get("smoke_rows"), minutes)
        except ReleaseCheckError as exc:
            raise RolloutError(f"{props['site_name']} does not serve {expected} ({exc}). {log_tail(service, None)}") \
                from None
        return CreateResult(id_=props["site_name"], outs={**props, "live_image": expected})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_=id_, outs={**props, "live_image": self._service(props).image(None)})

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs={**news, **{k: olds.get(k) for k in OUTPUT_KEYS}})

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return None  # a wait leaves nothing behind


class SiteRollout(pulumi.dynamic.Resource, module="model-webapp", name="SiteRollout"):
    live_image: pulumi.Output[str]

    def __init__(self, name: str, props: dict[str, Any], opts: Optional[pulumi.ResourceOptions] = None,
                 provider: Optional[SiteRolloutProvider] = None) -> None:
        super().__init__(provider or SiteRolloutProvider(), name,
                         {"provider_version": PROVIDER_VERSION, **props, **{k: None for k in OUTPUT_KEYS}}, opts)
