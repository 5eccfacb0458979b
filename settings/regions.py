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

CLOUDS: dict[str, tuple[str, ...]] = {"AzureCloud": PUBLIC_CLOUD}


def region_name(location: str) -> str:
    """The programmatic form of a location: ARM takes "West Europe" and "westeurope" alike."""
    return location.lower().replace(" ", "")


def region_problem(location: str, cloud: str = "AzureCloud") -> Optional[str]:
    """None for a known region of the cloud; otherwise what to write instead, with the nearest known name."""
    known = CLOUDS[cloud]
    if region_name(location) in known:
        return None
    near = difflib.get_close_matches(region_name(location), known, n=1, cutoff=0.75)
    hint = f"did you mean {near[0]}?" if near else "use a programmatic name such as westeurope or eastus2"
    return (f"is not an Azure region name; {hint} (the list: {REGIONS_SOURCE}; a region opened since is added "
            "there)")
