"""The lowered form every target compiles from: frozen, resolved units (seconds, GiB), no YAML, no defaults left."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

# Where the model's files are inside the container, on every target: KServe's MODEL_MOUNT_DIRS
# (kserve/kserve python/storage/kserve_storage/kserve_storage.py), so images built for KServe find them too.
MODEL_DIR = "/mnt/models"


@dataclasses.dataclass(frozen=True)
class Machine:
    """The instance type chosen for one target, with the catalog facts behind the choice."""

    instance_type: str
    accelerator: str  # canonical name, or "none"
    accelerator_count: int
    provider_accelerator: str  # the cloud's own accelerator name, where it has one
    vcpus: int | None  # None when the type came from instance_types and is not in the catalog
    memory_gib: float | None
    args: tuple[str, ...] | None = None  # hardware.alternatives[i].args: model.args of replicas on this machine


@dataclasses.dataclass(frozen=True)
class Alternative:
    """An accelerator the service accepts after the first (hardware.alternatives), in order of preference."""

    accelerator: str
    count: int
    args: tuple[str, ...] | None  # None: model.args


@dataclasses.dataclass(frozen=True)
class Listener:
    port: int
    protocol: str  # "http" | "https"
    redirect_to: int | None


@dataclasses.dataclass(frozen=True)
class HealthCheck:
    path: str
    port: int
    interval_s: int
    timeout_s: int
    healthy_threshold: int
    unhealthy_threshold: int
    success_codes: str  # "200", "200,204", "200-299"


@dataclasses.dataclass(frozen=True)
class Liveness:
    path: str
    port: int
    interval_s: int
    timeout_s: int
    failure_threshold: int


@dataclasses.dataclass(frozen=True)
class Autoscale:
    metric: str  # "requests_per_replica" (per second) | "cpu_percent"
    target: float
    scale_out_delay_s: int
    scale_in_delay_s: int
    scale_to_zero_after_s: int  # used only with min_replicas 0


@dataclasses.dataclass(frozen=True)
class LoadBalancer:
    public: bool
    allowed_cidrs: tuple[str, ...]
    listeners: tuple[Listener, ...]
    idle_timeout_s: int
    drain_timeout_s: int
    stickiness: bool

    @property
    def serving(self) -> tuple[Listener, ...]:
        """Listeners that forward to the replicas (not redirects)."""
        return tuple(listener for listener in self.listeners if listener.redirect_to is None)


@dataclasses.dataclass(frozen=True)
class Secret:
    """An environment variable whose value the replicas read from a secret store when they start."""

    name: str  # the variable
    ref: str  # this target's reference (model.secrets.<name>.<target>): an ARN, a secret name, a URL, <secret>/<key>


@dataclasses.dataclass(frozen=True)
class Target:
    """One backend to emit, with its settings as the user wrote them (placement, certificate, image...)."""

    name: str
    settings: Mapping[str, object]
    machine: Machine | None  # None for targets that take no instance type (kubernetes)
    model_uri: str | None = None  # where this target's replicas get the files: targets.<t>.model_uri or model.uri
    secrets: tuple[Secret, ...] = ()  # model.secrets with this target's references, by name
    # Capacity fallback: the other types the replicas may run on, in order of preference after `machine`
    # (hardware.flexible, a list in hardware.instance_types, hardware.alternatives).
    fallback: tuple[Machine, ...] = ()

    @property
    def machines(self) -> tuple[Machine, ...]:
        """Every type the replicas may run on, `machine` first."""
        return ((self.machine,) if self.machine else ()) + self.fallback

    def get(self, key: str, default: object = None) -> object:
        value = self.settings.get(key)
        return default if value is None else value


@dataclasses.dataclass(frozen=True)
class Service:
    name: str
    labels: tuple[tuple[str, str], ...]
    model_name: str
    image: str
    model_uri: str | None  # model.uri as written; each target delivers Target.model_uri
    port: int
    command: tuple[str, ...] | None
    args: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    accelerator: str
    accelerator_count: int
    cpus: int | None
    memory_gib: float | None
    disk_gib: int
    spot: bool
    arch: str
    flexible: bool  # hardware.flexible
    alternatives: tuple[Alternative, ...]
    on_demand_base: int | None  # replicas on on-demand capacity with spot (hardware.on_demand_base)
    min_replicas: int
    max_replicas: int
    autoscale: Autoscale | None
    load_balancer: LoadBalancer
    readiness: HealthCheck
    initial_delay_s: int
    liveness: Liveness | None
    targets: tuple[Target, ...]
    # Weighted variants (spec `variants`): each a whole one-version service of its own; the service's other fields
    # are the sections the variants share (name, port, probes, load balancer) and their defaults. Empty: one version.
    variants: tuple[Variant, ...] = ()

    @property
    def ports(self) -> tuple[int, ...]:
        """Every port the replicas must accept from the load balancer: the model port and probe ports."""
        probe = {self.readiness.port} | ({self.liveness.port} if self.liveness else set())
        return tuple(sorted({self.port} | probe))

    def target(self, name: str) -> Target:
        return next(t for t in self.targets if t.name == name)


@dataclasses.dataclass(frozen=True)
class Variant:
    """One version of the service behind the shared endpoint: its name, its percent of requests, and the
    one-version service it runs (its own machines, replicas and autoscaling per target)."""

    name: str
    weight: int
    service: Service
