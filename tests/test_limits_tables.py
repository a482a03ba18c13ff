"""Every row of every limits table, generated from the tables: a spec just below the row's low and just above its
high (where the spec can say it) gets that target's error naming the field, located at it; the bounds themselves
pass. And every row's range is the one its provider documents, pinned here with the source, so a changed table
fails even where the generated cases would follow it.

Rows are found by walking the targets package: module-level tuples of `targets.base.Limit`, and minimum-only tables
(tuples of (spec path, reader, ...) rows). A new row is covered automatically; it fails until DOCUMENTED names its
range and a CONTEXT spec exists in which it applies."""

from __future__ import annotations

import copy
import dataclasses
import importlib
import math
import pkgutil

import pytest
import yaml

import targets
from compiler.driver import compile_files
from compiler.errors import CompileError
from compiler.spec import Spec
from targets.base import Limit

ALB = "https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateTargetGroup.html"
ALB_ATTRIBUTES = "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/application-load-balancers.html"
EC2_TT = "https://docs.aws.amazon.com/autoscaling/ec2/userguide/target-tracking-scaling-policy-overview.html"
AZ_AUTOSCALE = "https://learn.microsoft.com/en-us/azure/azure-monitor/autoscale/autoscale-understanding-settings"
AZ_VMSS = "https://learn.microsoft.com/en-us/azure/virtual-machine-scale-sets/virtual-machine-scale-sets-placement-groups"
AZ_LB_PROBE = "https://registry.terraform.io/providers/hashicorp/azurerm/latest/docs/resources/lb_probe"
AZ_AGW = "https://registry.terraform.io/providers/hashicorp/azurerm/latest/docs/resources/application_gateway"
AZ_HEALTH_EXT = "https://github.com/Azure/applicationhealth-extension-linux/blob/master/main/schema.go"
GCP_HC = "https://cloud.google.com/load-balancing/docs/health-check-concepts"
GCP_MIG = "https://registry.terraform.io/providers/hashicorp/google/8.7.0/docs/resources/compute_region_instance_group_manager"
GCP_DRAIN = "https://cloud.google.com/load-balancing/docs/enabling-connection-draining"
GCP_PROXY = "https://registry.terraform.io/providers/hashicorp/google/8.7.0/docs/resources/compute_target_http_proxy"
K8S_HPA = "https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/horizontal-pod-autoscaler-v2/"
K8S_PROBE = "https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/#Probe"
GKE_DISK = "https://registry.terraform.io/providers/hashicorp/google/8.7.0/docs/resources/container_cluster#disk_size_gb"
AML_PROBE = "https://learn.microsoft.com/en-us/azure/machine-learning/reference-yaml-deployment-managed-online"
EKS_CLB = "https://docs.aws.amazon.com/elasticloadbalancing/latest/classic/config-idle-timeout.html"
EKS_CLB_DRAIN = "https://docs.aws.amazon.com/elasticloadbalancing/latest/classic/config-conn-drain.html"
AKS_PROBE = "https://github.com/kubernetes-sigs/cloud-provider-azure/blob/master/pkg/consts/consts.go"
AKS_LB = "https://cloud-provider-azure.sigs.k8s.io/topics/loadbalancer/#loadbalancer-annotations"
AKS_DISK = "https://learn.microsoft.com/en-us/cli/azure/aks/nodepool#az-aks-nodepool-add"
# Container Apps: the ContainerAppProbe ranges are in the Microsoft.App REST API's descriptions (also in Azure/azapi
# internal/azure/generated/app_0/microsoft.app/2025-01-01/types.json, which azapi checks bodies against).
ACA_PROBE = ("https://github.com/Azure/azure-rest-api-specs/blob/main/specification/app/resource-manager/"
             "Microsoft.App/stable/2025-01-01/CommonDefinitions.json")
ACA_SCALE = "https://learn.microsoft.com/en-us/azure/container-apps/scale-app"
ACA_INGRESS = "https://learn.microsoft.com/en-us/azure/container-apps/ingress-overview"
INF = math.inf

