"""An in-memory App Service for the releases and the rollback, inconvenient parts included, on an injected clock.

Production and one slot, each with its configured image and the container that really answers:
- an image written into a running site is pulled and started in the background while the OLD container keeps
  answering (Microsoft Learn, configure-custom-container); only a started container of a good image replaces it;
- a stopped site answers 403 "This web app is stopped"; after a start the front end answers 503 until the image has
  been pulled and started (PULL_SECONDS on the clock), and a broken image never answers 200: 503, and its
  container log says it exited;
- access restrictions answer 403 to a caller no rule admits when the default action is Deny; the swap's warm-up
  comes from internal 10.x and 100.x addresses and stops on anything but 200;
- with auth, POST /score without a token gets 401 (unless `score_open`: the exclusion opened it), and a token the
  site rejects (`rejects_tokens`) too; GET / is excluded from auth;
- a swap exchanges images and containers between the hosts, never their access rules;
- with public network access off (`public_access="Disabled"`), a runner outside the network resolves the site's name to
  the public front end's address and gets 403 with the front end's page on every call; one inside resolves it to the
  private endpoint's address and is served.
"""
from __future__ import annotations

import base64
import ipaddress
import json
from dataclasses import dataclass, field
from typing import Any, Optional
from urllib.parse import urlparse

from azure.core.exceptions import HttpResponseError

from providers.app_service import AccessRules, Answer, Site

OLD = "DOCKER|mlwreg.azurecr.io/package@sha256:" + "1" * 64
NEW = "DOCKER|mlwreg.azurecr.io/package@sha256:" + "2" * 64
BROKEN = "DOCKER|mlwreg.azurecr.io/package@sha256:" + "b" * 64
PULL_SECONDS = 240.0  # pull and start of a package image: minutes
RUNNER_IP = "203.0.113.7"
WARMUP_ADDRESSES = ("10.0.4.12", "100.64.1.9")  # where the swap's warm-up requests come from
STOPPED_PAGE = "<h1>Error 403 - This web app is stopped.</h1>"
IP_FORBIDDEN = "Ip Forbidden"
# What the public front end answers for a site with public access off: reported as the access-restriction page
# (fact: net-public-access-disabled-403), so the gate must not tell them apart by the body.
PRIVATE_SITE_PAGE = "<h1>Error 403 - Forbidden</h1><p>The web app you have attempted to reach has blocked your access.</p>"
PUBLIC_FRONT_END = "198.51.100.20"  # what public DNS gives for <site>.privatelink.<suffix>'s chain
PRIVATE_ENDPOINT_IP = "10.20.1.4"


