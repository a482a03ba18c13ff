"""Google Cloud backend: the versions behind the one load balancer (the service, or each of its variants) and the
ids and names of the resources each one owns."""

from __future__ import annotations

import dataclasses

from compiler import ir
from targets.base import resource_name


@dataclasses.dataclass(frozen=True)
class Version:
    """What runs behind one backend service: the whole service without variants, else one variant (its own instance
    template, instance group, autoscaler and backend service)."""

    variant: str  # the variant's name, "" for a service without variants
    service: ir.Service  # the one-version service it runs
    target: ir.Target  # the gcp target of that service: its machines and model URI
    weight: int | None  # the variant's percent of requests (the URL map's weight); None without variants

    def id(self, base: str) -> str:
        """The construct id of this version's `base` resource: `base`, or `base_<variant>`."""
        return f"{base}_{self.variant}" if self.variant else base

    def name(self) -> str:
        """GCP name of this version's resources: `<metadata.name>`, or `<metadata.name>-<variant>`. At most 24 + 1 + 8
        = 33 characters (compiler/spec.py NAME_PATTERN and VARIANT_NAME) of lowercase letters, digits and '-',
        starting with a letter and ending with a letter or digit, so every one is an RFC 1035 name of at most 63."""
        return resource_name(self.service, self.variant)

    def description(self) -> str:
        """What this version's template and instance group hold, in their description."""
        return f"infc {self.service.name}: model replicas" + (f" of variant {self.variant}" if self.variant else "")

    def grant_id(self, base: str, key: object, shared: object) -> str:
        """The construct id of a grant on `key` (a bucket, a repository) this version needs: `base` when the service's
        own sections name it too (`shared`), so a spec without variants keeps its ids and a variant that changes only
        its weight, replicas or hardware adds no grant; else `base_<variant>`."""
        return base if key == shared else self.id(base)


def versions(service: ir.Service, target: ir.Target) -> tuple[Version, ...]:
    """The service as one version, or its variants in spec order."""
    if not service.variants:
        return (Version("", service, target, None),)
    return tuple(Version(v.name, v.service, v.service.target(target.name), v.weight) for v in service.variants)

