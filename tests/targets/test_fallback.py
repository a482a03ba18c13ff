"""Capacity fallback (hardware.flexible, alternatives, a list in instance_types, on_demand_base): the types each target
gets, the Terraform values of the mechanism (aws, gcp, eks), and a located error on every target that cannot."""

from __future__ import annotations

import base64
import json

import pytest
import yaml

from compiler import catalog
from compiler.driver import compile_text
from compiler.errors import CompileError
from targets.aws import limits as aws_limits
from tests.conftest import spec_dict, synth_documents

L4 = {"accelerator": "nvidia-l4", "flexible": True}
ARGS = ["--model", "/mnt/models", "--max-model-len", "8192"]
TP4 = ["--model", "/mnt/models", "--tensor-parallel-size", "4"]
GCP = {"project": "acme-ml", "region": "us-central1"}


def doc(name: str, hardware: dict, targets: dict, **model) -> dict:
    return spec_dict(metadata={"name": name}, model={"args": ARGS, **model}, hardware=hardware, targets=targets)


def compiled(hardware: dict, targets: dict):
    """The lowered service and its warnings, or the CompileError."""
    raw = yaml.safe_dump(doc("svc", hardware, targets), sort_keys=False).encode()
    found, warnings = compile_text("spec.yaml", raw)
    return found[0].service, warnings


def errors(hardware: dict, targets: dict) -> list[tuple[str, tuple, int]]:
    """(message, spec path, line) of every error."""
    raw = yaml.safe_dump(doc("svc", hardware, targets), sort_keys=False).encode()
    with pytest.raises(CompileError) as caught:
        compile_text("spec.yaml", raw)
    return [(d.message, tuple(d.path), d.loc.line) for d in caught.value.diagnostics if d.severity == "error"]


def cheapest_first(cloud: str, accelerator: str, count: int, how: str = catalog.ON_DEMAND) -> list[str]:
    rows = [r for r in catalog.rows(cloud) if (r.accelerator, r.accelerator_count, r.arch) == (accelerator, count,
                                                                                                  "x86_64")
            and r.sells(how) and not r.retired]
    return [r.instance_type for r in sorted(rows, key=lambda r: (r.price_usd_hour, r.vcpus, r.memory_gib,
                                                                 r.instance_type))]


def test_flexible_l4_lists_every_catalog_type_cheapest_first_on_aws_and_gcp():
    service, _ = compiled(L4, {"aws": {"region": "us-east-1"}, "gcp": GCP})
    aws, gcp = ([m.instance_type for m in service.target(t).machines] for t in ("aws", "gcp"))
    assert aws == cheapest_first("aws", "nvidia-l4", 1) and len(aws) >= 2 and aws[0] == "g6.xlarge"
    assert gcp == cheapest_first("gcp", "nvidia-l4", 1) and len(gcp) >= 2 and gcp[0] == "g2-standard-4"


def test_without_flexible_one_type_and_no_fallback():
    service, _ = compiled({"accelerator": "nvidia-l4"}, {"aws": {"region": "us-east-1"}})
    assert service.target("aws").fallback == () and service.target("aws").machine.instance_type == "g6.xlarge"


def test_flexible_keeps_the_cpu_and_memory_minimums():
    service, _ = compiled({**L4, "cpus": 16}, {"aws": {"region": "us-east-1"}})
    assert [m.instance_type for m in service.target("aws").machines] == ["g6.4xlarge", "g6.8xlarge", "g6.16xlarge"]


def test_alternatives_follow_in_order_with_their_args_and_a_target_without_one_skips_it_with_a_warning():
    hardware = {**L4, "alternatives": [{"accelerator": "nvidia-a10g"},
                                       {"accelerator": "nvidia-l4", "count": 4, "args": TP4}]}
    service, warnings = compiled(hardware, {"aws": {"region": "us-east-1"}})
    machines = service.target("aws").machines
    assert [m.accelerator for m in machines] == (["nvidia-l4"] * 5 + ["nvidia-a10g"] * 5 + ["nvidia-l4"] * 2)
    assert [m.instance_type for m in machines[-2:]] == ["g6.12xlarge", "g6.24xlarge"]
    assert {m.args for m in machines[:10]} == {None} and {m.args for m in machines[10:]} == {tuple(TP4)}
    assert not warnings
    _, warnings = compiled({**hardware, "alternatives": hardware["alternatives"][:1]}, {"gcp": GCP})
    assert [(w.message, w.path) for w in warnings] == [(
        "gcp: hardware.alternatives[0] (1x nvidia-a10g) is skipped: no x86_64 instance type has nvidia-a10g "
        "(offered on: aws)", ("hardware", "alternatives", 0))]


