"""`infc explain`: per service and target, the instance type and why, replicas, price, front end, probes, the
resources synth will emit and the warnings; as text, JSON or a markdown table for pull requests. No Node: the
resources come from the real backends run into a recording compiler/cdk.Stack (compiler/recording.py)."""

from __future__ import annotations

import dataclasses
from typing import Any

from compiler import catalog, ir, lower
from compiler.cdk import Stack
from compiler.driver import Compiled, subject
from compiler.recording import record

HOURS_PER_MONTH = 730  # the month cloud price lists quote (AWS, Azure, Google: 730 hours)
# Where each target's settings name the region its prices apply to.
REGION_KEY = {"aws": "region", "azure": "location", "azureml": "location", "gcp": "region", "gke": "region",
              "aca": "location"}
# Targets that take no instance type (catalog.CATALOG_OF None): how their replicas are sized and billed instead.
NO_MACHINE = {"aca": ("the workload profile follows hardware.accelerator (Consumption, or a serverless GPU profile)",
                      "billed per second of vCPU, memory and GPU in use: no instance price")}


@dataclasses.dataclass(frozen=True)
class Price:
    """The catalog's list price of one replica, and the range for replicas.min to replicas.max."""

    usd_hour: float
    replicas: tuple[int, int]
    region: str  # the catalog row's reference region
    date: str  # YYYY-MM of the price
    spot: bool  # the replicas run on spot capacity; the price is the on-demand list price

    @property
    def hourly(self) -> tuple[float, float]:
        return self.usd_hour * self.replicas[0], self.usd_hour * self.replicas[1]

    @property
    def monthly(self) -> tuple[float, float]:
        return self.hourly[0] * HOURS_PER_MONTH, self.hourly[1] * HOURS_PER_MONTH


@dataclasses.dataclass(frozen=True)
class TargetView:
    target: str
    stack: str
    region: str | None
    machine: ir.Machine | None
    why: str
    price: Price | None
    price_note: str
    front: str
    listeners: list[str]
    readiness: str
    liveness: str | None
    resources: dict[str, int]
    data_sources: dict[str, int]
    warnings: list[str]
    # With variants: each one's machine and price on this target (machine, why and price above are then None/"").
    variants: list[VariantView] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class VariantView:
    """One variant on one target: its share of requests, its replicas, instance type and price."""

    name: str
    weight: int
    image: str
    replicas: str
    machine: ir.Machine | None
    why: str
    price: Price | None
    price_note: str


@dataclasses.dataclass(frozen=True)
class ServiceView:
    name: str
    file: str
    model: str
    replicas: str
    targets: list[TargetView]
    warnings: list[str]  # about the spec itself, not one target


def _row(target: str, machine: ir.Machine, service: ir.Service) -> catalog.InstanceType | None:
    cloud = catalog.CATALOG_OF[target]
    rows = [r for r in catalog.lookup(cloud, machine.instance_type) if not r.retired
            and (r.accelerator, r.accelerator_count, r.arch) == (service.accelerator, service.accelerator_count,
                                                                  service.arch)]
    return rows[0] if rows else None


def _why(target: str, service: ir.Service, settings: dict) -> str:
    if target in settings:
        return f"hardware.instance_types.{target}"
    hw = _Asked(service.accelerator, service.cpus, service.memory_gib)
    how = catalog.sold_how(catalog.how_bought(target, service.spot))
    node = " after a node's reservations" if target == "gke" else ""
    return (f"the cheapest {catalog.CATALOG_OF[target]} catalog type with {lower._asked(hw, service.accelerator_count)}"
            f" ({service.arch}){node}, sold {how}")


@dataclasses.dataclass(frozen=True)
class _Asked:
    accelerator: str
    cpus: int | None
    memory_gib: float | None


