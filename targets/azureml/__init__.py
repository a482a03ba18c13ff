"""Azure Machine Learning backend: a workspace with its companions and a managed online endpoint serving the model."""

from targets.azureml.limits import LIMITS, SCALE_TO_ZERO, SUPPORTED_SIZES, check
from targets.azureml.resources import AZAPI_PROVIDER, emit

__all__ = ["AZAPI_PROVIDER", "LIMITS", "SCALE_TO_ZERO", "SUPPORTED_SIZES", "check", "emit"]
