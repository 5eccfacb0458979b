"""Azure region names the stack accepts for `location`, pinned here so a typo fails in the settings, not at deploy.

Source: Microsoft Learn, "Azure regions list" (MicrosoftDocs/azure-docs articles/reliability/regions-list.md,
ms.date 04/15/2025, commit 38aa843f): every region of the Azure public cloud by display name ("Australia East",
...), including the access-restricted ones (Australia Central 2, France South, ...) and the paired region named
there (Sweden South). The programmatic name ARM takes is the display name in lowercase without spaces (the
current Learn page's "Programmatic name" column: "Australia East ... australiaeast"; `az account
list-locations` prints both). Belgium Central is taken from the current Learn page (its row reads "Belgium
Central ... belgiumcentral"), newer than the pinned file.

A region Microsoft opens after this list was pinned is refused until it is added here: the message says so and
names this file. Sovereign clouds (Azure Government, Azure operated by 21Vianet) have their own region names and
endpoints; they get their own entry in CLOUDS when the stack supports them (see the README's reference notes).
"""
from __future__ import annotations

import difflib
from typing import Optional

REGIONS_SOURCE = "settings/regions.py (Microsoft Learn, Azure regions list, 04/2025)"

# fact: region-public-cloud-names
PUBLIC_CLOUD: tuple[str, ...] = tuple(sorted(
    name.lower().replace(" ", "") for name in (
        "Australia Central", "Australia Central 2", "Australia East", "Australia Southeast", "Austria East",
        "Belgium Central", "Brazil South", "Brazil Southeast", "Canada Central", "Canada East", "Central India",
        "Central US", "Chile Central", "East Asia", "East US", "East US 2", "France Central", "France South",
        "Germany North", "Germany West Central", "Indonesia Central", "Israel Central", "Italy North", "Japan East",
        "Japan West", "Korea Central", "Korea South", "Malaysia West", "Mexico Central", "New Zealand North",
        "North Central US", "North Europe", "Norway East", "Norway West", "Poland Central", "Qatar Central",
        "South Africa North", "South Africa West", "South Central US", "South India", "Southeast Asia",
        "Spain Central", "Sweden Central", "Sweden South", "Switzerland North", "Switzerland West", "UAE Central",
        "UAE North", "UK South", "UK West", "West Central US", "West Europe", "West India", "West US", "West US 2",
        "West US 3",
    )))

# The sovereign clouds' regions, keyed like the public one by azure-ai-ml's cloud name (settings/clouds.py ml_cloud).
# fact: cloud-regions
CHINA_CLOUD: tuple[str, ...] = ("chinaeast", "chinaeast2", "chinaeast3", "chinanorth", "chinanorth2", "chinanorth3")
US_GOVERNMENT_CLOUD: tuple[str, ...] = ("usdodcentral", "usdodeast", "usgovarizona", "usgovtexas", "usgovvirginia")
CLOUDS: dict[str, tuple[str, ...]] = {"AzureCloud": PUBLIC_CLOUD, "AzureChinaCloud": CHINA_CLOUD,
                                      "AzureUSGovernment": US_GOVERNMENT_CLOUD}


def region_name(location: str) -> str:
    """The programmatic form of a location: ARM takes "West Europe" and "westeurope" alike."""
    return location.lower().replace(" ", "")


def region_problem(location: str, cloud: str = "AzureCloud") -> Optional[str]:
    """None for a known region of the cloud; otherwise what to write instead, with the nearest known name."""
    known = CLOUDS[cloud]
    if region_name(location) in known:
        return None
    near = difflib.get_close_matches(region_name(location), known, n=1, cutoff=0.75)
    hint = f"did you mean {near[0]}?" if near else f"use a programmatic name such as {' or '.join(EXAMPLES[cloud])}"
    what = "an Azure region name" if cloud == "AzureCloud" else f"a region of the stack's cloud, {cloud} (azure-native:environment)"
    return f"is not {what}; {hint} (the list: {REGIONS_SOURCE}; a region opened since is added there)"


EXAMPLES = {"AzureCloud": ("westeurope", "eastus2"), "AzureChinaCloud": ("chinaeast2", "chinanorth3"),
            "AzureUSGovernment": ("usgovvirginia", "usgovarizona")}


# Regions with availability zones, per cloud: where a plan can be zone-redundant. App Service: "Zone-redundant App
# Service plans can be deployed in any region that supports availability zones" (Learn, Reliability in Azure App
# Service). Sources:
# - AzureCloud: the same Learn "Azure regions list" (04/15/2025, commit 38aa843f), the rows with a checkmark in its
#   "Availability zone support" column; Belgium Central from the current Learn page ("Belgium Central 3 ... Brussels
#   Belgium belgiumcentral": three zones), newer than the pinned file.
# - AzureChinaCloud: docs.azure.cn "Azure regions with availability zone support": "The following regions currently
#   support availability zones: ... China North 3".
# - AzureUSGovernment: Learn "Availability zone service and regional support", its list of regions that "currently
#   support availability zones" names one Azure Government region, US Gov Virginia.
# A region missing here counts as having no zones: `auto` leaves its plan as it is and `true` is refused, naming
# this file. Even in such a region a plan may sit on a scale unit without zones (its maximumNumberOfZones is 1):
# Azure refuses the plan then, which no offline list can know.
# fact: zone-regions-per-cloud
ZONE_REGIONS: dict[str, frozenset[str]] = {
    "AzureCloud": frozenset(region_name(n) for n in (
        "Australia East", "Austria East", "Belgium Central", "Brazil South", "Canada Central", "Central India",
        "Central US", "Chile Central", "East Asia", "East US", "East US 2", "France Central", "Germany West Central",
        "Indonesia Central", "Israel Central", "Italy North", "Japan East", "Japan West", "Korea Central",
        "Malaysia West", "Mexico Central", "New Zealand North", "North Europe", "Norway East", "Poland Central",
        "Qatar Central", "South Africa North", "South Central US", "Southeast Asia", "Spain Central",
        "Sweden Central", "Switzerland North", "UAE North", "UK South", "West Europe", "West US 2", "West US 3",
    )),
    "AzureChinaCloud": frozenset({"chinanorth3"}),
    "AzureUSGovernment": frozenset({"usgovvirginia"}),
}
ZONES_SOURCE = "settings/regions.py ZONE_REGIONS (Microsoft's region lists, 04/2025)"
# The names a stack's cloud goes by: azure-native's `environment` values, and the Azure CLI's cloud names.
_CLOUD_ALIASES = {"public": "AzureCloud", "china": "AzureChinaCloud", "usgovernment": "AzureUSGovernment"}


def cloud_key(cloud: object = None) -> str:
    """The ZONE_REGIONS key of a cloud given by name ("china", "AzureChinaCloud") or by an object with a name."""
    name = str(getattr(cloud, "name", cloud) or "public")
    return _CLOUD_ALIASES.get(name.lower(), name)


def has_zones(location: str, cloud: object = None) -> bool:
    """Whether the region offers availability zones, by the pinned list of its cloud."""
    return region_name(location) in ZONE_REGIONS.get(cloud_key(cloud), frozenset())