def price_of(target: str, service: ir.Service, machine: ir.Machine | None, region: str | None
           ) -> tuple[Price | None, str]:
    if machine is None:
        return None, NO_MACHINE[target][1] if target in NO_MACHINE else "runs on the cluster's existing nodes: no " \
            "instance price"
    row = _row(target, machine, service)
    if row is None:
        return None, f"{machine.instance_type} is not in the catalog: no price"
    spot = catalog.how_bought(target, service.spot) == catalog.SPOT
    notes = [f"{row.region} list price of {row.price_date}"]
    if region and region != row.region:
        notes.append(f"{region} may differ")
    if spot:
        notes.append("on-demand price shown: spot capacity is billed at the current spot price, usually lower")
    if not row.sells(catalog.ON_DEMAND):
        notes.append(f"{row.instance_type} is sold only as {row.sold_as()}: the price is its GPUs' and VM's list price")
    if target == "gke":
        notes.append("plus GKE's cluster fee")
    notes.append("instances only: load balancers, disks and traffic are extra")
    return Price(row.price_usd_hour, (service.min_replicas, service.max_replicas), row.region, row.price_date,
                 spot), "; ".join(notes)


def _attributes(stack: Stack, type_name: str) -> list[dict]:
    return [b._attributes for b in stack.blocks if b._kind == "resource" and b._type == type_name]


def _front(target: str, stack: Stack, service: ir.Service) -> str:
    """The front end as the target emits it, read from the recorded resources."""
    counts = stack.counts()
    if "aws_lb" in counts:
        internal = _attributes(stack, "aws_lb")[0].get("internal")
        return f"{'internal' if internal else 'internet-facing'} Application Load Balancer (aws_lb)"
    if "azurerm_application_gateway" in counts:
        sku = _attributes(stack, "azurerm_application_gateway")[0]["sku"]["name"]
        return f"Application Gateway {sku} (azurerm_application_gateway)"
    if "azurerm_lb" in counts:
        return "Standard Load Balancer (azurerm_lb), layer 4"
    if "google_compute_global_forwarding_rule" in counts:
        return "global external Application Load Balancer (google_compute_global_forwarding_rule)"
    if "google_compute_forwarding_rule" in counts:
        return "regional internal Application Load Balancer (google_compute_forwarding_rule)"
    if target == "azureml":
        return "managed online endpoint: Azure's HTTPS scoring URI on 443"
    if target == "aca":
        return "Container Apps ingress: HTTPS on 443 (HTTP on 80) at the app's FQDN (azapi_resource containerApps)"
    for route in (a["manifest"] for a in _attributes(stack, "kubernetes_manifest")):
        if route.get("kind") == "HTTPRoute":
            parent = route["spec"]["parentRefs"][0]
            return (f"HTTPRoute (kubernetes_manifest) on the Gateway {parent['namespace']}/{parent['name']}, to "
                    "ClusterIP Services (kubernetes_service_v1)")
    parts = []
    for spec in (a["spec"] for a in _attributes(stack, "kubernetes_service_v1")):
        parts.append(f"Service type {spec.get('type', 'ClusterIP')} (kubernetes_service_v1)")
    if "kubernetes_ingress_v1" in counts:
        parts.append("Ingress for https (kubernetes_ingress_v1)")
    return ", ".join(parts) or "none"


def _listeners(target: str, service: ir.Service) -> list[str]:
    if target == "azureml":  # one front end whatever the spec lists (targets/azureml/limits.py warns about the rest)
        return ["https :443, the endpoint's scoring URI"]
    out = []
    for x in service.load_balancer.listeners:
        out.append(f"{x.protocol} :{x.port}" + (f" -> redirect to :{x.redirect_to}" if x.redirect_to else ""))
    return out


def _readiness(service: ir.Service) -> str:
    hc = service.readiness
    return (f"GET {hc.path} on :{hc.port} every {hc.interval_s}s, timeout {hc.timeout_s}s, in after "
            f"{hc.healthy_threshold} and out after {hc.unhealthy_threshold}, codes {hc.success_codes}, first after "
            f"{service.initial_delay_s}s")


def _liveness(service: ir.Service) -> str | None:
    live = service.liveness
    if live is None:
        return None
    return (f"GET {live.path} on :{live.port} every {live.interval_s}s, timeout {live.timeout_s}s, replaced after "
            f"{live.failure_threshold} failures")


