"""Settings of a stack in several regions: `regions` (the first is the primary) behind `frontDoor`, every problem of
either listed in the one pass, and the per-region views the program builds each region's platform and sites from."""
from __future__ import annotations

import dataclasses
import json
from types import MappingProxyType
from typing import Any

import pulumi
import pytest

from offline.mock_engine import start_mocks
from offline.stack_config import load_stack_config
from settings import stack_settings
from settings.clouds import CHINA, FRONT_DOOR, PUBLIC, US_GOVERNMENT, Unavailable
from settings.regions import has_zones
from settings.stack_settings import NAMESPACE, PROJECT_DIR, FrontDoor, Settings
from tests.helpers import problems_of, settings_of

EXAMPLE = PROJECT_DIR / "examples" / "regions.yaml"
TWO = ["westeurope", "northeurope"]
FD = {"frontDoor": {}}  # Front Door with its defaults
TENANT = "11111111-2222-3333-4444-555555555555"


def example_values(cloud: str | None = None, **overrides: Any) -> dict[str, str]:
    """The regions example's config as the CLI hands it over, with `key=value` overrides (None removes a key)."""
    values = dict(load_stack_config(config_file=EXAMPLE).values)
    for key, value in overrides.items():
        if value is None:
            values.pop(f"{NAMESPACE}:{key}", None)
        else:
            values[f"{NAMESPACE}:{key}"] = json.dumps(value) if isinstance(value, (dict, list, bool)) else str(value)
    if cloud:
        values["azure-native:environment"] = cloud
    return values


def example(cloud: str | None = None, **overrides: Any) -> Settings:
    start_mocks(example_values(cloud, **overrides), "regions")
    return Settings.from_config(pulumi.Config(NAMESPACE), stack="regions")


def example_problems(cloud: str | None = None, **overrides: Any) -> str:
    with pytest.raises(pulumi.RunError) as raised:
        example(cloud, **overrides)
    return str(raised.value)


def line_of(message: str, key: str) -> str:
    """The message's line about `key` (it must have one)."""
    line = next((line for line in message.splitlines() if f"{NAMESPACE}:{key} " in line), None)
    assert line is not None, f"no line about {key} in:\n{message}"
    return line


# -- regions and location ------------------------------------------------------------------------------------
def test_the_example_is_two_regions_whose_first_is_the_stacks_location():
    s = example()
    assert s.regions == TWO and s.locations == tuple(TWO)
    assert s.location == "westeurope" and s.is_primary
    assert isinstance(s.front_door, FrontDoor) and s.front_door.premium


def test_a_location_of_its_own_beside_regions_is_refused():
    message = example_problems(location="eastus")
    line = line_of(message, "location")
    assert "'eastus'" in line and "regions" in line and "westeurope" in line and "remove location" in line
    assert "1 configuration problem(s)" in message


def test_location_may_repeat_the_primary_region_or_hold_pulumi_yamls_default():
    # Pulumi.yaml declares location's default and the engine hands it over as if set.
    assert example(location="westeurope").location == "westeurope"
    assert example(location="West Europe", regions=["northeurope", "westeurope"]).location == "northeurope"
    s = example(regions=["northeurope", "westeurope"])  # location is the default westeurope, regions[1]
    assert (s.location, s.locations) == ("northeurope", ("northeurope", "westeurope"))


def test_regions_are_stored_by_their_programmatic_names():
    s = example(regions=["West Europe", "North Europe"])
    assert s.locations == ("westeurope", "northeurope") and s.location == "westeurope"
    north = s.in_region("North Europe")
    assert (north.location, north.resource_name(), north.platform_name()) == \
        ("northeurope", "mw-regions-northeurope", "mw-regions-northeurope")


def test_one_region_without_front_door_is_allowed_and_is_the_one_region_stack():
    one = settings_of("prod", regions=["northeurope"])
    assert one.front_door is None and one.locations == ("northeurope",) and one.location == "northeurope"
    assert one.is_primary and one.resource_name() == "mw-prod" and one.platform_name() == "mw-prod"


