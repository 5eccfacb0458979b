"""Existing stacks upgrade to the platform/service split with no replacement: the plans of dev and prod made at the
commit before the split (committed in tests/baselines/) against today's, through the offline diff that follows aliases.

The baselines are what the engine's state holds of a deployed stack. A later change may legitimately rebuild the
image (a new content hash or package provider version, and the release that follows it); what must never happen to a
resource of the baseline is a delete, a create under another URN, or a replacement for any other reason.
"""
from __future__ import annotations

import json

import pytest

from offline.diff import compare
from offline.plan import plan_document
from offline.project import PACKAGE_TYPE, PROJECT_DIR
from tests.helpers import stack_values
from offline.mock_engine import run_program

BASELINES = PROJECT_DIR / "tests" / "baselines"
# Inputs whose change means a new image, replaced on purpose: not a move gone wrong.
IMAGE_INPUTS = {PACKAGE_TYPE: {"content_hash", "provider_version", "model_mount_mode"},
                "pulumi-python:dynamic/model-webapp:SlotSwap": {"expected_image"},
                "pulumi-python:dynamic/model-webapp:SiteRollout": {"expected_image"}}


@pytest.fixture(scope="module", params=["dev", "prod"])
def upgrade(request):
    stack = request.param
    old = json.loads((BASELINES / f"{stack}-before-services.json").read_text())
    new = plan_document(run_program(stack_values(stack), stack), [])
    return old, new, compare(old, new, f"{stack}-before-services.json")


def test_no_resource_of_a_deployed_stack_is_deleted_or_created_anew(upgrade):
    old, new, comparison = upgrade
    deleted = [c.urn for c in comparison.changes if c.op == "delete"]
    assert not deleted
    known = {(r["type"], r["name"]) for r in old["resources"]}
    recreated = [c.urn for c in comparison.changes if c.op == "create" and (c.type, c.name) in known]
    assert not recreated
    created = {c.type for c in comparison.changes if c.op == "create"}
    assert created <= {"model-webapp:index:ModelService"}  # the only new resource: a component, nothing in Azure


def test_every_resource_is_found_in_place_or_moved_and_replaced_only_for_a_new_image(upgrade):
    old, new, comparison = upgrade
    found = {r["urn"] for r in new["resources"]} | {m.moved_from for m in comparison.moves}
    assert {r["urn"] for r in old["resources"]} <= found
    for change in comparison.changes:
        if change.op == "replace":
            assert set(change.verdict.replace_because) <= IMAGE_INPUTS.get(change.type, set()), change.urn


def test_the_moves_are_the_engines_urns_of_the_one_component_layout(upgrade):
    _old, new, comparison = upgrade
    aliases = {a for r in new["resources"] for a in r["options"].get("aliases", [])}
    assert any(a.endswith("::model-webapp:index:ModelWebApp::" + ("mw-dev" if "dev" in comparison.against
                                                                    else "mw-prod")) for a in aliases)
    assert all("pulumi:pulumi:Stack$" not in a for a in aliases)  # the real engine's form, not the mock's