def view(compiled: Compiled) -> ServiceView:
    service = compiled.service
    mine = compiled.warnings
    settings = compiled.document.data.get("hardware", {}).get("instance_types", {}) or {}
    targets = []
    for target in service.targets:
        stack = record(service, target)
        region = target.get(REGION_KEY.get(target.name, ""), None)
        price, note = price_of(target.name, service, target.machine, region)
        variants = [_variant(variant, target.name, settings, region) for variant in service.variants]
        if variants:  # the sections the variants share are no replicas of their own
            price, note = None, "per variant, below"
        targets.append(TargetView(
            target=target.name, stack=stack.name, region=region, machine=target.machine,
            why=_why_machine(target.name, service, target.machine, settings),
            price=price, price_note=note, front=_front(target.name, stack, service), listeners=_listeners(target.name, service),
            readiness=_readiness(service), liveness=_liveness(service), resources=stack.counts(),
            data_sources=stack.counts("data"),
            warnings=[d.render() for d in mine if subject(d) == target.name], variants=variants))
    source = f", weights from {service.model_uri}" if service.model_uri else ""
    replicas = _replicas(service) if not service.variants else "per variant"
    return ServiceView(service.name, compiled.document.file, f"{service.model_name} in {service.image}{source}",
                       replicas, targets, [d.render() for d in mine if not subject(d)])


def _replicas(service: ir.Service) -> str:
    auto = service.autoscale
    replicas = f"{service.min_replicas}-{service.max_replicas}" if service.min_replicas != service.max_replicas \
        else f"{service.min_replicas} (fixed)"
    if auto:
        unit = "requests/s per replica" if auto.metric == "requests_per_replica" else "% CPU"
        replicas += f", autoscaling at {auto.target:g} {unit}"
    return replicas


def _why_machine(target: str, service: ir.Service, machine: ir.Machine | None, settings: dict) -> str:
    if machine:
        return _why(target, service, settings)
    return NO_MACHINE.get(target, ("kubernetes picks no instance type",))[0]


def _variant(variant: ir.Variant, target: str, settings: dict, region: str | None) -> VariantView:
    own = variant.service.target(target)
    price, note = price_of(target, variant.service, own.machine, region)
    return VariantView(variant.name, variant.weight, variant.service.image, _replicas(variant.service), own.machine,
                       _why_machine(target, variant.service, own.machine, settings), price, note)


def as_json(views: list[ServiceView]) -> dict[str, Any]:
    def price(p: Price | None, note: str) -> dict | None:
        if p is None:
            return {"note": note}
        return {"usd_per_hour_per_replica": p.usd_hour, "usd_per_hour": list(map(_cents, p.hourly)),
                "usd_per_month": list(map(_cents, p.monthly)), "hours_per_month": HOURS_PER_MONTH,
                "region": p.region, "price_date": p.date, "spot": p.spot, "note": note}

    return {"services": [{
        "name": v.name, "file": v.file, "model": v.model, "replicas": v.replicas, "warnings": v.warnings,
        "targets": [{
            "target": t.target, "stack": t.stack, "region": t.region,
            "instance": dataclasses.asdict(t.machine) if t.machine else None, "why": t.why,
            "price": price(t.price, t.price_note), "front": t.front, "listeners": t.listeners,
            "readiness": t.readiness, "liveness": t.liveness, "resources": t.resources,
            "data_sources": t.data_sources, "warnings": t.warnings,
            **({"variants": [{"name": x.name, "weight": x.weight, "image": x.image, "replicas": x.replicas,
                              "instance": dataclasses.asdict(x.machine) if x.machine else None, "why": x.why,
                              "price": price(x.price, x.price_note)} for x in t.variants]} if t.variants else {})}
            for t in v.targets]} for v in views]}


def _cents(value: float) -> float:
    return round(value, 2)


def usd(low: float, high: float, digits: int = 2) -> str:
    one = f"${low:,.{digits}f}"
    return one if round(low, digits) == round(high, digits) else f"{one}-${high:,.{digits}f}"


def _machine(m: ir.Machine | None) -> str:
    if m is None:
        return "the cluster's nodes"
    gpus = f"{m.accelerator_count}x {m.accelerator}" if m.accelerator_count else "no accelerator"
    size = f", {m.vcpus} vCPUs, {m.memory_gib:g} GiB" if m.vcpus is not None else " (not in the catalog)"
    return gpus + size


def _resources(t: TargetView) -> str:
    listed = ", ".join(f"{n}x {k}" if n > 1 else k for k, n in t.resources.items())
    data = ", ".join(f"{n}x {k}" if n > 1 else k for k, n in t.data_sources.items())
    return f"{sum(t.resources.values())}: {listed}" + (f"; data sources: {data}" if data else "")