class Clock:
    """Time for the fake and the provider alike: sleeping only moves the hands."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class Throttled(HttpResponseError):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.status_code = 429


class Refused(HttpResponseError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status


@dataclass
class Host:
    name: str
    configured: Optional[str]
    running: Optional[str]  # the image of the container that answers; None: none does
    state: str = "Running"
    pending: Optional[str] = None  # being pulled and started
    ready_at: float = 0.0
    default_action: Optional[str] = None  # access restrictions: None/"Allow" open, "Deny" only the rules' callers
    rules: list[dict[str, Any]] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    public_access: Optional[str] = None  # publicNetworkAccess: None (Enabled), "Enabled" or "Disabled"


def admits(rules: list[dict[str, Any]], address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return any(r.get("action") == "Allow" and r.get("tag", "Default") == "Default"
               and ip in ipaddress.ip_network(r["ipAddress"]) for r in rules)


@dataclass
class FakeSiteService:
    production: Optional[str] = OLD  # what each host is configured with, and runs, at the start
    slot_image: Optional[str] = OLD
    broken: set[str] = field(default_factory=lambda: {BROKEN})  # images whose container exits at start
    broken_in_production: set[str] = field(default_factory=set)  # fine in the slot, failing once in production
    clock: Clock = field(default_factory=Clock)
    auth: bool = False
    score_open: bool = False  # the health path's exclusion from auth also opened /score
    rejects_tokens: bool = False
    smoke_status: int = 200  # what a running good container answers to POST /score
    smoke_predictions: Optional[int] = None  # None: one per row sent
    restricted: Optional[list[dict[str, Any]]] = None  # access rules on both hosts, default Deny; None: open
    slot_rules: Optional[list[dict[str, Any]]] = None  # the slot's own rules when they differ (the warm-up ranges)
    runner_ip: str = RUNNER_IP  # the address App Service sees the runner calling from
    reported_ip: Optional[str] = None  # what the runner believes its address is (a proxy: not runner_ip)
    public_access: Optional[str] = None  # publicNetworkAccess of both hosts
    runner_inside: bool = False  # the runner is in the VNet, its resolver answers from the private zone
    endpoint_routed: bool = True  # inside: a route to the endpoint's subnet exists (False: calls get no answer)
    rewrites: dict[str, str] = field(default_factory=dict)  # an image written is stored as another
    ignores_stop: bool = False  # a stop that leaves the old container answering
    transient_failures: int = 0  # the first calls to image() fail with 429
    fail_after_swap: Optional[Exception] = None  # the swap happens, then the call raises this (an interrupted `up`)
    swaps: int = 0
    calls: list[str] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    posts: list[tuple[str, str, Optional[str]]] = field(default_factory=list)
    rule_writes: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.hosts = {"production": Host("production", self.production, self.production),
                      "slot": Host("slot", self.slot_image, self.slot_image)}
        for h in self.hosts.values():
            h.public_access = self.public_access
        if self.restricted is not None:
            for key, rules in (("production", self.restricted), ("slot", self.slot_rules or self.restricted)):
                self.hosts[key].default_action, self.hosts[key].rules = "Deny", [dict(r) for r in rules]

    # -- what tests look at --------------------------------------------------------------------------------
    def host(self, slot: Optional[str]) -> Host:
        return self.hosts["slot" if slot else "production"]

    def serving(self, slot: Optional[str]) -> Optional[str]:
        """The image of the container that answers now."""
        return self._tick(self.host(slot)).running

    def factory(self, site: Site) -> "FakeSiteService":
        self.calls.append(f"site {site.subscription_id}/{site.resource_group}/{site.name}")
        return self

    # -- the platform ----------------------------------------------------------------------------------------
    def _tick(self, h: Host) -> Host:
        if h.pending and self.clock() >= h.ready_at:
            image, h.pending = h.pending, None
            if image in self.broken:
                h.log += [f"Pulling image: {image.split('|', 1)[1]}", "Container app_0_1 for site app initialized",
                          "Container app_0_1 exited with code 1: ModuleNotFoundError: No module named 'score'",
                          "Container app_0_1 didn't respond to HTTP pings on port: 5001, failing site start"]
                if h.running is None:
                    h.log.append("Stopping site app because it failed during startup.")
            else:
                h.running = image
                h.log += [f"Pulling image: {image.split('|', 1)[1]}",
                          "Container app_0_2 for site app initialized and is ready to serve requests."]
        return h

    def _front_end(self, url: str, caller: str) -> tuple[Host, Optional[Answer]]:
        name = urlparse(url).hostname or ""
        h = self.hosts["slot" if name.startswith("app-staging.") else "production"]
        if (h.public_access or "").lower() == "disabled":
            if not self.runner_inside:
                return h, Answer(403, PRIVATE_SITE_PAGE)  # the public front end; access rules are not consulted
            if not self.endpoint_routed:
                return h, Answer(0, "ConnectTimeout: no route to the private endpoint")
        elif (h.default_action or "").lower() == "deny" and not admits(h.rules, caller):
            return h, Answer(403, IP_FORBIDDEN)
        if h.state == "Stopped":
            return h, Answer(403, STOPPED_PAGE)
        self._tick(h)
        if h.running is None:
            return h, Answer(503, "Service Unavailable")
        if h.name == "production" and h.running in self.broken_in_production:
            return h, Answer(503, "Application Error")
        return h, None

    def image(self, slot: Optional[str]) -> Optional[str]:
        self.calls.append(f"image {slot or 'production'}")
        if self.transient_failures:
            self.transient_failures -= 1
            raise Throttled("too many requests")
        return self.host(slot).configured

    def host_name(self, slot: Optional[str]) -> str:
        return f"app-{slot}.azurewebsites.net" if slot else "app.azurewebsites.net"

    def get(self, url: str, token: Optional[str]) -> Answer:
        self.calls.append(f"get {url}")
        _h, refused = self._front_end(url, self.runner_ip)
        if refused:
            return refused
        return Answer(200, "Healthy") if urlparse(url).path == "/" else Answer(404, "Not Found")

    def post(self, url: str, body: str, token: Optional[str]) -> Answer:
        self.posts.append((url, body, token))
        h, refused = self._front_end(url, self.runner_ip)
        if refused:
            return refused
        if self.auth and ((token is None and not self.score_open) or (token is not None and self.rejects_tokens)):
            return Answer(401, "")
        if self.smoke_status != 200:
            return Answer(self.smoke_status, '{"error": "bad"}')
        rows = json.loads(body)["data"]
        count = len(rows) if self.smoke_predictions is None else self.smoke_predictions
        return Answer(200, json.dumps([1.0] * count))

    def set_image(self, slot: str, image: str) -> None:
        self.calls.append(f"set {slot} {image}")
        h = self._tick(self.host(slot))
        h.configured = image = self.rewrites.get(image, image)
        if h.state == "Running":  # pulled and started in the background; the old container answers meanwhile
            h.pending, h.ready_at = image, self.clock() + PULL_SECONDS

    def stop(self, slot: Optional[str]) -> None:
        self.calls.append(f"stop {slot or 'production'}")
        h = self.host(slot)
        if self.ignores_stop:
            return
        h.state, h.running, h.pending = "Stopped", None, None
        h.log.append("Site stopped.")

    def start(self, slot: Optional[str]) -> None:
        self.calls.append(f"start {slot or 'production'}")
        h = self.host(slot)
        if h.state == "Stopped":
            h.state, h.pending, h.ready_at = "Running", h.configured, self.clock() + PULL_SECONDS

    def container_log(self, slot: Optional[str]) -> str:
        return "\n".join(self.host(slot).log)

    def swap_with_production(self, slot: str) -> None:
        self.calls.append(f"swap {slot}")
        source, target = self._tick(self.hosts["slot"]), self.hosts["production"]
        # The warm-up pings / on the slot from internal addresses; anything but 200 stops the swap.
        for address in WARMUP_ADDRESSES:
            if (source.default_action or "").lower() == "deny" and not admits(source.rules, address):
                raise Refused(409, f"Cannot swap site slots: the warm-up request from {address} got 403 "
                                   f"(WEBSITE_SWAP_WARMUP_PING_STATUSES=200)")
        if source.state != "Running" or source.running is None:
            raise Refused(409, "Cannot swap site slots: the warm-up request got 503")
        self.swaps += 1
        for key in ("configured", "running", "pending", "ready_at", "state", "log"):
            a, b = getattr(source, key), getattr(target, key)
            setattr(source, key, b)
            setattr(target, key, a)
        if self.fail_after_swap is not None:
            error, self.fail_after_swap = self.fail_after_swap, None
            raise error

    def token(self, audience: str) -> str:
        self.tokens.append(audience)
        claims = {"ver": "1.0", "iss": "https://sts.windows.net/11111111-1111-1111-1111-111111111111/",
                  "aud": audience, "secret-part": "do-not-print"}
        part = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
        return f"eyJhbGciOiJSUzI1NiJ9.{part}.c2lnbmF0dXJl"

    def access_rules(self, slot: Optional[str]) -> AccessRules:
        h = self.host(slot)
        deny = (h.default_action or "").lower() == "deny"
        implicit = {"ipAddress": "Any", "action": "Deny" if deny else "Allow", "priority": 2147483647,
                    "name": "Deny all" if deny else "Allow all"}
        return AccessRules(h.default_action, [dict(r) for r in h.rules] + [implicit])

    def set_access_rules(self, slot: Optional[str], rules: list[dict[str, Any]]) -> None:
        if any(str(r.get("ipAddress")).lower() == "any" for r in rules):
            raise Refused(400, "ipSecurityRestrictions: the implicit rule cannot be written")
        self.rule_writes.append((slot or "production", [dict(r) for r in rules]))
        self.host(slot).rules = [dict(r) for r in rules]

    def runner_address(self) -> str:
        return self.reported_ip or self.runner_ip

    def public_network_access(self, slot: Optional[str]) -> Optional[str]:
        self.calls.append(f"public access {slot or 'production'}")
        return self.host(slot).public_access

    def addresses(self, host: str) -> list[str]:
        h = self.hosts["slot" if host.startswith("app-staging.") else "production"]
        private = (h.public_access or "").lower() == "disabled"
        return [PRIVATE_ENDPOINT_IP if private and self.runner_inside else PUBLIC_FRONT_END]
