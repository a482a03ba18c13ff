"""Azure Container Apps backend: a Container Apps environment (Consumption, or a serverless GPU workload profile) and
the container app serving the model, which scales to zero on its HTTP scale rule."""

from targets.aca.limits import GPU_PROFILES, LIMITS, check
from targets.aca.resources import AZAPI_PROVIDER, emit

__all__ = ["AZAPI_PROVIDER", "GPU_PROFILES", "LIMITS", "check", "emit"]
