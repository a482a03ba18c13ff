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
    assert diags == [("warning", "aws: instance type 'g7.xlarge' is not in the aws catalog, so it is used as given: "
                                 "infc cannot check that it has 1x nvidia-l4, nor price it; did you mean "
                                 "'g6.xlarge' or 'g5.xlarge' or 'r7i.xlarge'?")]


def test_cpu_type_outside_the_catalog_says_what_it_cannot_check():
    """A CPU spec asks for no accelerator and its vCPUs and memory, not '0x none'; a typo gets the closest names."""
    service, diags = lowered(hardware={"accelerator": "none", "cpus": 4, "memory_gib": 16,
                                       "instance_types": {"aws": "m7i.xlargee"}})
    assert service.target("aws").machine.instance_type == "m7i.xlargee"
    [(severity, message)] = diags
    assert severity == "warning" and "0x" not in message
    assert "cannot check that it has no accelerator, at least 4 vCPUs and at least 16 GiB of memory" in message
    assert message.endswith("did you mean 'm7i.xlarge' or 'm7i.8xlarge' or 'm7i.4xlarge'?")


GCP = {"gcp": {"project": "acme-ml", "region": "us-central1"}}
GKE = {"gke": {"project": "acme-ml", "region": "us-central1"}}


def test_an_override_not_sold_the_way_spot_asks_is_an_error_naming_how_it_is_sold():
    for name, targets in (("gcp", GCP), ("gke", GKE)):
        service, diags = lowered(targets=targets, hardware={"accelerator": "nvidia-h200", "count": 8,
                                                            "instance_types": {name: "a3-ultragpu-8g"}})
        assert service is None
        assert diags == [("error", f"{name}: instance type 'a3-ultragpu-8g' is sold only as spot, flex-start or "
                                   f"reservation, but hardware.spot: false asks {name} for on-demand capacity; set "
                                   "hardware.spot: true or name a type sold on-demand")]
        service, diags = lowered(targets=targets, hardware={"accelerator": "nvidia-h200", "count": 8, "spot": True,
                                                            "instance_types": {name: "a3-ultragpu-8g"}})
        assert diags == [] and service.target(name).machine.instance_type == "a3-ultragpu-8g"


def test_selection_for_an_on_demand_spec_skips_types_sold_only_otherwise():
    service, diags = lowered(targets=GCP, hardware={"accelerator": "nvidia-h200", "count": 8})
    assert service is None
    assert diags == [("error", "gcp: no x86_64 instance type with nvidia-h200 is sold on-demand: a3-ultragpu-8g is "
                               "sold only as spot, flex-start or reservation; set hardware.spot: true")]


def test_an_override_naming_a_retired_type_is_an_error():
    service, diags = lowered(hardware={"accelerator": "nvidia-v100-16gb", "instance_types": {"aws": "p3.2xlarge"}})
    assert service is None
    assert diags == [("error", "aws: instance type 'p3.2xlarge' is retired: aws no longer sells it; remove "
                               "hardware.instance_types.aws to let infc choose, or name a type that is sold")]


def test_azureml_selects_on_demand_for_spot_and_leaves_the_refusal_to_its_check():
    service, diags = lowered(targets={"azureml": {"location": "eastus"}},
                             hardware={"accelerator": "nvidia-t4", "spot": True})
    assert diags == [] and service.target("azureml").machine.instance_type == "Standard_NC4as_T4_v3"
