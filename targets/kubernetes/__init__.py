"""Kubernetes backend (any cluster): the workload objects of a service, which the managed-cluster backends (gke)
emit into their own stacks too, and the Gateway API route in front of them (variants)."""

from targets.kubernetes.limits import (
    GPU_PRODUCTS,
    LIMITS,
    LIVENESS_FAILURES,
    LIVENESS_INTERVAL_S,
    SCALE_TO_ZERO,
    SPEC_DEFAULTS,
    check,
    check_workload,
    decimal_quantity,
    memory_quantity,
    startup_failure_threshold,
)
from targets.kubernetes.route import emit
from targets.kubernetes.workload import PROVIDER, emit_workload

__all__ = ["GPU_PRODUCTS", "LIMITS", "LIVENESS_FAILURES", "LIVENESS_INTERVAL_S", "PROVIDER", "SCALE_TO_ZERO",
           "SPEC_DEFAULTS", "check", "check_workload", "decimal_quantity", "emit", "emit_workload", "memory_quantity",
           "startup_failure_threshold"]