# (target, spec path, context) -> (low, high, where the provider documents the range). Read from those pages.
DOCUMENTED = {
    ("aws", "probes.readiness.interval", "http"): (5, 300, ALB),  # HealthCheckIntervalSeconds
    ("aws", "probes.readiness.timeout", "http"): (2, 120, ALB),  # HealthCheckTimeoutSeconds
    ("aws", "probes.readiness.healthy_threshold", "http"): (2, 10, ALB),
    ("aws", "probes.readiness.unhealthy_threshold", "http"): (2, 10, ALB),
    ("aws", "load_balancer.idle_timeout", "http"): (1, 4000, ALB_ATTRIBUTES),  # idle_timeout.timeout_seconds
    ("aws", "load_balancer.drain_timeout", "http"): (0, 3600, ALB_ATTRIBUTES),  # deregistration_delay
    ("aws", "replicas.autoscale.scale_in_delay", "http"): (0, 900, EC2_TT),  # 15 one-minute datapoints to scale in
    ("azure", "replicas.max", "http"): (1, 1000, AZ_VMSS),  # 1,000 VMs without a single placement group
    ("azure", "replicas.autoscale.scale_out_delay", "http"): (60, 604800, AZ_AUTOSCALE),  # cooldown 1 min - 1 week
    ("azure", "replicas.autoscale.scale_in_delay", "http"): (60, 604800, AZ_AUTOSCALE),
    ("azure", "probes.readiness.unhealthy_threshold", "http"): (1, 100, AZ_LB_PROBE),  # probe_threshold
    ("azure", "probes.readiness.interval", "https"): (1, 86400, AZ_AGW),  # probe interval
    ("azure", "probes.readiness.timeout", "https"): (1, 86400, AZ_AGW),
    ("azure", "probes.readiness.unhealthy_threshold", "https"): (1, 20, AZ_AGW),
    ("azure", "load_balancer.drain_timeout", "https"): (0, 3600, AZ_AGW),  # drain_timeout_sec 1-3600, 0 = off
    # The application health extension's settings schema (intervalInSeconds, numberOfProbes), watching liveness, or
    # readiness behind a gateway when there is no liveness probe.
    ("azure", "probes.liveness.interval", "http"): (5, 60, AZ_HEALTH_EXT),
    ("azure", "probes.liveness.failure_threshold", "http"): (1, 24, AZ_HEALTH_EXT),
    ("azure", "probes.readiness.interval", "https-readiness"): (5, 60, AZ_HEALTH_EXT),
    ("gcp", "probes.readiness.interval", "http"): (1, 300, GCP_HC),  # checkIntervalSec
    ("gcp", "probes.readiness.timeout", "http"): (1, 300, GCP_HC),  # timeoutSec
    ("gcp", "probes.readiness.healthy_threshold", "http"): (1, 10, GCP_HC),
    ("gcp", "probes.readiness.unhealthy_threshold", "http"): (1, 10, GCP_HC),
    ("gcp", "probes.liveness.interval", "http"): (1, 300, GCP_HC),  # the auto-healing check is a health check too
    ("gcp", "probes.liveness.timeout", "http"): (1, 300, GCP_HC),
    ("gcp", "probes.liveness.failure_threshold", "http"): (1, 10, GCP_HC),
    ("gcp", "probes.readiness.initial_delay", "http"): (0, 3600, GCP_MIG),  # initial_delay_sec
    ("gcp", "load_balancer.drain_timeout", "http"): (0, 3600, GCP_DRAIN),
    ("gcp", "load_balancer.idle_timeout", "http"): (5, 1200, GCP_PROXY),  # http_keep_alive_timeout_sec, global
    ("gcp", "load_balancer.idle_timeout", "internal"): (5, 600, GCP_PROXY),  # regional internal
    ("kubernetes", "replicas.autoscale.scale_out_delay", "http"): (0, 3600, K8S_HPA),  # stabilizationWindowSeconds
    ("kubernetes", "replicas.autoscale.scale_in_delay", "http"): (0, 3600, K8S_HPA),
    ("kubernetes", "probes.readiness.timeout", "http"): (1, INF, K8S_PROBE),  # timeoutSeconds: minimum 1
    ("kubernetes", "probes.liveness.timeout", "http"): (1, INF, K8S_PROBE),
    ("gke", "replicas.autoscale.scale_out_delay", "http"): (0, 3600, K8S_HPA),
    ("gke", "replicas.autoscale.scale_in_delay", "http"): (0, 3600, K8S_HPA),
    ("gke", "probes.readiness.timeout", "http"): (1, INF, K8S_PROBE),
    ("gke", "probes.liveness.timeout", "http"): (1, INF, K8S_PROBE),
    ("gke", "hardware.disk_gib", "http"): (10, 65536, GKE_DISK),
    ("gke", "probes.readiness.interval", "https"): (1, 300, GCP_HC),  # the Ingress's inferred health check
    ("gke", "probes.readiness.timeout", "https"): (1, 300, GCP_HC),
    # The workload tables of targets.kubernetes hold on eks and aks as on kubernetes.
    **{(t, path, "http"): documented for t in ("eks", "aks") for (k, path, _), documented in {
        ("kubernetes", "replicas.autoscale.scale_out_delay", "http"): (0, 3600, K8S_HPA),
        ("kubernetes", "replicas.autoscale.scale_in_delay", "http"): (0, 3600, K8S_HPA),
        ("kubernetes", "probes.readiness.timeout", "http"): (1, INF, K8S_PROBE),
        ("kubernetes", "probes.liveness.timeout", "http"): (1, INF, K8S_PROBE)}.items()},
    ("eks", "load_balancer.idle_timeout", "http"): (1, 4000, EKS_CLB),  # the Service's Classic Load Balancer
    ("eks", "load_balancer.drain_timeout", "http"): (0, 3600, EKS_CLB_DRAIN),  # 1-3600 s, 0 = draining off
    ("eks", "probes.readiness.interval", "https"): (5, 300, ALB),  # the ALB Ingress's target group
    ("eks", "probes.readiness.timeout", "https"): (2, 120, ALB),
    ("eks", "probes.readiness.healthy_threshold", "https"): (2, 10, ALB),
    ("eks", "probes.readiness.unhealthy_threshold", "https"): (2, 10, ALB),
    ("eks", "load_balancer.idle_timeout", "https"): (1, 4000, ALB_ATTRIBUTES),
    ("eks", "load_balancer.drain_timeout", "https"): (0, 3600, ALB_ATTRIBUTES),
    ("aks", "probes.readiness.interval", "http"): (5, 60, AKS_PROBE),  # >= 5 s, at least 2 probes within 120 s
    ("aks", "load_balancer.idle_timeout", "http"): (240, 1800, AKS_LB),  # tcp-idle-timeout 4-30 minutes
    ("aks", "hardware.disk_gib", "http"): (30, 2048, AKS_DISK),
    ("azureml", "replicas.autoscale.scale_out_delay", "http"): (60, 604800, AZ_AUTOSCALE),
    ("azureml", "replicas.autoscale.scale_in_delay", "http"): (60, 604800, AZ_AUTOSCALE),
    ("azureml", "probes.readiness.initial_delay", "http"): (1, INF, AML_PROBE),  # ProbeSettings minimums
    ("azureml", "probes.readiness.timeout", "http"): (1, INF, AML_PROBE),
    ("azureml", "probes.liveness.timeout", "http"): (1, INF, AML_PROBE),
    ("aca", "probes.readiness.interval", "http"): (1, 240, ACA_PROBE),  # periodSeconds
    ("aca", "probes.readiness.timeout", "http"): (1, 240, ACA_PROBE),  # timeoutSeconds
    ("aca", "probes.readiness.healthy_threshold", "http"): (1, 10, ACA_PROBE),  # successThreshold
    ("aca", "probes.readiness.unhealthy_threshold", "http"): (1, 10, ACA_PROBE),  # failureThreshold
    # The startup probe's budget: its first probe 1 s in, then at most 10 failures at most 240 s apart.
    ("aca", "probes.readiness.initial_delay", "http"): (0, 9 * 240, ACA_PROBE),
    ("aca", "probes.liveness.interval", "http"): (1, 240, ACA_PROBE),
    ("aca", "probes.liveness.timeout", "http"): (1, 240, ACA_PROBE),
    ("aca", "probes.liveness.failure_threshold", "http"): (1, 10, ACA_PROBE),
    ("aca", "replicas.max", "http"): (1, 1000, ACA_SCALE),  # "Maximum replicas configurable are 1,000"
    ("aca", "load_balancer.idle_timeout", "http"): (1, 240, ACA_INGRESS),  # "Request timeout is 240 seconds"
}

