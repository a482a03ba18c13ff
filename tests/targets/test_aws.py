"""AWS backend: limits as a table (value -> accepted or the exact error), emitted semantics, snapshots, terraform."""

from __future__ import annotations

import base64
import json
import os
import pathlib
import shutil
import subprocess

import pytest
import yaml
from syrupy.extensions.json import JSONSnapshotExtension

from compiler.driver import compile_files
from compiler.lower import lower
from compiler.spec import Spec
from targets import aws
from tests.conftest import examples_naming, spec_dict

STACKS = [(example.stem, f"{c.service.name}-aws")
          for example in examples_naming("aws") for c in compile_files([str(example)], ["aws"])[0]]


@pytest.fixture(scope="module")
def synthesized(synth_for):
    return synth_for("aws")


def checked(**overrides) -> list[str]:
    spec = Spec.model_validate(spec_dict(**overrides))
    service, diags = lower(spec, ["aws"])
    assert not [d for d in diags if d.severity == "error"]
    return [d.message for d in aws.check(service, service.target("aws")) if d.severity == "error"]


def readiness(**values) -> dict:
    return {"readiness": {"interval": 30, "timeout": 5, **values}}


DOC = aws._TG_DOC
LIMIT_CASES = [
    # (spec overrides, expected error or None)
    ({"probes": readiness(interval=5, timeout=2)}, None),
    ({"probes": readiness(interval=300)}, None),
    ({"probes": readiness(interval=4, timeout=2)},
     f"aws: probes.readiness.interval is 4s; an ALB target group health-check interval must be 5-300s (see {DOC})"),
    ({"probes": readiness(interval=301)},
     f"aws: probes.readiness.interval is 301s; an ALB target group health-check interval must be 5-300s (see {DOC})"),
    ({"probes": readiness(timeout=1)},
     f"aws: probes.readiness.timeout is 1s; an ALB target group health-check timeout must be 2-120s (see {DOC})"),
    ({"probes": readiness(healthy_threshold=1)},
     f"aws: probes.readiness.healthy_threshold is 1; an ALB healthy threshold must be 2-10 (see {DOC})"),
    ({"probes": readiness(unhealthy_threshold=11)},
     f"aws: probes.readiness.unhealthy_threshold is 11; an ALB unhealthy threshold must be 2-10 (see {DOC})"),
    ({"probes": readiness(success_codes="200-499")}, None),
    ({"probes": readiness(success_codes="200,503")},
     f"aws: probes.readiness.success_codes has 503; an ALB health check accepts codes 200-499 (see {DOC})"),
    ({"load_balancer": {"idle_timeout": "2h"}},
     f"aws: load_balancer.idle_timeout is 7200s; an ALB idle timeout must be 1-4000s (see {aws._LB_DOC})"),
    ({"load_balancer": {"drain_timeout": "61m"}},
     f"aws: load_balancer.drain_timeout is 3660s; a target group deregistration delay must be 0-3600s "
     f"(see {aws._TG_ATTR_DOC})"),
    ({"replicas": {"min": 1, "max": 2, "autoscale": {"metric": "cpu_percent", "target": 50, "scale_in_delay": "15m"}}},
     None),
    ({"replicas": {"min": 1, "max": 2, "autoscale": {"metric": "cpu_percent", "target": 50, "scale_in_delay": "16m"}}},
     f"aws: replicas.autoscale.scale_in_delay is 960s; the scale-in delay of an EC2 target-tracking policy must be "
     f"0-900s (see {aws._TT_DOC})"),
    ({"replicas": {"min": 0, "max": 2, "autoscale": {"metric": "cpu_percent", "target": 50}}},
     f"aws: replicas.min: 0 is not supported: {aws.SCALE_TO_ZERO}; use min: 1"),
]


@pytest.mark.parametrize("overrides, expected", LIMIT_CASES)
def test_limits(overrides, expected):
    assert checked(**overrides) == ([expected] if expected else [])


def test_liveness_is_a_warning_not_a_silent_drop():
    spec = Spec.model_validate(spec_dict(probes={"liveness": {"path": "/live"}}))
    service, _ = lower(spec, ["aws"])
    assert [(d.severity, d.message) for d in aws.check(service, service.target("aws"))] == [
        ("warning", "aws: probes.liveness has no separate check on EC2: the autoscaling group replaces replicas that "
                    "fail the readiness check (health_check_type ELB)")]


def stack(synthesized: pathlib.Path, name: str) -> dict:
    return json.loads((synthesized / "stacks" / name / "cdk.tf.json").read_text())


def user_data(doc: dict) -> dict:
    encoded = doc["resource"]["aws_launch_template"]["launch_template"]["user_data"]
    text = base64.b64decode(encoded).decode()
    assert text.startswith("#cloud-config\n")
    return yaml.safe_load(text)


def test_https_redirect_and_tls_policy(synthesized):
    listeners = stack(synthesized, "llama70b-aws")["resource"]["aws_lb_listener"]
    assert listeners["listener_80"]["default_action"] == [
        {"type": "redirect", "redirect": {"port": "443", "protocol": "HTTPS", "status_code": "HTTP_301"}}]
    https = listeners["listener_443"]
    assert https["protocol"] == "HTTPS" and https["ssl_policy"] == aws.TLS_POLICY
    assert https["certificate_arn"].startswith("arn:aws:acm:us-east-1:")


