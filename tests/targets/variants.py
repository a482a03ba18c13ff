"""Variant specs for the value tests: every number differs from its default and from each other, probes sit on
their own paths and ports, and each backend gets the front ends it has. Synthesized together, once per session
(tests/conftest.py variant_stacks); the tests compare the Terraform JSON with the values written here."""

from __future__ import annotations

import copy

MODEL_PORT = 9000
# Readiness on another path and port than the model, liveness on a third; no interval, timeout or threshold is a
# default (spec defaults: 15 s, 5 s, 2, 3; liveness 30 s, 5), and no two are equal.
READY = {"path": "/ready", "port": 8081, "interval": 20, "timeout": 7, "healthy_threshold": 4,
         "unhealthy_threshold": 6, "initial_delay": "15m"}
LIVE = {"path": "/live", "port": 8082, "interval": 40, "timeout": 9, "failure_threshold": 7}
CIDRS = ["203.0.113.0/24", "2001:db8::/48"]
HTTPS = [{"port": 443, "protocol": "https"}, {"port": 8080, "protocol": "http", "redirect_to": 443}]
HTTP = [{"port": 80, "protocol": "http"}, {"port": 8443, "protocol": "http"}]
REQUESTS = {"metric": "requests_per_replica", "target": 2.5, "scale_out_delay": "2m", "scale_in_delay": "10m"}
CPU = {"metric": "cpu_percent", "target": 65, "scale_out_delay": "2m", "scale_in_delay": "10m"}

ACM = "arn:aws:acm:eu-west-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8899-aabbccddeeff"
KEY_VAULT = "https://acme-kv.vault.azure.net/secrets/chat-tls"
GCP_CERT = "projects/acme-ml/global/sslCertificates/chat"
GCP = {"project": "acme-ml", "region": "europe-west4"}


def spec(name: str, target: dict, hardware: dict, *, ready: dict | None = None, live: dict | None = LIVE,
         replicas: dict | None = None, load_balancer: dict | None = None) -> dict:
    doc = {
        "apiVersion": "infc/v1", "kind": "InferenceService", "metadata": {"name": name, "labels": {"team": "ml"}},
        "model": {"name": "llama-3.1-8b-instruct", "image": "vllm/vllm-openai:v0.6.3", "port": MODEL_PORT},
        "hardware": hardware,
        "replicas": replicas or {"min": 2, "max": 7, "autoscale": REQUESTS},
        "load_balancer": load_balancer or {"allowed_cidrs": CIDRS, "listeners": HTTPS, "idle_timeout": "5m",
                                           "drain_timeout": 45},
        "probes": {"readiness": ready or READY, **({"liveness": live} if live else {})},
        "targets": target,
    }
    return copy.deepcopy(doc)


