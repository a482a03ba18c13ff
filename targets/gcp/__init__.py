"""Google Cloud backend: a regional managed instance group of the model container (one per variant) behind an
Application Load Balancer.

Its network side (lb.py: network lookup, health checks, Cloud NAT, firewall, load balancer) serves the gke backend too.
"""

from targets.gcp.limits import IMAGES, LIMITS, SCALE_TO_ZERO, check, disk_type, gpu_kind
from targets.gcp.resources import PROVIDER, emit, secure_boot

FALLBACK = "instance flexibility of the regional MIG"  # what the capacity fallback becomes (infc validate lists it)

__all__ = ["FALLBACK", "IMAGES", "LIMITS", "PROVIDER", "SCALE_TO_ZERO", "check", "disk_type", "emit", "gpu_kind", "secure_boot"]
