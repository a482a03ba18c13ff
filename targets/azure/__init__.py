"""Azure backend: a Linux VM scale set of the model container behind a Standard Load Balancer or Application Gateway.

Its Azure Monitor autoscale (autoscale.py) and the azurerm provider and resource group (site.py) serve the azureml
backend too.
"""

from targets.azure.limits import IMAGES, LIMITS, SCALE_TO_ZERO, check, grace_minutes
from targets.azure.resources import TLS_PROVIDER, emit

__all__ = ["IMAGES", "LIMITS", "SCALE_TO_ZERO", "TLS_PROVIDER", "check", "emit", "grace_minutes"]
