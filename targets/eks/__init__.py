"""EKS backend: an EKS cluster with a managed node group running the kubernetes target's workload."""

from targets.eks.cluster import emit
from targets.eks.limits import INGRESS_LIMITS, SERVICE_LIMITS, allocatable, check, workload_settings

FALLBACK = "managed node group instance_types"  # what the capacity fallback becomes (infc validate lists it)

__all__ = ["FALLBACK", "INGRESS_LIMITS", "SERVICE_LIMITS", "allocatable", "check", "emit", "workload_settings"]
