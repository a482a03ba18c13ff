"""Spec models and their error messages: types, defaults, durations, unknown keys with suggestions."""

from __future__ import annotations

import pytest

from compiler.loader import load_text
from compiler.parse import parse
from compiler.spec import Spec
from compiler.values import parse_duration
from tests.conftest import spec_dict, spec_yaml


def diagnostics(raw: bytes) -> list[str]:
    doc, = load_text("s.yaml", raw)
    spec, found = parse(doc)
    assert spec is None
    return sorted(d.render() for d in found)


@pytest.mark.parametrize("value, seconds", [(90, 90), ("90", 90), ("90s", 90), ("10m", 600), ("1h", 3600),
                                            (0, 0)])
def test_durations(value, seconds):
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["1.5m", "10 minutes", "1h30m", -5, True, "m", None, 1.5, " 5m ", "300\n"])
def test_bad_durations_are_refused_not_rounded(value):
    with pytest.raises(ValueError):
        parse_duration(value)


def test_defaults_are_documented_behaviour():
    spec = Spec.model_validate(spec_dict())
    assert spec.model.port == 8000
    assert spec.hardware.count is None and spec.hardware.disk_gib == 100 and spec.hardware.arch == "x86_64"
    assert (spec.replicas.min, spec.replicas.max, spec.replicas.autoscale) == (1, None, None)
    assert [(lst.port, lst.protocol) for lst in spec.load_balancer.listeners] == [(80, "http")]
    assert spec.load_balancer.allowed_cidrs == ["0.0.0.0/0"]
    r = spec.probes.readiness
    assert (r.path, r.interval, r.timeout, r.initial_delay, r.success_codes) == ("/health", 15, 5, 600, "200")


def test_every_field_has_a_description():
    def walk(model):
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"
    from compiler import spec, spec_base, spec_clusters
    models = {obj for module in (spec, spec_base, spec_clusters) for obj in vars(module).values()
              if isinstance(obj, type) and issubclass(obj, spec_base._Model) and obj is not spec_base._Model}
    assert {"S3Backend", "_Workload", "EksTarget", "AksTarget", "Spec"} <= {m.__name__ for m in models}
    for model in models:
        walk(model)


def test_env_args_and_labels_take_scalars_as_strings():
    spec = Spec.model_validate(spec_dict(model={"name": "m", "image": "i", "env": {"N": 4, "B": True},
                                                "args": ["--n", 8]}, metadata={"name": "s", "labels": {"v": 1}}))
    assert spec.model.env == {"N": "4", "B": "true"} and spec.model.args == ["--n", "8"]
    assert spec.metadata.labels == {"v": "1"}


def test_unknown_keys_suggest_the_closest_at_every_level():
    raw = spec_yaml(hardware={"accelerator": "nvidia-l4", "cout": 2}, probes={"readines": {}})
    assert diagnostics(raw) == [
        "s.yaml:10:3: error: unknown key 'cout' in hardware; did you mean 'count'?",
        "s.yaml:15:3: error: unknown key 'readines' in probes; did you mean 'readiness'?",
    ]


def test_all_errors_reported_together_with_positions():
    raw = spec_yaml(model={"name": "m", "image": "i", "port": 70000},
                    load_balancer={"allowed_cidrs": ["10.0.0.1/8"], "idle_timeout": "soon"})
    assert diagnostics(raw) == [
        "s.yaml:16:5: error: load_balancer.allowed_cidrs[0]: '10.0.0.1/8' is not a CIDR block: 10.0.0.1/8 has host "
        "bits set",
        "s.yaml:17:17: error: load_balancer.idle_timeout: expected a duration such as 30, 90s, 10m or 1h (whole "
        "seconds, minutes or hours), got 'soon'",
        "s.yaml:8:9: error: model.port: Input should be less than or equal to 65535, got 70000",
    ]


def test_missing_keys_point_at_the_parent():
    assert diagnostics(spec_yaml(targets=None, apiVersion=None)) == [
        "s.yaml:1:1: error: missing required key 'apiVersion' in the top level",
        "s.yaml:1:1: error: missing required key 'targets' in the top level",
    ]


def test_wrong_api_version():
    assert diagnostics(spec_yaml(apiVersion="infc/v2")) == [
        "s.yaml:1:13: error: apiVersion: input should be 'infc/v1', got 'infc/v2'"]


@pytest.mark.parametrize("codes", ["200", "200,204", "200-299", "200-299,301"])
def test_success_codes(codes):
    assert Spec.model_validate(spec_dict(probes={"readiness": {"success_codes": codes}})).probes.readiness.success_codes == codes


@pytest.mark.parametrize("codes", ["ok", "20", "299-200", "600"])
def test_bad_success_codes(codes):
    assert diagnostics(spec_yaml(probes={"readiness": {"success_codes": codes}}))
