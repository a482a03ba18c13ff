"""EKS backend: limits and warnings, values read from the emitted JSON, snapshots, and terraform validate of the
stacks' AWS part with the real hashicorp/aws provider (the kubernetes provider is not in the mirror)."""

from __future__ import annotations

import json
import os
import pathlib
import shutil

import pytest
from syrupy.extensions.json import JSONSnapshotExtension

from compiler.driver import compile_files
from compiler.lower import lower
from compiler.spec import Spec
from targets import eks
from targets.eks import limits as eks_limits
from tests.conftest import examples_naming, provider_mirror, spec_dict, terraform, terraform_rc, terraform_validate

EKS = {"region": "us-east-1"}
ACM = "arn:aws:acm:us-east-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8899-aabbccddeeff"
HTTPS = {"listeners": [{"port": 443, "protocol": "https"}]}


@pytest.fixture(scope="module")
def synthesized(synth_for) -> pathlib.Path:
    return synth_for("eks")


STACKS = [(path.stem, f"{c.service.name}-eks") for path in examples_naming("eks")
          for c in compile_files([str(path)], ["eks"])[0]]


def stack(synthesized: pathlib.Path, name: str) -> dict:
    return json.loads((synthesized / "stacks" / name / "cdk.tf.json").read_text())


def diagnostics(settings: dict | None = None, **overrides) -> list[tuple[str, str]]:
    overrides["hardware"] = {"memory_gib": 8, **overrides.get("hardware", {})}
    spec = Spec.model_validate(spec_dict(targets={"eks": settings or EKS}, **overrides))
    service, diags = lower(spec, ["eks"])
    assert service is not None and not [d for d in diags if d.severity == "error"], diags
    return [(d.severity, d.message) for d in eks.check(service, service.target("eks"))]


def errors(settings: dict | None = None, **overrides) -> list[str]:
    return [m for severity, m in diagnostics(settings, **overrides) if severity == "error"]


def warnings(settings: dict | None = None, **overrides) -> list[str]:
    return [m for severity, m in diagnostics(settings, **overrides) if severity == "warning"]


def test_minimal_gpu_spec_is_accepted_without_warnings():
    assert diagnostics() == []


LIMIT_CASES = [
    (EKS, {}, None),
    # g6.xlarge (4 vCPUs, 16 GiB): nodeadm keeps 0.08 vCPU and 255 + 11 x 110 MiB, the kubelet evicts below 100 MiB.
    (EKS, {"hardware": {"cpus": 3, "memory_gib": 14.25}}, None),
    (EKS, {"hardware": {"memory_gib": 14.5}},
     f"eks: hardware.memory_gib is 14.5; a g6.xlarge node (16 GiB) leaves 14.47 GiB for pods after EKS's "
     f"reservations and eviction threshold (see {eks_limits._RESERVED_DOC}); set hardware.instance_types.eks: "
     "g6.2xlarge or request at most 14.47"),
    ({**EKS, "public_access_cidrs": ["2001:db8::/32"]}, {},
     "eks: targets.eks.public_access_cidrs has IPv6 ranges (2001:db8::/32); the cluster's public endpoint takes IPv4 "
     f"ranges (see {eks_limits._ENDPOINT_DOC})"),
    # The Service and the ALB carry the IPv4 ranges alone: none left would admit every address.
    (EKS, {"load_balancer": {"allowed_cidrs": ["2001:db8::/32"]}},
     "eks: load_balancer.allowed_cidrs has only IPv6 ranges (2001:db8::/32), but the cluster's load balancers are "
     "IPv4 only: no client could reach them; list IPv4 ranges"),
    ({**EKS, "certificate": "arn:aws:acm:eu-west-1:123456789012:certificate/abc"}, {"load_balancer": HTTPS},
     f"eks: targets.eks.certificate is an ACM certificate in eu-west-1; the ALB in us-east-1 takes certificates of "
     f"its own region only (see {eks_limits._ACM_DOC})"),
    ({**EKS, "certificate": "my-cert"}, {"load_balancer": HTTPS},
     "eks: targets.eks.certificate 'my-cert' is not the ARN of an ACM certificate "
     "(arn:aws:acm:<region>:<account>:certificate/<id>), which the ALB's https listener takes "
     f"(see {eks_limits._ACM_DOC})"),
    ({**EKS, "certificate": ACM}, {"load_balancer": HTTPS, "probes": {"readiness": {"success_codes": "200-399"}}},
     None),
    ({**EKS, "certificate": ACM}, {"load_balancer": HTTPS, "probes": {"readiness": {"interval": 301}}},
     "eks: probes.readiness.interval is 301s; an ALB target group health-check interval must be 5-300s (see "
     "https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateTargetGroup.html)"),
]