def test_a_one_region_stack_has_its_location_as_its_only_region():
    s = settings_of("prod")
    assert s.regions is None and s.locations == ("westeurope",) and s.is_primary
    assert [v.locations for v in s.services] == [("westeurope",)]


def test_two_regions_without_front_door_are_refused_saying_why():
    line = line_of(problems_of("prod", regions=TWO), "frontDoor")
    assert "is not set" in line and "2 regions" in line and "out of rotation" in line and "set frontDoor" in line


def test_one_region_with_front_door_is_allowed():
    s = settings_of("prod", regions=["westeurope"], **FD)
    assert s.locations == ("westeurope",) and s.front_door == FrontDoor()


def test_an_empty_region_list_is_refused():
    line = line_of(problems_of("prod", regions=[]), "regions")
    assert "lists no region" in line


def test_a_region_listed_twice_is_refused_whatever_its_spelling():
    message = problems_of("prod", regions=["westeurope", "northeurope", "WestEurope"], **FD)
    assert "is regions[0] again" in line_of(message, "regions[2]")
    assert "1 configuration problem(s)" in message


def test_a_region_unknown_to_the_cloud_is_named_with_the_nearest_known_one():
    message = problems_of("prod", regions=["westeurope", "northeurope", "northeruope"], **FD)
    assert "did you mean northeurope?" in line_of(message, "regions[2]")
    china = example_problems("china", regions=["chinanorth3", "westeurope"], location=None)
    line = line_of(china, "regions[1]")
    assert "AzureChinaCloud" in line and "chinaeast2 or chinanorth3" in line


# -- what Front Door and several regions cannot go with ------------------------------------------------------
def test_front_door_with_access_rules_of_the_users_own_is_refused():
    ranges = {"allowedIpRanges": ["203.0.113.0/24"]}
    one = problems_of("prod", access=ranges, **FD)
    assert "admits only the stack's Front Door" in line_of(one, "access") and "remove access" in line_of(one, "access")
    models = json.loads(example_values()[f"{NAMESPACE}:models"])
    models["iris"]["access"] = ranges
    line = line_of(example_problems(models=models), "models.iris.access")
    assert "X-Azure-FDID" in line


def test_access_without_front_door_is_still_allowed():
    assert settings_of("prod", access={"allowedIpRanges": ["203.0.113.0/24"]}).access is not None


def test_network_with_two_regions_is_refused_saying_what_to_do():
    line = line_of(example_problems(network={"publicNetworkAccess": "Disabled"}), "network")
    assert "serves one region" in line and "one stack per region" in line


def test_network_with_one_region_and_front_door_is_not_refused_for_the_regions():
    s = settings_of("prod", regions=["westeurope"], network={"publicNetworkAccess": "Enabled"}, **FD)
    assert s.network is not None


def test_managed_rule_sets_on_standard_are_refused_naming_the_premium_sku():
    line = line_of(example_problems(frontDoor={"waf": {"managedRuleSets": True}}), "frontDoor.waf.managedRuleSets")
    assert "Premium_AzureFrontDoor" in line and "Standard_AzureFrontDoor" in line
    premium = example(frontDoor={"sku": "Premium_AzureFrontDoor", "waf": {"managedRuleSets": "true"}})
    assert premium.front_door.uses_managed_rules


def test_front_door_defaults():
    fd = settings_of("prod", **FD).front_door
    assert (fd.sku, fd.premium, fd.waf.mode, fd.waf.managed_rule_sets, fd.uses_managed_rules) == \
        ("Standard_AzureFrontDoor", False, "Prevention", "auto", False)
    assert (fd.waf.rate_limit_per_minute, fd.health_probe_interval_seconds, fd.session_affinity) == (1000, 30, False)
    premium = FrontDoor(sku="Premium_AzureFrontDoor")
    assert premium.premium and premium.uses_managed_rules
    assert not FrontDoor(sku="Premium_AzureFrontDoor", waf={"managedRuleSets": False}).uses_managed_rules


