"""Cross-field rules (SPEC.md "Validation rules"): each rule's message and the field it points at."""

from __future__ import annotations

import pytest

from compiler import validate
from compiler.errors import format_path
from compiler.spec import Spec
from tests.conftest import spec_dict


def found(**overrides) -> list[tuple[str, str, str]]:
    spec = Spec.model_validate(spec_dict(**overrides))
    return [(d.severity, format_path(d.path), d.message) for d in validate.check(spec, spec.targets.named())]


def test_minimal_spec_is_clean():
    assert found() == []


@pytest.mark.parametrize("overrides, expected", [
    ({"replicas": {"min": 3, "max": 2}},
     ("error", "replicas.min", "replicas.min (3) must not exceed replicas.max (2)")),
    ({"replicas": {"min": 1, "max": 3}},
     ("warning", "replicas.max", "replicas.max (3) differs from min (1) but there is no autoscale policy: "
                                 "replicas stay fixed at 1")),
    ({"replicas": {"min": 1, "max": 3, "autoscale": {"metric": "cpu_percent", "target": 150}}},
     ("error", "replicas.autoscale.target", "replicas.autoscale.target is 150 but cpu_percent is at most 100")),
    ({"replicas": {"min": 0, "max": 2}},
     ("error", "replicas.min", "replicas.min 0 needs replicas.autoscale (and replicas.max): without a policy nothing "
                               "starts a replica, so the service never serves")),
    ({"replicas": {"min": 1, "max": 3, "autoscale": {"metric": "cpu_percent", "target": 50,
                                                     "scale_to_zero_after": "10m"}}},
     ("warning", "replicas.autoscale.scale_to_zero_after", "replicas.autoscale.scale_to_zero_after has no effect: "
                                                           "replicas.min is 1, so the service never scales to zero")),
    ({"probes": {"readiness": {"interval": 5, "timeout": 5}}},
     ("error", "probes.readiness.timeout", "probes.readiness.timeout (5s) must be less than "
                                           "probes.readiness.interval (5s)")),
    ({"probes": {"liveness": {"interval": "10s", "timeout": "1m"}}},
     ("error", "probes.liveness.timeout", "probes.liveness.timeout (60s) must be less than "
                                          "probes.liveness.interval (10s)")),
    ({"hardware": {"accelerator": "none", "count": 2}},
     ("error", "hardware.count", "hardware.count is 2 but hardware.accelerator is 'none'; remove count or name an "
                                 "accelerator")),
    ({"hardware": {"accelerator": "nvidia-l4", "count": 0}},
     ("error", "hardware.count", "hardware.count must be at least 1 with accelerator 'nvidia-l4' (use accelerator: "
                                 "none for CPU serving)")),
    ({"hardware": {"accelerator": "nvidia-l4", "instance_types": {"gcp": "g2-standard-8"}}},
     ("warning", "hardware.instance_types.gcp", "hardware.instance_types.gcp is set but 'gcp' is not under targets:")),
    ({"model": {"name": "m", "image": "i:1", "env": {"MODEL_URI": "s3://x"}}},
     ("error", "model.env.MODEL_URI", "model.env.MODEL_URI is set by infc from model.uri; set that instead")),
])
def test_rule(overrides, expected):
    assert found(**overrides) == [expected]


@pytest.mark.parametrize("listeners, expected", [
    ([{"port": 80, "protocol": "http"}, {"port": 80, "protocol": "http"}],
     ("load_balancer.listeners[1].port", "listener port 80 is defined twice")),
    ([{"port": 80, "protocol": "http", "redirect_to": 80}],
     ("load_balancer.listeners[0].redirect_to", "listener 80 cannot redirect to itself")),
    ([{"port": 8080, "protocol": "http"}, {"port": 80, "protocol": "http", "redirect_to": 443}],
     ("load_balancer.listeners[1].redirect_to", "redirect_to: 443 names no listener (listener ports: 8080, 80)")),
    ([{"port": 443, "protocol": "https"}],
     ("load_balancer.listeners[0].protocol", "aws: https listener on port 443 needs a certificate: set "
                                             "targets.aws.certificate")),
])
def test_listener_rules(listeners, expected):
    assert [(p, m) for s, p, m in found(load_balancer={"listeners": listeners}) if s == "error"][0] == expected


