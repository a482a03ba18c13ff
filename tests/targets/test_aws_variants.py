"""AWS variants (docs/targets/aws.md, "Variants"): one load balancer whose listeners forward to a target group per
variant by weight, each variant with its own launch template, autoscaling group and scaling; the refusals; terraform
validate with hashicorp/aws 5.100.0. A weight change applied on the emulator: tests/targets/test_aws_apply.py."""

from __future__ import annotations

import json
import os
import pathlib
import shlex
import shutil

import pytest
import yaml

from compiler.driver import compile_text
from compiler.errors import CompileError
from compiler.spec import Spec, Variant
from targets.aws import limits as aws_limits
from tests.conftest import (ROOT, provider_mirror, spec_dict, synth_documents, terraform, terraform_rc,
                            terraform_validate)
from tests.replica_sandbox import cloud_init_files, user_data

ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/vllm:v0.7.0"
CERT = "arn:aws:acm:us-east-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8899-aabbccddeeff"
LISTENERS = [{"port": 80, "protocol": "http"}, {"port": 8080, "protocol": "http"}]


def canary_spec(stable: int = 90, canary: int = 10) -> dict:
    """Two variants: the stable one on the spec's sections, a canary with its own image, args, model, hardware (an
    A10G instead of an L4) and replicas; cookies on, two serving listeners."""
    return spec_dict(
        metadata={"name": "chat", "labels": {"team": "ml"}},
        model={"name": "llama", "image": "vllm/vllm-openai:v0.6.3", "uri": "s3://acme-models/llama/",
               "args": ["--model", "/mnt/models", "--max-model-len", "4096"]},
        hardware={"accelerator": "nvidia-l4"},
        replicas={"min": 1, "max": 4, "autoscale": {"metric": "requests_per_replica", "target": 2}},
        load_balancer={"listeners": LISTENERS, "stickiness": True},
        variants=[{"name": "stable", "weight": stable},
                  {"name": "canary", "weight": canary, "image": ECR, "uri": "s3://acme-models/llama-next/",
                   "args": ["--model", "/mnt/models", "--max-model-len", "8192"],
                   "hardware": {"accelerator": "nvidia-a10g"},
                   "replicas": {"min": 1, "max": 2, "autoscale": {"metric": "requests_per_replica", "target": 3}}}])


def cpu_spec() -> dict:
    """A GPU variant and a CPU one (another machine image), no stickiness, an https listener behind a redirect."""
    return spec_dict(
        metadata={"name": "mixed"}, hardware={"accelerator": "nvidia-l4"},
        targets={"aws": {"region": "us-east-1", "certificate": CERT}},
        load_balancer={"listeners": [{"port": 443, "protocol": "https"},
                                     {"port": 80, "protocol": "http", "redirect_to": 443}]},
        variants=[{"name": "gpu", "weight": 75},
                  {"name": "cpu", "weight": 25, "hardware": {"accelerator": "none", "cpus": 8, "memory_gib": 32}}])


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory) -> pathlib.Path:
    return synth_documents(tmp_path_factory.mktemp("aws-variants"), [canary_spec(), cpu_spec()], "aws")


def stack(out: pathlib.Path, name: str) -> dict:
    return json.loads((out / "stacks" / name / "cdk.tf.json").read_text())


def docker_run(template: dict) -> list[str]:
    """The replicas' `docker run` argv: the last line of the boot script in a launch template's user data."""
    script = cloud_init_files(user_data(template["user_data"]))["/etc/infc/boot.sh"]["content"]
    return shlex.split(script.rstrip("\n").rsplit("\n", 1)[-1])


def test_listeners_forward_to_the_variants_by_their_weights(synthesized):
    res = stack(synthesized, "chat-aws")["resource"]
    assert sorted(res["aws_lb_listener"]) == ["listener_80", "listener_8080"]
    for listener in res["aws_lb_listener"].values():
        assert listener["default_action"] == [{"type": "forward", "forward": {
            "target_group": [{"arn": "${aws_lb_target_group.target_group_stable.arn}", "weight": 90},
                             {"arn": "${aws_lb_target_group.target_group_canary.arn}", "weight": 10}],
            # load_balancer.stickiness: a client stays on the variant it reached, as long as on its replica.
            "stickiness": {"enabled": True, "duration": 86400}}}]
    assert len(res["aws_lb"]) == 1 and sorted(res["aws_security_group"]) == ["lb_security_group",
                                                                           "replica_security_group"]


