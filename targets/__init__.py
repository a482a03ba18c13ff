"""Backend registry: target name -> module, imported only when that target is compiled."""

from __future__ import annotations

import importlib
from types import ModuleType

# Each module defines check(service, target) -> diagnostics (no CDK) and emit(stack, service, target), and
# optionally allocatable(vcpus, memory_gib) -> what a machine leaves a replica, for instance-type selection.
BACKENDS = {
    "aws": "targets.aws",
    "azure": "targets.azure",
    "gcp": "targets.gcp",
    "kubernetes": "targets.kubernetes",
    "azureml": "targets.azureml",
    "gke": "targets.gke",
    "eks": "targets.eks",
    "aks": "targets.aks",
    "aca": "targets.aca",
}


def backend(name: str) -> ModuleType:
    return importlib.import_module(BACKENDS[name])


def available() -> list[str]:
    return list(BACKENDS)
