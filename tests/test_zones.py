"""Zone redundancy of the plan (zoneRedundant: auto, true, false): on by auto for a Premium v2-v4 plan of two or more
instances in a region with availability zones, left out of the plan's inputs otherwise; true where it cannot be is a
settings error naming why. And an existing prod stack takes it as an update of its plan, never a replacement."""
from __future__ import annotations

import json

import pulumi
import pytest

from offline.diff import compare
from offline.mock_engine import run_program, start_mocks
from offline.plan import plan_document
from offline.project import PROJECT_DIR
from settings.regions import ZONE_REGIONS, has_zones
from settings.stack_settings import NAMESPACE, Settings
from tests.helpers import PLAN, problems_of, settings_of, stack_values

BASELINE = PROJECT_DIR / "tests" / "baselines" / "prod-before-zones.json"  # prod's plan before zoneRedundant
ALERT = "azure-native:monitor:MetricAlert"
PREMIUM_TWO = {"sku": "P1v3", "autoscale": {"enabled": True, "minInstances": 2, "maxInstances": 4}}


def plan_inputs(stack: str = "dev", **overrides) -> dict:
    run = run_program(stack_values(stack, **overrides), stack)
    (plan,) = [r for r in run.registrations if r.type == PLAN]
    return plan.inputs



def test_prod_premium_v3_with_two_instances_in_westeurope_is_zone_redundant_by_default():
    assert settings_of("prod").zone_redundant == "auto"
    inputs = plan_inputs("prod")
    assert inputs["zoneRedundant"] is True
    assert inputs["sku"]["capacity"] == 2  # the two-instance floor, from autoscale's start


def test_dev_on_basic_is_not_and_its_plan_has_no_zone_input_at_all():
    assert "zoneRedundant" not in plan_inputs("dev")  # absent, not false: dev's plan does not change


def test_false_turns_it_off_on_prod_and_leaves_the_input_out():
    assert "zoneRedundant" not in plan_inputs("prod", zoneRedundant="false")


def test_auto_in_a_region_without_zones_is_off():
    assert not has_zones("northcentralus")
    assert "zoneRedundant" not in plan_inputs("prod", location="northcentralus")


def test_a_premium_plan_of_one_instance_is_off_under_auto():
    assert "zoneRedundant" not in plan_inputs("dev", sku="P1v3")  # no autoscale: one instance
    assert "zoneRedundant" not in plan_inputs("dev", sku="P1v3", autoscale={"enabled": True, "minInstances": 1})


@pytest.mark.parametrize("sku", ["P1v2", "P0v3", "P1mv3", "P1v4", "P2mv4"])
def test_auto_covers_every_premium_generation_and_the_memory_optimised(sku):
    assert plan_inputs("dev", **{**PREMIUM_TWO, "sku": sku})["zoneRedundant"] is True


def test_true_on_basic_is_refused_saying_the_tier():
    message = problems_of("dev", zoneRedundant="true")
    assert "model-webapp:zoneRedundant = true: zone redundancy needs a Premium v2, v3 or v4 sku; sku B1 is Basic" \
        in message


def test_true_in_a_region_without_zones_is_refused_naming_the_region_and_the_list():
    message = problems_of("prod", zoneRedundant="true", location="westus")
    assert "model-webapp:zoneRedundant = true: location westus has no availability zones" in message
    assert "settings/regions.py" in message


def test_true_below_two_instances_is_refused_naming_autoscales_minimum():
    message = problems_of("dev", zoneRedundant="true", **{**PREMIUM_TWO, "autoscale": {"enabled": True}})
    assert "zone redundancy needs at least two instances and autoscale.minInstances is 1" in message
    assert "without autoscale the plan runs one instance" in problems_of("dev", zoneRedundant="true", sku="P1v3")


def test_true_is_listed_with_the_other_cross_key_problems():
    message = problems_of("dev", zoneRedundant="true", autoscale={"enabled": True}, release={"strategy": "slot"})
    assert "configuration problem(s)" in message
    for key in ("zoneRedundant", "autoscale.enabled", "release.strategy"):
        assert f"model-webapp:{key} =" in message


def test_true_where_possible_is_taken():
    assert plan_inputs("dev", zoneRedundant="true", **PREMIUM_TWO)["zoneRedundant"] is True


@pytest.mark.parametrize("value", ["yes", "1", "True", "on"])
def test_only_auto_true_and_false_are_words_of_the_key(value):
    assert f"model-webapp:zoneRedundant = '{value}': must be auto, true or false" in problems_of(
        "dev", zoneRedundant=value)


def test_the_sovereign_clouds_have_their_own_zone_lists():
    assert has_zones("chinanorth3", "china") and not has_zones("chinaeast2", "china")
    assert has_zones("usgovvirginia", "usgovernment") and not has_zones("usgovarizona", "usgovernment")
    assert not has_zones("westeurope", "china")  # a public region is not one of China's
    assert set(ZONE_REGIONS) == {"AzureCloud", "AzureChinaCloud", "AzureUSGovernment"}


def test_an_existing_prod_plan_is_updated_in_place_and_its_alerts_gain_tags():
    old = json.loads(BASELINE.read_text())
    assert not any("zoneRedundant" in r["inputs"] for r in old["resources"])  # saved before the change
    new = plan_document(run_program(stack_values("prod"), "prod"), [])
    comparison = compare(old, new, BASELINE.name)
    by_type: dict[str, list] = {}
    for change in comparison.changes:
        by_type.setdefault(change.type, []).append(change)
    (plan,) = by_type[PLAN]
    assert plan.op == "update" and not plan.verdict.replace_because
    assert [(p.path, p.kind, p.new, p.replaces) for p in plan.properties] == [("zoneRedundant", "add", True, False)]
    alerts = by_type[ALERT]
    assert len(alerts) == 4 and all(a.op == "update" and not a.verdict.replace_because for a in alerts)
    assert all({p.path.split("[")[0].split(".")[0] for p in a.properties} == {"tags"} for a in alerts)
    assert not [c.urn for c in comparison.changes if c.op in ("replace", "delete", "create")]


def test_the_stacks_cloud_decides_which_regions_have_zones():
    digest = "sha256:" + "0" * 64
    china = {"image": f"mlwmodelsregistry.azurecr.cn/iris@{digest}", **PREMIUM_TWO}

    def in_china(location: str, **overrides) -> dict[str, str]:
        values = stack_values("dev", location=location, **{**china, **overrides})
        values["azure-native:environment"] = "china"
        return values

    start_mocks(in_china("chinanorth3"), "dev")
    assert Settings.from_config(pulumi.Config(NAMESPACE), stack="dev").zone_redundancy is True
    start_mocks(in_china("chinaeast2"), "dev")
    assert Settings.from_config(pulumi.Config(NAMESPACE), stack="dev").zone_redundancy is False
    start_mocks(in_china("chinaeast2", zoneRedundant="true"), "dev")
    with pytest.raises(pulumi.RunError, match="location chinaeast2 has no availability zones"):
        Settings.from_config(pulumi.Config(NAMESPACE), stack="dev")
