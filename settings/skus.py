"""App Service plan SKUs this project accepts (Linux plans only: the package is a Linux container), with the facts
the stack derives from them.

Sources (each fact also in docs/azure-facts.md under the id named beside it):
- vCPUs and memory of P0v3-P3v3 and of the memory-optimised P1mv3-P5mv3: Microsoft Learn "Azure App Service plan
  overview" (MicrosoftDocs/azure-docs articles/app-service/overview-hosting-plans.md: "P1mv3 (2 vCPU, 16 GiB of
  memory) ... P5mv3 (32 vCPU, 256 GiB of memory)"). F1-P3v2: vCPUs from the App Service limits and pricing pages
  (docs/azure-facts.md); their memory is the pricing page's, not read from a Microsoft source here (unverified).
  Memory is shown to the reader only: no setting is derived from it.
- Premium v4: "Configure Premium V4 tier" (articles/app-service/app-service-configure-premium-v4-tier.md): "P0V4,
  P1V4, P2V4, P3V4, P1mV4, P2mV4, P3mV4, P4mV4, and P5mV4", available "for ... custom containers on Linux". Their
  cores match the v3 shapes (Learn, "Configure Managed Instance on Azure App Service", FAQ on addressable memory);
  no Microsoft page gives their nominal memory, so the memory below follows the v3 shape and is unverified.
- Tier names ARM expects: the Azure CLI's get_sku_tier (azure-cli command_modules/appservice/utils.py: P1MV3-P5MV3
  "PREMIUMMV3", P0V4-P3V4 "PREMIUMV4", P1MV4-P5MV4 "PREMIUMMV4").
- Instance limits: Learn manage-scale-up.md: "Basic, Standard, and Premium service plans scale out to as many as 3, 10,
  and 30 instances"; slots and rule-based autoscale from Standard up.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class Sku:
    name: str
    tier: str
    vcpus: int
    memory_gib: float
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

    @property
    def supports_zone_redundancy(self) -> bool:
        return self.tier in ZONE_REDUNDANT_TIERS


# fact: sku-autoscale-slots-from-standard
AUTOSCALE_TIERS = ("Standard", "PremiumV2", "PremiumV3", "PremiumMV3", "PremiumV4", "PremiumMV4")
# Learn, Reliability in Azure App Service: "You must use the Premium v2-4 or Isolated v2 plan types and have a minimum
# of two instances"; Isolated v2 needs an App Service Environment, which this stack does not make.
# fact: zone-premium-tiers-two-instances
ZONE_REDUNDANT_TIERS = ("PremiumV2", "PremiumV3", "PremiumMV3", "PremiumV4", "PremiumMV4")

# (name, tier, vCPUs, memory GiB, most instances)
# fact: sku-tier-names
# fact: sku-instance-limits
SKUS: dict[str, Sku] = {s.name: s for s in (
    Sku("F1", "Free", 1, 1, 1), Sku("B1", "Basic", 1, 1.75, 3), Sku("B2", "Basic", 2, 3.5, 3),
    Sku("B3", "Basic", 4, 7, 3),
    Sku("S1", "Standard", 1, 1.75, 10), Sku("S2", "Standard", 2, 3.5, 10), Sku("S3", "Standard", 4, 7, 10),
    Sku("P1v2", "PremiumV2", 1, 3.5, 30), Sku("P2v2", "PremiumV2", 2, 7, 30), Sku("P3v2", "PremiumV2", 4, 14, 30),
    # fact: sku-premium-v3-shapes
    Sku("P0v3", "PremiumV3", 1, 4, 30), Sku("P1v3", "PremiumV3", 2, 8, 30), Sku("P2v3", "PremiumV3", 4, 16, 30),
    Sku("P3v3", "PremiumV3", 8, 32, 30),
    Sku("P1mv3", "PremiumMV3", 2, 16, 30), Sku("P2mv3", "PremiumMV3", 4, 32, 30), Sku("P3mv3", "PremiumMV3", 8, 64, 30),
    Sku("P4mv3", "PremiumMV3", 16, 128, 30), Sku("P5mv3", "PremiumMV3", 32, 256, 30),
    # fact: sku-premium-v4-shapes
    Sku("P0v4", "PremiumV4", 1, 4, 30), Sku("P1v4", "PremiumV4", 2, 8, 30), Sku("P2v4", "PremiumV4", 4, 16, 30),
    Sku("P3v4", "PremiumV4", 8, 32, 30),
    Sku("P1mv4", "PremiumMV4", 2, 16, 30), Sku("P2mv4", "PremiumMV4", 4, 32, 30), Sku("P3mv4", "PremiumMV4", 8, 64, 30),
    Sku("P4mv4", "PremiumMV4", 16, 128, 30), Sku("P5mv4", "PremiumMV4", 32, 256, 30),
)}


def sku_problem(name: str) -> Optional[str]:
    """None for a Linux SKU; otherwise why not, with the nearest name (P1V3 -> P1v3) and the list."""
    if name in SKUS:
        return None
    near = [s for s in SKUS if s.lower() == str(name).lower()] or difflib.get_close_matches(str(name), SKUS, n=1)
    hint = f"did you mean {near[0]}? " if near else ""
    return f"is not an App Service Linux SKU; {hint}Linux SKUs: {', '.join(SKUS)}"