# Tables of the Kubernetes workload are checked for the managed clusters too (targets.kubernetes.check_workload).
SHARED = {"kubernetes": ("kubernetes", "gke", "eks", "aks")}


@dataclasses.dataclass(frozen=True)
class Row:
    target: str
    table: str  # module.TABLE, for messages
    path: str
    low: float | None  # None: the table gives no number (the check states it)
    high: float
    what: str  # text of the row's error message


def rows() -> list[Row]:
    out = []
    for info in pkgutil.walk_packages(targets.__path__, "targets."):
        module = importlib.import_module(info.name)
        part = info.name.removeprefix("targets.").split(".")[0]
        owner = part if part in targets.BACKENDS else part.split("_")[0]
        for name, table in vars(module).items():
            if not (isinstance(table, tuple) and table):
                continue
            if all(isinstance(x, Limit) for x in table):
                found = [(x.path, x.low, x.high, x.what) for x in table]
            elif all(isinstance(x, tuple) and len(x) >= 3 and isinstance(x[0], str) and "." in x[0] and callable(x[1])
                     for x in table):  # minimum-only: (path, reader, [low,] what)
                found = [(x[0], x[2] if isinstance(x[2], (int, float)) else None, INF, x[-1]) for x in table]
            else:
                continue
            for target in SHARED.get(owner, (owner,)):
                out += [Row(target, f"{info.name}.{name}", *row) for row in found]
    return out


