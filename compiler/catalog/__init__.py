"""The hardware catalog: thin functions over one CSV per cloud (columns documented in docs/catalog.md)."""

from __future__ import annotations

import csv
import dataclasses
import functools
from collections.abc import Callable
from importlib import resources

# Canonical names, one per GPU model and memory size (a cloud's own names map here through provider_accelerator).
ACCELERATORS = (
    "nvidia-t4", "nvidia-t4g", "nvidia-l4", "nvidia-a10g", "nvidia-a10", "nvidia-l40s", "nvidia-v100-16gb",
    "nvidia-v100-32gb", "nvidia-a100-40gb", "nvidia-a100-80gb", "nvidia-h100-80gb", "nvidia-h100-nvl", "nvidia-h200",
    "nvidia-b200",
)
NONE = "none"

# How a row's type can be bought (the `purchase` column, '|'-separated). infc emits on-demand or spot capacity;
# the others are listed so an error can say how a type that lacks both is sold: EC2 Capacity Blocks for ML
# (DescribeInstanceTypes' SupportedUsageClasses "capacity-block"), Compute Engine's FLEX_START and
# RESERVATION_BOUND provisioning models. RETIRED marks a type the cloud no longer sells: the row stays so that
# hardware.instance_types naming it is refused with the reason, but selection never picks it.
ON_DEMAND, SPOT = "on-demand", "spot"
PURCHASE = (ON_DEMAND, SPOT, "capacity-block", "flex-start", "reservation")
RETIRED = "retired"

# Which catalog file each target picks instance types from; None: the target takes no instance type.
# azureml has its own file: managed online endpoints accept only some VM sizes, so selection must pick from those.
# Managed clusters pick from their cloud's VM catalog: an EKS managed node group and an AKS node pool take the instance
# types EC2 and Azure VMs sell (targets/eks and targets/aks check what their node images accept). aca takes no instance
# type: a container app runs on the workload profile of hardware.accelerator (targets/aca/limits.py GPU_PROFILES),
# billed per second of use rather than at an instance price.
CATALOG_OF = {"aws": "aws", "azure": "azure", "azureml": "azureml", "gcp": "gcp", "gke": "gcp", "kubernetes": None,
              "eks": "aws", "aks": "azure", "aca": None}
# Targets that run hardware.spot: true replicas on spot capacity (EC2 Spot, Azure Spot VMs, Compute Engine SPOT,
# GKE spot node pools, EKS managed node groups of capacity type SPOT, AKS Spot node pools). azureml refuses spot in its check (managed online deployments run on dedicated capacity),
# so its selection asks for on-demand rows and that check gives the reason.
SPOT_TARGETS = frozenset({"aws", "azure", "gcp", "gke", "eks", "aks"})

COLUMNS = (
    "instance_type", "accelerator", "accelerator_count", "accelerator_memory_gib", "vcpus", "memory_gib",
    "arch", "price_usd_hour", "region", "price_date", "provider_accelerator", "purchase", "checked",
)


@dataclasses.dataclass(frozen=True)
class InstanceType:
    cloud: str
    instance_type: str
    accelerator: str
    accelerator_count: int
    accelerator_memory_gib: int
    vcpus: int
    memory_gib: float
    arch: str
    price_usd_hour: float
    region: str
    price_date: str
    provider_accelerator: str
    purchase: frozenset[str]
    checked: str  # YYYY-MM-DD: when the row was last checked against the cloud's own list

    def sells(self, how: str) -> bool:
        return how in self.purchase

    @property
    def retired(self) -> bool:
        return RETIRED in self.purchase

    def sold_as(self) -> str:
        """'spot, flex-start or reservation': the ways the type is sold, in PURCHASE order."""
        ways = [p for p in PURCHASE if p in self.purchase]
        return ", ".join(ways[:-1]) + " or " + ways[-1] if len(ways) > 1 else ways[0]


class NoMatch(Exception):
    """No row fits; the message says what exists instead, `field` which hardware key to point at."""

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


@functools.cache
def rows(cloud: str) -> tuple[InstanceType, ...]:
    text = resources.files(__package__).joinpath(f"{cloud}.csv").read_text(encoding="utf-8")
    reader = csv.DictReader(text.splitlines())
    if tuple(reader.fieldnames or ()) != COLUMNS:
        raise ValueError(f"{cloud}.csv: header must be {','.join(COLUMNS)}")
    return tuple(
        InstanceType(
            cloud=cloud,
            instance_type=r["instance_type"],
            accelerator=r["accelerator"],
            accelerator_count=int(r["accelerator_count"]),
            accelerator_memory_gib=int(r["accelerator_memory_gib"]),
            vcpus=int(r["vcpus"]),
            memory_gib=float(r["memory_gib"]),
            arch=r["arch"],
            price_usd_hour=float(r["price_usd_hour"]),
            region=r["region"],
            price_date=r["price_date"],
            provider_accelerator=r["provider_accelerator"],
            purchase=frozenset(r["purchase"].split("|")),
            checked=r["checked"],
        )
        for r in reader
    )


def clouds() -> tuple[str, ...]:
    return tuple(sorted({c for c in CATALOG_OF.values() if c}))


def how_bought(target: str, spot: bool) -> str:
    """The purchase option `target` emits for `hardware.spot`: spot only where the target runs spot replicas."""
    return SPOT if spot and target in SPOT_TARGETS else ON_DEMAND


def lookup(cloud: str, instance_type: str) -> list[InstanceType]:
    """Every row of `instance_type`: an N1 machine on GCP appears once per GPU it can have attached."""
    return [r for r in rows(cloud) if r.instance_type == instance_type]