def test_a_list_of_instance_types_is_the_fallback_in_the_order_given():
    service, _ = compiled({"accelerator": "nvidia-l4", "instance_types": {"aws": ["g6.4xlarge", "g6.xlarge"]}},
                          {"aws": {"region": "us-east-1"}})
    assert [m.instance_type for m in service.target("aws").machines] == ["g6.4xlarge", "g6.xlarge"]


def test_flexible_n1_types_share_the_template_gpu():
    service, _ = compiled({"accelerator": "nvidia-t4", "flexible": True}, {"gcp": GCP})
    machines = service.target("gcp").machines
    assert len(machines) >= 2 and {(m.instance_type[:3], m.provider_accelerator, m.accelerator_count)
                                   for m in machines} == {("n1-", "nvidia-tesla-t4", 1)}


def test_a_single_instance_type_stays_as_before():
    service, _ = compiled({"accelerator": "nvidia-l4", "instance_types": {"aws": "g6.4xlarge"}},
                          {"aws": {"region": "us-east-1"}})
    assert service.target("aws").machine.instance_type == "g6.4xlarge" and service.target("aws").fallback == ()


AWS = {"aws": {"region": "us-east-1"}}
# (hardware, targets, expected error, its spec path): every target that cannot express a setting refuses it there.
REFUSED = [
    ({**L4, "instance_types": {"aws": ["g6.xlarge", "g5.xlarge"]}}, AWS,
     "aws: instance type 'g5.xlarge' has 1x nvidia-a10g (x86_64), but hardware asks for 1x nvidia-l4 (x86_64)",
     ("hardware", "instance_types", "aws", 1)),
    ({"accelerator": "nvidia-l4", "instance_types": {"aws": ["g6.xlarge", "g6.xlarge"]}}, AWS,
     "aws: instance type 'g6.xlarge' is named twice", ("hardware", "instance_types", "aws", 1)),
    ({"accelerator": "nvidia-l4", "on_demand_base": 1}, AWS,
     "hardware.on_demand_base splits replicas between on-demand and spot capacity; it needs hardware.spot: true",
     ("hardware", "on_demand_base")),
    ({"accelerator": "nvidia-l4", "alternatives": [{"accelerator": "nvidia-l4"}]}, AWS,
     "hardware.alternatives[0]: 1x nvidia-l4 is already asked for earlier", ("hardware", "alternatives", 0,
                                                                             "accelerator")),
    ({"accelerator": "nvidia-l4", "alternatives": [{"accelerator": "a10g"}]}, AWS,
     "hardware.alternatives[0].accelerator: unknown accelerator 'a10g'; did you mean 'nvidia-a10g'?",
     ("hardware", "alternatives", 0, "accelerator")),
    ({"accelerator": "none", "alternatives": [{"accelerator": "nvidia-l4"}]}, AWS,
     "hardware.alternatives[0]: alternatives are other accelerators for GPU serving",
     ("hardware", "alternatives", 0, "accelerator")),
    ({"accelerator": "nvidia-l4", "spot": True, "on_demand_base": 1}, {"gcp": GCP},
     "gcp: hardware.on_demand_base is not supported on gcp: a managed instance group creates every VM with the "
     "provisioning model of its instance template", ("hardware", "on_demand_base")),
    ({**L4, "alternatives": [{"accelerator": "nvidia-l4", "count": 2, "args": TP4}]}, {"gcp": GCP},
     "gcp: hardware.alternatives[0].args differ from model.args; gcp cannot give replicas on nvidia-l4 their own "
     "arguments", ("hardware", "alternatives", 0, "args")),
    ({"accelerator": "nvidia-t4", "alternatives": [{"accelerator": "nvidia-t4", "count": 4}]}, {"gcp": GCP},
     "gcp: the capacity fallback mixes 1x nvidia-t4 on n1 and 4x nvidia-t4 on n1; an N1 type gets its GPUs from "
     "the instance template's guest_accelerator", ("hardware", "alternatives")),
    ({"accelerator": "nvidia-t4", "alternatives": [{"accelerator": "nvidia-l4"}]}, {"gcp": GCP},
     "gcp: the capacity fallback mixes 1x nvidia-l4 on g2 and 1x nvidia-t4 on n1", ("hardware", "alternatives")),
    ({"accelerator": "nvidia-t4", "flexible": True}, {"azure": {"location": "eastus"}},
     "azure: hardware.flexible is not supported on azure: the replicas are a uniform Linux VM scale set",
     ("hardware", "flexible")),
    ({"accelerator": "nvidia-t4", "instance_types": {"azure": ["Standard_NC4as_T4_v3", "Standard_NC8as_T4_v3"]}},
     {"azure": {"location": "eastus"}},
     "azure: hardware.instance_types.azure lists several types; azure takes one", ("hardware", "instance_types",
                                                                                   "azure")),
    ({"accelerator": "nvidia-t4", "flexible": True}, {"azureml": {"location": "eastus"}},
     "azureml: hardware.flexible is not supported on azureml: a managed online deployment runs every instance on "
     "its one instance_type", ("hardware", "flexible")),
    ({"accelerator": "nvidia-t4", "flexible": True}, {"aks": {"location": "eastus"}},
     "aks: hardware.flexible is not supported on aks", ("hardware", "flexible")),
    ({"accelerator": "nvidia-t4", "spot": True, "on_demand_base": 0}, {"aks": {"location": "eastus"}},
     "aks: hardware.on_demand_base is not supported on aks", ("hardware", "on_demand_base")),
    ({"accelerator": "nvidia-l4", "alternatives": [{"accelerator": "nvidia-l4", "count": 2}]}, {"gke": GCP},
     "gke: hardware.alternatives is not supported on gke: the node pools serve one workload",
     ("hardware", "alternatives")),
    ({"accelerator": "nvidia-l4", "spot": True, "on_demand_base": 1}, {"gke": GCP},
     "gke: hardware.on_demand_base is not supported on gke", ("hardware", "on_demand_base")),
    ({"accelerator": "nvidia-l4", "alternatives": [{"accelerator": "nvidia-a10g"}]}, {"eks": {"region": "us-east-1"}},
     "eks: hardware.alternatives is not supported on eks", ("hardware", "alternatives")),
    ({"accelerator": "nvidia-l4", "spot": True, "on_demand_base": 1}, {"eks": {"region": "us-east-1"}},
     "eks: hardware.on_demand_base is not supported on eks", ("hardware", "on_demand_base")),
    ({"accelerator": "nvidia-l4", "alternatives": [{"accelerator": "nvidia-a10g"}]}, {"kubernetes": {}},
     "kubernetes: hardware.alternatives is not supported on kubernetes: the Deployment has one pod template",
     ("hardware", "alternatives")),
    ({"accelerator": "nvidia-l4", "instance_types": {"aws": [f"x{n}.large" for n in range(41)]}}, AWS,
     f"aws: the capacity fallback has 41 instance types; an autoscaling group takes at most 40 (see "
     f"{aws_limits._OVERRIDES_DOC})", ("hardware", "instance_types", "aws")),
]