@pytest.mark.parametrize("front_door, key, fragment", [
    ({"healthProbeIntervalSeconds": 256}, "frontDoor.healthProbeIntervalSeconds", "from 1 to 255"),
    ({"healthProbeIntervalSeconds": 0}, "frontDoor.healthProbeIntervalSeconds", "from 1 to 255"),
    ({"waf": {"rateLimitPerMinute": 0}}, "frontDoor.waf.rateLimitPerMinute", "must be at least 1"),
    ({"waf": {"mode": "Block"}}, "frontDoor.waf.mode", "Prevention, Detection"),
    ({"sku": "Classic_AzureFrontDoor"}, "frontDoor.sku", "Standard_AzureFrontDoor, Premium_AzureFrontDoor"),
    ({"sessionAffinity": "yes"}, "frontDoor.sessionAffinity", "true or false"),
    ({"wafMode": "Detection"}, "frontDoor.wafMode", "unknown key"),
])
def test_each_bad_front_door_value_names_its_key(front_door, key, fragment):
    assert fragment in line_of(problems_of("prod", frontDoor=front_door), key)


def test_a_site_name_too_long_in_a_later_region_only_is_refused_naming_that_region():
    # mw-regions-diabetes-app fits; mw-regions-diabetes-southafricanorth-app plus Pulumi's suffix does not
    models = json.loads(example_values()[f"{NAMESPACE}:models"])
    models["diabetes-ridge-regress"] = models.pop("diabetes")  # its Front Door endpoint name still fits
    message = example_problems(models=models, regions=["westeurope", "southafricanorth"])
    line = line_of(message, "models.diabetes-ridge-regress")
    assert "in region southafricanorth" in line and "southafricanorth-app" in line and "longer than" in line
    assert "1 configuration problem(s)" in message  # the primary's name fits, so it is named once
    names = {v.service: v.resource_name() for v in example(models=models).services}
    assert names["diabetes-ridge-regress"] == "mw-regions-diabetes-ridge-regress"


def test_a_plan_name_too_long_in_a_later_region_is_refused():
    line = line_of(problems_of("prod", namePrefix="a-long-prefix", regions=["westeurope", "southafricanorth"], **FD),
                   "namePrefix")
    assert "plan name in region southafricanorth" in line and "-southafricanorth-plan" in line


def test_zone_redundancy_must_be_possible_in_every_region_naming_the_one_that_cannot():
    assert not has_zones("westcentralus") and has_zones("northeurope")
    line = line_of(example_problems(regions=["westeurope", "westcentralus"], zoneRedundant="true"), "zoneRedundant")
    assert "westcentralus" in line and "no availability zones" in line and "auto" in line
    assert example(regions=["westeurope", "northeurope"], zoneRedundant="true").zone_redundant is True


def test_a_custom_domain_on_a_free_plan_is_allowed_with_front_door_which_holds_it():
    domain = {"hostName": "score.contoso.com"}
    line = line_of(problems_of("dev", sku="F1", customDomain=domain), "customDomain.hostName")
    assert "Basic plan" in line
    assert settings_of("dev", sku="F1", customDomain=domain, **FD).custom_domain.host_name == "score.contoso.com"


def test_every_regions_and_front_door_problem_is_listed_in_one_message():
    message = example_problems(location="eastus", regions=["westeurope", "westeurope", "mars"],
                               frontDoor={"waf": {"managedRuleSets": True, "rateLimitPerMinute": 0}},
                               access={"allowedIpRanges": ["203.0.113.0/24"]}, network={"publicNetworkAccess":
                                                                                         "Disabled"}, sku="X9")
    for key in ("location", "regions[1]", "regions[2]", "frontDoor.waf.managedRuleSets", "frontDoor.waf."
                "rateLimitPerMinute", "access", "network", "sku"):
        line_of(message, key)
    assert "Traceback" not in message and "Input should" not in message