def canonical_of(provider_name: str) -> tuple[str, str] | None:
    """(canonical name, cloud) for a cloud's own accelerator name such as nvidia-tesla-t4."""
    for cloud in clouds():
        for r in rows(cloud):
            if r.provider_accelerator == provider_name and r.accelerator != provider_name:
                return r.accelerator, cloud
    return None


def offered_on(accelerator: str) -> list[str]:
    """The clouds that sell `accelerator` (retired rows do not count), in name order."""
    return [c for c in clouds() if any(r.accelerator == accelerator and not r.retired for r in rows(c))]


Capacity = Callable[[float, float], tuple[float, float]]  # (vCPUs, GiB) of a type -> what a replica can use


def select(cloud: str, accelerator: str, count: int, arch: str, cpus: int | None, memory_gib: float | None,
           allocatable: Capacity | None = None, how: str = ON_DEMAND) -> InstanceType:
    """The cheapest row sold `how` (on-demand or spot) with exactly `count` of `accelerator` and at least `cpus` and
    `memory_gib`, measured against `allocatable` (the target's capacity left for a replica, e.g. after a Kubernetes
    node's reservations). Retired rows are never chosen."""
    return fits(cloud, accelerator, count, arch, cpus, memory_gib, allocatable, how)[0]


def fits(cloud: str, accelerator: str, count: int, arch: str, cpus: int | None, memory_gib: float | None,
         allocatable: Capacity | None = None, how: str = ON_DEMAND) -> list[InstanceType]:
    """Every row select() could choose, cheapest first (hardware.flexible); raises NoMatch when there is none.

    Ties on price go to the smaller, then the alphabetically first type, so the order is deterministic.
    """
    live = [r for r in rows(cloud) if r.accelerator == accelerator and not r.retired]
    same = [r for r in live if r.arch == arch]
    if not same:
        raise NoMatch(f"no {arch} instance type has {accelerator}" + _retired(cloud, accelerator, arch)
                      + _other_arch(live) + _elsewhere(cloud, accelerator), "arch" if live else "accelerator")
    sold = [r for r in same if r.sells(how)]
    if not sold:
        raise NoMatch(_not_sold(arch, accelerator, how, same), "spot")
    exact = [r for r in sold if r.accelerator_count == count]
    if not exact:
        unsold = sorted({r.instance_type for r in same if r.accelerator_count == count})  # none of these is sold
        also = f"; {_types(unsold)} with {count} {_is(unsold)} not sold {sold_how(how)}" if unsold else ""
        raise NoMatch(f"{accelerator} comes only in counts of {', '.join(map(str, _counts(sold)))} per instance, not "
                      f"{count}{also}", "count")
    usable = allocatable or (lambda vcpus, memory: (vcpus, memory))
    fit = [r for r in exact
           if usable(r.vcpus, r.memory_gib)[0] >= (cpus or 0) and usable(r.vcpus, r.memory_gib)[1] >= (memory_gib or 0)]
    if not fit:
        biggest = max(exact, key=lambda r: (r.vcpus, r.memory_gib))
        big_cpus, big_memory = usable(biggest.vcpus, biggest.memory_gib)
        wanted = " and ".join(([f"{cpus} vCPUs"] if cpus else []) + ([f"{memory_gib:g} GiB memory"] if memory_gib else []))
        what = f"{count}x {accelerator}" if count else "no accelerator"
        left = f", of which {big_cpus:.2f} vCPUs and {big_memory:.2f} GiB are left for a replica" if allocatable else ""
        raise NoMatch(f"no instance type with {what} has at least {wanted}; the largest is "
                      f"{biggest.instance_type} ({biggest.vcpus} vCPUs, {biggest.memory_gib:g} GiB{left})",
                      "cpus" if cpus and big_cpus < cpus else "memory_gib")
    return sorted(fit, key=lambda r: (r.price_usd_hour, r.vcpus, r.memory_gib, r.instance_type))


def _counts(found: list[InstanceType]) -> list[int]:
    return sorted({r.accelerator_count for r in found})


def _types(names: list[str]) -> str:
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]


def _is(names: list[str]) -> str:
    return "are" if len(names) > 1 else "is"


def sold_how(how: str) -> str:
    """'on-demand' or 'as spot': how a purchase option reads after 'sold'."""
    return "on-demand" if how == ON_DEMAND else f"as {how}"


def _not_sold(arch: str, accelerator: str, how: str, same: list[InstanceType]) -> str:
    """Why no row can be bought `how`: each type with the ways it is sold, and the switch that would help."""
    by_ways: dict[str, list[str]] = {}
    for r in sorted(same, key=lambda r: r.instance_type):
        names = by_ways.setdefault(r.sold_as(), [])
        if r.instance_type not in names:
            names.append(r.instance_type)
    sold = "; ".join(f"{_types(names)} {_is(names)} sold only as {ways}" for ways, names in by_ways.items())
    other = SPOT if how == ON_DEMAND else ON_DEMAND
    fix = (f"set hardware.spot: {'true' if other == SPOT else 'false'}" if any(r.sells(other) for r in same)
           else "infc emits only on-demand or spot capacity")
    return f"no {arch} instance type with {accelerator} is sold {sold_how(how)}: {sold}; {fix}"


def _retired(cloud: str, accelerator: str, arch: str) -> str:
    gone = [r.instance_type for r in rows(cloud) if r.accelerator == accelerator and r.arch == arch and r.retired]
    return f": {cloud} retired {_types(gone)}" if gone else ""


def _other_arch(live: list[InstanceType]) -> str:
    archs = sorted({r.arch for r in live})
    return f"; it comes only with {' or '.join(archs)} CPUs (set hardware.arch)" if archs else ""


def _elsewhere(cloud: str, accelerator: str) -> str:
    others = [c for c in offered_on(accelerator) if c != cloud]
    return f" (offered on: {', '.join(others)})" if others else ""
