"""Lowering passes: defaults resolved, units in seconds, instance types chosen per target."""

from __future__ import annotations

from compiler import lower
from compiler.spec import Spec
from tests.conftest import spec_dict


def lowered(**overrides):
    spec = Spec.model_validate(spec_dict(**overrides))
    service, diags = lower.lower(spec, spec.targets.named())
    return service, [(d.severity, d.message) for d in diags]


def test_defaults_are_resolved():
    service, diags = lowered()
    assert diags == []
    assert (service.accelerator_count, service.min_replicas, service.max_replicas) == (1, 1, 1)
    assert service.readiness.port == 8000 and service.initial_delay_s == 600
    assert service.target("aws").machine.instance_type == "g6.xlarge"
    assert service.ports == (8000,)


def test_cpu_count_defaults_to_zero_and_max_follows_min():
    service, _ = lowered(hardware={"accelerator": "none"}, replicas={"min": 3})
    assert service.accelerator_count == 0 and service.max_replicas == 3


def test_probe_ports_are_opened_to_the_load_balancer():
    service, _ = lowered(probes={"readiness": {"port": 9000}, "liveness": {"port": 9001}})
    assert service.ports == (8000, 9000, 9001)


def test_durations_reach_the_ir_in_seconds():
    service, _ = lowered(replicas={"min": 1, "max": 2, "autoscale": {"metric": "cpu_percent", "target": 50,
                                                                     "scale_out_delay": "2m", "scale_in_delay": "1h"}},
                         load_balancer={"idle_timeout": "5m", "drain_timeout": 0})
    assert (service.autoscale.scale_out_delay_s, service.autoscale.scale_in_delay_s) == (120, 3600)
    assert (service.load_balancer.idle_timeout_s, service.load_balancer.drain_timeout_s) == (300, 0)


def test_instance_type_override_wins_when_it_matches():
    service, diags = lowered(hardware={"accelerator": "nvidia-l4", "instance_types": {"aws": "g6.12xlarge"},
                                       "count": 4})
    assert diags == [] and service.target("aws").machine.instance_type == "g6.12xlarge"


def test_instance_type_override_that_contradicts_hardware_is_an_error():
    service, diags = lowered(hardware={"accelerator": "nvidia-l4", "instance_types": {"aws": "g5.xlarge"}})
    assert service is None
    assert diags == [("error", "aws: instance type 'g5.xlarge' has 1x nvidia-a10g (x86_64), but hardware asks for "
                               "1x nvidia-l4 (x86_64)")]


def test_instance_type_outside_the_catalog_is_used_with_a_warning():
    service, diags = lowered(hardware={"accelerator": "nvidia-l4", "instance_types": {"aws": "g7.xlarge"}})
    assert service.target("aws").machine.instance_type == "g7.xlarge"
    assert diags == [("warning", "aws: instance type 'g7.xlarge' is not in the catalog; infc cannot check that it "
                                 "has 1x nvidia-l4")]
