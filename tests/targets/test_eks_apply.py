"""The EKS stacks' AWS part applied for real on moto: terraform apply, a clean second plan and destroy. moto 5.2.5
implements EKS clusters and node groups, IAM and ECR, but not EKS add-ons or Pod Identity associations (moto/eks/
responses.py has no CreateAddon or CreatePodIdentityAssociation): test_what_moto_cannot_reach names those, and the
kubernetes resources need a real cluster's API server, so neither is applied here."""

from __future__ import annotations

import concurrent.futures
import json
import logging
import os

import pytest

from tests.conftest import moto, provider_mirror, terraform, terraform_rc
from tests.targets.test_aws_apply import Run, SerialServer, _lifecycle, _seed, override
from tests.targets.test_eks import STACKS, aws_only, stack

NAMES = [name for _, name in STACKS]
# Resource types of the AWS part that moto does not implement: dropped from the applied copy, and checked in
# test_what_moto_cannot_reach to be exactly these (terraform validate covers them in test_eks.py).
UNREACHED = {
    "aws_eks_addon": "moto/eks/responses.py has no CreateAddon",
    "aws_eks_pod_identity_association": "moto/eks/responses.py has no CreatePodIdentityAssociation",
}
SERVICES = ("ec2", "eks", "ecr", "iam", "sts")

# What moto reads back differently from what it was given, so that the second plan updates in place:
# {(address, attribute): why}. Nothing else may change.
GAPS = {
    ("aws_eks_cluster.cluster", "access_config"):
        "moto's Cluster keeps no accessConfig (moto/eks/models.py Cluster.__init__ takes none), so the provider "
        "reads back none and plans authentication_mode API again",
    ("aws_eks_node_group.node_group", "remote_access"):
        "moto gives a node group without remoteAccess an SSH key of its own, eksKeypair (moto/eks/models.py "
        "DEFAULT_REMOTE_ACCESS), which the provider reads back as a remote_access block the stack does not have",
    ("aws_eks_node_group.node_group", "update_config"):
        "moto's CreateNodegroup does not read updateConfig (moto/eks/responses.py create_nodegroup), so the "
        "provider reads back none and plans max_unavailable 1 again",
}


def applied_copy(doc: dict) -> dict:
    doc = aws_only(doc)
    doc["resource"] = {kind: items for kind, items in doc["resource"].items() if kind not in UNREACHED}
    for items in doc["resource"].values():
        for item in items.values():
            if "depends_on" in item:
                item["depends_on"] = [d for d in item["depends_on"] if d.split(".")[0] not in UNREACHED]
    return doc


def test_what_moto_cannot_reach(synth_for):
    """Only the types named in UNREACHED are left out of the applied copy."""
    out = synth_for("eks")
    for name in NAMES:
        doc = aws_only(stack(out, name))
        left_out = set(doc["resource"]) - set(applied_copy(stack(out, name))["resource"])
        assert left_out <= set(UNREACHED), name
    assert any("aws_eks_pod_identity_association" in stack(out, n)["resource"] for n in NAMES)


@pytest.fixture(scope="module")
def runs(synth_for, tmp_path_factory) -> dict[str, Run]:
    from moto.moto_api._internal.models import moto_api_backend

    moto()
    binary, mirror = terraform(), provider_mirror("hashicorp/aws")
    out = synth_for("eks")
    home = tmp_path_factory.mktemp("tf-eks-apply")
    (home / "plugin-cache").mkdir()
    config = terraform_rc(home / "cli.tfrc", mirror, cache=home / "plugin-cache")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "TF_"))}
    env.update(TF_CLI_CONFIG_FILE=str(config), TF_IN_AUTOMATION="1", CHECKPOINT_DISABLE="1")
    werkzeug = logging.getLogger("werkzeug")
    level = werkzeug.level
    werkzeug.setLevel(logging.WARNING)
    runs = {}
    # The roles attach AWS managed policies (AmazonEKSClusterPolicy, ...), which moto knows (moto/iam/
    # aws_managed_policies.py) but loads only when asked; its backends are made anew after a reset.
    loaded = os.environ.get("MOTO_IAM_LOAD_MANAGED_POLICIES")
    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
    moto_api_backend.reset()
    try:
        with SerialServer() as endpoint:
            docs = {name: applied_copy(stack(out, name)) for name in NAMES}
            _seed(docs)
            provider = override(endpoint)
            provider["provider"]["aws"][0]["endpoints"] = [{service: endpoint for service in SERVICES}]
            for name, doc in docs.items():  # one init at a time: the plugin cache is not safe for concurrent use
                work = home / name
                work.mkdir()
                (work / "cdk.tf.json").write_text(json.dumps(doc, indent=2))
                (work / "moto_override.tf.json").write_text(json.dumps(provider, indent=2))
                runs[name] = Run(name, work, env, binary)
                runs[name].tf("init", "init", "-input=false")
            # All at once: most of a stack's time is the provider's fixed waits for the cluster and node group.
            with concurrent.futures.ThreadPoolExecutor(max_workers=len(runs)) as pool:
                list(pool.map(_lifecycle, runs.values()))
    finally:
        if loaded is None:
            os.environ.pop("MOTO_IAM_LOAD_MANAGED_POLICIES")
        else:
            os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = loaded
        moto_api_backend.reset()
        werkzeug.setLevel(level)
    for run in runs.values():
        print(f"{run.name}: {len(run.applied)} resources; seconds per step {run.seconds}")
    return runs


@pytest.mark.parametrize("name", NAMES)
def test_apply_plan_again_destroy(runs, name):
    run = runs[name]
    doc = json.loads((run.work / "cdk.tf.json").read_text())
    assert run.ok("init"), run.why("init")
    assert run.ok("apply"), run.why("apply")
    declared = sorted(f"{kind}.{key}" for kind, items in doc["resource"].items() for key in items)
    assert run.applied == declared
    assert "aws_eks_node_group.node_group" in declared and "aws_eks_cluster.cluster" in declared
    assert run.ok("plan", (0, 2)), run.why("plan")
    unexplained = {key: diff for key, diff in run.drift.items() if key not in GAPS}
    assert not unexplained, f"{name}: the second plan changes more than the known emulator gaps: {unexplained}"
    assert run.ok("destroy"), run.why("destroy")
    assert run.left == [], f"{name}: still in state after destroy: {run.left}"


def test_every_gap_is_still_real(runs):
    """A gap moto has closed must leave GAPS, so the plan check stays as strict as the emulator allows."""
    assert sorted(set(GAPS) - {key for run in runs.values() for key in run.drift}) == []
