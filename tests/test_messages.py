"""Messages a new user understands: warnings only about what the spec wrote, an error without a warning that
contradicts it, readable forms instead of regexes, the summary after the warnings, synth's table and progress."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time

import pytest
import yaml

from compiler import catalog, cdk
from compiler.cli import main
from compiler.driver import compile_files
from compiler.errors import CompileError
from tests.conftest import ROOT, spec_dict

# A spec for several targets whose load balancer and probes are left at the spec defaults: the default idle timeout
# (240 s) is longer than an Azure ML request may take (180 s), the default drain timeout (30 s) has no Azure Load
# Balancer setting, the default readiness timeout (5 s) none on an Azure probe.
MULTI = {"azure": {"location": "eastus"}, "azureml": {"location": "eastus"}, "aws": {"region": "us-east-1"},
         "kubernetes": {}}


def messages(tmp_path, **overrides) -> list[tuple[str, str]]:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec_dict(**overrides), sort_keys=False))
    try:
        _, diagnostics = compile_files([str(path)])
    except CompileError as exc:
        diagnostics = exc.diagnostics
    return [(d.severity, d.message) for d in diagnostics]


def about(found: list[tuple[str, str]], fragment: str) -> list[tuple[str, str]]:
    return [m for m in found if fragment in m[1]]


def test_spec_defaults_a_target_cannot_carry_give_no_warning(tmp_path):
    found = messages(tmp_path, hardware={"accelerator": "nvidia-t4", "memory_gib": 16}, targets=MULTI)
    assert about(found, "idle_timeout") == [] and about(found, "drain_timeout") == []
    assert about(found, "probes.readiness.timeout") == []
    assert about(found, "disk_gib") == []  # azureml: the disk comes with the VM size, but 100 GiB is the default


def test_the_same_values_written_by_the_user_warn_on_each_target_that_cannot_carry_them(tmp_path):
    found = messages(tmp_path, hardware={"accelerator": "nvidia-t4", "memory_gib": 16, "disk_gib": 100},
                     load_balancer={"idle_timeout": "240s", "drain_timeout": 30},
                     probes={"readiness": {"timeout": 5}}, targets=MULTI)
    assert [m for _, m in about(found, "idle_timeout")] == [
        "azureml: load_balancer.idle_timeout (240s) is carried as the managed online endpoint's request timeout, "
        "which bounds each request's total time and is at most 180s: it is set to 180s, so longer requests are cut off "
        "(see https://learn.microsoft.com/en-us/azure/machine-learning/reference-yaml-deployment-managed-online"
        "#requestsettings)"]
    assert sorted(m.split(":")[0] for _, m in about(found, "drain_timeout")) == ["azure", "azureml"]
    assert [m.split(":")[0] for _, m in about(found, "probes.readiness.timeout")] == ["azure"]
    assert [m.split(":")[0] for _, m in about(found, "disk_gib")] == ["azureml"]


def test_warnings_about_a_gap_of_the_target_are_shown_without_a_written_value(tmp_path):
    """The one concurrent request per Azure ML instance, and the Kubernetes memory request when memory_gib is left
    out, hold whatever the spec says: they are `always` warnings."""
    found = messages(tmp_path, hardware={"accelerator": "nvidia-t4"}, targets=MULTI)
    assert len(about(found, "azureml: a managed online deployment admits 1 concurrent request")) == 1
    assert len(about(found, "kubernetes: hardware.memory_gib is not set")) == 1


def test_an_error_has_no_contradicting_warning_at_the_same_place(tmp_path):
    """An Azure ML size that is neither in the catalog nor on the SKU list: one error with the closest sizes, no
    'used as given' warning for azureml; aws, whose catalog lacks the same name, still warns."""
    found = messages(tmp_path, hardware={"accelerator": "none", "instance_types": {"azureml": "Standard_F4s_v9",
                                                                                    "aws": "c7i.larg"}},
                     targets={"azureml": {"location": "eastus"}, "aws": {"region": "us-east-1"}})
    azureml = about(found, "azureml: ")
    assert [s for s, _ in azureml if "instance_types" in _ or "catalog" in _] == ["error"]
    [(_, error)] = about(found, "Standard_F4s_v9")
    assert "not in the managed online endpoints SKU list; did you mean 'standard_f4s_v2'" in error
    [(severity, warning)] = about(found, "c7i.larg'")
    assert severity == "warning" and warning.endswith("did you mean 'c7i.large' or 'c7i.xlarge' or 'c7i.8xlarge'?")


@pytest.mark.parametrize("key, value, expected", [
    ("vpc_id", "vpc-XYZ", "targets.aws.vpc_id: 'vpc-XYZ' is not a VPC id ('vpc-' and hexadecimal digits, e.g. "
                          "vpc-0a1b2c3d4e5f60718)"),
    ("subnet_ids", ["subnet-0a1b2c3d", "sn-1"], "targets.aws.subnet_ids[1]: 'sn-1' is not a subnet id ('subnet-' and "
                                                "hexadecimal digits, e.g. subnet-0a1b2c3d4e5f60718)"),
    ("replica_subnet_ids", ["subnet-Q"], "targets.aws.replica_subnet_ids[0]: 'subnet-Q' is not a subnet id"),
    ("image", "ami-12G", "targets.aws.image: 'ami-12G' is not an AMI id"),
    ("region", "us_east_1", "targets.aws.region: 'us_east_1' does not have the form this field takes, e.g. us-east-1 "
                            "(pattern "),
])
def test_identifiers_are_described_not_given_as_a_regex(tmp_path, key, value, expected):
    found = messages(tmp_path, targets={"aws": {"region": "us-east-1", key: value}})
    [(severity, message)] = [m for m in found if m[0] == "error"]
    assert message.startswith(expected), message
    if key != "region":
        assert "pattern" not in message and "^" not in message


def test_validate_prints_the_warnings_then_the_summary_with_their_count():
    run = subprocess.run([sys.executable, "-m", "compiler.cli", "validate", "examples/two-services.yaml"],
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=True)
    lines = run.stdout.splitlines()
    warnings = [line for line in lines if ": warning: " in line]
    assert warnings and lines[:len(warnings)] == warnings
    assert lines[-1] == f"ok: 2 service(s), 5 stack(s), {len(warnings)} warning(s) above"


def test_synth_ends_with_a_summary_table_of_the_stacks_written(tmp_path):
    """One row per stack: its file, the resources in the written JSON, the instance type and the catalog $/hour
    for replicas.min-max (the guard service runs 1-2 replicas)."""
    run = subprocess.run([sys.executable, "-m", "compiler.cli", "synth", "examples/two-services.yaml", "--out",
                          str(tmp_path / "out")], cwd=ROOT, capture_output=True, text=True, check=True)
    lines = run.stdout.splitlines()
    assert lines[0].split() == ["stack", "resources", "instance", "type", "$/hour"]
    assert len(lines) == 1 + 5 + 1 and lines[-1].startswith("prices: catalog list prices")
    guard = next(line for line in lines if "/guard-aws/" in line).split()
    written = json.loads((tmp_path / "out" / "stacks" / "guard-aws" / "cdk.tf.json").read_text())
    row = next(r for r in catalog.lookup("aws", "g4dn.xlarge") if not r.retired)
    assert guard[1:] == [str(sum(map(len, written["resource"].values()))), "g4dn.xlarge",
                         f"${row.price_usd_hour:.2f}-${2 * row.price_usd_hour:.2f}"]
    assert "infc: synthesizing" not in run.stderr  # progress only for a person at a terminal


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("fmt, shown", [("text", True), ("json", False)])
def test_synth_shows_progress_on_a_terminal_when_it_takes_more_than_a_second(tmp_path, monkeypatch, capsys, fmt,
                                                                             shown):
    """stderr a terminal and the CDK step made to take 1.5 s (a warm synth can take less than the second): the
    progress line appears in text format, never in json."""
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    real = cdk.synth

    def slow(stacks, outdir):
        time.sleep(1.5)
        real(stacks, outdir)

    monkeypatch.setattr(cdk, "synth", slow)
    assert main(["synth", "examples/two-services.yaml", "--out", str(tmp_path / "out"), "--target", "aws",
                 "--format", fmt]) == 0
    assert ("infc: synthesizing 2 stack(s) with CDK Terrain...\n" in terminal.getvalue()) is shown
    assert capsys.readouterr().out.startswith("stack " if fmt == "text" else "{")


ACR_ID = "/subscriptions/0000/resourceGroups/images/providers/Microsoft.ContainerRegistry/registries/acme"


def unpulled(target: str, registry: str, host: str) -> tuple[str, str]:
    who = "the cluster's nodes" if target == "kubernetes" else "the replicas"
    return ("warning", f"{target}: model.image is in {registry} ({host}), but infc gives {who} no pull access to it on "
                       f"{target}: the pull fails unless the repository allows anonymous pulls; grant it yourself, or "
                       "use a public image")


@pytest.mark.parametrize("image, registry, cloud", [
    ("123456789012.dkr.ecr.us-east-1.amazonaws.com/vllm:v0.6.3", "Amazon ECR", "aws"),
    ("acme.azurecr.io/vllm:v0.6.3", "Azure Container Registry", "azure"),
    ("us-central1-docker.pkg.dev/acme/models/vllm:v0.6.3", "Artifact Registry", "gcp"),
    ("eu.gcr.io/acme/vllm:v0.6.3", "Container Registry (gcr.io)", "gcp"),
])
def test_an_image_in_a_private_registry_the_replicas_cannot_pull_from_is_a_warning(tmp_path, image, registry, cloud):
    """A VM target grants pull on its own cloud's registries only, and a generic cluster on none: the others'
    boot-time pull would fail silently, so each says so. azure needs the registry's resource id (its own warning),
    aws cannot see whether the repository is in the stack's account (its own warning)."""
    host = image.split("/")[0]
    found = about(messages(tmp_path, model={"name": "m", "image": image},
                           hardware={"accelerator": "nvidia-t4", "memory_gib": 16},
                           targets={**MULTI, "gcp": {"project": "acme-ml", "region": "us-central1"}}),
                  "model.image is in")
    expected = [unpulled(t, registry, host) for t in ("aws", "azure", "gcp", "kubernetes") if t != cloud]
    if cloud == "azure":
        expected.append(("warning", f"azure: model.image is in the Azure Container Registry {host}, but the replicas get "
                                    "no pull access to it: set targets.azure.container_registry_id to its resource id "
                                    "(AcrPull for the replicas' managed identity), or the replicas fail to pull it "
                                    "unless the registry allows anonymous pull"))
    if cloud == "aws":
        expected.append(("warning", "aws: model.image is in the ECR registry of account 123456789012: the replicas' "
                                    "role may pull from its repository vllm; unless the stack deploys to account "
                                    "123456789012, that repository's policy must also allow this account to pull (see "
                                    "https://docs.aws.amazon.com/AmazonECR/latest/userguide/repository-policy-examples"
                                    ".html)"))
    assert sorted(found) == sorted(expected)


