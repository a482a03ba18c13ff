"""Spec -> IR: small pure passes (defaults, instance-type selection, target settings) with their diagnostics."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType

from compiler import catalog, ir, variants
from compiler.errors import Diagnostic, suggest
from compiler.spec import Spec


def accelerator_count(spec: Spec) -> int:
    """Default count: 1 with an accelerator, 0 without."""
    hw = spec.hardware
    if hw.count is not None:
        return hw.count
    return 0 if hw.accelerator == catalog.NONE else 1


def replica_bounds(spec: Spec) -> tuple[int, int]:
    """(min, max): max defaults to min (at least 1)."""
    r = spec.replicas
    return r.min, r.max if r.max is not None else max(r.min, 1)


def machines(spec: Spec, target: str, allocatable: catalog.Capacity | None = None
             ) -> tuple[tuple[ir.Machine, ...], list[Diagnostic]]:
    """Every instance type `target` may run replicas on, in order of preference: `instance_types.<target>` if given
    (one type, or a list), else the cheapest catalog fit (every fit, cheapest first, with hardware.flexible); then
    the same for each of hardware.alternatives. The requests are measured against what the target leaves a replica
    (`allocatable`; default: the whole machine). Empty, with the errors, when the first accelerator has no type."""
    cloud = catalog.CATALOG_OF[target]
    if cloud is None:
        return (), []
    hw, count = spec.hardware, accelerator_count(spec)
    chosen = hw.instance_types.get(target)
    if chosen:
        named = [chosen] if isinstance(chosen, str) else list(chosen)
        path = ("hardware", "instance_types", target)
        found, diagnostics = [], []
        for index, name in enumerate(named):
            one, problems = _named(spec, target, name, path + ((index,) if isinstance(chosen, list) else ()))
            found += [one] if one else []
            diagnostics += problems
            if named.index(name) != index:
                diagnostics.append(Diagnostic(f"{target}: instance type '{name}' is named twice", path=path + (index,)))
        if any(d.severity == "error" for d in diagnostics):
            return (), diagnostics
    else:
        try:
            found, diagnostics = _fits(spec, target, hw.accelerator, count, allocatable), []
        except catalog.NoMatch as exc:
            return (), [Diagnostic(f"{target}: {exc}", path=("hardware", exc.field))]
    for index, alt in enumerate(hw.alternatives):
        try:
            more = _fits(spec, target, alt.accelerator, alt.count, allocatable)
        except catalog.NoMatch as exc:
            diagnostics.append(Diagnostic(
                f"{target}: hardware.alternatives[{index}] ({alt.count}x {alt.accelerator}) is skipped: {exc}",
                path=("hardware", "alternatives", index), severity="warning"))
            continue
        args = tuple(alt.args) if alt.args is not None else None
        taken = {m.instance_type for m in found}
        found += [dataclasses.replace(m, args=args) for m in more if m.instance_type not in taken]
    return tuple(found), diagnostics


def _fits(spec: Spec, target: str, accelerator: str, count: int, allocatable: catalog.Capacity | None
          ) -> list[ir.Machine]:
    """The cheapest catalog type with `count` of `accelerator` (every one, cheapest first, with hardware.flexible)."""
    hw = spec.hardware
    rows = catalog.fits(catalog.CATALOG_OF[target], accelerator, count, hw.arch, hw.cpus, hw.memory_gib, allocatable,
                        catalog.how_bought(target, hw.spot))
    return [_from_row(row) for row in (rows if hw.flexible else rows[:1])]


def _named(spec: Spec, target: str, chosen: str, path: tuple) -> tuple[ir.Machine | None, list[Diagnostic]]:
    """A type the user named in instance_types.<target>, checked against the catalog."""
    cloud = catalog.CATALOG_OF[target]
    hw, count = spec.hardware, accelerator_count(spec)
    how = catalog.how_bought(target, hw.spot)
    rows = catalog.lookup(cloud, chosen)
    if not rows:
        known = [r.instance_type for r in catalog.rows(cloud)]
        return ir.Machine(chosen, hw.accelerator, count, "", None, None), [Diagnostic(
            f"{target}: instance type '{chosen}' is not in the {cloud} catalog, so it is used as given: infc "
            f"cannot check that it has {_asked(hw, count)}, nor price it{suggest(chosen, known)}",
            path=path, severity="warning")]
    if any(r.retired for r in rows):
        return None, [Diagnostic(
            f"{target}: instance type '{chosen}' is retired: {cloud} no longer sells it; remove "
            f"hardware.instance_types.{target} to let infc choose, or name a type that is sold", path=path)]
    match = [r for r in rows if (r.accelerator, r.accelerator_count, r.arch) == (hw.accelerator, count, hw.arch)]
    if not match:
        offers = ", ".join(sorted({f"{r.accelerator_count}x {r.accelerator} ({r.arch})" for r in rows}))
        return None, [Diagnostic(
            f"{target}: instance type '{chosen}' has {offers}, but hardware asks for "
            f"{count}x {hw.accelerator} ({hw.arch})", path=path)]
    if not match[0].sells(how):
        return None, [Diagnostic(_unsold_override(target, match[0], how, hw.spot), path=path)]
    return _from_row(match[0]), []


def _asked(hw, count: int) -> str:
    """What hardware asks of a type, as a reader says it: "8x nvidia-a100-80gb and at least 64 vCPUs", "no GPU"."""
    parts = [f"{count}x {hw.accelerator}" if count else "no accelerator"]
    parts += [f"at least {hw.cpus} vCPUs"] if hw.cpus else []
    parts += [f"at least {hw.memory_gib:g} GiB of memory"] if hw.memory_gib else []
    return ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]


def delivery(spec: Spec, target: str) -> dict:
    """What `target` delivers to its replicas: its model URI (targets.<t>.model_uri, else model.uri) and its
    reference of each secret (validate.py reports a secret without one before lowering)."""
    uri = getattr(spec.targets, target).model_uri or spec.model.uri
    secrets = tuple(ir.Secret(name, getattr(refs, target)) for name, refs in sorted(spec.model.secrets.items())
                    if getattr(refs, target) is not None)
    return {"model_uri": uri, "secrets": secrets}


def _unsold_override(target: str, row: catalog.InstanceType, how: str, spot: bool) -> str:
    """A type the user named that cannot be bought the way the target emits it: how it is sold, and what helps."""
    other = catalog.SPOT if how == catalog.ON_DEMAND else catalog.ON_DEMAND
    switch = other == catalog.ON_DEMAND or target in catalog.SPOT_TARGETS
    fix = f"set hardware.spot: {str(not spot).lower()} or " if row.sells(other) and switch else ""
    return (f"{target}: instance type '{row.instance_type}' is sold only as {row.sold_as()}, but hardware.spot: "
            f"{str(spot).lower()} asks {target} for {how} capacity; {fix}name a type sold {catalog.sold_how(how)}")


def _from_row(row: catalog.InstanceType) -> ir.Machine:
    return ir.Machine(row.instance_type, row.accelerator, row.accelerator_count, row.provider_accelerator,
                      row.vcpus, row.memory_gib)


def lower(spec: Spec, emitted: list[str], allocatable: Mapping[str, catalog.Capacity] | None = None
          ) -> tuple[ir.Service | None, list[Diagnostic]]:
    """The IR of `spec` for the `emitted` targets, or None with the errors that prevent it. `allocatable` holds the
    targets whose machines keep part of their capacity (Kubernetes nodes)."""
    diagnostics: list[Diagnostic] = []
    targets = []
    for name in emitted:
        chosen, found = machines(spec, name, (allocatable or {}).get(name))
        diagnostics += found
        settings = getattr(spec.targets, name).model_dump(exclude_none=True)
        targets.append(ir.Target(name, MappingProxyType(settings), chosen[0] if chosen else None,
                                 **delivery(spec, name), fallback=chosen[1:]))
    if any(d.severity == "error" for d in diagnostics):
        return None, diagnostics

    m, hw, lb, probes = spec.model, spec.hardware, spec.load_balancer, spec.probes
    low, high = replica_bounds(spec)
    ready, live = probes.readiness, probes.liveness
    auto = spec.replicas.autoscale
    service = ir.Service(
        name=spec.metadata.name,
        labels=tuple(sorted(spec.metadata.labels.items())),
        model_name=m.name,
        image=m.image,
        model_uri=m.uri,
        port=m.port,
        command=tuple(m.command) if m.command else None,
        args=tuple(m.args),
        env=tuple(sorted(m.env.items())),
        accelerator=hw.accelerator,
        accelerator_count=accelerator_count(spec),
        cpus=hw.cpus,
        memory_gib=hw.memory_gib,
        disk_gib=hw.disk_gib,
        spot=hw.spot,
        arch=hw.arch,
        flexible=hw.flexible,
        alternatives=tuple(ir.Alternative(a.accelerator, a.count, tuple(a.args) if a.args is not None else None)
                           for a in hw.alternatives),
        on_demand_base=hw.on_demand_base,
        min_replicas=low,
        max_replicas=high,
        autoscale=ir.Autoscale(auto.metric, auto.target, auto.scale_out_delay, auto.scale_in_delay,
                                auto.scale_to_zero_after) if auto else None,
        load_balancer=ir.LoadBalancer(
            public=lb.public,
            allowed_cidrs=tuple(lb.allowed_cidrs),
            listeners=tuple(ir.Listener(x.port, x.protocol, x.redirect_to) for x in lb.listeners),
            idle_timeout_s=lb.idle_timeout,
            drain_timeout_s=lb.drain_timeout,
            stickiness=lb.stickiness,
        ),
        readiness=ir.HealthCheck(ready.path, ready.port or m.port, ready.interval, ready.timeout,
                                 ready.healthy_threshold, ready.unhealthy_threshold, ready.success_codes),
        initial_delay_s=ready.initial_delay,
        liveness=ir.Liveness(live.path, live.port or m.port, live.interval, live.timeout,
                             live.failure_threshold) if live else None,
        targets=tuple(targets),
    )
    if not spec.variants:
        return service, diagnostics
    found = []
    for index, variant in enumerate(spec.variants):
        one, problems = lower(variants.spec_of(spec, variant), emitted, allocatable)
        diagnostics += variants.relocate(problems, index, variant, diagnostics)
        found.append(ir.Variant(variant.name, variant.weight, one) if one else None)
    if None in found:
        return None, diagnostics
    return dataclasses.replace(service, variants=tuple(found)), diagnostics
