"""One table, every backend: the same spec change and what each target makes of it (sqlglot-style).

A cell is "ok", or a fragment of the one error that target must give. Targets see the same lowered IR, so a
row shows at a glance where the clouds differ.
"""

from __future__ import annotations

import pytest

import targets as backends
from compiler.lower import lower
from compiler.spec import Spec
from tests.conftest import spec_dict

PLACEMENT = {
    "aws": {"region": "us-east-1", "certificate": "arn:aws:acm:us-east-1:123456789012:certificate/x"},
    "azure": {"location": "eastus", "certificate": "https://kv.vault.azure.net/secrets/x"},
    "gcp": {"project": "acme-ml", "region": "us-central1", "certificate": "projects/acme-ml/global/sslCertificates/x"},
    "kubernetes": {"namespace": "ml", "certificate": "x-tls"},
    "azureml": {"location": "eastus"},
    "gke": {"project": "acme-ml", "region": "us-central1", "certificate": "x-cert"},
    "eks": {"region": "us-east-1", "certificate": "arn:aws:acm:us-east-1:123456789012:certificate/x"},
    "aks": {"location": "eastus", "certificate": "https://kv1.vault.azure.net/certificates/x"},
    "aca": {"location": "westus3"},
}
TARGETS = list(PLACEMENT)

# (row id, spec overrides, {target: "ok" | error fragment}); the accelerator is T4, which every cloud offers.
ROWS = [
    ("defaults", {}, dict.fromkeys(TARGETS, "ok")),
    ("interval 4s", {"probes": {"readiness": {"interval": 4, "timeout": 2}}},
     {"aws": "must be 5-300s", "azure": "at least 5", "gcp": "ok", "kubernetes": "ok",
      "azureml": "ok", "gke": "ok", "eks": "ok", "aks": "5-60s", "aca": "ok"}),
    ("interval 10m", {"probes": {"readiness": {"interval": "10m"}}},
     {"aws": "must be 5-300s", "azure": "ok", "gcp": "must be 1-300s", "kubernetes": "ok",
      "azureml": "ok", "gke": "ok", "eks": "ok", "aks": "5-60s", "aca": "1-240s"}),
    ("success 200-299", {"probes": {"readiness": {"success_codes": "200-299"}}},
     {"aws": "ok", "azure": "200", "gcp": "passes only on HTTP 200", "kubernetes": "ok",
      "azureml": "ok", "gke": "ok", "eks": "ok", "aks": "ok", "aca": "ok"}),
    ("success 404", {"probes": {"readiness": {"success_codes": "404"}}},
     {"aws": "ok", "azure": "200", "gcp": "passes only on HTTP 200", "kubernetes": "200-399",
      "azureml": "ok", "gke": "200-399", "eks": "200-399", "aks": "200-399", "aca": "200-399"}),
    ("initial delay 2h", {"probes": {"readiness": {"initial_delay": "2h"}}},
     {"aws": "ok", "azure": "10-90 minutes", "gcp": "must be 0-3600s", "kubernetes": "ok",
      "azureml": "ok", "gke": "ok", "eks": "ok", "aks": "ok", "aca": "0-2160s"}),
    ("idle timeout 60s", {"load_balancer": {"idle_timeout": 60}},
     {"aws": "ok", "azure": "whole number of minutes", "gcp": "ok", "kubernetes": "ok",
      "azureml": "ok", "gke": "ok", "eks": "ok", "aks": "240-1800s", "aca": "ok"}),
    ("scale to zero", {"replicas": {"min": 0, "max": 2, "autoscale": {"metric": "cpu_percent", "target": 50}}},
     {**dict.fromkeys(TARGETS, "replicas.min: 0 is not supported"), "aws": "ok",
      "aca": "cannot start one from zero"}),
    ("scale-in delay 20m",
     {"replicas": {"min": 1, "max": 2, "autoscale": {"metric": "cpu_percent", "target": 50, "scale_in_delay": "20m"}}},
     {"aws": "must be 0-900s", "azure": "ok", "gcp": "ok", "kubernetes": "ok",
      "azureml": "ok", "gke": "ok", "eks": "ok", "aks": "ok", "aca": "fixed 300s"}),
    ("spot", {"hardware": {"accelerator": "nvidia-t4", "spot": True}},
     {**dict.fromkeys(TARGETS, "ok"), "azureml": "dedicated capacity only", "aca": "no spot capacity"}),
    ("private load balancer", {"load_balancer": {"public": False}},
     {**dict.fromkeys(TARGETS, "ok"), "azureml": "reachable only through a private endpoint",
      "aca": "virtual network"}),
    ("requests per replica, layer 4",
     {"replicas": {"min": 1, "max": 2, "autoscale": {"metric": "requests_per_replica", "target": 5}}},
     {"aws": "ok", "azure": "cpu_percent", "gcp": "ok", "kubernetes": "ok",
      "azureml": "ok", "gke": "ok", "eks": "ok", "aks": "ok", "aca": "ok"}),
]


def errors(overrides: dict, target: str) -> list[str]:
    data = spec_dict(**{"hardware": {"accelerator": "nvidia-t4"}, **overrides})
    data["targets"] = {target: PLACEMENT[target]}
    spec = Spec.model_validate(data)
    service, diags = lower(spec, [target])
    assert service, diags
    return [d.message for d in backends.backend(target).check(service, service.target(target))
            if d.severity == "error"]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("row, overrides, expected", ROWS, ids=[r[0] for r in ROWS])
def test_matrix(row, overrides, expected, target):
    found = errors(overrides, target)
    if expected[target] == "ok":
        assert found == []
    else:
        assert len(found) == 1 and expected[target] in found[0] and found[0].startswith(f"{target}: "), found


def test_every_backend_has_a_column():
    assert set(TARGETS) == set(backends.available())