def text(views: list[ServiceView]) -> str:
    out: list[str] = []
    for v in views:
        out += [f"{v.name}  ({v.file})", f"  model      {v.model}", f"  replicas   {v.replicas}"]
        out += [f"  warning    {w}" for w in v.warnings]
        for t in v.targets:
            out += ["", f"  {t.target}: stack {t.stack}" + (f" in {t.region}" if t.region else "")]
            if t.variants:
                for x in t.variants:
                    out += [f"    variant    {x.name}: {x.weight}% of requests, {x.image}, replicas {x.replicas}"]
                    out += _instance_lines(x.machine, x.why, x.price, x.price_note, "      ")
            else:
                out += _instance_lines(t.machine, t.why, t.price, t.price_note, "")
            out += [f"    front      {t.front}", f"    listeners  {', '.join(t.listeners)}",
                    f"    readiness  {t.readiness}"]
            out += [f"    liveness   {t.liveness}"] if t.liveness else []
            out += [f"    resources  {_resources(t)}"]
            out += [f"    warning    {w}" for w in t.warnings] or ["    warnings   none"]
        out.append("")
    return "\n".join(out).rstrip("\n")


def _instance_lines(machine: ir.Machine | None, why: str, price: Price | None, note: str, indent: str) -> list[str]:
    out = []
    if machine:
        out += [f"    {indent}instance   {machine.instance_type}: {_machine(machine)}", f"    {indent}why        {why}"]
    if price:
        out += [f"    {indent}price      ${price.usd_hour:,.2f}/h per replica; {usd(*price.hourly)}/h and "
                f"{usd(*price.monthly, digits=0)}/month ({HOURS_PER_MONTH} h) for {_count(price.replicas)} replicas",
                f"    {indent}           {note}"]
    else:
        out.append(f"    {indent}price      {note}")
    return out


def _count(replicas: tuple[int, int]) -> str:
    return str(replicas[0]) if replicas[0] == replicas[1] else f"{replicas[0]}-{replicas[1]}"


# Characters that would end a table cell or start markup, a link or HTML in GitHub-flavoured markdown: backslash-
# escaped (GFM escapes any ASCII punctuation so), or written as entities where a backslash would not do.
_MARKDOWN = {**{ord(c): "\\" + c for c in "\\|`*[]"}, **{ord(c): f"&#{ord(c)};" for c in "<>&"}}


def _md(value: str) -> str:
    return " ".join(value.translate(_MARKDOWN).split())


def markdown(views: list[ServiceView]) -> str:
    """The table a pull-request comment shows: one row per target, prices and warnings below."""
    out: list[str] = []
    for v in views:
        out += [f"### {_md(v.name)} ({_md(v.file)})", "", f"{_md(v.model)}; replicas {_md(v.replicas)}.", "",
                f"| target | instance type | per replica | replicas | $/hour | $/month ({HOURS_PER_MONTH} h) "
                "| resources | warnings |", "|---|---|---|---|---|---|---|---|"]
        for t in v.targets:
            rows = [(f"{t.target}: {x.name} {x.weight}%", x.machine, x.price, x.replicas) for x in t.variants] \
                or [(t.target, t.machine, t.price, v.replicas)]
            for label, machine, p, replicas in rows:
                spot = ", spot" if p and p.spot else ""
                out.append(f"| {_md(label)} | {_md(machine.instance_type) if machine else '-'} "
                           f"| {_md(_machine(machine))}{spot} "
                           f"| {_count(p.replicas) if p else _md(replicas.split(',')[0])} "
                           f"| {usd(*p.hourly) if p else 'n/a'} | {usd(*p.monthly, digits=0) if p else 'n/a'} "
                           f"| {sum(t.resources.values())} | {len(t.warnings)} |")
        notes = [(t.target, t.price_note) for t in v.targets if not t.variants]
        notes += [(f"{t.target} {x.name}", x.price_note) for t in v.targets for x in t.variants]
        out += ["", "Prices: " + "; ".join(f"{_md(who)}: {_md(note)}" for who, note in notes) + "."]
        warned = [(t.target, w) for t in v.targets for w in t.warnings] + [("spec", w) for w in v.warnings]
        if warned:
            out += ["", f"<details><summary>{len(warned)} warning(s)</summary>", ""]
            out += [f"- {_md(w)}" for _, w in warned]
            out += ["", "</details>"]
        out.append("")
    return "\n".join(out).rstrip("\n")
