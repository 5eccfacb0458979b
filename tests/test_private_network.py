"""Private networking (setting `network`, examples/private.yaml): a private endpoint for every site and slot with its
DNS zone group, public access off on both, VNet integration and image-pull routing on both; the settings refuse what
cannot work, all at once; the registry read says what a pull through the VNet needs; dev and prod are untouched."""
from __future__ import annotations

import json
import logging
import re

import pulumi
import pytest

from offline import plan
from offline.fake_azure import FakeAzure
from offline.mock_engine import ProgramRun, run_program, start_mocks
from offline.project import PROJECT_DIR, ROLLOUT_TYPE, SWAP_TYPE
from offline.stack_config import load_stack_config
from settings.stack_settings import NAMESPACE, Settings
from tests.helpers import WEB_APP, problems_of, stack_values

PRIVATE = PROJECT_DIR / "examples" / "private.yaml"
SLOT = "azure-native:web:WebAppSlot"
ENDPOINT = "azure-native:network:PrivateEndpoint"
ZONE_GROUP = "azure-native:network:PrivateDnsZoneGroup"
NET = "/subscriptions/77777777-7777-7777-7777-777777777777/resourceGroups/rg-lz-network/providers/Microsoft.Network/" \
      "virtualNetworks/vnet-lz-westeurope/subnets/"
INTEGRATION, ENDPOINTS = NET + "snet-appservice-integration", NET + "snet-private-endpoints"
ZONE = "/subscriptions/88888888-8888-8888-8888-888888888888/resourceGroups/rg-lz-dns/providers/Microsoft.Network/" \
       "privateDnsZones/privatelink.azurewebsites.net"
NETWORK = {"integrationSubnetId": INTEGRATION, "privateEndpointSubnetId": ENDPOINTS, "privateDnsZoneId": ZONE}


def private_values(**overrides) -> dict[str, str]:
    values = dict(load_stack_config(config_file=PRIVATE).values)
    for key, value in overrides.items():
        values[f"{NAMESPACE}:{key}"] = json.dumps(value) if isinstance(value, (dict, list)) else str(value)
    return values


@pytest.fixture(scope="module")
def private() -> ProgramRun:
    return run_program(private_values(), "private")


def sites(run: ProgramRun) -> list:
    return run.of_type(WEB_APP) + run.of_type(SLOT)


def warnings(caplog) -> str:
    return "\n".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