@pytest.mark.parametrize("settings, overrides, expected", LIMIT_CASES)
def test_limits(settings, overrides, expected):
    assert errors(settings, **overrides) == ([expected] if expected else [])


LBC = ("eks: the https listener is an Ingress of class alb, which only the AWS Load Balancer Controller serves: "
       "install it in the cluster (with its IAM permissions) after the first apply, then apply again to read the "
       f"ALB's hostname into the endpoint output; infc does not install it (see {eks_limits._LBC_INSTALL_DOC})")


def test_https_warns_that_the_aws_load_balancer_controller_is_needed():
    assert warnings({**EKS, "certificate": ACM}, load_balancer=HTTPS) == [LBC]


def test_a_growing_node_group_warns_that_an_autoscaler_is_needed():
    found = warnings(replicas={"min": 1, "max": 3, "autoscale": {"metric": "cpu_percent", "target": 50}})
    assert len(found) == 1 and "install the Cluster Autoscaler" in found[0] and "beyond 1 stay Pending" in found[0]


@pytest.mark.parametrize("vcpus, memory_gib, cpus, memory", [
    # nodeadm getCPUMillicoresToReserve: 60m + 10m + 2 x 5m (+ 2.5m per core above 4); memory 255 MiB + 11 MiB x pods.
    (4, 16, 4 - 0.08, 16 - (255 + 11 * 110) / 1024 - 100 / 1024),
    (96, 1152, 96 - 0.08 - 92 * 0.0025, 1152 - (255 + 11 * 250) / 1024 - 100 / 1024),
])
def test_allocatable_follows_nodeadm(vcpus, memory_gib, cpus, memory):
    assert eks.allocatable(vcpus, memory_gib) == pytest.approx((cpus, memory))


def test_cluster_roles_and_access(synthesized):
    res = stack(synthesized, "llama70b-eks")["resource"]
    cluster = res["aws_eks_cluster"]["cluster"]
    assert cluster["name"] == "llama70b" and cluster["role_arn"] == "${aws_iam_role.cluster_role.arn}"
    assert cluster["access_config"] == {"authentication_mode": "API", "bootstrap_cluster_creator_admin_permissions": True}
    assert cluster["vpc_config"] == {"subnet_ids": "${data.aws_subnets.subnets.ids}", "endpoint_public_access": True,
                                     "endpoint_private_access": True}
    principals = {name: json.loads(role["assume_role_policy"])["Statement"][0]["Principal"]["Service"]
                  for name, role in res["aws_iam_role"].items()}
    # llama's model is hf:// (downloaded with HF_TOKEN): no workload role (embed's s3:// one has it, below)
    assert principals == {"cluster_role": "eks.amazonaws.com", "node_role": "ec2.amazonaws.com"}
    policies = {a["role"]: set() for a in res["aws_iam_role_policy_attachment"].values()}
    for attachment in res["aws_iam_role_policy_attachment"].values():
        policies[attachment["role"]].add(attachment["policy_arn"].rsplit("/", 1)[1])
    assert policies == {"${aws_iam_role.cluster_role.name}": {"AmazonEKSClusterPolicy"},
                        "${aws_iam_role.node_role.name}": {"AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy",
                                                           "AmazonEC2ContainerRegistryPullOnly"}}


def test_a100_node_group_from_the_spec(synthesized):
    res = stack(synthesized, "llama70b-eks")["resource"]
    group = res["aws_eks_node_group"]["node_group"]
    # examples/llama-70b-a100.yaml: 8x A100 80GB, 500 GiB disk, replicas 1-3, on demand.
    assert (group["instance_types"], group["ami_type"], group["capacity_type"], group["disk_size"]) == \
        (["p4de.24xlarge"], "AL2023_x86_64_NVIDIA", "ON_DEMAND", 500)
    assert group["scaling_config"] == {"min_size": 1, "max_size": 3, "desired_size": 1}
    assert group["lifecycle"] == {"ignore_changes": ["scaling_config[0].desired_size"]}
    pod = res["kubernetes_deployment_v1"]["deployment"]["spec"]["template"]["spec"]
    assert pod["node_selector"] == {"eks.amazonaws.com/nodegroup": group["node_group_name"],
                                    "kubernetes.io/arch": "amd64"}
    plugin = res["kubernetes_daemon_set_v1"]["device_plugin"]["spec"]["template"]["spec"]
    assert plugin["node_selector"] == {"eks.amazonaws.com/nodegroup": "llama70b-nodes"}
    for kind, objects in res.items():
        if kind.startswith("kubernetes_"):
            for obj in objects.values():
                assert "aws_eks_node_group.node_group" in obj["depends_on"], kind