def test_each_variant_has_its_own_target_group_template_group_and_scaling(synthesized):
    res = stack(synthesized, "chat-aws")["resource"]
    groups, asgs = res["aws_lb_target_group"], res["aws_autoscaling_group"]
    templates, policies = res["aws_launch_template"], res["aws_autoscaling_policy"]
    assert sorted(groups) == ["target_group_canary", "target_group_stable"]
    assert sorted(asgs) == ["autoscaling_group_canary", "autoscaling_group_stable"]
    assert sorted(templates) == ["launch_template_canary", "launch_template_stable"]
    assert sorted(policies) == ["scaling_policy_canary", "scaling_policy_stable"]
    # The shared probe checks both groups alike.
    assert groups["target_group_stable"]["health_check"] == groups["target_group_canary"]["health_check"]
    assert groups["target_group_stable"]["health_check"]["path"] == "/health"
    want = {  # variant: (instance type, image, max-model-len, min, max, requests per minute per replica)
        "stable": ("g6.xlarge", "vllm/vllm-openai:v0.6.3", "4096", 1, 4, 120),
        "canary": ("g5.xlarge", ECR, "8192", 1, 2, 180),
    }
    for name, (instance_type, image, length, low, high, per_minute) in want.items():
        group, template, asg = groups[f"target_group_{name}"], templates[f"launch_template_{name}"], \
            asgs[f"autoscaling_group_{name}"]
        assert group["name"] == f"chat-{name}-tg" and template["name"] == asg["name"] == f"chat-{name}"
        assert template["instance_type"] == instance_type
        argv = docker_run(template)
        assert image in argv and argv[-4:] == ["--model", "/mnt/models", "--max-model-len", length]
        assert asg["launch_template"] == {"id": f"${{aws_launch_template.launch_template_{name}.id}}",
                                          "version": f"${{aws_launch_template.launch_template_{name}.latest_version}}"}
        assert asg["target_group_arns"] == [f"${{aws_lb_target_group.target_group_{name}.arn}}"]
        assert (asg["min_size"], asg["max_size"]) == (low, high)
        assert {"key": "Name", "value": f"chat-{name}", "propagate_at_launch": True} in asg["tag"]
        tracking = policies[f"scaling_policy_{name}"]["target_tracking_configuration"]
        assert tracking["target_value"] == per_minute
        # ALBRequestCountPerTarget counts the requests of this variant's target group only.
        assert tracking["predefined_metric_specification"]["resource_label"] == (
            f"${{aws_lb.load_balancer.arn_suffix}}/${{aws_lb_target_group.target_group_{name}.arn_suffix}}")


def test_the_shared_role_grants_what_every_variant_reads_and_pulls(synthesized):
    res = stack(synthesized, "chat-aws")["resource"]
    read = json.loads(res["aws_iam_role_policy"]["model_read"]["policy"])
    assert [s["Resource"] for s in read["Statement"] if s["Action"] == "s3:GetObject"] == [
        "arn:${data.aws_partition.partition.partition}:s3:::acme-models/llama/*",
        "arn:${data.aws_partition.partition.partition}:s3:::acme-models/llama-next/*"]
    pull = json.loads(res["aws_iam_role_policy"]["image_pull"]["policy"])
    assert pull["Statement"][1]["Resource"] == ["arn:aws:ecr:us-east-1:123456789012:repository/team/vllm"]
    for asg in res["aws_autoscaling_group"].values():
        assert asg["depends_on"] == ["aws_iam_role_policy.model_read", "aws_iam_role_policy.image_pull"]
    assert len(res["aws_iam_role"]) == len(res["aws_iam_instance_profile"]) == 1


def test_the_endpoint_stays_one_url(synthesized):
    assert {k: v["value"] for k, v in stack(synthesized, "chat-aws")["output"].items()} == {
        "endpoint": "http://${aws_lb.load_balancer.dns_name}"}
    assert stack(synthesized, "mixed-aws")["output"]["endpoint"]["value"] == "https://${aws_lb.load_balancer.dns_name}"


def test_a_cpu_variant_boots_its_own_image_and_without_stickiness_none_is_asked(synthesized):
    doc = stack(synthesized, "mixed-aws")
    res = doc["resource"]
    assert res["aws_lb_listener"]["listener_443"]["default_action"] == [{"type": "forward", "forward": {
        "target_group": [{"arn": "${aws_lb_target_group.target_group_gpu.arn}", "weight": 75},
                         {"arn": "${aws_lb_target_group.target_group_cpu.arn}", "weight": 25}]}}]
    assert res["aws_lb_listener"]["listener_80"]["default_action"][0]["type"] == "redirect"
    images = doc["data"]["aws_ami"]
    assert sorted(images) == ["image_cpu_x86_64", "image_gpu_x86_64"]
    assert images["image_cpu_x86_64"]["owners"] == ["099720109477"] and images["image_gpu_x86_64"]["owners"] == [
        "amazon"]
    templates = res["aws_launch_template"]
    assert templates["launch_template_gpu"]["image_id"] == "${data.aws_ami.image_gpu_x86_64.id}"
    assert templates["launch_template_cpu"]["image_id"] == "${data.aws_ami.image_cpu_x86_64.id}"
    assert "--gpus" in docker_run(templates["launch_template_gpu"])
    assert "--gpus" not in docker_run(templates["launch_template_cpu"])


