"""Logs, request telemetry and alerts: what is shared by a stack, and what each site (and slot) adds.

Shared, one per stack (several sites may use it later): a Log Analytics workspace (or the one given), a
workspace-based Application Insights component, an action group e-mailing the alerts. Per site: the app
settings that make the inference server send telemetry, a diagnostic setting per site and slot, and the alerts.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping, Optional

import pulumi
from pulumi_azure_native import applicationinsights, monitor, operationalinsights, web

from settings.stack_settings import Monitoring, Settings

# AppServiceConsoleLogs is the container's stdout (the inference server's own log); PlatformLogs holds container
# start and image pull failures; AppServiceAppLogs stays empty for custom containers, so it is not sent.
# fact: monitor-log-categories
LOG_CATEGORIES = ("AppServiceConsoleLogs", "AppServiceHTTPLogs", "AppServicePlatformLogs", "AppServiceAuditLogs")
SITE_METRICS = "Microsoft.Web/sites"


@dataclass
class MonitoringHub:
    """What the sites of a stack send to."""

    workspace_id: pulumi.Output[str]
    instrumentation_key: pulumi.Output[str]
    connection_string: pulumi.Output[str]
    action_group_id: Optional[pulumi.Output[str]]
    settings: Monitoring
    tags: Mapping[str, str]  # the stack's: the alerts carry them too


def shared_monitoring(name: str, s: Settings, group_name: pulumi.Input[str],
                      parent: pulumi.Resource) -> Optional[MonitoringHub]:
    m = s.monitoring
    if not m.enabled:
        return None
    child, tags = pulumi.ResourceOptions(parent=parent), dict(s.tags)
    if m.log_analytics_workspace_id:
        workspace_id = pulumi.Output.from_input(m.log_analytics_workspace_id)
    else:
        workspace_id = operationalinsights.Workspace(
            f"{name}-logs", resource_group_name=group_name, location=s.location,
            sku=operationalinsights.WorkspaceSkuArgs(name="PerGB2018"), retention_in_days=m.retention_days,
            workspace_capping=operationalinsights.WorkspaceCappingArgs(daily_quota_gb=m.daily_cap_gb),
            tags=tags, opts=child).id
    insights = applicationinsights.Component(
        f"{name}-insights", resource_group_name=group_name, location=s.location, kind="web", application_type="web",
        workspace_resource_id=workspace_id, ingestion_mode="LogAnalytics",
        # The inference server sends with the instrumentation key only: local auth must stay on.
        disable_local_auth=False, tags=tags, opts=child)
    action_group = None
    if m.alert_emails:
        action_group = monitor.ActionGroup(
            f"{name}-alerts", resource_group_name=group_name, location="Global", enabled=True,
            group_short_name=re.sub(r"[^A-Za-z0-9]", "", name)[:12] or "modelwebapp",
            email_receivers=[monitor.MicrosoftCommonEmailReceiverArgs(name=f"email-{i + 1}", email_address=address,
                                                       use_common_alert_schema=True)
                             for i, address in enumerate(m.alert_emails)],
            tags=tags, opts=child).id
    return MonitoringHub(workspace_id, pulumi.Output.secret(insights.instrumentation_key),
                         pulumi.Output.secret(insights.connection_string), action_group, m, tags)


def telemetry_settings(hub: Optional[MonitoringHub]) -> dict[str, pulumi.Input[str]]:
    """App settings azmlinfsrv 1.5.1 reads (its server/config.py): the key, not a connection string, and exactly
    "true"; the exporter takes the ingestion endpoint from the connection string; response bodies off by default."""
    if hub is None:
        return {}
    return {"AML_APP_INSIGHTS_ENABLED": "true", "AML_APP_INSIGHTS_KEY": hub.instrumentation_key,
            "APPLICATIONINSIGHTS_CONNECTION_STRING": hub.connection_string,
            "APP_INSIGHTS_LOG_RESPONSE_ENABLED": "true" if hub.settings.log_responses else "false"}


def diagnostics(name: str, hub: Optional[MonitoringHub], target: pulumi.CustomResource,
                parent: pulumi.Resource) -> None:
    """Every log category and all metrics of a site or slot to the workspace."""
    if hub is None:
        return
    monitor.DiagnosticSetting(
        f"{name}-diagnostics", name=f"{name}-to-log-analytics", resource_uri=target.id, workspace_id=hub.workspace_id,
        logs=[monitor.DiagnosticsLogSettingsArgs(category=c, enabled=True) for c in LOG_CATEGORIES],
        metrics=[monitor.DiagnosticsMetricSettingsArgs(category="AllMetrics", enabled=True)],
        opts=pulumi.ResourceOptions(parent=parent))


def _alert(name: str, hub: MonitoringHub, group_name: pulumi.Input[str], scope: pulumi.Input[str], namespace: str,
           metric: str, operator: str, threshold: float, aggregation: str, window: str, severity: int, about: str,
           parent: pulumi.Resource, every: str = "PT1M") -> monitor.MetricAlert:
    return monitor.MetricAlert(
        name, resource_group_name=group_name, location="global", scopes=[scope], enabled=True, auto_mitigate=True,
        description=about, severity=severity, evaluation_frequency=every, window_size=window,
        criteria=monitor.MetricAlertSingleResourceMultipleMetricCriteriaArgs(
            odata_type="Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria",
            all_of=[monitor.MetricCriteriaArgs(criterion_type="StaticThresholdCriterion", name=metric,
                                               metric_name=metric, metric_namespace=namespace, operator=operator,
                                               threshold=threshold, time_aggregation=aggregation)]),
        actions=[monitor.MetricAlertActionArgs(action_group_id=hub.action_group_id)] if hub.action_group_id else None,
        # fact: tag-metric-alerts
        tags=dict(hub.tags), opts=pulumi.ResourceOptions(parent=parent))


def site_alerts(name: str, hub: Optional[MonitoringHub], group_name: pulumi.Input[str], site: web.WebApp,
                parent: pulumi.Resource) -> None:
    if hub is None:
        return
    m = hub.settings
    _alert(f"{name}-alert-5xx", hub, group_name, site.id, SITE_METRICS, "Http5xx", "GreaterThan", m.http5xx_per_five_minutes,
           "Total", "PT5M", 1, "/score answers server errors (5xx).", parent)
    _alert(f"{name}-alert-latency", hub, group_name, site.id, SITE_METRICS, "HttpResponseTime", "GreaterThan",
           m.response_time_seconds, "Average", "PT5M", 2, "/score answers slowly.", parent)
    # fact: monitor-health-check-status-grain
    _alert(f"{name}-alert-health", hub, group_name, site.id, SITE_METRICS, "HealthCheckStatus", "LessThan", 100,
           "Average", "PT5M", 1, "An instance fails its health check (GET /).", parent, every="PT5M")


def plan_alert(name: str, hub: Optional[MonitoringHub], group_name: pulumi.Input[str], plan_id: pulumi.Input[str],
               parent: pulumi.Resource) -> None:
    """The plan's CPU: shared by every site on the plan."""
    if hub is not None:
        _alert(f"{name}-alert-cpu", hub, group_name, plan_id, "microsoft.web/serverfarms", "CpuPercentage", "GreaterThan",
               hub.settings.cpu_percent, "Average", "PT10M", 2, "The plan's CPU is high: scale out or up.", parent)
