"""What every backend shares: value-range tables, capability gaps, and resource naming."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable

from compiler import ir
from compiler.errors import Diagnostic, format_path


@dataclasses.dataclass(frozen=True)
class Limit:
    """A spec value the target can express only within [low, high] (inclusive); `doc` says where that is written."""

    path: str
    value: Callable[[ir.Service], float | int | None]
    low: float
    high: float
    what: str
    doc: str
    unit: str = ""


def _path(dotted: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in dotted.split("."))


def error(target: str, path: str, message: str) -> Diagnostic:
    return Diagnostic(f"{target}: {message}", path=_path(path))


def warning(target: str, path: str, message: str, *, always: bool = False) -> Diagnostic:
    """A warning about the value at `path`, shown only where the user wrote it (compiler/driver.py); `always`: about a
    gap of the target that holds whatever the user wrote, shown even when `path` holds a spec default."""
    return Diagnostic(f"{target}: {message}", path=_path(path), severity="warning", always=always)


def label_errors(target: str, problems: list[tuple[str | None, str]]) -> list[Diagnostic]:
    """Errors at metadata.labels.<key> (keys hold dots, so not a dotted path) for a cloud's label or tag problems
    (compiler/values.py: aws_tag_problems, azure_tag_problems, gcp_label_problems)."""
    return [Diagnostic(f"{target}: {message}",
                       path=("metadata", "labels") + ((key,) if key is not None else ())) for key, message in problems]


def check_limits(target: str, service: ir.Service, limits: tuple[Limit, ...]) -> list[Diagnostic]:
    """One error per value outside its range: target, field, value and the allowed range. Never clamps."""
    out = []
    for limit in limits:
        value = limit.value(service)
        if value is None or limit.low <= value <= limit.high:
            continue
        out.append(error(target, limit.path,
                         f"{format_path(_path(limit.path))} is {value:g}{limit.unit}; {limit.what} must be "
                         f"{limit.low:g}-{limit.high:g}{limit.unit} (see {limit.doc})"))
    return out


def check_scale_to_zero(target: str, service: ir.Service, reason: str) -> list[Diagnostic]:
    """The error for replicas.min 0 on a target that cannot scale to zero honestly, `reason` saying why; the aws
    and aca targets can (docs/spec.md, "Scale to zero")."""
    if service.min_replicas == 0:
        return [error(target, "replicas.min", f"replicas.min: 0 is not supported: {reason}; use min: 1, or the aws "
                                              "or aca target, which scale to zero")]
    return []


def check_variants(target: str, service: ir.Service, reason: str) -> list[Diagnostic]:
    """The error for variants on a target that cannot split requests by weight, `reason` saying why."""
    if service.variants:
        where = f"; the targets that split requests by weight are {', '.join(VARIANT_TARGETS)}" * bool(VARIANT_TARGETS)
        return [error(target, "variants", f"variants are not supported on {target}: {reason}{where}")]
    return []


# The targets whose load balancer splits requests between variants by weight (docs/spec.md, "Variants").
VARIANT_TARGETS: tuple[str, ...] = ("aws", "gcp", "azureml", "kubernetes")


@dataclasses.dataclass(frozen=True)
class Version:
    """One set of replicas behind a target's load balancer: the service itself, or one of its variants (spec
    `variants`) with that variant's own service and target (its image, args, model, machines and replicas)."""

    service: ir.Service
    target: ir.Target
    variant: str = ""  # the variant's name; "" without variants
    weight: int | None = None  # the variant's percent of requests; None without variants

    def id(self, base: str) -> str:
        """A Terraform resource id: `base`, suffixed with the variant's name (which has no '-' or '_')."""
        return f"{base}_{self.variant}" if self.variant else base

    def name(self, suffix: str = "") -> str:
        """A cloud resource name: `<metadata.name>[-<variant>][-<suffix>]`."""
        return resource_name(self.service, "-".join(part for part in (self.variant, suffix) if part))


def versions(service: ir.Service, target: ir.Target) -> tuple[Version, ...]:
    """The service alone, or each of its variants in the order of the spec."""
    if not service.variants:
        return (Version(service, target),)
    return tuple(Version(v.service, v.service.target(target.name), v.name, v.weight) for v in service.variants)


def output_endpoint(stack, service: ir.Service, host) -> None:
    """Output `endpoint`: URL of the first serving listener (https preferred), the port omitted where default."""
    serving = sorted(service.load_balancer.serving, key=lambda x: (x.protocol != "https", x.port))[0]
    default = {"http": 80, "https": 443}[serving.protocol]
    port = "" if serving.port == default else f":{serving.port}"
    stack.output("endpoint", stack.fmt("{}://{}{}", serving.protocol, host, port), "URL of the inference endpoint")


