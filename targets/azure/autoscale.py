"""Azure Monitor autoscale settings, shared by the azure (VM scale set) and azureml (online deployment) backends."""

from __future__ import annotations

from compiler import ir
from targets.base import resource_name


def iso_duration(seconds: int) -> str:
    """ISO 8601 duration as Azure writes them: 900 -> PT15M, 5400 -> PT1H30M, 90 -> PT1M30S."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "") + (f"{secs}S" if secs else "")
    return "PT" + (text or "0S")


def emit(stack, service: ir.Service, *, group, location: str, tags, scaled_id, metric: str, namespace: str,
         metric_resource_id, per: float, dimensions: dict[str, list[str]] | None = None,
         per_instance: bool = False, variant: str | None = None) -> None:
    """Scale `scaled_id` out above the target and in below it, one replica at a time, with the spec's cooldowns.
    Azure skips a scale-in whose estimated result would trigger a scale-out again, which is what holds the metric
    at the target. `per` converts the spec's target to the metric's unit (x60 for per-minute counts);
    `per_instance` divides the metric by the instance count (Azure's divide_by_instance_count); `variant` names the
    setting of one variant's replicas (azureml's deployment per variant), beside the others'."""
    auto = service.autoscale
    dims = [{"name": name, "operator": "Equals", "values": values}
            for name, values in (dimensions or {}).items()] or None

    def rule(operator: str, direction: str, cooldown_s: int) -> dict:
        return {
            "metric_trigger": {
                "metric_name": metric, "metric_namespace": namespace, "metric_resource_id": metric_resource_id,
                "dimensions": dims, "divide_by_instance_count": True if per_instance else None,
                "statistic": "Average", "time_aggregation": "Average", "time_grain": "PT1M", "time_window": "PT5M",
                "operator": operator, "threshold": auto.target * per},
            "scale_action": {"direction": direction, "type": "ChangeCount", "value": 1,
                             "cooldown": iso_duration(cooldown_s)}}

    stack.add("azurerm_monitor_autoscale_setting", f"autoscale_{variant}" if variant else "autoscale",
              name=resource_name(service, f"{variant}-autoscale" if variant else "autoscale"),
              resource_group_name=group, location=location, target_resource_id=scaled_id, tags=tags,
              profile=[{"name": "replicas",
                        "capacity": {"minimum": service.min_replicas, "maximum": service.max_replicas,
                                     "default": service.min_replicas},
                        "rule": [rule("GreaterThan", "Increase", auto.scale_out_delay_s),
                                 rule("LessThan", "Decrease", auto.scale_in_delay_s)]}])
