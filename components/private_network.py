"""Private networking (setting `network`): what the sites and slots say about the VNet, their private endpoints, and
what the plan tells the user the landing zone must provide.

The site and its slot take the same `network_args` from the one site definition (components/site.py): a swap does not
carry VNet integration or public access, so each carries its own. Each gets its own private endpoint: an endpoint
serves one slot, and a slot's is made on the parent site with the group id `sites-<slot>`.
"""
from __future__ import annotations

import re
from typing import Any, Optional

import pulumi
from pulumi_azure_native import network, web

from providers.packaging import PRIVATE_LINK
from settings.stack_settings import Settings

SITE_GROUP = "sites"  # fact: net-private-endpoint-group-ids


def network_args(s: Settings) -> dict[str, Any]:
    """The web.WebApp / web.WebAppSlot arguments of `network`; none when it is unset, so such stacks see no change."""
    net = s.network
    if net is None:
        return {}
    args: dict[str, Any] = {"public_network_access": net.public_access}  # fact: net-public-network-access-site
    if net.integration_subnet_id:
        args["virtual_network_subnet_id"] = net.integration_subnet_id
        # azure-native 3.29 (API 2025-05-01) takes only outboundVnetRouting: the site-level vnetRouteAllEnabled and
        # vnetImagePullEnabled are gone from its WebApp. Each flag by its own setting, not allTraffic, which would
        # also route the image pull (and whatever Microsoft adds later) whatever pullImageOverVnet says.
        # fact: net-outbound-vnet-routing
        args["outbound_vnet_routing"] = web.OutboundVnetRoutingArgs(application_traffic=net.route_all_traffic,
                                                                    image_pull_traffic=net.pull_image_over_vnet)
    return args


def slot_group(slot_name: str) -> str:
    return f"{SITE_GROUP}-{slot_name}"  # fact: net-private-endpoint-group-ids


def private_endpoint(name: str, s: Settings, site_id: pulumi.Input[str], group_id: str,
                     group_name: pulumi.Input[str], parent: pulumi.Resource,
                     depends_on: Optional[list[pulumi.Resource]] = None) -> Optional[network.PrivateEndpoint]:
    """`<name>` (the endpoint) and `<name>-dns` (its zone group, with a zone) for one site or slot; None without
    privateEndpointSubnetId."""
    net = s.network
    if net is None or not net.private_endpoint_subnet_id:
        return None
    opts = pulumi.ResourceOptions(parent=parent, depends_on=depends_on or [])
    endpoint = network.PrivateEndpoint(
        name,
        resource_group_name=group_name,
        # The endpoint is made in its VNet's region: the stack's location, as the landing zone's VNet must be.
        location=s.location,
        # A reference to the landing zone's subnet, its id alone: SubnetArgs would add its own defaults for the
        # subnet's network policies, which are not this stack's to state.
        subnet={"id": net.private_endpoint_subnet_id},
        private_link_service_connections=[network.PrivateLinkServiceConnectionArgs(
            name=name, private_link_service_id=site_id, group_ids=[group_id])],
        tags=dict(s.tags),
        opts=opts,
    )
    if net.private_dns_zone_id:
        # One zone group writes both records a site needs, <app> and <app>.scm. fact: net-dns-zone-group-records
        network.PrivateDnsZoneGroup(
            f"{name}-dns",
            private_endpoint_name=endpoint.name,
            resource_group_name=group_name,
            private_dns_zone_group_name="default",
            private_dns_zone_configs=[network.PrivateDnsZoneConfigArgs(
                name=re.sub(r"[^A-Za-z0-9-]", "-", net.dns_zone_name or ""),
                private_dns_zone_id=net.private_dns_zone_id)],
            opts=pulumi.ResourceOptions(parent=parent),
        )
    return endpoint


def network_notes(s: Settings) -> list[str]:
    """What the plan says the user or the landing zone must do, once per stack (the settings are shared)."""
    net = s.network
    if net is None:
        return []
    notes = []
    zone = s.cloud.sites_private_dns_zone
    if net.private_endpoint_subnet_id and not net.private_dns_zone_id:
        notes.append(f"network: no privateDnsZoneId, so the stack creates no DNS records for its private endpoints: "
                     f"your landing zone's policy (such as the built-in 'Configure App Service apps to use private DNS "
                     f"zones') or you must create the A records <app> and <app>.scm (and <app>-<slot>, "
                     f"<app>-<slot>.scm for each staging slot) in {zone}, pointing at each endpoint's address; until "
                     "then the sites' names resolve to their public front end, which refuses callers with 403")
    if net.private_endpoint_subnet_id and net.public_access == "Enabled":
        notes.append("network: publicNetworkAccess is Enabled beside the private endpoints, so the sites still answer "
                     "on their public address (access restrictions apply there, not to the endpoints): set it to "
                     "Disabled, or leave it unset, to be private only")
    if not net.private_endpoint_subnet_id and net.public_access == "Disabled":
        notes.append("network: publicNetworkAccess is Disabled and the stack creates no private endpoint: the sites "
                     "answer only through endpoints made elsewhere (your landing zone's), and the release gate and "
                     "smoke test must reach them there")
    packaged = [v.service or v.resource_name() for v in s.services if v.builds_package and v.build.builder == "azureml"]
    if packaged:  # fact: pkg-private-link-unsupported
        notes.append(f"network: {', '.join(packaged)} build their image with Azure ML packaging; if the workspace is "
                     f"behind private link that build is refused. {PRIVATE_LINK}")
    return notes
