"""Weighted variants (spec `variants`): the spec each variant runs, their cross-field rules, and the diagnostics of a
variant's checks moved to where the user wrote the value."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from compiler.errors import Diagnostic, Path
from compiler.spec import Spec, Targets, Variant

# What a variant may override, and where the value it replaces lives in the spec.
OVERRIDES: dict[str, Path] = {"image": ("model", "image"), "args": ("model", "args"), "env": ("model", "env"),
                              "uri": ("model", "uri"), "hardware": ("hardware",), "replicas": ("replicas",)}


def spec_of(spec: Spec, variant: Variant) -> Spec:
    """The one-version spec `variant` runs: the spec's sections with the variant's overrides (env merged, the rest
    replaced) and no variants of its own."""
    model = {field: getattr(variant, field) for field in ("image", "args", "uri")
             if getattr(variant, field) is not None}
    if variant.env is not None:
        model["env"] = {**spec.model.env, **variant.env}
    sections = {field: getattr(variant, field) for field in ("hardware", "replicas")
                if getattr(variant, field) is not None}
    return spec.model_copy(update={"model": spec.model.model_copy(update=model), **sections, "variants": []})


def check(spec: Spec, emitted: list[str]) -> list[Diagnostic]:
    """The rules across variants: at least two, distinct names, weights summing to 100, and no target setting that
    would silently replace what a variant overrides on that target."""
    variants, out = spec.variants, []
    if not variants:
        return out
    if len(variants) == 1:
        out.append(Diagnostic("variants: name at least two (one version needs no variants: move its overrides into "
                              "the sections above)", path=("variants",)))
    names = [v.name for v in variants]
    for index, name in enumerate(names):
        if names.index(name) != index:
            out.append(Diagnostic(f"variants[{index}].name: '{name}' is also variants[{names.index(name)}]'s name; "
                                  "names must differ", path=("variants", index, "name")))
    total = sum(v.weight for v in variants)
    if total != 100:
        weights = " + ".join(str(v.weight) for v in variants)
        out.append(Diagnostic(f"variants: the weights sum to {total} ({weights}); they must sum to 100, each the "
                              "percent of requests its variant gets", path=("variants",)))
    for index, variant in enumerate(variants):
        for target in emitted:
            settings = getattr(spec.targets, target)
            if variant.uri is not None and getattr(settings, "model_uri", None):
                out.append(Diagnostic(
                    f"{target}: variants[{index}].uri would be replaced by targets.{target}.model_uri, which sets "
                    f"every variant's model on {target}; set uri in each variant instead", path=("variants", index,
                                                                                                   "uri")))
            if variant.image is not None and getattr(settings, "image", None) and target == "azureml":
                out.append(Diagnostic(
                    f"{target}: variants[{index}].image would be replaced by targets.{target}.image, which sets every "
                    f"variant's image on {target}", path=("variants", index, "image")))
    return out


def relocate(diagnostics: Iterable[Diagnostic], index: int, variant: Variant,
             known: Iterable[Diagnostic]) -> list[Diagnostic]:
    """The diagnostics of checking variant `index`'s spec, as the user should read them: one about a value the variant
    overrides points at the variant's field and names the variant; one about a shared value that the spec's own check
    (`known`) already reported is dropped; any other one names the variant and keeps its place."""
    seen = {(d.path, d.message) for d in known}
    out = []
    for d in diagnostics:
        path = tuple(d.path or ())
        moved = next((("variants", index, field) + path[len(prefix):] for field, prefix in OVERRIDES.items()
                      if getattr(variant, field) is not None and path[:len(prefix)] == prefix), None)
        if moved is None and (path, d.message) in seen:
            continue
        out.append(dataclasses.replace(d, message=_named(d.message, variant.name), path=moved or path))
    return out


def _named(message: str, name: str) -> str:
    """`message` saying which variant it is about, after the target it names ("aws: variant canary: ...")."""
    head, sep, rest = message.partition(": ")
    if sep and head in Targets.model_fields:
        return f"{head}: variant {name}: {rest}"
    return f"variant {name}: {message}"
