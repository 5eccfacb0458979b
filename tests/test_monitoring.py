"""Operability: the workspace, workspace-based Application Insights, telemetry settings, diagnostics and alerts."""
from __future__ import annotations

import json
import time
from dataclasses import replace

import pytest
import requests
from azureml_inference_server_http import constants
from azureml_inference_server_http.server.config import AMLInferenceServerConfig

from local.serve import LocalService, ensure_model, free_port, service_spec, telemetry_of
from local.telemetry_sink import TelemetrySink
from offline.mock_engine import run_program
from tests.helpers import WEB_APP, app_settings, stack_values
from tests.helpers import problems_of

WORKSPACE = "azure-native:operationalinsights:Workspace"
INSIGHTS = "azure-native:applicationinsights:Component"
ACTION_GROUP = "azure-native:monitor:ActionGroup"
DIAGNOSTICS = "azure-native:monitor:DiagnosticSetting"
ALERT = "azure-native:monitor:MetricAlert"
SLOT = "azure-native:web:WebAppSlot"
PLAN = "azure-native:web:AppServicePlan"
EXISTING = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-ops/providers/" \
           "Microsoft.OperationalInsights/workspaces/central-logs"
# The names the pinned inference server reads (azureml-inference-server-http 1.5.1), not older docs' ones.
SERVER_READS = {constants.ENV_AML_APP_INSIGHTS_ENABLED, constants.ENV_AML_APP_INSIGHTS_KEY,
                AMLInferenceServerConfig.model_fields["app_insights_log_response_enabled"].alias}


@pytest.mark.parametrize("stack, cap", [("dev", 1), ("prod", 5)])
def test_a_capped_workspace_and_a_workspace_based_component(stack, cap, dev, prod):
    run = {"dev": dev, "prod": prod}[stack]
    workspace, insights = run.one(WORKSPACE), run.one(INSIGHTS)
    assert workspace.inputs["sku"] == {"name": "PerGB2018"} and workspace.inputs["retentionInDays"] == 30
    assert workspace.inputs["workspaceCapping"] == {"dailyQuotaGb": cap}
    assert insights.inputs["kind"] == "web" and insights.inputs["ingestionMode"] == "LogAnalytics"
    assert insights.inputs["workspaceResourceId"].endswith(f"/{workspace.state['name']}")
    assert workspace.urn in insights.dependencies
    assert insights.inputs["disableLocalAuth"] is False  # the server sends with the key alone


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_site_carries_what_the_server_reads(stack, dev, prod):
    run = {"dev": dev, "prod": prod}[stack]
    settings = app_settings(run.one(WEB_APP))
    assert SERVER_READS <= set(settings)
    assert settings["AML_APP_INSIGHTS_ENABLED"] == "true"  # the server takes exactly "true"
    assert settings["APP_INSIGHTS_LOG_RESPONSE_ENABLED"] == "false"  # predictions are user data
    assert settings["AML_APP_INSIGHTS_KEY"] == "[secret]" and settings["APPLICATIONINSIGHTS_CONNECTION_STRING"] == "[secret]"
    key = dict(telemetry_of(run.one(WEB_APP)))["AML_APP_INSIGHTS_KEY"]
    assert len(key) == 36 and "InstrumentationKey=" not in key  # a key, not a connection string


def test_every_site_and_slot_sends_every_category(prod):
    targets = [prod.one(WEB_APP), prod.one(SLOT)]
    settings = prod.of_type(DIAGNOSTICS)
    assert len(settings) == 2
    for target in targets:
        (mine,) = [d for d in settings if target.urn in d.dependencies]
        assert {log["category"] for log in mine.inputs["logs"] if log["enabled"]} == {
            "AppServiceConsoleLogs", "AppServiceHTTPLogs", "AppServicePlatformLogs", "AppServiceAuditLogs"}
        assert mine.inputs["metrics"] == [{"category": "AllMetrics", "enabled": True}]
        assert prod.one(WORKSPACE).urn in mine.dependencies


def test_alerts_on_5xx_latency_health_and_cpu_to_the_action_group(prod, dev):
    alerts = {a.name: a for a in prod.of_type(ALERT)}
    expected = {"mw-prod-alert-5xx": ("Http5xx", "Microsoft.Web/sites", "GreaterThan", 5, "Total"),
                "mw-prod-alert-latency": ("HttpResponseTime", "Microsoft.Web/sites", "GreaterThan", 5, "Average"),
                "mw-prod-alert-health": ("HealthCheckStatus", "Microsoft.Web/sites", "LessThan", 100, "Average"),
                "mw-prod-alert-cpu": ("CpuPercentage", "microsoft.web/serverfarms", "GreaterThan", 85, "Average")}
    assert set(alerts) == set(expected)
    group = prod.one(ACTION_GROUP)
    assert group.inputs["emailReceivers"] == [{"name": "email-1", "emailAddress": "ml-oncall@contoso.com",
                                               "useCommonAlertSchema": True}]
    for name, (metric, namespace, operator, threshold, aggregation) in expected.items():
        alert = alerts[name]
        (criterion,) = alert.inputs["criteria"]["allOf"]
        assert (criterion["metricName"], criterion["metricNamespace"], criterion["operator"], criterion["threshold"],
                criterion["timeAggregation"]) == (metric, namespace, operator, threshold, aggregation)
        assert group.urn in alert.dependencies and len(alert.inputs["actions"]) == 1
    assert prod.one(PLAN).urn in alerts["mw-prod-alert-cpu"].dependencies
    assert not dev.of_type(ACTION_GROUP) and all("actions" not in a.inputs for a in dev.of_type(ALERT))


