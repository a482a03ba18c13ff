"""Rules across fields of one spec (SPEC.md "Validation rules") that a type alone cannot say."""

from __future__ import annotations

from compiler import catalog, variants
from compiler.errors import Diagnostic, suggest
from compiler.ir import MODEL_DIR
from compiler.spec import SecretRefs, Spec

_RESERVED_ENV = {"MODEL_URI": "model.uri", "MODEL_NAME": "model.name", "MODEL_DIR": "model.uri"}
# An example reference per target, for the message that asks for a missing one.
_SECRET_EXAMPLE = {
    "aws": "arn:aws:secretsmanager:<region>:<account>:secret:<name>-<6 characters>",
    "azure": "https://<vault>.vault.azure.net/secrets/<name>",
    "gcp": "projects/<project>/secrets/<secret>",
    "kubernetes": "<secret>/<key>",
    "azureml": "https://<vault>.vault.azure.net/secrets/<name>/<version>",
    "gke": "<secret>/<key>",
    "eks": "<secret>/<key>",
    "aks": "<secret>/<key>",
    "aca": "https://<vault>.vault.azure.net/secrets/<name>",
}


# Why a target that takes no instance type (catalog.CATALOG_OF None) ignores hardware.instance_types.<target>.
_NO_INSTANCE_TYPE = {"aca": "a container app runs on the workload profile of hardware.accelerator (Consumption, or "
                            "a serverless GPU profile) and takes no instance type"}


def _err(path: str, message: str) -> Diagnostic:
    return Diagnostic(message, path=tuple(int(p) if p.isdigit() else p for p in path.split(".")))


def _warn(path: str, message: str) -> Diagnostic:
    return Diagnostic(message, path=tuple(int(p) if p.isdigit() else p for p in path.split(".")), severity="warning")


def check(spec: Spec, emitted: list[str]) -> list[Diagnostic]:
    """Every cross-field problem of `spec` when compiled for the `emitted` targets, and of each variant's spec."""
    out = [*_hardware(spec, emitted), *_replicas(spec), *_probes(spec), *_listeners(spec, emitted), *_model(spec),
           *_secrets(spec, emitted), *_delivery(spec, emitted), *_backends(spec, emitted),
           *variants.check(spec, emitted)]
    for index, variant in enumerate(spec.variants):
        out += variants.relocate(check(variants.spec_of(spec, variant), emitted), index, variant, out)
    return out


def accelerator_error(name: str) -> str | None:
    if name == catalog.NONE or name in catalog.ACCELERATORS:
        return None
    typed = name.lower() if name.lower().startswith("nvidia-") else f"nvidia-{name.lower()}"
    # Every name `typed` is the whole model of, not a longer model number: 'a10' -> a10g and a10, not a100-*;
    # 'v100' -> both memory sizes. Several get the clouds that sell each, since the choice is the user's.
    extended = [a for a in catalog.ACCELERATORS if a == typed or (a.startswith(typed) and not a[len(typed)].isdigit())]
    native = catalog.canonical_of(name.lower())
    if native:
        hint = f"; '{name}' is {native[1]}'s name for it: use '{native[0]}'"
    elif len(extended) == 1:
        hint = f"; did you mean '{extended[0]}'?"
    elif extended:
        hint = "; did you mean " + " or ".join(f"'{a}' ({', '.join(catalog.offered_on(a))})" for a in extended) + "?"
    else:
        hint = suggest(typed, [*catalog.ACCELERATORS, catalog.NONE])
    return (f"hardware.accelerator: unknown accelerator '{name}'{hint or ''} "
            f"(known: {', '.join(catalog.ACCELERATORS)}, or 'none' for CPU serving)")


def _hardware(spec: Spec, emitted: list[str]) -> list[Diagnostic]:
    hw, out = spec.hardware, []
    problem = accelerator_error(hw.accelerator)
    if problem:
        out.append(_err("hardware.accelerator", problem))
    if hw.accelerator == catalog.NONE and hw.count:
        out.append(_err("hardware.count", f"hardware.count is {hw.count} but hardware.accelerator is 'none'; "
                                          "remove count or name an accelerator"))
    if hw.accelerator != catalog.NONE and hw.count == 0:
        out.append(_err("hardware.count", f"hardware.count must be at least 1 with accelerator '{hw.accelerator}'"
                                          " (use accelerator: none for CPU serving)"))
    for target in hw.instance_types:
        if catalog.CATALOG_OF[target] is None:
            out.append(_warn(f"hardware.instance_types.{target}",
                             f"hardware.instance_types.{target} has no effect: " + _NO_INSTANCE_TYPE.get(
                                 target, f"the {target} target runs on the cluster's nodes and picks no instance type "
                                         f"(targets.{target}.node_selector places replicas)")))
        elif target not in spec.targets.named():
            out.append(_warn(f"hardware.instance_types.{target}",
                             f"hardware.instance_types.{target} is set but '{target}' is not under targets:"))
    return out + _fallback(spec)


