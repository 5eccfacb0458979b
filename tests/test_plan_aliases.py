"""Aliases: the plan records the URNs a resource asks to be known by, and the offline diff follows them as the engine
does, so a resource moved under a new parent or name is that resource (updated or unchanged), not a delete and a
create. The programs here are tiny stacks of their own, run under the same mock engine as the real one."""
from __future__ import annotations

import textwrap

import pytest

from offline.diff import AliasError, compare
from offline.diff_render import render_diff_markdown, render_diff_table
from offline.mock_engine import run_program

WEB_APP = "azure-native:web:WebApp"
ROOT = "urn:pulumi:dev::model-webapp::"

HEADER = """
import pulumi
from pulumi_azure_native import resources, web


class Box(pulumi.ComponentResource):
    def __init__(self, typ, name, opts=None):
        super().__init__(typ, name, None, opts)
"""


def plan_of(tmp_path, body: str, name: str = "program") -> dict:
    """The JSON plan (as `offline.plan --format json` writes its resources) of a tiny program."""
    program = tmp_path / f"{name}.py"
    program.write_text(HEADER + textwrap.dedent(body))
    run = run_program({}, "dev", program=program)
    return {"stack": "dev", "resources": [r.as_json() for r in run.registrations], "outputs": {}}


def aliases_of(plan: dict) -> dict[str, list[str]]:
    return {r["name"]: r["options"]["aliases"] for r in plan["resources"]}


# -- what the plan records ------------------------------------------------------------------------------------------
def test_the_plan_records_aliases_given_as_urns_and_as_specs_in_the_engines_form(tmp_path):
    plan = plan_of(tmp_path, """
        box = Box("x:index:Box", "box")
        group = resources.ResourceGroup("group", resource_group_name="rg")
        site = lambda name, *aliases: web.WebApp(name, resource_group_name="rg", server_farm_id="plan",
                                                 opts=pulumi.ResourceOptions(parent=box, aliases=list(aliases)))
        site("by-urn", "urn:pulumi:dev::model-webapp::x:index:Old$azure-native:web:WebApp::by-urn")
        site("renamed", pulumi.Alias(name="old-name"))
        site("was-top-level", pulumi.Alias(parent=pulumi.ROOT_STACK_RESOURCE))
        site("elsewhere", pulumi.Alias(name="other", parent=group, stack="prod", project="p2"))
        site("plain")
    """)
    assert aliases_of(plan) == {
        "box": [], "group": [], "plain": [],
        "by-urn": [f"{ROOT}x:index:Old$azure-native:web:WebApp::by-urn"],
        "renamed": [f"{ROOT}x:index:Box$azure-native:web:WebApp::old-name"],  # the parent defaults to its own
        "was-top-level": [f"{ROOT}azure-native:web:WebApp::was-top-level"],  # noParent: no chain, no stack type
        "elsewhere": ["urn:pulumi:prod::p2::azure-native:resources:ResourceGroup$azure-native:web:WebApp::other"],
    }


def test_azure_natives_own_aliases_for_its_older_api_versions_are_left_out(tmp_path):
    """pulumi-azure-native gives every WebApp two dozen of them; the offline run drops them before the SDK expands
    each into asyncio tasks (most of a large plan's time), and none reaches the request or the plan. A program's own
    aliases, of either form, are kept."""
    import inspect

    from pulumi_azure_native.web import web_app
    from offline import mock_engine

    assert 'pulumi.Alias(type_="azure-native:web/v20150801:WebApp")' in inspect.getsource(web_app)  # they exist
    seen = []
    original = mock_engine.RecordingMonitor.RegisterResource

    def spy(self, request):
        seen.extend(a.spec.type or a.urn for a in request.aliases)
        return original(self, request)

    mock_engine.RecordingMonitor.RegisterResource = spy
    try:
        plan = plan_of(tmp_path, """
            web.WebApp("site", resource_group_name="rg", server_farm_id="plan",
                       opts=pulumi.ResourceOptions(aliases=[pulumi.Alias(name="old"), "urn:pulumi:dev::p::t::u"]))
        """)
    finally:
        mock_engine.RecordingMonitor.RegisterResource = original
    assert not [t for t in seen if "/v20" in t]
    (site,) = [r for r in plan["resources"] if r["name"] == "site"]
    assert "urn:pulumi:dev::p::t::u" in site["options"]["aliases"]
    assert any(a.endswith("azure-native:web:WebApp::old") for a in site["options"]["aliases"])