VARIANTS = {
    # AWS: ALB with https and a redirect, request tracking, catalog choice (cheapest T4 x1 with >= 8 vCPUs and
    # >= 32 GiB in compiler/catalog/aws.csv: g4dn.2xlarge).
    "v-aws": spec("v-aws", {"aws": {"region": "eu-west-1", "certificate": ACM}},
                  {"accelerator": "nvidia-t4", "count": 1, "cpus": 8, "memory_gib": 32},
                  ready={**READY, "success_codes": "200-204"}),
    # AWS: an internal ALB on http only with stickiness, CPU tracking, an instance type given in the spec.
    "v-aws-cpu": spec("v-aws-cpu", {"aws": {"region": "us-east-2"}},
                      {"accelerator": "none", "instance_types": {"aws": "c7i.4xlarge"}}, live=None,
                      replicas={"min": 3, "max": 9, "autoscale": CPU},
                      load_balancer={"public": False, "listeners": HTTP, "allowed_cidrs": ["10.20.0.0/16"],
                                     "idle_timeout": 90, "drain_timeout": 0, "stickiness": True}),
    # AWS: eight A100 80 GB: the one catalog type with eight (p4de.24xlarge).
    "v-aws-a100": spec("v-aws-a100", {"aws": {"region": "us-east-1"}},
                       {"accelerator": "nvidia-a100-80gb", "count": 8}, live=None,
                       replicas={"min": 1, "max": 1}, load_balancer={"listeners": [{"port": 80, "protocol": "http"}]}),
    # Azure, layer 4: http listeners only, so a Standard Load Balancer; cpu_percent; liveness through the
    # application health extension. Cheapest T4 x1 with >= 8 vCPUs, >= 28 GiB: Standard_NC8as_T4_v3.
    "v-azlb": spec("v-azlb", {"azure": {"location": "westeurope"}},
                   {"accelerator": "nvidia-t4", "count": 1, "cpus": 8, "memory_gib": 28},
                   replicas={"min": 2, "max": 7, "autoscale": CPU},
                   load_balancer={"allowed_cidrs": CIDRS, "listeners": HTTP, "idle_timeout": "5m", "drain_timeout": 0}),
    # Azure, layer 7: https and a redirect, so an Application Gateway; requests per healthy host; A100 x2.
    "v-azgw": spec("v-azgw", {"azure": {"location": "westeurope", "certificate": KEY_VAULT}},
                   {"accelerator": "nvidia-a100-80gb", "count": 2},
                   ready={**READY, "healthy_threshold": 1, "success_codes": "200-204"}),
    # Google Cloud: global external ALB with https, Cloud Armor for the CIDRs, request-rate autoscaling. Cheapest
    # T4 x1 with >= 8 vCPUs, >= 28 GiB in gcp.csv: n1-standard-8 with an attached nvidia-tesla-t4.
    "v-gcp": spec("v-gcp", {"gcp": {**GCP, "certificate": GCP_CERT}},
                  {"accelerator": "nvidia-t4", "count": 1, "cpus": 8, "memory_gib": 28},
                  load_balancer={"allowed_cidrs": ["203.0.113.0/24", "198.51.100.0/24"], "listeners": HTTPS,
                                 "idle_timeout": "5m", "drain_timeout": 45}),
    # Google Cloud: regional internal ALB, cpu_percent, an L4 (g2 machine types come with their GPU).
    "v-gcp-internal": spec("v-gcp-internal", {"gcp": GCP}, {"accelerator": "nvidia-l4", "count": 1, "cpus": 8},
                           replicas={"min": 2, "max": 7, "autoscale": CPU},
                           load_balancer={"public": False, "listeners": HTTP, "idle_timeout": 600,
                                          "drain_timeout": 45}),
    # Kubernetes: http Service listeners, cpu_percent HPA, requests from cpus/memory_gib, two GPUs.
    "v-k8s": spec("v-k8s", {"kubernetes": {"namespace": "serving"}},
                  {"accelerator": "nvidia-l4", "count": 2, "cpus": 6, "memory_gib": 24},
                  replicas={"min": 2, "max": 7, "autoscale": CPU},
                  load_balancer={"allowed_cidrs": CIDRS, "listeners": HTTP, "drain_timeout": 45}),
    # Kubernetes, IPv6 Service: only the IPv6 half of CIDRS becomes its source ranges (issue 13 item 6).
    "v-k8s-v6": spec("v-k8s-v6", {"kubernetes": {"namespace": "serving", "ip_family": "IPv6"}},
                     {"accelerator": "none", "cpus": 2, "memory_gib": 4}, live=None, replicas={"min": 1, "max": 2},
                     load_balancer={"allowed_cidrs": CIDRS, "listeners": HTTP}),
    # Kubernetes without probes.liveness: the liveness probe is derived from readiness (README).
    "v-k8s-derived": spec("v-k8s-derived", {"kubernetes": {}}, {"accelerator": "none", "cpus": 2, "memory_gib": 4},
                          live=None, replicas={"min": 1, "max": 5, "autoscale": {**REQUESTS, "target": 12.5}},
                          load_balancer={"listeners": [{"port": 80, "protocol": "http"}]}),
    # GKE over http: the probes may sit on other ports than the model (no Ingress health check to infer).
    "v-gke": spec("v-gke", {"gke": GCP}, {"accelerator": "nvidia-t4", "count": 1, "cpus": 4, "memory_gib": 12},
                  replicas={"min": 2, "max": 7, "autoscale": CPU},
                  load_balancer={"listeners": HTTP, "drain_timeout": 45}),
    # EKS over http: the kubernetes workload on a managed node group. A 6-vCPU, 20 GiB pod with one T4 does not fit
    # g4dn.xlarge (4 vCPUs, 16 GiB in compiler/catalog/aws.csv), so g4dn.2xlarge (8, 32): one replica per node.
    "v-eks": spec("v-eks", {"eks": {"region": "eu-west-1", "namespace": "serving"}},
                  {"accelerator": "nvidia-t4", "count": 1, "cpus": 6, "memory_gib": 20},
                  replicas={"min": 3, "max": 8, "autoscale": CPU},
                  load_balancer={"allowed_cidrs": CIDRS, "listeners": HTTP, "drain_timeout": 45}),
    # AKS over http: the GPU user pool. The same pod does not fit Standard_NC4as_T4_v3 (4 vCPUs, 28 GiB in azure.csv),
    # so Standard_NC8as_T4_v3 (8, 56): one replica per node; request-rate HPA.
    "v-aks": spec("v-aks", {"aks": {"location": "westeurope"}},
                  {"accelerator": "nvidia-t4", "count": 1, "cpus": 6, "memory_gib": 20},
                  replicas={"min": 2, "max": 6, "autoscale": {**REQUESTS, "target": 4.5}},
                  load_balancer={"allowed_cidrs": ["203.0.113.0/24"], "listeners": HTTP, "drain_timeout": 45}),
    # Azure ML: a managed online deployment with both routes and probes, request autoscaling, one A100.
    "v-aml": spec("v-aml", {"azureml": {"location": "westeurope"}}, {"accelerator": "nvidia-a100-80gb", "count": 1},
                  load_balancer={"listeners": [{"port": 443, "protocol": "https"}], "idle_timeout": 120,
                                 "drain_timeout": 0}),
    # Container Apps: a serverless A100 that scales from zero on requests (whole requests per second; the fixed 300 s
    # scale-in window), https with the redirect, restricted to one IPv4 range (IP restrictions take IPv4 only).
    "v-aca": spec("v-aca", {"aca": {"location": "westus3"}}, {"accelerator": "nvidia-a100-80gb", "count": 1},
                  replicas={"min": 0, "max": 7, "autoscale": {"metric": "requests_per_replica", "target": 3,
                                                              "scale_out_delay": "2m", "scale_to_zero_after": "20m"}},
                  load_balancer={"allowed_cidrs": ["203.0.113.0/24"], "idle_timeout": 200, "drain_timeout": 45,
                                 "listeners": [{"port": 443, "protocol": "https"},
                                               {"port": 80, "protocol": "http", "redirect_to": 443}]}),
}


def seconds(value) -> int:
    """A spec duration (90, "90s", "10m", "1h") in seconds."""
    text = str(value)
    return int(text[:-1]) * {"s": 1, "m": 60, "h": 3600}[text[-1]] if text[-1] in "smh" else int(text)


def strip(value):
    """A synthesized document without CDK's "//" metadata blocks."""
    if isinstance(value, dict):
        return {k: strip(v) for k, v in value.items() if k != "//"}
    if isinstance(value, list):
        return [strip(v) for v in value]
    return value


def ports(name: str) -> tuple[int, int]:
    """(model port, readiness port) of a variant."""
    return VARIANTS[name]["model"]["port"], VARIANTS[name]["probes"]["readiness"]["port"]
