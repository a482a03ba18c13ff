"""The hardware catalog: thin functions over one CSV per cloud (columns documented in README.md)."""

from __future__ import annotations

import csv
import dataclasses
import functools
from collections.abc import Callable
from importlib import resources

ACCELERATORS = (
    "nvidia-t4", "nvidia-l4", "nvidia-a10g", "nvidia-a10", "nvidia-l40s", "nvidia-v100",
    "nvidia-a100-40gb", "nvidia-a100-80gb", "nvidia-h100-80gb", "nvidia-h200",
)
NONE = "none"

# Which catalog file each target picks instance types from; None: the target takes no instance type.
# azureml has its own file: managed online endpoints accept only some VM sizes, so selection must pick from those.
CATALOG_OF = {"aws": "aws", "azure": "azure", "azureml": "azureml", "gcp": "gcp", "gke": "gcp", "kubernetes": None}

COLUMNS = (
    "instance_type", "accelerator", "accelerator_count", "accelerator_memory_gib", "vcpus", "memory_gib",
    "arch", "price_usd_hour", "region", "price_date", "provider_accelerator",
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
        )
        for r in reader
    )


def clouds() -> tuple[str, ...]:
    return tuple(sorted({c for c in CATALOG_OF.values() if c}))


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


def counts(cloud: str, accelerator: str, arch: str) -> list[int]:
    return sorted({r.accelerator_count for r in rows(cloud) if r.accelerator == accelerator and r.arch == arch})


Capacity = Callable[[float, float], tuple[float, float]]  # (vCPUs, GiB) of a type -> what a replica can use


def select(cloud: str, accelerator: str, count: int, arch: str, cpus: int | None, memory_gib: float | None,
           allocatable: Capacity | None = None) -> InstanceType:
    """The cheapest row with exactly `count` of `accelerator` and at least `cpus` and `memory_gib`, measured
    against `allocatable` (the target's capacity left for a replica, e.g. after a Kubernetes node's reservations).

    Ties on price go to the smaller, then the alphabetically first type, so the choice is deterministic.
    """
    same = [r for r in rows(cloud) if r.accelerator == accelerator and r.arch == arch]
    if not same:
        raise NoMatch(f"no {arch} instance type has {accelerator}" + _elsewhere(cloud, accelerator), "accelerator")
    exact = [r for r in same if r.accelerator_count == count]
    if not exact:
        raise NoMatch(f"{accelerator} comes only in counts of "
                      f"{', '.join(map(str, counts(cloud, accelerator, arch)))} per instance, not {count}", "count")
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
    return min(fit, key=lambda r: (r.price_usd_hour, r.vcpus, r.memory_gib, r.instance_type))


def _elsewhere(cloud: str, accelerator: str) -> str:
    others = [c for c in clouds() if c != cloud and any(r.accelerator == accelerator for r in rows(c))]
    return f" (offered on: {', '.join(others)})" if others else ""
