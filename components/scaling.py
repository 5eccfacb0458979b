"""The CPU autoscale profile of the App Service plan."""
from __future__ import annotations

import pulumi
from pulumi_azure_native import monitor

from settings.stack_settings import Autoscale


def _cpu_rule(plan_id: pulumi.Input[str], operator: str, threshold: int, direction: str,
              cooldown: str) -> monitor.ScaleRuleArgs:
    return monitor.ScaleRuleArgs(
        metric_trigger=monitor.MetricTriggerArgs(
            metric_name="CpuPercentage",
            # Without the namespace the rule intermittently fails with UnsupportedMetric.
            metric_namespace="microsoft.web/serverfarms",
            metric_resource_uri=plan_id,
            operator=operator,
            statistic="Average",
            threshold=threshold,
            time_aggregation="Average",
            time_grain="PT1M",
            time_window="PT5M",
        ),
        scale_action=monitor.ScaleActionArgs(direction=direction, type="ChangeCount", value="1", cooldown=cooldown),
    )


def cpu_profile(autoscale: Autoscale, plan_id: pulumi.Input[str]) -> monitor.AutoscaleProfileArgs:
    return monitor.AutoscaleProfileArgs(
        name="cpu",
        capacity=monitor.ScaleCapacityArgs(
            minimum=str(autoscale.min_instances),
            maximum=str(autoscale.max_instances),
            default=str(autoscale.start),
        ),
        rules=[
            _cpu_rule(plan_id, "GreaterThan", autoscale.scale_out_cpu_percent, "Increase", "PT5M"),
            # Scale in more slowly than out: a model that takes seconds to load punishes flapping.
            _cpu_rule(plan_id, "LessThan", autoscale.scale_in_cpu_percent, "Decrease", "PT10M"),
        ],
    )
