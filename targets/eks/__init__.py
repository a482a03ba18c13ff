"""EKS backend: an EKS cluster with a managed node group running the kubernetes target's workload."""

from targets.eks.cluster import emit
from targets.eks.limits import INGRESS_LIMITS, SERVICE_LIMITS, allocatable, check, workload_settings

__all__ = ["INGRESS_LIMITS", "SERVICE_LIMITS", "allocatable", "check", "emit", "workload_settings"]
