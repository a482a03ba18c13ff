"""Explicit values per backend: instance types, counts, autoscaling bounds and metric, load balancer settings, TLS
policy and exactly the ports each network rule opens, read from the Terraform JSON of the variant specs
(tests/targets/variants.py) and compared with the values those specs write, not with the backends' constants.
Probes are in test_probes.py; the snapshots stay a second net."""

from __future__ import annotations

import pytest

from tests.targets.variants import VARIANTS, seconds, strip


@pytest.fixture(scope="module")
def resources(variant_stacks):
    def get(name: str) -> dict:
        (target,) = VARIANTS[name]["targets"]
        return strip(variant_stacks(name, target))["resource"]
    return get


def spec(name: str) -> dict:
    return VARIANTS[name]


def test_variants_differ_from_the_defaults_where_it_matters():
    """The premise of these tests: the probe is not on the model's port or path, liveness is on a third."""
    for name, doc in VARIANTS.items():
        ready, model = doc["probes"]["readiness"], doc["model"]
        assert ready["port"] != model["port"] and ready["path"] != "/health", name
        if "liveness" in doc["probes"]:
            assert doc["probes"]["liveness"]["port"] not in (ready["port"], model["port"]), name


# --- Instance types: the cheapest catalog row with the spec's accelerator, count, vCPUs and memory (rows named in
# tests/targets/variants.py), or the spec's own hardware.instance_types entry.
INSTANCE_TYPES = [
    ("v-aws", lambda r: r["aws_launch_template"]["launch_template"]["instance_type"], "g4dn.2xlarge"),
    ("v-aws-cpu", lambda r: r["aws_launch_template"]["launch_template"]["instance_type"],
     spec("v-aws-cpu")["hardware"]["instance_types"]["aws"]),
    ("v-aws-a100", lambda r: r["aws_launch_template"]["launch_template"]["instance_type"], "p4de.24xlarge"),
    ("v-azlb", lambda r: r["azurerm_linux_virtual_machine_scale_set"]["scale_set"]["sku"], "Standard_NC8as_T4_v3"),
    ("v-azgw", lambda r: r["azurerm_linux_virtual_machine_scale_set"]["scale_set"]["sku"], "Standard_NC48ads_A100_v4"),
    ("v-gcp", lambda r: r["google_compute_region_instance_template"]["instance_template"]["machine_type"],
     "n1-standard-8"),
    ("v-gcp-internal", lambda r: r["google_compute_region_instance_template"]["instance_template"]["machine_type"],
     "g2-standard-8"),
    ("v-gke", lambda r: r["google_container_node_pool"]["node_pool"]["node_config"]["machine_type"], "n1-standard-8"),
    ("v-eks", lambda r: r["aws_eks_node_group"]["node_group"]["instance_types"], ["g4dn.2xlarge"]),
    ("v-aks", lambda r: r["azurerm_kubernetes_cluster_node_pool"]["node_pool"]["vm_size"], "Standard_NC8as_T4_v3"),
    ("v-aml", lambda r: r["azapi_resource"]["deployment"]["body"]["properties"]["instanceType"],
     "Standard_NC24ads_A100_v4"),
]


@pytest.mark.parametrize("name, read, expected", INSTANCE_TYPES, ids=[x[0] for x in INSTANCE_TYPES])
def test_instance_type(resources, name, read, expected):
    assert read(resources(name)) == expected


def test_gpus_attached_where_the_machine_type_does_not_bring_them(resources):
    """Google's N1 types take the GPUs as guest accelerators (Google's name for a T4: nvidia-tesla-t4); g2 types
    come with their L4 attached."""
    gpus = spec("v-gcp")["hardware"]["count"]
    assert resources("v-gcp")["google_compute_region_instance_template"]["instance_template"]["guest_accelerator"] == [
        {"type": "nvidia-tesla-t4", "count": gpus}]
    assert "guest_accelerator" not in resources("v-gcp-internal")["google_compute_region_instance_template"][
        "instance_template"]
    (accelerator,) = resources("v-gke")["google_container_node_pool"]["node_pool"]["node_config"]["guest_accelerator"]
    assert (accelerator["type"], accelerator["count"]) == ("nvidia-tesla-t4", spec("v-gke")["hardware"]["count"])


# --- Counts and autoscaling ---------------------------------------------------------------------------------------

