"""GKE backend: a regional GKE cluster with a GPU (or CPU) node pool running the kubernetes target's workload."""

from targets.gke.cluster import emit
from targets.gke.limits import LIMITS, allocatable, check, workload_settings
from targets.kubernetes.cluster import NodeBounds, node_bounds

__all__ = ["LIMITS", "NodeBounds", "allocatable", "check", "emit", "node_bounds", "workload_settings"]