ROWS = rows()

BASE = {
    "apiVersion": "infc/v1", "kind": "InferenceService", "metadata": {"name": "limits"},
    "model": {"name": "m", "image": "vllm/vllm-openai:v0.6.3", "port": 8000},
    "hardware": {"accelerator": "none", "cpus": 2, "memory_gib": 4},
    "replicas": {"min": 1, "max": 3, "autoscale": {"metric": "cpu_percent", "target": 60}},
    "probes": {"readiness": {"path": "/ready", "port": 8000, "interval": 30, "timeout": 5},
               "liveness": {"path": "/live", "port": 8082, "interval": 60, "timeout": 5}},
}
HTTPS = {"listeners": [{"port": 443, "protocol": "https"}]}
GCP = {"project": "acme-ml", "region": "us-central1"}
# Specs in which rows apply, per target: each valid as it stands. "http" is the plain one. An entry is the target
# settings, or (settings, load_balancer) or (settings, load_balancer, probes to drop).
CONTEXTS = {
    "aws": {"http": {"aws": {"region": "us-east-1"}}},
    "azure": {"http": {"azure": {"location": "eastus"}},
              "https": ({"azure": {"location": "eastus", "certificate": "https://kv.vault.azure.net/secrets/c"}}, HTTPS),
              "https-readiness": ({"azure": {"location": "eastus", "certificate": "https://kv.vault.azure.net/secrets/c"}},
                                  HTTPS, ("liveness",))},
    "gcp": {"http": {"gcp": GCP}, "internal": ({"gcp": GCP}, {"public": False})},
    "kubernetes": {"http": {"kubernetes": {}}},
    "gke": {"http": {"gke": GCP}, "https": ({"gke": {**GCP, "certificate": "chat-tls"}}, HTTPS)},
    "azureml": {"http": ({"azureml": {"location": "eastus"}}, HTTPS)},
    "eks": {"http": {"eks": {"region": "us-east-1"}},
            "https": ({"eks": {"region": "us-east-1", "certificate": "arn:aws:acm:us-east-1:123456789012:certificate/"
                                                                    "0f1e2d3c-4b5a-6978-8899-aabbccddeeff"}}, HTTPS)},
    "aks": {"http": {"aks": {"location": "eastus"}}},
    "aca": {"http": {"aca": {"location": "eastus"}}},
}