# -- the example's plan ----------------------------------------------------------------------------------------------
def test_the_private_example_plans_clean_with_every_rule_mandatory(capsys):
    code = plan.main(["--config-file", str(PRIVATE), "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    doc = json.loads(out)
    assert doc["stack"] == "private" and doc["policyConfig"] is None and doc["violations"] == []


def test_the_site_and_its_slot_each_get_a_private_endpoint_in_the_endpoint_subnet(private):
    (site,), (slot,) = private.of_type(WEB_APP), private.of_type(SLOT)
    endpoints = {e.name: e.inputs for e in private.of_type(ENDPOINT)}
    assert set(endpoints) == {"mw-private-pe", "mw-private-slot-pe"}
    for name, group in (("mw-private-pe", "sites"), ("mw-private-slot-pe", f"sites-{slot.inputs['slot']}")):
        (connection,) = endpoints[name]["privateLinkServiceConnections"]
        assert connection["groupIds"] == [group]
        # A slot's endpoint is made on the parent site: the slot is named by the group id alone.
        assert connection["privateLinkServiceId"].endswith(f"/{site.state['name']}")
        assert endpoints[name]["subnet"] == {"id": ENDPOINTS}
        assert endpoints[name]["location"] == "westeurope"
    # Parented by the service, the slot's made once the slot exists.
    (endpoint,) = [e for e in private.of_type(ENDPOINT) if e.name == "mw-private-slot-pe"]
    assert endpoint.parent == site.parent and slot.urn in endpoint.dependencies


def test_each_endpoint_registers_in_the_given_zone(private):
    names = {e.name: e.state["name"] for e in private.of_type(ENDPOINT)}
    groups = {g.name: g.inputs for g in private.of_type(ZONE_GROUP)}
    assert set(groups) == {f"{n}-dns" for n in names}
    for endpoint, physical in names.items():
        group = groups[f"{endpoint}-dns"]
        assert group["privateEndpointName"] == physical
        assert group["privateDnsZoneConfigs"] == [{"name": "privatelink-azurewebsites-net", "privateDnsZoneId": ZONE}]


def test_site_and_slot_alike_are_private_integrated_and_pull_over_the_vnet(private):
    both = sites(private)
    assert len(both) == 2
    for site in both:
        assert site.inputs["publicNetworkAccess"] == "Disabled"
        assert site.inputs["virtualNetworkSubnetId"] == INTEGRATION
        assert site.inputs["outboundVnetRouting"] == {"applicationTraffic": True, "imagePullTraffic": True}
        # The pull itself still goes through the identity: routing changes the path, not the credentials.
        assert site.inputs["siteConfig"]["acrUseManagedIdentityCreds"] is True


def test_nothing_public_is_left(private):
    both = sites(private)
    assert [s.inputs.get("publicNetworkAccess") for s in both] == ["Disabled"] * len(both)
    assert len(private.of_type(ENDPOINT)) == len(both)
    # The release gate waits for the slot's endpoint: it calls the slot through it.
    (swap,) = private.of_type(SWAP_TYPE)
    assert any(e.urn in swap.dependencies for e in private.of_type(ENDPOINT) if e.name == "mw-private-slot-pe")


def test_the_registry_is_read_once_and_the_plan_says_what_the_pull_needs(caplog):
    caplog.set_level(logging.WARNING)
    run = run_program(private_values(), "private", FakeAzure(registry_public_network_access="Disabled"))
    reads = [i for i in run.invokes if i["token"] == "azure-native:resources:getResource"]
    assert len(reads) == 1 and reads[0]["args"]["apiVersion"] == "2025-11-01"
    said = warnings(caplog)
    assert "reached only through its private endpoints" in said and "privatelink.azurecr.io" in said
    assert "network.integrationSubnetId" in said


def test_a_public_registry_is_allowed_and_the_plan_says_the_route_must_reach_it(caplog):
    caplog.set_level(logging.WARNING)
    run_program(private_values(), "private", FakeAzure(registry_sku="Standard"))
    said = warnings(caplog)
    assert "must let the sites reach its public endpoint" in said and "needs the Premium SKU" in said


def test_a_registry_no_pull_can_reach_is_refused_saying_why():
    with pytest.raises(Exception) as raised:
        run_program(private_values(), "private",
                    FakeAzure(registry_sku="Basic", registry_public_network_access="Disabled"))
    assert re.search(r"cannot be reached: its public access is off, and only a Premium registry can have the "
                     r"private endpoint", str(raised.value))


def test_without_the_image_pull_over_the_vnet_the_registry_is_judged_by_nobody():
    network = {**NETWORK, "pullImageOverVnet": False}
    run = run_program(private_values(network=network), "private",
                      FakeAzure(registry_sku="Basic", registry_public_network_access="Disabled"))
    for site in sites(run):
        assert site.inputs["outboundVnetRouting"] == {"applicationTraffic": True, "imagePullTraffic": False}


# -- what the settings allow ----------------------------------------------------------------------------------------
def test_every_network_problem_is_listed_at_once():
    text = problems_of(sku="F1", network={
        "integrationSubnetId": "/subscriptions/not-a-guid/resourceGroups/rg/providers/Microsoft.Network/"
                               "virtualNetworks/v/subnets/s",
        "privateEndpointSubnetId": ENDPOINTS,
        "privateDnsZoneId": ZONE.replace("privatelink.azurewebsites.net", "privatelink.azurecr.io"),
        "publicNetworkAccess": "Sometimes"})
    lines = [line for line in text.splitlines() if line.startswith("  - ")]
    assert "configuration problem(s)" in text and len(lines) == 5, text
    assert "network.integrationSubnetId = '/subscriptions/not-a-guid" in text and "must be a subnet id" in text
    assert "is the zone privatelink.azurecr.io, but App Service sites' private endpoints in the Azure public cloud " \
           "resolve in privatelink.azurewebsites.net" in text
    assert "network.publicNetworkAccess = 'Sometimes': must be one of Enabled, Disabled" in text
    assert "VNet integration needs a Basic plan or above; sku F1 is Free" in text
    assert "a private endpoint needs a Basic plan or above; sku F1 is Free" in text


def test_a_zone_id_of_the_wrong_shape_and_keys_that_would_do_nothing_are_refused():
    text = problems_of(network={"privateDnsZoneId": "/subscriptions/x/privatelink.azurewebsites.net",
                                "routeAllTraffic": False, "pullImageOverVnet": "true"})
    assert "network.privateDnsZoneId = '/subscriptions/x/privatelink.azurewebsites.net': must be a private DNS zone " \
           "id: /subscriptions/<subscription id>/resourceGroups/<group>/providers/Microsoft.Network/privateDnsZones/" \
           "<zone>" in text
    assert "network.privateDnsZoneId" in text and "has no effect without privateEndpointSubnetId" in text
    assert "network.routeAllTraffic = false: has no effect without integrationSubnetId" in text
    assert "network.pullImageOverVnet = 'true': has no effect without integrationSubnetId" in text


def test_one_subnet_cannot_serve_both_directions_and_an_empty_network_is_refused():
    assert "is the VNet integration subnet, which App Service cannot share with private endpoints" in problems_of(
        sku="B1", network={"integrationSubnetId": INTEGRATION, "privateEndpointSubnetId": INTEGRATION})
    assert "model-webapp:network = {}: sets none of" in problems_of(network={})


def test_a_zone_is_judged_by_the_stacks_cloud():
    values = stack_values("dev", location="usgovvirginia", image="mlwmodelsregistry.azurecr.us/iris@sha256:" + "ab" * 32,
                          network={"privateEndpointSubnetId": ENDPOINTS, "privateDnsZoneId": ZONE})
    values["azure-native:environment"] = "usgovernment"
    start_mocks(values, "dev")
    with pytest.raises(pulumi.RunError) as raised:
        Settings.from_config(pulumi.Config(NAMESPACE), stack="dev")
    assert "resolve in privatelink.azurewebsites.us" in str(raised.value)


def test_the_defaults_follow_the_private_endpoint():
    start_mocks(stack_values("dev", network={"privateEndpointSubnetId": ENDPOINTS}), "dev")
    net = Settings.from_config(pulumi.Config(NAMESPACE), stack="dev").network
    assert (net.public_access, net.route_all_traffic, net.pull_image_over_vnet, net.pulls_over_vnet) == \
        ("Disabled", True, True, False)
    start_mocks(stack_values("dev", network={"integrationSubnetId": INTEGRATION}), "dev")
    assert Settings.from_config(pulumi.Config(NAMESPACE), stack="dev").network.public_access == "Enabled"


# -- the variants the plan notes --------------------------------------------------------------------------------------
def test_public_access_enabled_beside_an_endpoint_is_allowed_and_noted(caplog):
    caplog.set_level(logging.WARNING)
    run = run_program(private_values(network={**NETWORK, "publicNetworkAccess": "Enabled"}), "private")
    assert [s.inputs["publicNetworkAccess"] for s in sites(run)] == ["Enabled", "Enabled"]
    assert len(run.of_type(ENDPOINT)) == 2
    assert "publicNetworkAccess is Enabled beside the private endpoints" in warnings(caplog)


def test_without_a_zone_no_dns_is_made_and_the_plan_says_who_must(caplog):
    caplog.set_level(logging.WARNING)
    network = {k: v for k, v in NETWORK.items() if k != "privateDnsZoneId"}
    run = run_program(private_values(network=network), "private")
    assert len(run.of_type(ENDPOINT)) == 2 and run.of_type(ZONE_GROUP) == []
    said = warnings(caplog)
    assert "creates no DNS records" in said and "landing zone's policy" in said and "privatelink.azurewebsites.net" in said


def test_in_place_on_basic_the_rollout_waits_for_productions_endpoint():
    run = run_program(stack_values("dev", network={"privateEndpointSubnetId": ENDPOINTS}), "dev")
    (endpoint,), (rollout,) = run.of_type(ENDPOINT), run.of_type(ROLLOUT_TYPE)
    assert endpoint.name == "mw-dev-pe" and endpoint.urn in rollout.dependencies
    (site,) = run.of_type(WEB_APP)
    assert site.inputs["publicNetworkAccess"] == "Disabled"
    assert "virtualNetworkSubnetId" not in site.inputs and "outboundVnetRouting" not in site.inputs


def test_every_service_of_a_fleet_gets_its_own_endpoints():
    values = dict(load_stack_config(config_file=PROJECT_DIR / "examples" / "fleet.yaml").values)
    values[f"{NAMESPACE}:network"] = json.dumps(NETWORK)
    run = run_program(values, "fleet")
    names = sorted(e.name for e in run.of_type(ENDPOINT))
    assert names == sorted(f"mw-fleet-{s}-{k}" for s in ("diabetes", "iris", "wine") for k in ("pe", "slot-pe"))
    groups = {e.name: e.inputs["privateLinkServiceConnections"][0]["groupIds"] for e in run.of_type(ENDPOINT)}
    assert groups["mw-fleet-wine-slot-pe"] == ["sites-canary"] and groups["mw-fleet-iris-slot-pe"] == ["sites-staging"]


# -- dev and prod ---------------------------------------------------------------------------------------------------
def test_dev_and_prod_declare_nothing_of_it(dev, prod):
    for run in (dev, prod):
        assert run.of_type(ENDPOINT) == [] and run.of_type(ZONE_GROUP) == []
        for site in sites(run):
            assert not {"publicNetworkAccess", "virtualNetworkSubnetId", "outboundVnetRouting"} & set(site.inputs)