def resource_name(service: ir.Service, suffix: str) -> str:
    """Cloud resource names: `<metadata.name>-<suffix>`, stable because both parts come from the spec."""
    return f"{service.name}-{suffix}" if suffix else service.name


# Private registries by host, with the cloud whose identities they take: Amazon ECR (<account>.dkr.ecr.<region>.
# amazonaws.com, https://docs.aws.amazon.com/AmazonECR/latest/userguide/Registries.html), Azure Container Registry
# (<name>.azurecr.io), Artifact Registry (<location>-docker.pkg.dev) and Container Registry's gcr.io hosts (served by
# Artifact Registry).
_REGISTRIES = ((re.compile(r"[0-9]{12}\.dkr\.ecr(-fips)?\.[a-z0-9-]+\.amazonaws\.com(\.cn)?"), "Amazon ECR", "aws"),
               (re.compile(r"[a-z0-9]+\.azurecr\.io"), "Azure Container Registry", "azure"),
               (re.compile(r"[a-z0-9-]+-docker\.pkg\.dev"), "Artifact Registry", "gcp"),
               (re.compile(r"((us|eu|asia)\.)?gcr\.io"), "Container Registry (gcr.io)", "gcp"))


@dataclasses.dataclass(frozen=True)
class Registry:
    """The private registry an image is in: its host, what it is called in messages, and the cloud it belongs to
    (aws, azure, gcp), whose VM replicas infc can grant pull on it."""

    host: str
    name: str
    cloud: str


def private_registry(image: str) -> Registry | None:
    """The registry `image` names when it is one that needs credentials to pull from, else None."""
    host = image.split("/", 1)[0] if "/" in image else ""
    return next((Registry(host, name, cloud) for pattern, name, cloud in _REGISTRIES if pattern.fullmatch(host)), None)


def unpulled_image(target: str, service: ir.Service, who: str, cloud: str | None = None) -> list[Diagnostic]:
    """A warning when model.image is in a private registry and `target` gives `who` no pull access to it: `cloud`
    is the cloud whose registries the target grants pull on (None: none)."""
    found = private_registry(service.image)
    if found is None or found.cloud == cloud:
        return []
    return [warning(target, "model.image",
                    f"model.image is in {found.name} ({found.host}), but infc gives {who} no pull access to it on "
                    f"{target}: the pull fails unless the repository allows anonymous pulls; grant it yourself, or "
                    "use a public image")]


def fallback_refused(target: str, service: ir.Service, emitted: ir.Target | None, reason: str) -> list[Diagnostic]:
    """Errors at each capacity-fallback setting the spec holds (hardware.flexible, hardware.alternatives, a list of
    types in hardware.instance_types.<target>) on a target that runs replicas on one type only: `reason` says why.
    `emitted`: the target, whose fallback types show a list in instance_types (None: not asked)."""
    out = []
    if service.flexible:
        out.append(error(target, "hardware.flexible", f"hardware.flexible is not supported on {target}: {reason}"))
    if service.alternatives:
        out.append(error(target, "hardware.alternatives",
                         f"hardware.alternatives is not supported on {target}: {reason}"))
    if emitted and emitted.fallback and not service.flexible and not service.alternatives:
        out.append(error(target, f"hardware.instance_types.{target}",
                         f"hardware.instance_types.{target} lists several types; {target} takes one: {reason}"))
    return out


def on_machine(service: ir.Service, machine: ir.Machine) -> ir.Service:
    """`service` as its replicas on `machine` run it: that machine's accelerator and count, and its model.args
    (hardware.alternatives[i].args where given)."""
    return dataclasses.replace(service, accelerator=machine.accelerator, accelerator_count=machine.accelerator_count,
                               args=service.args if machine.args is None else machine.args)


def on_demand_base_refused(target: str, service: ir.Service, reason: str) -> list[Diagnostic]:
    """An error at hardware.on_demand_base on a target that cannot split replicas between on-demand and spot."""
    if service.on_demand_base is None:
        return []
    return [error(target, "hardware.on_demand_base", f"hardware.on_demand_base is not supported on {target}: {reason}")]


def args_differ(target: str, service: ir.Service, reason: str) -> list[Diagnostic]:
    """Errors at each hardware.alternatives[i].args that differs from model.args, on a target that runs one replica
    definition on every type: `reason` says why."""
    return [error(target, f"hardware.alternatives.{index}.args",
                  f"hardware.alternatives[{index}].args differ from model.args; {target} cannot give replicas on "
                  f"{alt.accelerator} their own arguments: {reason}")
            for index, alt in enumerate(service.alternatives) if alt.args is not None and alt.args != service.args]