def test_spot_l4_node_group_and_registry(synthesized):
    doc = stack(synthesized, "mistral-spot-eks")
    group = doc["resource"]["aws_eks_node_group"]["node_group"]
    assert (group["capacity_type"], group["ami_type"]) == ("SPOT", "AL2023_x86_64_NVIDIA")
    assert group["instance_types"][0].startswith("g6.")
    assert group["scaling_config"]["min_size"] == 2 and group["scaling_config"]["max_size"] == 6
    registry = doc["resource"]["aws_ecr_repository"]["registry"]
    assert (registry["name"], registry["image_tag_mutability"], registry["force_delete"]) == \
        ("mistral-spot", "IMMUTABLE", True)
    assert doc["output"]["registry_url"]["value"] == "${aws_ecr_repository.registry.repository_url}"


def test_cpu_service_in_given_subnets_on_the_standard_ami(synthesized):
    doc = stack(synthesized, "embed-eks")
    subnets = ["subnet-0a1b2c3d4e5f60718", "subnet-0f1e2d3c4b5a69788"]
    group = doc["resource"]["aws_eks_node_group"]["node_group"]
    assert group["ami_type"] == "AL2023_x86_64_STANDARD" and group["subnet_ids"] == subnets
    assert doc["resource"]["aws_eks_cluster"]["cluster"]["vpc_config"]["subnet_ids"] == subnets
    assert "aws_subnets" not in doc.get("data", {}) and "kubernetes_daemon_set_v1" not in doc["resource"]
    service = doc["resource"]["kubernetes_service_v1"]["service"]
    annotations = service["metadata"]["annotations"]
    # examples/embeddings-cpu.yaml: internal, idle timeout default 240 s, drain default 30 s.
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-internal"] == "true"
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-connection-idle-timeout"] == "240"
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-connection-draining-timeout"] == "30"
    assert service["spec"]["load_balancer_source_ranges"] == ["10.0.0.0/16"]
    assert "aws_eks_pod_identity_association" in doc["resource"]  # targets.eks.model_uri is s3:// (below)


def test_pod_identity_reads_the_model_prefix(synthesized):
    assert "aws_eks_pod_identity_association" not in stack(synthesized, "llama70b-eks")["resource"]  # hf://
    res = stack(synthesized, "embed-eks")["resource"]
    association = res["aws_eks_pod_identity_association"]["pod_identity"]
    account = res["kubernetes_service_account_v1"]["service_account"]["metadata"]
    assert (association["namespace"], association["service_account"]) == ("search", account["name"])
    assert res["kubernetes_namespace_v1"]["namespace"]["metadata"][0]["name"] == "search"
    assert association["role_arn"] == "${aws_iam_role.workload_role.arn}"
    policy = json.loads(res["aws_iam_role_policy"]["model_read"]["policy"])
    # targets.eks.model_uri s3://acme-search-models/bge-small-en-v1.5/
    assert [s["Resource"] for s in policy["Statement"]] == [
        "arn:${data.aws_partition.partition.partition}:s3:::acme-search-models/bge-small-en-v1.5/*",
        "arn:${data.aws_partition.partition.partition}:s3:::acme-search-models"]
    assert res["aws_eks_addon"]["pod_identity_agent"]["addon_name"] == "eks-pod-identity-agent"
    pod = res["kubernetes_deployment_v1"]["deployment"]["spec"]["template"]["spec"]
    assert pod["service_account_name"] == "${kubernetes_service_account_v1.service_account.metadata[0].name}"
    # the model download runs in the pod with that account's credentials, not anonymously
    (download,) = pod["init_container"]
    assert download["args"] == ["s3://acme-search-models/bge-small-en-v1.5/", "/mnt/models"]
    assert "awsAnonymousCredential" not in [e["name"] for e in download.get("env") or []]


