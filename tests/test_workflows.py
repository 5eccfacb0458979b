"""The delivery workflows: valid against GitHub's schema, and shaped as the README promises."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
ACTIONS = sorted((ROOT / ".github" / "actions").glob("*/action.yml"))
CHECK_JSONSCHEMA = Path(sys.executable).with_name("check-jsonschema")


def load(path: Path) -> dict:
    doc = yaml.safe_load(path.read_text())
    doc["on"] = doc.pop(True, doc.get("on"))  # YAML 1.1 reads the key `on` as true
    return doc


def workflow(name: str) -> dict:
    return load(ROOT / ".github" / "workflows" / f"{name}.yml")


def steps_using(doc: dict, action: str) -> list[dict]:
    return [s for job in doc["jobs"].values() for s in job.get("steps", []) if s.get("uses", "").startswith(action)]


def test_the_expected_workflows_exist():
    assert {p.stem for p in WORKFLOWS} == {"ci", "preview", "deploy", "destroy", "drift", "rollback"}


def stack_names() -> set[str]:
    return {p.name.split(".")[1] for p in ROOT.glob("Pulumi.*.yaml")}


@pytest.mark.parametrize("path", WORKFLOWS + ACTIONS, ids=lambda p: p.parent.name + "/" + p.name)
def test_valid_against_the_schema_check_jsonschema_ships(path):
    schema = "vendor.github-actions" if path.name == "action.yml" else "vendor.github-workflows"
    done = subprocess.run([str(CHECK_JSONSCHEMA), "--builtin-schema", schema, str(path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_ci_runs_make_test_and_every_plan_without_credentials():
    ci = workflow("ci")
    assert set(ci["on"]) == {"pull_request", "push"}
    runs = [s.get("run", "") for s in ci["jobs"]["test"]["steps"]]
    assert any(r.startswith("make test") for r in runs) and any(r.startswith("make plans") for r in runs)
    assert ci["permissions"] == {"contents": "read"}
    assert "secrets." not in (ROOT / ".github/workflows/ci.yml").read_text()


def test_preview_comments_on_each_pull_request_with_the_policy_pack():
    preview = workflow("preview")
    assert list(preview["on"]) == ["pull_request"]
    job = preview["jobs"]["preview"]
    stacks = job["strategy"]["matrix"]["stack"]
    assert set(stacks) == {p.name.split(".")[1] for p in ROOT.glob("Pulumi.*.yaml")}
    (step,) = steps_using(preview, "pulumi/actions")
    with_ = step["with"]
    assert with_["command"] == "preview" and with_["stack-name"] == "${{ matrix.stack }}"
    assert with_["comment-on-pr"] is True and with_["github-token"] == "${{ secrets.GITHUB_TOKEN }}"
    assert with_["policyPacks"] == "policies"
    assert with_["policyPackConfigs"] == "policies/config/${{ matrix.stack }}.json"
    for stack in stacks:
        assert (ROOT / "policies" / "config" / f"{stack}.json").is_file()
    assert preview["permissions"] == {"id-token": "write", "contents": "read", "pull-requests": "write"}
    assert preview["concurrency"]["cancel-in-progress"] is True


def test_pull_requests_get_the_offline_diff_of_every_stack_in_the_job_summary():
    ci = workflow("ci")
    job = ci["jobs"]["plan-diff"]
    assert job["if"] == "github.event_name == 'pull_request'"
    checkouts = [s for s in job["steps"] if s.get("uses", "").startswith("actions/checkout")]
    assert len(checkouts) == 2 and all(s["with"]["persist-credentials"] is False for s in checkouts)
    base = checkouts[1]["with"]
    assert base["ref"] == "${{ github.event.pull_request.base.sha }}"
    runs = [s.get("run", "") for s in job["steps"]]
    setup = next(r for r in runs if "make setup" in r)
    assert f"make -C {base['path']} setup" in setup  # the base plans with its own code and pinned venv
    (summary,) = [r for r in runs if "GITHUB_STEP_SUMMARY" in r]
    assert summary == f'.venv/bin/python -m offline.base_diff --base-dir {base["path"]} >> "$GITHUB_STEP_SUMMARY"'
    assert not any("azure/login" in s.get("uses", "") or "pulumi/actions" in s.get("uses", "") for s in job["steps"])


def test_every_up_is_followed_by_a_smoke_test_of_its_scoring_uri():
    deploy = workflow("deploy")
    ups = 0
    for name, job in deploy["jobs"].items():
        steps = job["steps"]
        for i, step in enumerate(steps):
            if step.get("uses", "").startswith("pulumi/actions") and step["with"]["command"] == "up":
                ups += 1
                stack = step["with"]["stack-name"]
                smoke = steps[i + 1]
                assert smoke["env"]["SCORING_URI"] == f"${{{{ steps.{step['id']}.outputs.scoring_uri }}}}", name
                assert smoke["run"] == (f'.venv/bin/python -m local.smoke --stack {stack} --scoring-uri "$SCORING_URI" '
                                        '--app "$APP_NAME" --resource-group "$RESOURCE_GROUP"')
                outputs = {k: smoke["env"][k] for k in ("APP_NAME", "RESOURCE_GROUP")}  # for the temporary access rule
                assert outputs == {"APP_NAME": f"${{{{ steps.{step['id']}.outputs.app_name }}}}",
                                   "RESOURCE_GROUP": f"${{{{ steps.{step['id']}.outputs.resource_group_name }}}}"}
                assert deploy["env"]["ARM_SUBSCRIPTION_ID"] == "${{ vars.AZURE_SUBSCRIPTION_ID }}"  # the rule's site
                assert "if" not in smoke  # it always runs after a successful up, and fails the job itself
    assert ups == len(deploy["jobs"]) == len(stack_names())


def test_drift_runs_daily_and_on_demand_as_a_refreshing_preview_that_expects_no_changes():
    drift = workflow("drift")
    assert set(drift["on"]) == {"schedule", "workflow_dispatch"}
    (cron,) = drift["on"]["schedule"]
    minute, hour, *rest = cron["cron"].split()
    assert minute.isdigit() and hour.isdigit() and rest == ["*", "*", "*"]  # once a day
    assert drift["permissions"] == {"id-token": "write", "contents": "read"}  # least: read the repo, sign in
    job = drift["jobs"]["drift"]
    assert set(job["strategy"]["matrix"]["stack"]) == stack_names() and job["strategy"]["fail-fast"] is False
    assert "environment" not in job  # prod's reviewers gate deployments, not a read-only check
    (step,) = steps_using(drift, "pulumi/actions")
    with_ = step["with"]
    assert with_["command"] == "preview"  # never `refresh`, which would write the state
    assert with_["refresh"] is True and with_["expect-no-changes"] is True
    assert with_["policyPacks"] == "policies"
    assert with_["policyPackConfigs"] == "policies/config/${{ matrix.stack }}.json"
    assert with_["comment-on-summary"] is True
    steps = job["steps"]
    report = steps[steps.index(step) + 1]
    assert report["if"] == f"failure() && steps.{step['id']}.outcome == 'failure'"
    assert 'GITHUB_STEP_SUMMARY' in report["run"] and "$STACK" in report["run"]
    assert "continue-on-error" not in step  # a drift fails the job


def test_drift_report_lands_in_the_summary(tmp_path):
    report = workflow("drift")["jobs"]["drift"]["steps"][-1]["run"]
    summary = tmp_path / "summary.md"
    done = subprocess.run(["bash", "-e", "-c", report], env={"STACK": "prod", "GITHUB_STEP_SUMMARY": str(summary),
                                                               "PATH": "/usr/bin:/bin"}, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    text = summary.read_text()
    assert text.startswith("## Drift check of stack `prod`: FAILED") and "pulumi up -s prod" in text


@pytest.mark.parametrize("name", ["preview", "deploy", "destroy", "drift"])
def test_azure_login_is_oidc_with_id_token_write(name):
    doc = workflow(name)
    assert doc["permissions"]["id-token"] == "write"
    logins = steps_using(doc, "azure/login")
    assert logins
    for login in logins:
        assert set(login["with"]) == {"client-id", "tenant-id", "subscription-id"}  # federated: no secret
    assert doc["env"]["ARM_USE_OIDC"] == "true"
    for var in ("ARM_CLIENT_ID", "ARM_TENANT_ID", "ARM_SUBSCRIPTION_ID", "AZURE_CLIENT_ID", "AZURE_TENANT_ID",
                "AZURE_SUBSCRIPTION_ID"):
        assert doc["env"][var].startswith("${{ vars.")


def test_deploy_goes_dev_then_prod_behind_its_environment():
    deploy = workflow("deploy")
    assert deploy["on"] == {"push": {"branches": ["main"]}}
    assert deploy["jobs"]["prod"]["needs"] == "dev"
    assert deploy["jobs"]["prod"]["environment"] == "prod"
    commands = {s["with"]["stack-name"]: s["with"] for s in steps_using(deploy, "pulumi/actions")}
    assert set(commands) == {"dev", "prod"}
    for stack, with_ in commands.items():
        assert with_["command"] == "up" and with_["policyPacks"] == "policies"
        assert with_["policyPackConfigs"] == f"policies/config/{stack}.json"
    assert deploy["concurrency"]["cancel-in-progress"] is False


@pytest.mark.parametrize("name, command", [("destroy", "destroy"), ("rollback", "providers.rollback")])
def test_destroy_and_rollback_are_manual_and_check_their_confirmation_first(name, command):
    doc = workflow(name)
    assert list(doc["on"]) == ["workflow_dispatch"]
    inputs = doc["on"]["workflow_dispatch"]["inputs"]
    assert {"stack", "confirm", "allow-prod"} <= set(inputs) and inputs["allow-prod"]["default"] is False
    steps = doc["jobs"][name]["steps"]
    guard = next(i for i, s in enumerate(steps) if s.get("uses") == "./.github/actions/confirm-stack")
    assert steps[guard]["with"] == {"stack": "${{ inputs.stack }}", "confirm": "${{ inputs.confirm }}",
                                    "allow-prod": "${{ inputs.allow-prod }}", "action": steps[guard]["with"]["action"]}
    acting = [i for i, s in enumerate(steps) if command in s.get("run", "") or s.get("with", {}).get("command") == command]
    assert acting and min(acting) > guard  # the check runs before anything acts
    assert doc["concurrency"]["group"] == "deploy"


def test_the_rollback_workflow_offers_the_stacks_that_release_through_a_slot(dev, prod):
    options = workflow("rollback")["on"]["workflow_dispatch"]["inputs"]["stack"]["options"]
    swap = "pulumi-python:dynamic/model-webapp:SlotSwap"
    assert options == [run.stack for run in (dev, prod) if run.of_type(swap)] == ["prod"]


def test_the_confirmation_logic(tmp_path):
    script = ROOT / ".github" / "actions" / "confirm-stack" / "confirm.sh"

    def run(stack, confirm, allow):
        env = {"STACK": stack, "CONFIRM": confirm, "ALLOW_PROD": allow, "ACTION": "destroyed", "PATH": "/usr/bin:/bin"}
        return subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True)

    assert run("dev", "dev", "false").returncode == 0
    refused = run("dev", "prod", "false")
    assert refused.returncode != 0 and "nothing was destroyed" in refused.stdout
    assert run("prod", "prod", "false").returncode != 0
    assert run("prod", "prod", "true").returncode == 0


@pytest.mark.parametrize("path", WORKFLOWS + ACTIONS, ids=lambda p: p.name)
def test_no_secret_literals(path):
    text = path.read_text()
    for pattern in (r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b",  # ids belong in vars
                    r"pul-[0-9a-f]{40}", r"AccountKey=", r"client-secret\s*:", r"(?i)password\s*:\s*['\"]?\w"):
        assert not re.search(pattern, text), pattern
    for value in re.findall(r"(?:TOKEN|PASSPHRASE|SECRET)\w*\s*:\s*(.+)", text):
        assert value.strip().startswith("${{ secrets."), value


@pytest.mark.parametrize("path", WORKFLOWS + ACTIONS, ids=lambda p: p.name)
def test_third_party_actions_are_pinned(path):
    for uses in re.findall(r"uses:\s*(\S+)", path.read_text()):
        if uses.startswith("./"):
            continue
        assert re.search(r"@(v\d+(\.\d+)*|[0-9a-f]{40})$", uses), uses


def test_deploy_jobs_run_on_the_runner_a_repository_variable_names_github_hosted_by_default():
    """A private stack's gate and smoke test must run inside its network: DEPLOY_RUNS_ON names a self-hosted runner."""
    from providers.app_service import RUNS_ON_VARIABLE

    deploy = workflow("deploy")
    expression = f"${{{{ vars.{RUNS_ON_VARIABLE} || 'ubuntu-latest' }}}}"
    assert {name: job["runs-on"] for name, job in deploy["jobs"].items()} == {"dev": expression, "prod": expression}
    assert RUNS_ON_VARIABLE in (ROOT / ".github/workflows/deploy.yml").read_text().split("jobs:")[0]  # explained
