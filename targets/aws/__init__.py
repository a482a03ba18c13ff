"""AWS backend: EC2 autoscaling group of the model container behind an Application Load Balancer."""

from targets.aws.limits import LIMITS, check
from targets.aws.resources import IMAGES, PROVIDER, TLS_POLICY, emit

FALLBACK = "mixed instances policy"  # what the capacity fallback becomes (infc validate lists it)

__all__ = ["FALLBACK", "IMAGES", "LIMITS", "PROVIDER", "TLS_POLICY", "check", "emit"]
