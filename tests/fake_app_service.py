"""An in-memory App Service for the slot swap and the rollback: two slots, their images, a health answer, a swap."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Optional

from azure.core.exceptions import HttpResponseError

from providers.app_service import Answer, Site

OLD = "DOCKER|mlwreg.azurecr.io/package@sha256:" + "1" * 64
NEW = "DOCKER|mlwreg.azurecr.io/package@sha256:" + "2" * 64


class Throttled(HttpResponseError):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.status_code = 429


@dataclass
class FakeSiteService:
    production: Optional[str] = OLD
    slot_image: Optional[str] = NEW
    health: int = 200
    smoke_status: int = 200
    smoke_predictions: Optional[int] = None  # None: one per row sent
    transient_failures: int = 0  # the first calls to image() fail with 429
    stuck: bool = False  # the slot keeps its image whatever is written (a pull that never starts)
    fail_after_swap: Optional[Exception] = None  # the swap happens, then the call raises this (an interrupted `up`)
    swaps: int = 0
    calls: list[str] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    posts: list[tuple[str, str, Optional[str]]] = field(default_factory=list)

    def factory(self, site: Site) -> "FakeSiteService":
        self.calls.append(f"site {site.subscription_id}/{site.resource_group}/{site.name}")
        return self

    def image(self, slot: Optional[str]) -> Optional[str]:
        self.calls.append(f"image {slot or 'production'}")
        if self.transient_failures:
            self.transient_failures -= 1
            raise Throttled("too many requests")
        return self.slot_image if slot else self.production

    def host_name(self, slot: Optional[str]) -> str:
        return f"app-{slot}.azurewebsites.net" if slot else "app.azurewebsites.net"

    def get(self, url: str, token: Optional[str]) -> Answer:
        self.calls.append(f"get {url}")
        return Answer(self.health, "Healthy" if self.health == 200 else "Application Error")

    def post(self, url: str, body: str, token: Optional[str]) -> Answer:
        self.posts.append((url, body, token))
        rows = json.loads(body)["data"]
        count = len(rows) if self.smoke_predictions is None else self.smoke_predictions
        return Answer(self.smoke_status, json.dumps([1.0] * count) if self.smoke_status == 200 else '{"error": "bad"}')

    def set_image(self, slot: str, image: str) -> None:
        self.calls.append(f"set {slot} {image}")
        if not self.stuck:
            self.slot_image = image

    def swap_with_production(self, slot: str) -> None:
        self.calls.append(f"swap {slot}")
        self.swaps += 1
        self.production, self.slot_image = self.slot_image, self.production
        if self.fail_after_swap is not None:
            error, self.fail_after_swap = self.fail_after_swap, None
            raise error

    def token(self, audience: str) -> str:
        self.tokens.append(audience)
        return "token-for-" + audience