def test_aws_counts_and_target_tracking(resources):
    for name in ("v-aws", "v-aws-cpu", "v-aws-a100"):
        replicas, res = spec(name)["replicas"], resources(name)
        asg = res["aws_autoscaling_group"]["autoscaling_group"]
        assert (asg["min_size"], asg["max_size"]) == (replicas["min"], replicas["max"]), name
        auto = replicas.get("autoscale")
        if not auto:
            assert "aws_autoscaling_policy" not in res and "default_instance_warmup" not in asg
            continue
        policy = res["aws_autoscaling_policy"]["scaling_policy"]
        config = policy["target_tracking_configuration"]
        metric, per_minute = {"requests_per_replica": ("ALBRequestCountPerTarget", 60),
                              "cpu_percent": ("ASGAverageCPUUtilization", 1)}[auto["metric"]]
        assert config["predefined_metric_specification"]["predefined_metric_type"] == metric
        # ALBRequestCountPerTarget counts per minute; the spec's requests_per_replica is per second.
        assert config["target_value"] == auto["target"] * per_minute
        assert policy["estimated_instance_warmup"] == asg["default_instance_warmup"] == seconds(auto["scale_out_delay"])


def test_azure_counts_and_autoscale_rules(resources):
    for name, metric, source, per in (("v-azlb", "Percentage CPU", "azurerm_linux_virtual_machine_scale_set", 1),
                                      ("v-azgw", "AvgRequestCountPerHealthyHost", "azurerm_application_gateway", 60)):
        replicas, res = spec(name)["replicas"], resources(name)
        auto = replicas["autoscale"]
        assert res["azurerm_linux_virtual_machine_scale_set"]["scale_set"]["instances"] == replicas["min"]
        (profile,) = res["azurerm_monitor_autoscale_setting"]["autoscale"]["profile"]
        assert profile["capacity"] == {"minimum": replicas["min"], "maximum": replicas["max"],
                                       "default": replicas["min"]}
        rules = {(r["metric_trigger"]["operator"], r["scale_action"]["direction"], r["scale_action"]["cooldown"],
                  r["metric_trigger"]["metric_name"], r["metric_trigger"]["threshold"], r["scale_action"]["value"])
                 for r in profile["rule"]}
        out, back = seconds(auto["scale_out_delay"]) // 60, seconds(auto["scale_in_delay"]) // 60
        assert rules == {("GreaterThan", "Increase", f"PT{out}M", metric, auto["target"] * per, 1),
                         ("LessThan", "Decrease", f"PT{back}M", metric, auto["target"] * per, 1)}, name
        assert all(r["metric_trigger"]["metric_resource_id"].startswith(f"${{{source}.") for r in profile["rule"])


def test_gcp_autoscaler(resources):
    for name in ("v-gcp", "v-gcp-internal"):
        auto, res = spec(name)["replicas"]["autoscale"], resources(name)
        policy = res["google_compute_region_autoscaler"]["autoscaler"]["autoscaling_policy"]
        assert (policy["min_replicas"], policy["max_replicas"]) == (spec(name)["replicas"]["min"],
                                                                    spec(name)["replicas"]["max"])
        # the initialization period covers the model's load time: max(initial_delay, scale_out_delay)
        assert policy["cooldown_period"] == max(seconds(spec(name)["probes"]["readiness"]["initial_delay"]),
                                                seconds(auto["scale_out_delay"]))
        assert policy["cooldown_period"] == 900 > seconds(auto["scale_out_delay"])  # 15m vs 2m in variants.py
        assert policy["stabilization_period"] == seconds(auto["scale_in_delay"])
        assert "target_size" not in res["google_compute_region_instance_group_manager"]["instance_group"]
        backend = next(iter(res.get("google_compute_backend_service", res.get("google_compute_region_backend_service"))
                            .values()))["backend"][0]
        if auto["metric"] == "cpu_percent":
            assert policy["cpu_utilization"] == {"target": auto["target"] / 100}
            assert backend["balancing_mode"] == "UTILIZATION"
        else:  # README: load_balancing_utilization 0.8 with RATE capacity target / 0.8 per replica
            assert policy["load_balancing_utilization"] == {"target": 0.8}
            assert (backend["balancing_mode"], backend["max_rate_per_instance"]) == ("RATE", auto["target"] / 0.8)


def test_kubernetes_and_gke_replicas_requests_and_hpa(resources):
    for name in ("v-k8s", "v-k8s-derived", "v-gke", "v-eks", "v-aks"):
        doc, res = spec(name), resources(name)
        hw, replicas, auto = doc["hardware"], doc["replicas"], doc["replicas"]["autoscale"]
        deployment = res["kubernetes_deployment_v1"]["deployment"]["spec"]
        assert "replicas" not in deployment  # the HPA owns the count
        (container,) = deployment["template"]["spec"]["container"]
        requests = {"cpu": str(hw["cpus"]), "memory": f"{hw['memory_gib']}Gi"}
        gpus = {"nvidia.com/gpu": str(hw["count"])} if hw["accelerator"] != "none" else {}
        assert container["resources"] == {"requests": requests, "limits": {**requests, **gpus}}, name
        hpa = res["kubernetes_horizontal_pod_autoscaler_v2"]["autoscaler"]["spec"]
        assert (hpa["min_replicas"], hpa["max_replicas"]) == (replicas["min"], replicas["max"])
        assert hpa["scale_target_ref"] == {"api_version": "apps/v1", "kind": "Deployment", "name": name}
        (metric,) = hpa["metric"]
        if auto["metric"] == "cpu_percent":
            assert metric == {"type": "Resource", "resource": {"name": "cpu", "target": {
                "type": "Utilization", "average_utilization": auto["target"]}}}
        else:  # a per-pod custom metric in requests per second, as a quantity in thousandths
            assert metric == {"type": "Pods", "pods": {"metric": {"name": "http_requests_per_second"}, "target": {
                "type": "AverageValue", "average_value": f"{round(auto['target'] * 1000)}m"}}}
        (up,), (down,) = hpa["behavior"]["scale_up"], hpa["behavior"]["scale_down"]
        assert up["stabilization_window_seconds"] == seconds(auto["scale_out_delay"])
        assert down["stabilization_window_seconds"] == seconds(auto["scale_in_delay"])