def test_request_autoscaling_is_per_minute_on_the_alb_metric(synthesized):
    policy = stack(synthesized, "llama70b-aws")["resource"]["aws_autoscaling_policy"]["scaling_policy"]
    config = policy["target_tracking_configuration"]
    assert config["target_value"] == 4 * 60  # spec: 4 requests/s per replica; ALB metric counts per minute
    assert config["predefined_metric_specification"]["predefined_metric_type"] == "ALBRequestCountPerTarget"
    assert policy["estimated_instance_warmup"] == 900


def test_asg_uses_elb_health_and_initial_delay(synthesized):
    asg = stack(synthesized, "llama70b-aws")["resource"]["aws_autoscaling_group"]["autoscaling_group"]
    assert (asg["health_check_type"], asg["health_check_grace_period"]) == ("ELB", 1800)
    assert (asg["min_size"], asg["max_size"]) == (1, 3)


def test_gpu_user_data_runs_the_container_with_gpus(synthesized):
    cloud = user_data(stack(synthesized, "llama70b-aws"))
    run = cloud["runcmd"][-1]
    assert run[:2] == ["docker", "run"] and run[run.index("--gpus") + 1] == "all"
    assert run[-5:] == ["vllm/vllm-openai:v0.6.3", "--tensor-parallel-size", "8", "--max-model-len", "16384"]
    env = cloud["write_files"][0]["content"]
    assert "MODEL_URI=s3://acme-models/llama-3.1-70b-instruct/\n" in env and "VLLM_LOGGING_LEVEL=INFO\n" in env


def test_cpu_service_is_internal_without_gpus_in_given_subnets(synthesized):
    doc = stack(synthesized, "embed-aws")
    assert doc["resource"]["aws_lb"]["load_balancer"]["internal"] is True
    assert "--gpus" not in user_data(doc)["runcmd"][-1]
    assert "data" not in doc or "aws_subnets" not in doc["data"]  # given subnets: no lookup
    assert doc["resource"]["aws_autoscaling_group"]["autoscaling_group"]["vpc_zone_identifier"] == [
        "subnet-0a1b2c3d4e5f60718", "subnet-0f1e2d3c4b5a69788"]
    assert doc["data"]["aws_ami"]["image"]["owners"] == ["099720109477"]  # Canonical's Ubuntu for CPU


def test_spot_ipv6_and_stickiness(synthesized):
    res = stack(synthesized, "mistral-spot-aws")["resource"]
    assert res["aws_launch_template"]["launch_template"]["instance_market_options"] == {"market_type": "spot"}
    assert res["aws_vpc_security_group_ingress_rule"]["lb_ingress_80_2001-db8--_32"]["cidr_ipv6"] == "2001:db8::/32"
    assert res["aws_lb_target_group"]["target_group"]["stickiness"]["enabled"] is True
    assert res["aws_lb_target_group"]["target_group"]["health_check"]["matcher"] == "200-299"


def test_replicas_reachable_only_from_the_load_balancer(synthesized):
    for _, name in STACKS:
        res = stack(synthesized, name)["resource"]
        ingress = [r for key, r in res["aws_vpc_security_group_ingress_rule"].items() if key.startswith("replica_")]
        assert ingress and all("cidr_ipv4" not in r and "cidr_ipv6" not in r for r in ingress)
        assert all(r["referenced_security_group_id"] == "${aws_security_group.lb_security_group.id}" for r in ingress)



@pytest.mark.parametrize("example, name", STACKS, ids=[n for _, n in STACKS])
def test_snapshot(synthesized, snapshot, example, name):
    assert stack(synthesized, name) == snapshot(extension_class=JSONSnapshotExtension)


MIRROR = pathlib.Path("/opt/tf-plugins")
TERRAFORM = shutil.which("terraform")


@pytest.fixture(scope="module")
def terraform_env(tmp_path_factory) -> dict:
    if not TERRAFORM:
        pytest.skip("terraform is not on PATH")
    if not (MIRROR / "registry.terraform.io" / "hashicorp" / "aws").is_dir():
        pytest.skip(f"no hashicorp/aws provider mirror at {MIRROR}")
    home = tmp_path_factory.mktemp("tf")
    config = home / "cli.tfrc"
    config.write_text(
        'provider_installation {\n'
        f'  filesystem_mirror {{\n    path = "{MIRROR}"\n    include = ["registry.terraform.io/hashicorp/*"]\n  }}\n'
        '  direct {\n    exclude = ["registry.terraform.io/hashicorp/*"]\n  }\n}\n')
    return {**os.environ, "TF_CLI_CONFIG_FILE": str(config), "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}


@pytest.mark.parametrize("example, name", STACKS, ids=[n for _, n in STACKS])
def test_terraform_validate(synthesized, terraform_env, tmp_path, example, name):
    work = tmp_path / name
    shutil.copytree(synthesized / "stacks" / name, work)
    before = (work / "cdk.tf.json").read_bytes()
    init = subprocess.run([TERRAFORM, "init", "-backend=false", "-input=false", "-no-color"], cwd=work,
                          env=terraform_env, capture_output=True, text=True, timeout=300)
    assert init.returncode == 0, init.stdout + init.stderr
    result = subprocess.run([TERRAFORM, "validate", "-json", "-no-color"], cwd=work, env=terraform_env,
                            capture_output=True, text=True, timeout=300)
    report = json.loads(result.stdout)
    assert report["valid"], json.dumps(report["diagnostics"], indent=2)
    assert report["warning_count"] == 0, json.dumps(report["diagnostics"], indent=2)
    assert (work / "cdk.tf.json").read_bytes() == before  # validated exactly as written