def test_a_spec_alias_under_a_grandparent_names_the_whole_type_chain(tmp_path):
    """The mock's URNs keep only the parent's last type; the engine's alias chains every ancestor but the stack."""
    plan = plan_of(tmp_path, """
        outer = Box("x:index:Outer", "outer")
        inner = Box("x:index:Inner", "inner", pulumi.ResourceOptions(parent=outer))
        web.WebApp("site", resource_group_name="rg", server_farm_id="plan",
                   opts=pulumi.ResourceOptions(parent=inner, aliases=[pulumi.Alias(name="old")]))
    """)
    (site,) = [r for r in plan["resources"] if r["name"] == "site"]
    assert site["urn"] == f"{ROOT}x:index:Inner$azure-native:web:WebApp::site"
    assert site["options"]["aliases"] == [f"{ROOT}x:index:Outer$x:index:Inner$azure-native:web:WebApp::old"]


# -- what the diff makes of them ------------------------------------------------------------------------------------
OLD = """
    app = Box("x:index:ModelWebApp", "mw-dev")
    web.WebApp("mw-dev-app", resource_group_name="rg", server_farm_id="plan", https_only=True,
               opts=pulumi.ResourceOptions(parent=app))
"""


def new_program(site_aliases: str = "[]", https_only: str = "True", service_aliases: str = "[]") -> str:
    return f"""
    service = Box("x:index:ModelService", "main", pulumi.ResourceOptions(aliases={service_aliases}))
    web.WebApp("mw-dev-app", resource_group_name="rg", server_farm_id="plan", https_only={https_only},
               opts=pulumi.ResourceOptions(parent=service, aliases={site_aliases}))
    """


OLD_SITE = f"{ROOT}x:index:ModelWebApp$azure-native:web:WebApp::mw-dev-app"


def ops(comparison) -> list[tuple[str, str]]:
    return sorted((c.name, c.op) for c in comparison.changes)


def test_without_an_alias_a_moved_site_is_deleted_and_created(tmp_path):
    comparison = compare(plan_of(tmp_path, OLD, "old"), plan_of(tmp_path, new_program(), "new"))
    assert ops(comparison) == [("main", "create"), ("mw-dev", "delete"), ("mw-dev-app", "create"),
                               ("mw-dev-app", "delete")]
    assert [c.op for c in comparison.changes if c.urn == OLD_SITE] == ["delete"]
    assert comparison.moves == []


def test_a_site_with_an_alias_to_its_old_urn_is_that_site_moved_and_its_inputs_are_diffed(tmp_path):
    old = plan_of(tmp_path, OLD, "old")
    unchanged = compare(old, plan_of(tmp_path, new_program(f'["{OLD_SITE}"]'), "same"))
    assert ops(unchanged) == [("main", "create"), ("mw-dev", "delete")]  # the site: neither, and no input changed
    assert [(m.name, m.op, m.moved_from) for m in unchanged.moves] == [("mw-dev-app", "same", OLD_SITE)]
    assert unchanged.counts() == {"create": 1, "update": 0, "replace": 0, "delete": 1, "same": 1}

    changed = compare(old, plan_of(tmp_path, new_program(f'["{OLD_SITE}"]', https_only="False"), "changed"))
    (site,) = [c for c in changed.changes if c.name == "mw-dev-app"]
    assert (site.op, site.moved_from) == ("update", OLD_SITE)
    assert [(p.path, p.old, p.new) for p in site.properties] == [("httpsOnly", True, False)]
    assert changed.counts() == {"create": 1, "update": 1, "replace": 0, "delete": 1, "same": 0}
    shown = site.as_json()
    assert shown["movedFrom"] == OLD_SITE and shown["op"] == "update"
    assert changed.as_json()["moves"] == [{"urn": site.urn, "from": OLD_SITE, "op": "update"}]
    assert f"        (moved from {OLD_SITE})" in render_diff_table(changed)
    assert "    1 moved through aliases (0 of them unchanged)" in render_diff_table(changed)
    assert f"| `~` update | `mw-dev-app` (moved from `{OLD_SITE}`) |" in render_diff_markdown(changed, [])