def _fallback(spec: Spec) -> list[Diagnostic]:
    """hardware.alternatives and on_demand_base: accelerators named once, a base only with spot capacity."""
    hw, out = spec.hardware, []
    seen = {(hw.accelerator, hw.count or 1)}
    for index, alt in enumerate(hw.alternatives):
        path = f"hardware.alternatives.{index}.accelerator"
        problem = accelerator_error(alt.accelerator)
        if alt.accelerator == catalog.NONE or hw.accelerator == catalog.NONE:
            out.append(_err(path, f"hardware.alternatives[{index}]: alternatives are other accelerators for GPU "
                                  "serving; neither hardware.accelerator nor an alternative may be 'none'"))
        elif problem:
            out.append(_err(path, problem.replace("hardware.accelerator", f"hardware.alternatives[{index}]"
                                                  ".accelerator", 1)))
        elif (alt.accelerator, alt.count) in seen:
            out.append(_err(path, f"hardware.alternatives[{index}]: {alt.count}x {alt.accelerator} is already asked "
                                  "for earlier; name each accelerator and count once"))
        seen.add((alt.accelerator, alt.count))
    if hw.on_demand_base is not None and not hw.spot:
        out.append(_err("hardware.on_demand_base", "hardware.on_demand_base splits replicas between on-demand and "
                                                   "spot capacity; it needs hardware.spot: true (without spot every "
                                                   "replica is on-demand already)"))
    return out


def _replicas(spec: Spec) -> list[Diagnostic]:
    r, out = spec.replicas, []
    if r.max is not None and r.min > r.max:
        out.append(_err("replicas.min", f"replicas.min ({r.min}) must not exceed replicas.max ({r.max})"))
    if r.min == 0 and r.autoscale is None:
        out.append(_err("replicas.min", "replicas.min 0 needs replicas.autoscale (and replicas.max): without a "
                                        "policy nothing starts a replica, so the service never serves"))
    elif r.autoscale is None and r.max is not None and r.max > r.min:
        out.append(_warn("replicas.max", f"replicas.max ({r.max}) differs from min ({r.min}) but there is no "
                                         f"autoscale policy: replicas stay fixed at {r.min}"))
    if r.min > 0 and r.autoscale and "scale_to_zero_after" in r.autoscale.model_fields_set:
        out.append(_warn("replicas.autoscale.scale_to_zero_after",
                         f"replicas.autoscale.scale_to_zero_after has no effect: replicas.min is {r.min}, so the "
                         "service never scales to zero"))
    if r.autoscale and r.autoscale.metric == "cpu_percent" and r.autoscale.target > 100:
        out.append(_err("replicas.autoscale.target",
                        f"replicas.autoscale.target is {r.autoscale.target:g} but cpu_percent is at most 100"))
    return out


def _probes(spec: Spec) -> list[Diagnostic]:
    out = []
    ready, live = spec.probes.readiness, spec.probes.liveness
    if ready.timeout >= ready.interval:
        out.append(_err("probes.readiness.timeout", f"probes.readiness.timeout ({ready.timeout}s) must be less "
                                                    f"than probes.readiness.interval ({ready.interval}s)"))
    if live and live.timeout >= live.interval:
        out.append(_err("probes.liveness.timeout", f"probes.liveness.timeout ({live.timeout}s) must be less than "
                                                   f"probes.liveness.interval ({live.interval}s)"))
    return out


