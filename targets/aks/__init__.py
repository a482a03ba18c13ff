"""AKS backend: an AKS cluster with a system pool and a GPU (or CPU) user pool running the kubernetes target's workload,
optionally attached to an Azure ML workspace as Kubernetes compute."""

from targets.aks.cluster import emit
from targets.aks.limits import LIMITS, SERVICE_LIMITS, allocatable, check, workload_settings

__all__ = ["LIMITS", "SERVICE_LIMITS", "allocatable", "check", "emit", "workload_settings"]