# --- What aws refuses --------------------------------------------------------------------------------------------

def errors(doc: dict) -> list[str]:
    with pytest.raises(CompileError) as caught:
        compile_text("spec.yaml", yaml.safe_dump(doc, sort_keys=False).encode())
    return [d.render() for d in caught.value.diagnostics if d.severity == "error"]


METRICS = "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-cloudwatch-metrics.html"
ZERO = {"min": 0, "max": 2, "autoscale": {"metric": "requests_per_replica", "target": 2}}


def test_a_variant_cannot_scale_to_zero():
    doc = canary_spec()
    doc["replicas"] = ZERO  # the stable variant inherits it; the canary has replicas of its own
    doc["variants"][1]["replicas"] = {**ZERO, "max": 3}
    found = errors(doc)
    why = ("a variant cannot scale to zero on aws: a replica starts on the load balancer's 503s, and "
           "HTTPCode_ELB_503_Count is published per load balancer, not per target group, so it cannot tell which "
           f"variant has no replica (see {METRICS}); use replicas.min 1 or more with variants")
    assert [e.split(": error: ", 1)[1] for e in found] == [
        f"aws: replicas.min is 0 for variant stable; {why}",
        f"aws: variants[1].replicas.min is 0 for variant canary; {why}"]
    lines = yaml.safe_dump(doc, sort_keys=False).splitlines()
    assert "min: 0" in lines[int(found[1].split(":")[1]) - 1]  # located at the canary's own replicas.min


def test_a_target_group_name_over_32_characters_is_an_error_not_a_truncation():
    doc = canary_spec()
    doc["metadata"]["name"] = "a" * 23  # 23 + "-canary-tg" = 33; 23 + "-stable-tg" = 33
    doc["variants"][0]["name"] = "stable"
    doc["variants"][1]["name"] = "canar"  # 23 + "-canar-tg" = 32: fits
    found = errors(doc)
    doc_url = aws_limits._TG_DOC
    assert [e.split(": error: ", 1)[1] for e in found] == [
        f"aws: variants[0].name: variant stable's target group would be named '{'a' * 23}-stable-tg', 33 characters; "
        f"a target group name has at most 32 (see {doc_url}): shorten metadata.name or the variant's name by 1 "
        "character in all"]
    doc["variants"][0]["name"] = "stabl"
    compile_text("spec.yaml", yaml.safe_dump(doc, sort_keys=False).encode())  # 32 characters each: accepted


def test_the_spec_bounds_fit_an_alb_forward_action():
    """At most five variants weighted 0-100: within the ALB's five target groups per forward action, weights 0-999
    (targets/aws/limits.py), which hashicorp/aws 5.100.0 also enforces (committed schema: max_items 5)."""
    assert Spec.model_json_schema()["properties"]["variants"]["maxItems"] <= aws_limits.MAX_FORWARD_GROUPS
    weight = Variant.model_json_schema()["properties"]["weight"]
    low, high = aws_limits.WEIGHT_RANGE
    assert low <= weight["minimum"] and weight["maximum"] <= high
    schema = json.loads((ROOT / "compiler" / "provider_schemas" / "aws-5.100.0.json").read_text())
    listener = schema["resource_schemas"]["aws_lb_listener"]
    forward = listener["block"]["block_types"]["default_action"]["block"]["block_types"]["forward"]["block"]
    assert forward["block_types"]["target_group"]["max_items"] == aws_limits.MAX_FORWARD_GROUPS


# --- Terraform ---------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def terraform_env(tmp_path_factory) -> dict:
    terraform()
    config = terraform_rc(tmp_path_factory.mktemp("tf") / "cli.tfrc", provider_mirror("hashicorp/aws"))
    return {**os.environ, "TF_CLI_CONFIG_FILE": str(config), "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}


@pytest.mark.parametrize("name", ["chat-aws", "mixed-aws"])
def test_terraform_validate(synthesized, terraform_env, tmp_path, name):
    work = tmp_path / name
    shutil.copytree(synthesized / "stacks" / name, work)
    terraform_validate(work, terraform_env)