def _listeners(spec: Spec, emitted: list[str]) -> list[Diagnostic]:
    out = []
    listeners = spec.load_balancer.listeners
    ports = [lst.port for lst in listeners]
    for i, lst in enumerate(listeners):
        base = f"load_balancer.listeners.{i}"
        if ports.index(lst.port) != i:
            out.append(_err(f"{base}.port", f"listener port {lst.port} is defined twice"))
        if lst.redirect_to is not None:
            target = next((t for t in listeners if t.port == lst.redirect_to), None)
            if lst.redirect_to == lst.port:
                out.append(_err(f"{base}.redirect_to", f"listener {lst.port} cannot redirect to itself"))
            elif target is None:
                out.append(_err(f"{base}.redirect_to", f"redirect_to: {lst.redirect_to} names no listener "
                                                       f"(listener ports: {', '.join(map(str, ports))})"))
            elif target.redirect_to is not None:
                out.append(_err(f"{base}.redirect_to", f"redirect_to: {lst.redirect_to} names a listener that "
                                                       "redirects too; redirects must end at a serving listener"))
        if lst.protocol == "https":
            for name in emitted:
                settings = getattr(spec.targets, name)
                if "certificate" in type(settings).model_fields and not settings.certificate:
                    out.append(_err(f"{base}.protocol", f"{name}: https listener on port {lst.port} needs a "
                                                        f"certificate: set targets.{name}.certificate"))
    if all(lst.redirect_to is not None for lst in listeners):
        out.append(_err("load_balancer.listeners", "every listener redirects; at least one must serve"))
    return out


def image_tag(image: str) -> str | None:
    """The tag of an image reference (`registry:5000/org/name:tag@sha256:...`), or None when it has none."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def _image(path: str, image: str) -> list[Diagnostic]:
    """A moving tag means two replicas, or a replica and its replacement, may serve different code."""
    if "@" in image:
        return []
    tag = image_tag(image)
    if tag is None or tag == "latest":
        said = "has no tag" if tag is None else "uses the tag 'latest'"
        return [_warn(path, f"{path} '{image}' {said}, which moves: replicas started at different times may run "
                            "different images; pin a version tag or a digest (name@sha256:...)")]
    return []


def _model(spec: Spec) -> list[Diagnostic]:
    out = _image("model.image", spec.model.image)
    if spec.targets.azureml and spec.targets.azureml.image:
        out += _image("targets.azureml.image", spec.targets.azureml.image)
    for key in spec.model.env:  # names and values are checked by their types (compiler/values.py)
        if key in _RESERVED_ENV:
            out.append(_err(f"model.env.{key}", f"model.env.{key} is set by infc from {_RESERVED_ENV[key]}; set that "
                                                "instead"))
    return out


def _secrets(spec: Spec, emitted: list[str]) -> list[Diagnostic]:
    """Each secret is one variable, not also a model.env one or infc's own, with a reference on every emitted target."""
    out = []
    for name, refs in spec.model.secrets.items():
        path = ("model", "secrets", name)
        if name in _RESERVED_ENV:
            out.append(Diagnostic(f"model.secrets.{name} is set by infc from {_RESERVED_ENV[name]}; use another name",
                                  path=path))
        elif name in spec.model.env:
            out.append(Diagnostic(f"model.secrets.{name} is also in model.env; a variable is either a plain value "
                                  "(model.env) or a secret (model.secrets), not both", path=path))
        for target in emitted:
            if getattr(refs, target) is None:
                out.append(Diagnostic(f"{target}: model.secrets.{name} has no reference for {target}; add "
                                      f"{target}: {_SECRET_EXAMPLE[target]}", path=path))
        for target in SecretRefs.model_fields:
            if getattr(refs, target) is not None and target not in spec.targets.named():
                out.append(Diagnostic(f"model.secrets.{name}.{target} is set but '{target}' is not under targets:",
                                      path=(*path, target), severity="warning"))
    return out


def _delivery(spec: Spec, emitted: list[str]) -> list[Diagnostic]:
    """A delivered model the server is never told about is the mistake this catches: the files land in MODEL_DIR,
    so an argument, the command or an env value should name it (or the MODEL_DIR variable)."""
    delivering = [t for t in emitted if getattr(spec.targets, t).model_uri or spec.model.uri]
    m = spec.model
    texts = [*m.args, *(m.command or ()), *m.env.values()]
    if not delivering or any(MODEL_DIR in text or "MODEL_DIR" in text for text in texts):
        return []
    path = "model.args" if m.args else "model"
    return [_warn(path, f"the model's files are delivered to {MODEL_DIR} ({', '.join(delivering)}), but neither "
                        f"model.args, model.command nor model.env mention {MODEL_DIR} or MODEL_DIR: tell the server "
                        f"where they are, e.g. args: [--model, {MODEL_DIR}]")]


def _backends(spec: Spec, emitted: list[str]) -> list[Diagnostic]:
    """An S3 state bucket's region: the aws target's own by default; other targets must say it."""
    out = []
    for name in emitted:
        backend = getattr(spec.targets, name).backend
        if backend is not None and backend.type == "s3" and not backend.region and name != "aws":
            out.append(_err(f"targets.{name}.backend", f"targets.{name}.backend: an s3 backend needs region (the "
                                                       "bucket's region) on this target"))
    return out