@pytest.mark.parametrize("hardware, targets, expected, path", REFUSED,
                         ids=[f"{next(iter(t))}-{e.split(':')[1].strip()[:40]}" for _, t, e, _ in REFUSED])
def test_what_a_target_cannot_express_is_a_located_error(hardware, targets, expected, path):
    found = errors(hardware, targets)
    match = [(message, where, line) for message, where, line in found if expected in message]
    assert match, found
    assert match[0][1] == path and match[0][2] > 1  # located in the file, not at its top


def test_flexible_on_kubernetes_is_a_warning_that_it_changes_nothing():
    _, warnings = compiled({"accelerator": "nvidia-l4", "flexible": True}, {"kubernetes": {}})
    assert [w.path for w in warnings if "hardware.flexible has no effect on kubernetes" in w.message] == [
        ("hardware", "flexible")]


def test_every_refusal_exits_2_without_a_traceback(tmp_path, capsys):
    from compiler.cli import main

    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(doc("svc", {"accelerator": "nvidia-t4", "flexible": True},
                                       {"azure": {"location": "eastus"}}), sort_keys=False))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and f"{path}:" in err and "hardware.flexible is not supported on azure" in err


def test_validate_lists_the_types_per_target_in_text_and_json(tmp_path, capsys):
    from compiler.cli import main

    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(doc("svc", L4, {"aws": {"region": "us-east-1"}, "gcp": GCP}), sort_keys=False))
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    aws, gcp = cheapest_first("aws", "nvidia-l4", 1), cheapest_first("gcp", "nvidia-l4", 1)
    assert out[1:] == ["capacity fallback, instance types in order of preference:",
                       f"svc-aws (mixed instances policy): {', '.join(aws)}",
                       f"svc-gcp (instance flexibility of the regional MIG): {', '.join(gcp)}"]
    assert main(["validate", str(path), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["fallback"] == {"svc-aws": {"mechanism": "mixed instances policy", "instance_types": aws},
                                "svc-gcp": {"mechanism": "instance flexibility of the regional MIG",
                                            "instance_types": gcp}}
    path.write_text(yaml.safe_dump(doc("svc", {"accelerator": "nvidia-l4"}, AWS), sort_keys=False))
    assert main(["validate", str(path)]) == 0
    assert "capacity fallback" not in capsys.readouterr().out
    assert main(["validate", str(path), "--format", "json"]) == 0
    assert "fallback" not in json.loads(capsys.readouterr().out)


# One synth for the value tests below.
SPOT = {**L4, "spot": True, "on_demand_base": 1,
        "alternatives": [{"accelerator": "nvidia-a10g"}, {"accelerator": "nvidia-l4", "count": 4, "args": TP4}]}
DOCS = [doc("fb-spot", SPOT, AWS), doc("fb-od", L4, AWS), doc("fb-gcp", L4, {"gcp": GCP}),
        doc("fb-eks", L4, {"eks": {"region": "us-east-1"}}), doc("fb-gke", {**L4, "memory_gib": 16}, {"gke": GCP})]


@pytest.fixture(scope="module")
def stacks(tmp_path_factory):
    out = synth_documents(tmp_path_factory.mktemp("fallback"), DOCS)
    return lambda name: json.loads((out / "stacks" / name / "cdk.tf.json").read_text())["resource"]


def _user_data(template: dict) -> str:
    return base64.b64decode(template["user_data"]).decode()


def test_aws_spot_fallback_is_a_mixed_instances_policy_with_a_launch_template_per_args(stacks):
    resources = stacks("fb-spot-aws")
    group = resources["aws_autoscaling_group"]["autoscaling_group"]
    assert "launch_template" not in group and group["capacity_rebalance"] is True
    policy = group["mixed_instances_policy"]
    assert policy["instances_distribution"] == {
        "on_demand_allocation_strategy": "prioritized", "on_demand_base_capacity": 1,
        "on_demand_percentage_above_base_capacity": 0, "spot_allocation_strategy": "price-capacity-optimized"}
    first = {"launch_template_id": "${aws_launch_template.launch_template.id}",
             "version": "${aws_launch_template.launch_template.latest_version}"}
    tp4 = {"launch_template_id": "${aws_launch_template.launch_template_nvidia_l4_x4.id}",
           "version": "${aws_launch_template.launch_template_nvidia_l4_x4.latest_version}"}
    assert policy["launch_template"]["launch_template_specification"] == first
    expected = ([{"instance_type": t} for t in cheapest_first("aws", "nvidia-l4", 1, catalog.SPOT)
                 + cheapest_first("aws", "nvidia-a10g", 1, catalog.SPOT)]
                + [{"instance_type": t, "launch_template_specification": tp4}
                   for t in cheapest_first("aws", "nvidia-l4", 4, catalog.SPOT)])
    assert policy["launch_template"]["override"] == expected
    templates = resources["aws_launch_template"]
    assert set(templates) == {"launch_template", "launch_template_nvidia_l4_x4"}
    # The policy buys spot; a template asking for spot itself would be refused by EC2 Auto Scaling.
    assert all("instance_market_options" not in t for t in templates.values())
    assert templates["launch_template_nvidia_l4_x4"]["name"] == "fb-spot-nvidia-l4-x4"
    assert "--tensor-parallel-size" in _user_data(templates["launch_template_nvidia_l4_x4"])
    assert "--tensor-parallel-size" not in _user_data(templates["launch_template"])
    assert "--max-model-len" in _user_data(templates["launch_template"])


def test_aws_on_demand_fallback_takes_the_types_in_order(stacks):
    group = stacks("fb-od-aws")["aws_autoscaling_group"]["autoscaling_group"]
    assert "capacity_rebalance" not in group
    assert group["mixed_instances_policy"]["instances_distribution"] == {
        "on_demand_allocation_strategy": "prioritized", "on_demand_base_capacity": 0,
        "on_demand_percentage_above_base_capacity": 100}
    assert [o["instance_type"] for o in group["mixed_instances_policy"]["launch_template"]["override"]] == \
        cheapest_first("aws", "nvidia-l4", 1)


def test_gcp_fallback_is_instance_flexibility_ranked_cheapest_first(stacks):
    group = stacks("fb-gcp-gcp")["google_compute_region_instance_group_manager"]["instance_group"]
    types = cheapest_first("gcp", "nvidia-l4", 1)
    assert group["instance_flexibility_policy"] == {"instance_selections": [
        {"name": t, "rank": rank, "machine_types": [t]} for rank, t in enumerate(types, start=1)]}
    assert group["distribution_policy_target_shape"] == "BALANCED"
    assert group["update_policy"]["instance_redistribution_type"] == "NONE"


def test_eks_fallback_is_the_node_group_instance_types(stacks):
    group = stacks("fb-eks-eks")["aws_eks_node_group"]["node_group"]
    assert group["instance_types"] == cheapest_first("aws", "nvidia-l4", 1)


def test_gke_fallback_is_one_node_pool_per_type_each_pinned_to_its_zones(stacks):
    resources = json.loads(json.dumps(stacks("fb-gke-gke")))
    pools = resources["google_container_node_pool"]
    service, _ = compiled({**L4, "memory_gib": 16}, {"gke": GCP})
    types = [m.instance_type for m in service.target("gke").machines]
    assert len(types) >= 2
    ids = ["node_pool"] + [f"node_pool_{t.replace('-', '_')}" for t in types[1:]]
    assert list(pools) == ids
    assert [(p["name"], p["node_config"]["machine_type"]) for p in pools.values()] == \
        [("fb-gke-nodes", types[0])] + [(f"fb-gke-{t}", t) for t in types[1:]]
    # Every pool starts empty: the cluster autoscaler scales up whichever has capacity for the pending replicas.
    assert {p["autoscaling"]["total_min_node_count"] for p in pools.values()} == {0}
    assert {p["autoscaling"]["total_max_node_count"] for p in pools.values()} == {1}
    data = [f"data.google_compute_machine_types.machine_types{'_' + t.replace('-', '_') if i else ''}"
            for i, t in enumerate(types)]
    assert [p["node_locations"] for p in pools.values()] == [
        f"${{[for zone, types in {d} : zone if length(types.machine_types) > 0]}}" for d in data]
    deployment = next(iter(resources["kubernetes_deployment_v1"].values()))
    assert deployment["depends_on"] == [f"google_container_node_pool.{i}" for i in ids]


def test_an_alternatives_args_reach_its_launch_template_as_literal_argv_elements():
    """hardware.alternatives[i].args take model.args' path: one argv element each, quoted for the shell, read back
    by cloud-init as written (tests/test_hostile.py has the model.args cases)."""
    import shlex

    from targets import startup
    from targets.base import on_machine

    hostile = ["$(reboot)", "; rm -rf / #", "'q' \"d\" ${x} `id`"]
    service, _ = compiled({"accelerator": "nvidia-l4", "alternatives": [
        {"accelerator": "nvidia-l4", "count": 4, "args": hostile}]}, AWS)
    target = service.target("aws")
    replica = on_machine(service, target.fallback[-1])
    assert startup.docker_run(replica, target)[-3:] == hostile
    (script,) = yaml.safe_load(startup.cloud_init(replica, target))["write_files"]
    assert script["content"].rstrip("\n").endswith(" ".join(shlex.quote(a) for a in hostile))
    assert startup.docker_run(on_machine(service, target.machine), target)[-len(ARGS):] == ARGS