# -- clouds ---------------------------------------------------------------------------------------------------
def test_front_door_in_china_is_allowed_but_not_with_a_custom_domain_for_want_of_managed_certificates():
    china = dict(regions=["chinanorth3", "chinaeast2"], location=None, image=f"mlwmodelsregistry.azurecr.cn/iris@sha256:{'ab' * 32}")
    models = json.loads(example_values()[f"{NAMESPACE}:models"])
    for service in models.values():
        service["image"] = china["image"]
    s = example("china", models=models, **{k: v for k, v in china.items() if k != "image"})
    assert s.cloud is CHINA and s.front_door is not None and s.locations == ("chinanorth3", "chinaeast2")
    # Each service's view, in each region, is in the stack's cloud too (its image is checked against it).
    assert {v.cloud for r in s.locations for v in s.in_region(r).services} == {CHINA}
    models["iris"]["customDomain"] = {"hostName": "score.contoso.cn"}
    line = line_of(example_problems("china", models=models, regions=china["regions"], location=None),
                   "models.iris.customDomain.hostName")
    assert "managed certificates are not offered in Azure China" in line and "remove customDomain" in line


def test_front_door_in_us_government_takes_no_custom_domain_either():
    models = json.loads(example_values()[f"{NAMESPACE}:models"])
    for service in models.values():
        service["image"] = f"mlwmodelsregistry.azurecr.us/iris@sha256:{'ab' * 32}"
    models["diabetes"]["customDomain"] = {"hostName": "score.contoso.us"}
    line = line_of(example_problems("usgovernment", models=models, regions=["usgovvirginia", "usgovtexas"],
                                    location=None), "models.diabetes.customDomain.hostName")
    assert "Azure US Government" in line and "your own certificate" in line


def test_a_cloud_without_front_door_refuses_it_with_the_alternative(monkeypatch):
    without = dataclasses.replace(PUBLIC, unavailable=MappingProxyType({FRONT_DOOR: Unavailable(
        feature="Azure Front Door Standard/Premium", source="a test page", alternative="do something else")}))
    monkeypatch.setattr(stack_settings, "cloud_named", lambda name: without)
    line = line_of(problems_of("prod", **FD), "frontDoor")
    assert "is not offered in the Azure public cloud (a test page): do something else" in line
    assert settings_of("prod").front_door is None  # without frontDoor nothing is said


def test_each_cloud_names_its_front_door_endpoint_suffix_or_none():
    assert (PUBLIC.front_door_suffix, US_GOVERNMENT.front_door_suffix, CHINA.front_door_suffix) == \
        ("azurefd.net", "azurefd.us", None)
    assert not any(c.missing(FRONT_DOOR) for c in (PUBLIC, CHINA, US_GOVERNMENT))


# -- per-region views ------------------------------------------------------------------------------------------
def test_a_region_view_is_the_stack_in_that_region():
    s = example()
    north = s.in_region("northeurope")
    assert (north.location, north.locations, north.is_primary) == ("northeurope", tuple(TWO), False)
    assert (north.stack, north.cloud, north.front_door) == (s.stack, s.cloud, s.front_door)
    assert north.platform_name() == "mw-regions-northeurope" and s.platform_name() == "mw-regions"
    assert north.resource_name() == "mw-regions-northeurope" and s.resource_name() == "mw-regions"
    assert s.location == "westeurope"  # the stack itself is untouched
    assert s.in_region("westeurope").resource_name() == "mw-regions"


def test_a_region_views_services_are_their_views_in_that_region():
    s = example()
    north = s.in_region("northeurope")
    assert [v.service for v in north.services] == [v.service for v in s.services] == ["diabetes", "iris"]
    for primary, there in zip(s.services, north.services):
        assert (there.location, there.is_primary) == ("northeurope", False)
        assert there.resource_name() == f"{primary.resource_name()}-northeurope"
        assert there.platform_name() == "mw-regions-northeurope"
        assert (there.smoke_rows, there.smoke_request_path) == (primary.smoke_rows, primary.smoke_request_path)
        assert there.smoke_rows and there.model == primary.model and there.auth == primary.auth
        assert there.stack == "regions" and there.cloud is s.cloud
    assert [v.resource_name() for v in s.services] == ["mw-regions-diabetes", "mw-regions-iris"]


