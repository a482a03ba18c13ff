"""Google Cloud backend: a regional managed instance group of the model container behind an Application Load Balancer.

Its network side (lb.py: network lookup, health checks, Cloud NAT, firewall, load balancer) serves the gke backend too.
"""

from targets.gcp.limits import IMAGES, LIMITS, SCALE_TO_ZERO, check, gpu_kind
from targets.gcp.resources import DISK_TYPES, PROVIDER, emit, secure_boot

__all__ = ["DISK_TYPES", "IMAGES", "LIMITS", "PROVIDER", "SCALE_TO_ZERO", "check", "emit", "gpu_kind", "secure_boot"]