@pytest.mark.parametrize("settings", [{"container_registry_id": ACR_ID}, {"registry": True}])
def test_an_acr_image_on_azure_with_a_registry_to_grant_gets_no_warning(tmp_path, settings):
    found = messages(tmp_path, model={"name": "m", "image": "acme.azurecr.io/vllm:v0.6.3"},
                     hardware={"accelerator": "nvidia-t4"}, targets={"azure": {"location": "eastus", **settings}})
    assert about(found, "azure: model.image") == []


def test_an_ecr_image_of_another_partition_is_an_error_on_aws(tmp_path):
    """IAM grants nothing across partitions: an image in ECR in China cannot be pulled by a role in us-east-1."""
    found = messages(tmp_path, model={"name": "m", "image": "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/v:1"},
                     hardware={"accelerator": "nvidia-t4"}, targets={"aws": {"region": "us-east-1"}})
    assert ("error", "aws: model.image is in Amazon ECR in the aws-cn partition (123456789012.dkr.ecr.cn-north-1."
                     "amazonaws.com.cn), but the stack deploys to us-east-1, in aws: IAM grants no access across "
                     "partitions (see https://docs.aws.amazon.com/whitepapers/latest/aws-fault-isolation-boundaries/"
                     "partitions.html); copy the image to ECR in aws") in found


def test_public_images_get_no_registry_warning(tmp_path):
    for image in ("vllm/vllm-openai:v0.6.3", "ghcr.io/huggingface/text-generation-inference:2.4.0",
                  "nvcr.io/nvidia/tritonserver:24.08-py3"):
        found = messages(tmp_path, model={"name": "m", "image": image},
                         hardware={"accelerator": "nvidia-t4", "memory_gib": 16}, targets=MULTI)
        assert not [m for m in found if m[0] == "error"] and about(found, "model.image is in") == []