def test_a_replacing_change_on_a_moved_site_is_still_a_replace(tmp_path):
    old = plan_of(tmp_path, OLD, "old")
    new = plan_of(tmp_path, new_program(f'["{OLD_SITE}"]').replace('"rg"', '"rg-2"'), "new")
    (site,) = [c for c in compare(old, new).changes if c.name == "mw-dev-app"]
    assert (site.op, site.moved_from, site.verdict.replace_because) == ("replace", OLD_SITE, ("resourceGroupName",))


def test_children_follow_a_component_moved_by_alias_as_the_engine_makes_them(tmp_path):
    """The component's alias (type and name of the old one, at the stack) gives its children inherited aliases:
    the site needs none of its own, and nothing is created or deleted."""
    new = plan_of(tmp_path, new_program(service_aliases='[pulumi.Alias(type_="x:index:ModelWebApp", name="mw-dev")]'))
    comparison = compare(plan_of(tmp_path, OLD, "old"), new)
    assert comparison.changes == []
    assert {(m.name, m.moved_from) for m in comparison.moves} == {
        ("main", f"{ROOT}pulumi:pulumi:Stack$x:index:ModelWebApp::mw-dev"), ("mw-dev-app", OLD_SITE)}
    assert "2 moved through aliases (2 of them unchanged)" in "\n".join(render_diff_table(comparison))


def test_an_alias_in_the_offline_plans_own_urn_form_does_not_match_at_the_stack(tmp_path):
    """`pulumi:pulumi:Stack$` is the mock's, not the engine's: such an alias would miss in `pulumi preview` too."""
    mock_form = f"{ROOT}pulumi:pulumi:Stack$x:index:ModelWebApp::mw-dev"
    new = plan_of(tmp_path, new_program(service_aliases=f'["{mock_form}"]'))
    assert ops(compare(plan_of(tmp_path, OLD, "old"), new)) == [("main", "create"), ("mw-dev", "delete"),
                                                                ("mw-dev-app", "create"), ("mw-dev-app", "delete")]


# -- what the engine refuses, on plans made by hand -------------------------------------------------------------------
def res(name: str, parent: str = "", aliases: tuple[str, ...] = (), https: bool = True) -> dict:
    chain = f"{parent.split('::')[2].split('$')[-1]}$" if parent else "pulumi:pulumi:Stack$"
    return {"urn": f"{ROOT}{chain}{WEB_APP}::{name}", "type": WEB_APP, "name": name, "parent": parent or None,
            "inputs": {"httpsOnly": https}, "options": {"aliases": list(aliases)}}


def doc(*resources) -> dict:
    return {"stack": "dev", "resources": list(resources), "outputs": {}}


def test_two_resources_claiming_one_old_resource_fail_as_in_the_engine():
    old_urn = f"{ROOT}{WEB_APP}::a"
    with pytest.raises(AliasError, match=r"Duplicate resource alias '.*::a' applied to resource with URN '.*::c' "
                                         r"conflicting with resource with URN '.*::b'"):
        compare(doc(res("a")), doc(res("b", aliases=(old_urn,)), res("c", aliases=(old_urn,))))


def test_an_alias_to_an_old_resource_still_declared_as_itself_fails_in_either_order():
    old_urn = f"{ROOT}{WEB_APP}::a"
    with pytest.raises(AliasError, match="Duplicate resource alias"):  # declared first, claimed after
        compare(doc(res("a")), doc(res("a"), res("b", aliases=(old_urn,))))
    with pytest.raises(AliasError, match="already claims through an alias"):  # claimed first, declared after
        compare(doc(res("a")), doc(res("b", aliases=(old_urn,)), res("a")))


def test_an_alias_naming_nothing_old_is_ignored_and_the_first_match_wins():
    comparison = compare(doc(res("a"), res("z")),
                         doc(res("b", aliases=(f"{ROOT}{WEB_APP}::nowhere", f"{ROOT}{WEB_APP}::a",
                                               f"{ROOT}{WEB_APP}::z"), https=False)))
    assert [(c.name, c.op, c.moved_from) for c in comparison.changes] == [
        ("b", "update", f"{ROOT}pulumi:pulumi:Stack${WEB_APP}::a"), ("z", "delete", None)]