def test_redirect_chain_and_all_redirect_are_errors():
    messages = [m for _, _, m in found(load_balancer={"listeners": [
        {"port": 80, "protocol": "http", "redirect_to": 81}, {"port": 81, "protocol": "http", "redirect_to": 80}]})]
    assert "every listener redirects; at least one must serve" in messages
    assert any("redirects too" in m for m in messages)


def test_https_with_certificate_is_fine():
    assert found(load_balancer={"listeners": [{"port": 443, "protocol": "https"}]},
                 targets={"aws": {"region": "us-east-1", "certificate": "arn:aws:acm:us-east-1:1:certificate/x"}}) == []


@pytest.mark.parametrize("name, hint", [
    ("nvidia-a100", "; did you mean 'nvidia-a100-40gb' (aws, azure, azureml, gcp) or 'nvidia-a100-80gb' (aws, azure, "
                    "azureml, gcp)? ("),
    ("l4", "; did you mean 'nvidia-l4'? ("),
    ("L40S", "; did you mean 'nvidia-l40s'? ("),
    # Several models share a prefix: each with the clouds that sell it, never a silent pick.
    ("nvidia-h100", "; did you mean 'nvidia-h100-80gb' (aws, azure, azureml, gcp) or 'nvidia-h100-nvl' (azure, "
                    "azureml)? ("),
    ("a10", "; did you mean 'nvidia-a10g' (aws) or 'nvidia-a10' (azure, azureml)? ("),
    ("nvidia-v100", "; did you mean 'nvidia-v100-16gb' (gcp) or 'nvidia-v100-32gb' (aws)? ("),
    ("V100", "; did you mean 'nvidia-v100-16gb' (gcp) or 'nvidia-v100-32gb' (aws)? ("),
    ("t4", "; did you mean 'nvidia-t4' (aws, azure, azureml, gcp) or 'nvidia-t4g' (aws)? ("),
    ("nvidia-tesla-t4", "; 'nvidia-tesla-t4' is gcp's name for it: use 'nvidia-t4' ("),
    ("nvidia-tesla-a100", "; 'nvidia-tesla-a100' is gcp's name for it: use 'nvidia-a100-40gb' ("),
    ("nvidia-tesla-v100", "; 'nvidia-tesla-v100' is gcp's name for it: use 'nvidia-v100-16gb' ("),
])
def test_unknown_accelerator_suggests_the_closest(name, hint):
    assert validate.accelerator_error(name) == (
        f"hardware.accelerator: unknown accelerator '{name}'{hint}known: nvidia-t4, nvidia-t4g, nvidia-l4, "
        "nvidia-a10g, nvidia-a10, nvidia-l40s, nvidia-v100-16gb, nvidia-v100-32gb, nvidia-a100-40gb, nvidia-a100-80gb, "
        "nvidia-h100-80gb, nvidia-h100-nvl, nvidia-h200, nvidia-b200, or 'none' for CPU serving)")


@pytest.mark.parametrize("name", ["nvidia-h100-nvl", "nvidia-t4g", "nvidia-b200", "nvidia-v100-16gb",
                                  "nvidia-v100-32gb", "nvidia-a10", "nvidia-a10g"])
def test_new_canonical_names_are_accepted(name):
    assert validate.accelerator_error(name) is None


MOVING = "which moves: replicas started at different times may run different images; pin a version tag or a digest " \
         "(name@sha256:...)"


@pytest.mark.parametrize("image, expected", [
    ("vllm/vllm-openai:v0.6.3", None),
    ("registry.local:5000/team/server:1.2", None),
    ("vllm/vllm-openai@sha256:" + "a" * 64, None),
    ("vllm/vllm-openai:latest@sha256:" + "a" * 64, None),  # the digest pins it, whatever the tag says
    ("vllm/vllm-openai", f"model.image 'vllm/vllm-openai' has no tag, {MOVING}"),
    ("registry.local:5000/team/server", f"model.image 'registry.local:5000/team/server' has no tag, {MOVING}"),
    ("vllm/vllm-openai:latest", f"model.image 'vllm/vllm-openai:latest' uses the tag 'latest', {MOVING}"),
])
def test_an_image_without_a_pinned_version_is_a_warning(image, expected):
    got = [d for d in found(model={"name": "m", "image": image})]
    assert got == ([("warning", "model.image", expected)] if expected else [])


def test_the_azureml_image_override_is_checked_too():
    targets = {"azureml": {"location": "eastus", "image": "acme.azurecr.io/server"}}
    assert [p for _, p, _ in found(targets=targets)] == ["targets.azureml.image"]