def context(target: str, name: str) -> dict:
    found = CONTEXTS[target][name]
    settings, lb, dropped = (found + ((),))[:3] if isinstance(found, tuple) else (found, {}, ())
    doc = {**copy.deepcopy(BASE), "load_balancer": lb, "targets": settings}
    for probe in dropped:
        del doc["probes"][probe]
    return doc


def with_value(doc: dict, path: str, value) -> dict:
    """`doc` with the spec value at `path` set, and the probe interval kept above a timeout being set, so that the
    spec's own rule (timeout < interval) does not fire at the same field."""
    doc = copy.deepcopy(doc)
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
    node = doc
    for part in parents:
        node = node[part]
    node[last] = value
    if last == "timeout":
        node["interval"] = max(node["interval"], value + 1)
    return doc


def representable(doc: dict) -> bool:
    try:
        Spec.model_validate(doc)
        return True
    except ValueError:
        return False


def errors_at(tmp_path, doc: dict, path: str) -> list:
    """Error diagnostics at `path` of `doc` compiled as a file (every check, no CDK), each located at the field."""
    file = tmp_path / "spec.yaml"
    file.write_text(yaml.safe_dump(doc, sort_keys=False))
    try:
        diagnostics = compile_files([str(file)])[1]
    except CompileError as exc:
        diagnostics = exc.diagnostics
    wanted = tuple(int(p) if p.isdigit() else p for p in path.split("."))
    found = [d for d in diagnostics if d.severity == "error" and d.path == wanted]
    lines = file.read_text().splitlines()
    for d in found:
        text = lines[d.loc.line - 1].strip().removeprefix("- ")  # a list item's first key follows its dash
        assert d.loc.file == str(file) and text.startswith(f"{wanted[-1]}:"), d.render()
    return found


def bounds(row: Row) -> tuple[float, float]:
    """The row's range: its own numbers, or (for a table that gives none) the documented ones."""
    documented = [v for k, v in DOCUMENTED.items() if k[:2] == (row.target, row.path)]
    low = row.low if row.low is not None else documented[0][0]
    return low, row.high


def row_context(tmp_path, row: Row) -> str:
    """The first context in which a value just outside the row's range gives the row's own error."""
    low, high = bounds(row)
    for name in CONTEXTS[row.target]:
        for value in (low - 1, high + 1):
            if math.isinf(value):
                continue
            doc = with_value(context(row.target, name), row.path, int(value))
            if representable(doc) and any(row.what in d.message for d in errors_at(tmp_path, doc, row.path)):
                return name
    raise AssertionError(f"{row.table} {row.path}: no context spec triggers this row; add one to CONTEXTS")


IDS = [f"{r.target}:{r.path}:{r.table.rsplit('.', 1)[-1]}" for r in ROWS]


def test_the_tables_were_found():
    assert {r.target for r in ROWS} == set(targets.BACKENDS)
    assert len(ROWS) >= 40


@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_row_is_an_error_just_outside_its_range_and_passes_at_its_bounds(tmp_path, row):
    name = row_context(tmp_path, row)
    low, high = bounds(row)
    base = context(row.target, name)
    assert errors_at(tmp_path, base, row.path) == [], "the context spec itself must be valid at this field"
    checked = set()
    for value, outside in ((low - 1, True), (low, False), (high, False), (high + 1, True)):
        if math.isinf(value):
            continue
        doc = with_value(base, row.path, int(value))
        if not representable(doc):  # the spec's own type refuses it, e.g. a threshold of 0 or a 65536 GiB disk
            continue
        found = errors_at(tmp_path, doc, row.path)
        if outside:
            mine = [d for d in found if row.what in d.message]
            assert len(mine) == 1, (value, [d.message for d in found])
            message = mine[0].message
            assert message.startswith(f"{row.target}: {row.path} is {int(value)}"), message
            assert (f"{low:g}-{high:g}" if not math.isinf(high) else f"at least {low:g}") in message, message
        else:
            assert found == [], (value, [d.message for d in found])
        checked.add(outside)
    assert checked == {True, False}  # a bound passed and a value outside failed


