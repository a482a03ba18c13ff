"""GKE backend: a regional GKE cluster with a GPU (or CPU) node pool running the kubernetes target's workload."""

from targets.gke.cluster import emit
from targets.gke.limits import LIMITS, allocatable, check, workload_settings
from targets.kubernetes.cluster import NodeBounds, node_bounds

FALLBACK = "one node pool per type"  # what the capacity fallback becomes (infc validate lists it)

__all__ = ["FALLBACK", "LIMITS", "NodeBounds", "allocatable", "check", "emit", "node_bounds", "workload_settings"]