def test_kubernetes_provider_mints_tokens_with_the_aws_cli(synthesized):
    provider = stack(synthesized, "llama70b-eks")["provider"]["kubernetes"]
    assert provider == [{
        "host": "${aws_eks_cluster.cluster.endpoint}",
        "cluster_ca_certificate": "${base64decode(aws_eks_cluster.cluster.certificate_authority[0].data)}",
        "exec": [{"api_version": "client.authentication.k8s.io/v1beta1", "command": "aws",
                  "args": ["eks", "get-token", "--cluster-name", "${aws_eks_cluster.cluster.name}",
                           "--region", "us-east-1"]}]}]


def test_https_is_an_alb_ingress_with_the_readiness_probe_as_health_check(synthesized):
    doc = stack(synthesized, "llama70b-eks")
    ingress = doc["resource"]["kubernetes_ingress_v1"]["ingress"]
    prefix = "alb.ingress.kubernetes.io/"
    annotations = {k.removeprefix(prefix): v for k, v in ingress["metadata"]["annotations"].items()}
    # examples/llama-70b-a100.yaml: readiness /health every 30 s, timeout 10 s, 2/3; idle 300 s; drain 60 s.
    assert {k: annotations[k] for k in ("healthcheck-path", "healthcheck-port", "healthcheck-interval-seconds",
                                        "healthcheck-timeout-seconds", "healthy-threshold-count",
                                        "unhealthy-threshold-count", "certificate-arn", "listen-ports",
                                        "ssl-redirect", "target-type", "scheme")} == {
        "healthcheck-path": "/health", "healthcheck-port": "8000", "healthcheck-interval-seconds": "30",
        "healthcheck-timeout-seconds": "10", "healthy-threshold-count": "2", "unhealthy-threshold-count": "3",
        "certificate-arn": ACM, "listen-ports": '[{"HTTPS":443},{"HTTP":80}]', "ssl-redirect": "443",
        "target-type": "ip", "scheme": "internet-facing"}
    assert "idle_timeout.timeout_seconds=300" in annotations["load-balancer-attributes"]
    assert annotations["target-group-attributes"] == "deregistration_delay.timeout_seconds=60"
    assert ingress["spec"]["ingress_class_name"] == "alb"
    assert doc["resource"]["kubernetes_service_v1"]["service"]["spec"]["type"] == "ClusterIP"
    assert "annotations" not in doc["resource"]["kubernetes_service_v1"]["service"]["metadata"]
    assert doc["output"]["endpoint"]["value"] == "https://llama70b.ml.acme.example"


@pytest.mark.parametrize("example, name", STACKS, ids=[n for _, n in STACKS])
def test_snapshot(synthesized, snapshot, example, name):
    assert stack(synthesized, name) == snapshot(extension_class=JSONSnapshotExtension)


def aws_only(doc: dict) -> dict:
    """The stack without the kubernetes provider and what uses it: the AWS part, which validates and applies on its
    own (no AWS resource refers to a kubernetes one)."""
    doc = json.loads(json.dumps(doc))
    doc["provider"].pop("kubernetes")
    doc["terraform"]["required_providers"].pop("kubernetes")
    doc["resource"] = {kind: items for kind, items in doc["resource"].items() if not kind.startswith("kubernetes_")}
    doc["output"] = {name: out for name, out in doc["output"].items() if "kubernetes_" not in json.dumps(out)}
    assert "kubernetes_" not in json.dumps(doc)
    return doc


@pytest.fixture(scope="module")
def terraform_env(tmp_path_factory) -> dict:
    terraform()
    config = terraform_rc(tmp_path_factory.mktemp("tf") / "cli.tfrc", provider_mirror("hashicorp/aws"))
    return {**os.environ, "TF_CLI_CONFIG_FILE": str(config), "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}


@pytest.mark.parametrize("example, name", STACKS, ids=[n for _, n in STACKS])
def test_terraform_validate_aws_part(synthesized, terraform_env, tmp_path, example, name):
    """hashicorp/aws 5.100.0 validates the AWS resources as emitted (the kubernetes provider is not in the mirror)."""
    (tmp_path / "cdk.tf.json").write_text(json.dumps(aws_only(stack(synthesized, name)), indent=2))
    terraform_validate(tmp_path, terraform_env)
    shutil.rmtree(tmp_path / ".terraform", ignore_errors=True)