def test_a_service_view_moves_to_a_region_as_the_stacks_view_there():
    s = example()
    iris = s.services[1].in_region("northeurope")
    assert iris.service == "iris" and iris.resource_name() == "mw-regions-iris-northeurope"
    assert iris == s.in_region("northeurope").services[1]
    assert iris.services == (iris,)


def test_zone_redundancy_follows_the_region_of_the_view():
    s = example(regions=["westeurope", "westcentralus"])  # P1v3, autoscale from 2: zone-redundant where it can be
    assert s.zone_redundancy is True
    west_central = s.in_region("westcentralus")
    assert west_central.zone_redundancy is False
    assert [v.zone_redundancy for v in west_central.services] == [False, False]
    assert [v.zone_redundancy for v in s.services] == [True, True]


def test_a_region_outside_the_stack_has_no_view():
    with pytest.raises(ValueError, match="eastus is not one of the stack's regions"):
        example().in_region("eastus")


def test_one_region_stacks_keep_their_names():
    dev = settings_of("dev")
    assert dev.in_region("westeurope").resource_name() == dev.resource_name() == "mw-dev"
    assert dev.platform_name() == "mw-dev"


# -- what one Front Door profile holds ------------------------------------------------------------------------
def _models(count: int) -> dict[str, Any]:
    service = {"model": {"name": "iris-logreg", "version": "1"}, "code": {
        "sourceDir": "examples/iris/src", "entryScript": "score.py", "environmentSpec": "examples/iris/requirements.txt"}}
    return {f"m{i}": service for i in range(count)}


def test_more_services_than_a_profile_has_endpoints_are_refused_naming_the_tier_limit():
    line = line_of(example_problems(models=_models(11), frontDoor={"sku": "Standard_AzureFrontDoor"}), "models")
    assert "11 services" in line and "at most 10" in line and "Premium_AzureFrontDoor (25)" in line
    assert example(models=_models(11)).front_door.premium  # the example is Premium: 25 endpoints
    line = line_of(example_problems(models=_models(26)), "models")
    assert "at most 25" in line and "split the models over stacks" in line and "(25)" not in line


def test_more_origins_than_a_profile_holds_are_refused():
    eleven = ["westeurope", "northeurope", "uksouth", "ukwest", "eastus", "eastus2", "westus", "westus2", "westus3",
              "centralus", "japaneast"]
    line = line_of(example_problems(models=_models(10), regions=eleven, frontDoor={}), "regions")
    assert "make 110 origins" in line and "at most 100" in line
    example(models=_models(10), regions=eleven[:10], frontDoor={})  # 100 origins: the limit itself is allowed


def test_a_zone_apex_behind_front_door_is_refused_with_every_other_problem():
    models = _models(2)
    models["m0"] = {**models["m0"], "customDomain": {"hostName": "contoso.com"}}
    models["m1"] = {**models["m1"], "access": {"allowedIpRanges": ["203.0.113.0/24"]}}
    message = example_problems(models=models)
    assert "score.contoso.com" in line_of(message, "models.m0.customDomain.hostName")
    assert line_of(message, "models.m1.access")
    example(models={"m0": {**_models(1)["m0"], "customDomain": {"hostName": "score.contoso.com"}}})


def test_an_endpoint_name_too_long_for_its_host_label_is_refused():
    long = "a-service-name-too-long-for-fd"  # the site's name fits App Service's 60
    line = line_of(example_problems(models={long: _models(1)["m0"]}), f"models.{long}")
    assert "Front Door endpoint name" in line and "46" in line


def test_front_door_with_sites_whose_public_access_is_off_is_refused():
    subnet = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-net/providers/"
              "Microsoft.Network/virtualNetworks/vnet/subnets/endpoints")
    line = line_of(example_problems(regions=["westeurope"], network={"privateEndpointSubnetId": subnet}),
                   "network.publicNetworkAccess")
    assert "Front Door reaches each site as a public origin" in line and "publicNetworkAccess Enabled" in line
    example(regions=["westeurope"], network={"privateEndpointSubnetId": subnet, "publicNetworkAccess": "Enabled"})