def test_each_alert_is_evaluated_at_a_time_grain_its_metric_has(prod):
    # HealthCheckStatus is sampled at PT5M and coarser only; the others at PT1M (supported metrics, Microsoft.Web/sites).
    alerts = {a.name: a for a in prod.of_type(ALERT)}
    assert (alerts["mw-prod-alert-health"].inputs["evaluationFrequency"], alerts["mw-prod-alert-health"].inputs[
        "windowSize"]) == ("PT5M", "PT5M")
    assert {alerts[n].inputs["evaluationFrequency"] for n in ("mw-prod-alert-5xx", "mw-prod-alert-latency",
                                                               "mw-prod-alert-cpu")} == {"PT1M"}


def test_an_existing_workspace_is_used_and_none_created():
    run = run_program(stack_values("dev", monitoring={"logAnalyticsWorkspaceId": EXISTING}), "dev")
    assert not run.of_type(WORKSPACE)
    assert run.one(INSIGHTS).inputs["workspaceResourceId"] == EXISTING
    assert run.one(DIAGNOSTICS).inputs["workspaceId"] == EXISTING


def test_monitoring_off_declares_none_of_it():
    run = run_program(stack_values("prod", monitoring={"enabled": False}), "prod")
    assert not [r for r in run.registrations if r.type in (WORKSPACE, INSIGHTS, ACTION_GROUP, DIAGNOSTICS, ALERT)]
    assert not SERVER_READS & set(app_settings(run.one(WEB_APP)))


@pytest.mark.parametrize("monitoring, key, fragment", [
    ({"logAnalyticsWorkspaceId": "central-logs"}, "monitoring.logAnalyticsWorkspaceId", "Log Analytics workspace id"),
    ({"dailyCapGb": -1}, "monitoring.dailyCapGb", "must be more than 0"),
    ({"dailyCapGb": "lots"}, "monitoring.dailyCapGb", "must be a number"),
    ({"alertEmails": ["oncall-at-contoso.com"]}, "monitoring.alertEmails.0", "e-mail address"),
    ({"retentionDays": 7}, "monitoring.retentionDays", "from 30 to 730"),
    ({"logResponses": "yes"}, "monitoring.logResponses", "true or false"),
])
def test_bad_monitoring_settings(monitoring, key, fragment):
    message = problems_of("dev", monitoring=monitoring)
    assert any(f"model-webapp:{key} " in line and fragment in line for line in message.splitlines()), message


# -- the telemetry, rehearsed on the real inference server ----------------------------------------------------
def rehearse(telemetry: tuple) -> TelemetrySink:
    spec = replace(service_spec("dev"), port=free_port(), worker_count=1, telemetry=telemetry)
    ensure_model(spec.model_dir)
    with TelemetrySink() as sink, LocalService(spec, telemetry_endpoint=sink.endpoint) as service:
        ok = requests.post(f"{service.spec.base_url}/score", data=json.dumps({"data": [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]]}),
                           headers={"Content-Type": "application/json"}, timeout=10)
        bad = requests.post(f"{service.spec.base_url}/score", data="not json",
                            headers={"Content-Type": "application/json"}, timeout=10)
        assert (ok.status_code, bad.status_code) == (200, 400)
        sink.prediction = f"{ok.json()[0]:.6f}"[:9]  # the first digits of the prediction, as any encoding shows them
        deadline = time.monotonic() + 30  # the exporter batches for 5 s
        while time.monotonic() < deadline and len(sink.requests()) < 2:
            time.sleep(0.25)
        time.sleep(1)  # anything sent with the requests (the response logs) arrives in the same batch
    return sink


def test_request_telemetry_arrives_without_predictions(dev):
    sink = rehearse(telemetry_of(dev.one(WEB_APP)))
    codes = sorted(r["properties"]["resultCode"] for r in sink.requests() if r["name"] == "/score")
    assert codes == ["200", "400"]
    assert sink.prediction not in "".join(sink.raw)


def test_with_log_responses_the_predictions_are_sent_too():
    run = run_program(stack_values("dev", monitoring={"logResponses": True}), "dev")
    sink = rehearse(telemetry_of(run.one(WEB_APP)))
    assert sink.prediction in "".join(sink.raw)