def test_gke_node_pool_bounds_follow_replicas(resources):
    """One GPU per replica and per node (n1-standard-8 with one T4): as many nodes as replicas."""
    replicas = spec("v-gke")["replicas"]
    autoscaling = resources("v-gke")["google_container_node_pool"]["node_pool"]["autoscaling"]
    assert (autoscaling["total_min_node_count"], autoscaling["total_max_node_count"]) == (replicas["min"],
                                                                                        replicas["max"])


def test_eks_and_aks_gpu_pool_bounds_follow_replicas(resources):
    """One GPU per replica and per node on both: the managed node group (EKS) and the autoscaled user pool (AKS) hold
    as many nodes as replicas; EKS starts at the minimum and leaves the desired size to the cluster autoscaler."""
    low, high = spec("v-eks")["replicas"]["min"], spec("v-eks")["replicas"]["max"]
    group = resources("v-eks")["aws_eks_node_group"]["node_group"]
    assert group["scaling_config"] == {"min_size": low, "max_size": high, "desired_size": low}
    assert group["lifecycle"]["ignore_changes"] == ["scaling_config[0].desired_size"]
    low, high = spec("v-aks")["replicas"]["min"], spec("v-aks")["replicas"]["max"]
    pool = resources("v-aks")["azurerm_kubernetes_cluster_node_pool"]["node_pool"]
    assert (pool["auto_scaling_enabled"], pool["min_count"], pool["max_count"]) == (True, low, high)
    assert "node_count" not in pool


def test_azureml_counts_and_autoscale(resources):
    replicas, res = spec("v-aml")["replicas"], resources("v-aml")
    auto = replicas["autoscale"]
    assert res["azapi_resource"]["deployment"]["body"]["sku"] == {"name": "Default", "capacity": replicas["min"]}
    (profile,) = res["azurerm_monitor_autoscale_setting"]["autoscale"]["profile"]
    assert profile["capacity"] == {"minimum": replicas["min"], "maximum": replicas["max"], "default": replicas["min"]}
    for rule in profile["rule"]:  # the endpoint's requests per minute for deployment main, per instance
        trigger = rule["metric_trigger"]
        assert (trigger["metric_name"], trigger["threshold"], trigger["divide_by_instance_count"]) == (
            "RequestsPerMinute", auto["target"] * 60, True)
        assert trigger["dimensions"] == [{"name": "deployment", "operator": "Equals", "values": ["main"]}]
    assert {r["scale_action"]["cooldown"] for r in profile["rule"]} == {
        f"PT{seconds(auto['scale_out_delay']) // 60}M", f"PT{seconds(auto['scale_in_delay']) // 60}M"}


def test_azureml_request_timeout_is_the_idle_timeout(resources):
    """load_balancer.idle_timeout up to the endpoint's 180 s maximum is the request timeout (v-aml: 120 s)."""
    idle = seconds(spec("v-aml")["load_balancer"]["idle_timeout"])
    assert idle < 180
    settings = resources("v-aml")["azapi_resource"]["deployment"]["body"]["properties"]["requestSettings"]
    assert settings == {"requestTimeout": f"PT{idle // 60}M"}


def test_azureml_terraform_waits_for_the_readiness_probe_and_each_upgrade_round(resources):
    """create: 30 min of provisioning (azapi's own default) + initial_delay + healthy_threshold intervals; update: that
    per round, replicas.max = 7 instances taking ceil(7 / (ceil(1.2 x 7) - 7)) = ceil(7 / 2) = 4 rounds."""
    ready, res = spec("v-aml")["probes"]["readiness"], resources("v-aml")
    create = 1800 + seconds(ready["initial_delay"]) + ready["healthy_threshold"] * seconds(ready["interval"])
    assert create == 1800 + 900 + 4 * 20
    expected = {"create": f"{-(-create // 60)}m", "update": f"{-(-4 * create // 60)}m"}
    assert expected == {"create": "47m", "update": "186m"}
    assert res["azapi_resource"]["deployment"]["timeouts"] == expected
    assert res["azapi_update_resource"]["traffic"]["timeouts"] == expected