@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_row_range_is_the_documented_one(tmp_path, row):
    key = (row.target, row.path, row_context(tmp_path, row))
    assert key in DOCUMENTED, f"{row.table}: add {key} with its documented range and source to DOCUMENTED"
    low, high, _ = DOCUMENTED[key]
    assert bounds(row) == (low, high), f"{row.table} {row.path}: {bounds(row)}, documented {low}-{high}"


def test_every_documented_range_has_its_row(tmp_path):
    found = {(r.target, r.path, row_context(tmp_path, r)) for r in ROWS}
    assert sorted(set(DOCUMENTED) - found) == []


AZ_LB_RULE = "https://registry.terraform.io/providers/hashicorp/azurerm/latest/docs/resources/lb_rule"
AZ_AGW_FAQ = "https://learn.microsoft.com/en-us/azure/application-gateway/application-gateway-faq"
AZ_REPAIR = ("https://learn.microsoft.com/en-us/azure/virtual-machine-scale-sets/"
             "virtual-machine-scale-sets-automatic-instance-repairs#grace-period")
AZ_DISK = "https://learn.microsoft.com/en-us/azure/virtual-machines/managed-disks-overview#os-disk"
AZ_AGW_PORTS = "https://learn.microsoft.com/en-us/azure/application-gateway/application-gateway-components#ports"
# Bounds that backends check outside Limit tables (single constants), from the README's limits: (target, context,
# spec path, low, high, step between allowed values, start of the error after "<target>: <path> is <value>", source).
SCALARS = [
    ("azure", "http", "probes.readiness.interval", 5, None, 1, "s; an Azure Load Balancer probe interval must be at "
     "least 5s", AZ_LB_PROBE),
    ("azure", "http", "load_balancer.idle_timeout", 240, 6000, 60, "s; an Azure Load Balancer rule idle timeout must "
     "be a whole number of minutes from 4 to 100", AZ_LB_RULE),
    ("azure", "https", "load_balancer.idle_timeout", 240, 1800, 60, "s; the TCP idle timeout of an Application "
     "Gateway public IP must be a whole number of minutes from 4 to 30", AZ_AGW_FAQ),
    ("azure", "http", "probes.readiness.initial_delay", None, 5400, 60, "s; the automatic instance repair grace "
     "period of an Azure VM scale set must be 10-90 minutes", AZ_REPAIR),  # below 10 min: raised, with a warning
    ("azure", "http", "hardware.disk_gib", None, 4095, 1, "GiB; an Azure OS disk must be at most 4095GiB", AZ_DISK),
    ("azure", "http", "load_balancer.listeners.0.port", None, 65534, 1, "; an Azure Load Balancer frontend port must "
     "be 1-65534", AZ_LB_RULE),
    ("azure", "https", "load_balancer.listeners.0.port", None, 65199, 1, "; an Application Gateway v2 listener port "
     "must be 1-65199", AZ_AGW_PORTS),
]


@pytest.mark.parametrize("target, name, path, low, high, step, message, source", SCALARS,
                         ids=[f"{s[0]}:{s[1]}:{s[2]}" for s in SCALARS])
def test_scalar_bound(tmp_path, target, name, path, low, high, step, message, source):
    assert source.startswith("https://")
    base = context(target, name)
    base["load_balancer"].setdefault("listeners", [{"port": 80, "protocol": "http"}])
    assert errors_at(tmp_path, base, path) == []
    for value, outside in ((low and low - step, True), (low, False), (high, False), (high and high + step, True)):
        if value is None:
            continue
        doc = with_value(base, path, value)
        assert representable(doc), (path, value)
        found = errors_at(tmp_path, doc, path)
        if outside:
            label = path.replace(".0.", "[0].")
            assert [d.message for d in found if d.message.startswith(f"{target}: {label} is {value}{message}")], (
                value, [d.message for d in found])
        else:
            assert found == [], (value, [d.message for d in found])
