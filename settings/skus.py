"""App Service plan SKUs this project accepts, with the facts the stack derives from them."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sku:
    name: str
    tier: str
    vcpus: int
    max_instances: int

    @property
    def has_always_on(self) -> bool:
        # Free and Shared plans unload idle apps and refuse alwaysOn.
        return self.tier not in ("Free", "Shared")

    @property
    def supports_slots(self) -> bool:
        return self.tier in AUTOSCALE_TIERS  # deployment slots start at Standard, as autoscale does

    @property
    def supports_autoscale(self) -> bool:
        return self.tier in AUTOSCALE_TIERS


AUTOSCALE_TIERS = ("Standard", "PremiumV2", "PremiumV3")

# Linux plans only: the packaged image is a Linux container. (name, tier, vCPUs, most instances)
SKUS: dict[str, Sku] = {s.name: s for s in (
    Sku("F1", "Free", 1, 1), Sku("B1", "Basic", 1, 3), Sku("B2", "Basic", 2, 3), Sku("B3", "Basic", 4, 3),
    Sku("S1", "Standard", 1, 10), Sku("S2", "Standard", 2, 10), Sku("S3", "Standard", 4, 10),
    Sku("P1v2", "PremiumV2", 1, 30), Sku("P2v2", "PremiumV2", 2, 30), Sku("P3v2", "PremiumV2", 4, 30),
    Sku("P0v3", "PremiumV3", 1, 30), Sku("P1v3", "PremiumV3", 2, 30), Sku("P2v3", "PremiumV3", 4, 30),
    Sku("P3v3", "PremiumV3", 8, 30),
)}
