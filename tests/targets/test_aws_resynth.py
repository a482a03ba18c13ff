"""The README's quickstart twice, for real on the AWS emulator: synth, init, apply, edit the spec, synth again, plan.

The second synth must keep the state, the lock file, .terraform/ and a user's override file byte for byte, and the
plan must see the applied resources (an in-place update of what the edit changed, nothing to create). And an S3
state backend works against the emulator's S3: init, a state written with S3-native locking, no lock left behind.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess

import pytest
import yaml

from compiler.cli import main
from tests.conftest import ROOT, moto, provider_mirror, terraform, terraform_rc
from tests.targets.test_aws_apply import SerialServer, _changed, _gap, _seed, override

EXAMPLE = ROOT / "examples" / "embeddings-cpu.yaml"


@pytest.fixture(scope="module")
def moto_endpoint():
    """moto on a free port of 127.0.0.1 (a skip, or a failure under INFC_REQUIRE_TOOLS, without the tools)."""
    moto()
    terraform()
    provider_mirror("hashicorp/aws")
    from moto.moto_api._internal.models import moto_api_backend

    try:
        with SerialServer() as endpoint:
            yield endpoint
    finally:
        moto_api_backend.reset()


@pytest.fixture(scope="module")
def tf_env(tmp_path_factory) -> dict:
    home = tmp_path_factory.mktemp("tf-resynth")
    config = terraform_rc(home / "cli.tfrc", provider_mirror("hashicorp/aws"))
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "TF_"))}
    env.update(TF_CLI_CONFIG_FILE=str(config), TF_IN_AUTOMATION="1", CHECKPOINT_DISABLE="1")
    return env


def tf(work: pathlib.Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([terraform(), *args, "-no-color"], cwd=work, env=env, capture_output=True, text=True,
                          timeout=900)


def snapshot(stack: pathlib.Path) -> dict[str, bytes]:
    return {p.relative_to(stack).as_posix(): p.read_bytes() for p in sorted(stack.rglob("*"))
            if p.is_file() and p.name != "cdk.tf.json"}


def test_quickstart_twice_keeps_the_state_and_plans_an_update(tmp_path, moto_endpoint, tf_env):
    spec = tmp_path / "spec.yaml"
    doc = yaml.safe_load(EXAMPLE.read_text())
    spec.write_text(yaml.safe_dump(doc, sort_keys=False))
    out = tmp_path / "cdktf.out"
    assert main(["synth", str(spec), "--target", "aws", "--out", str(out)]) == 0
    stack = out / "stacks" / "embed-aws"
    _seed({"embed-aws": json.loads((stack / "cdk.tf.json").read_text())})
    (stack / "moto_override.tf.json").write_text(json.dumps(override(moto_endpoint), indent=2))  # a user's file
    init = tf(stack, tf_env, "init", "-input=false")
    assert init.returncode == 0, init.stderr
    apply = tf(stack, tf_env, "apply", "-input=false", "-auto-approve")
    assert apply.returncode == 0, apply.stderr + apply.stdout[-3000:]
    applied = json.loads((stack / "terraform.tfstate").read_text())["resources"]
    # With the model_read policy of targets.aws.model_uri, the ECR repository (registry) and its image_pull policy.
    assert len([r for r in applied if r["mode"] == "managed"]) == 16
    kept = snapshot(stack)
    assert {"terraform.tfstate", ".terraform.lock.hcl", "moto_override.tf.json"} <= set(kept)

    doc["load_balancer"]["idle_timeout"] = "5m"  # the edit: one attribute of one resource
    spec.write_text(yaml.safe_dump(doc, sort_keys=False))
    assert main(["synth", str(spec), "--target", "aws", "--out", str(out)]) == 0
    assert snapshot(stack) == kept  # state, lock file, .terraform/ and the override: byte for byte

    try:
        plan = tf(stack, tf_env, "plan", "-input=false", "-detailed-exitcode", "-out=edit.tfplan")
        assert plan.returncode == 2, plan.stderr + plan.stdout[-3000:]
        shown = tf(stack, tf_env, "show", "-json", "edit.tfplan")
        changes = json.loads(shown.stdout)
        actions = {c["address"]: c["change"]["actions"] for c in changes["resource_changes"]
                   if c["change"]["actions"] != ["no-op"]}
        assert all(a == ["update"] for a in actions.values()), actions  # nothing created, nothing replaced
        unexplained = {key: diff for key, diff in _changed(changes).items() if not _gap(*key)}
        assert unexplained == {("aws_lb.load_balancer", "idle_timeout"): "240 -> 300"}
    finally:
        destroy = tf(stack, tf_env, "destroy", "-input=false", "-auto-approve", "-refresh=false")
        assert destroy.returncode == 0, destroy.stderr


def test_s3_backend_holds_the_state_with_native_locking(tmp_path, moto_endpoint, tf_env):
    import boto3

    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="eu-west-1", aws_access_key_id="testing",
                      aws_secret_access_key="testing")
    s3.create_bucket(Bucket="acme-tf-state", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    spec = tmp_path / "spec.yaml"
    doc = yaml.safe_load(EXAMPLE.read_text())
    doc["targets"]["aws"]["backend"] = {"type": "s3", "bucket": "acme-tf-state"}
    spec.write_text(yaml.safe_dump(doc, sort_keys=False))
    out = tmp_path / "out"
    assert main(["synth", str(spec), "--target", "aws", "--out", str(out)]) == 0
    stack = out / "stacks" / "embed-aws"
    # Where the emulator is and its credentials: partial backend configuration, as a team passes its own.
    (tmp_path / "moto.s3.tfbackend").write_text(
        f'endpoints = {{ s3 = "{moto_endpoint}" }}\nuse_path_style = true\naccess_key = "testing"\n'
        'secret_key = "testing"\nskip_credentials_validation = true\nskip_requesting_account_id = true\n'
        'skip_metadata_api_check = true\n')
    init = tf(stack, tf_env, "init", "-input=false", f"-backend-config={tmp_path / 'moto.s3.tfbackend'}")
    assert init.returncode == 0, init.stderr + init.stdout
    state = {"version": 4, "terraform_version": "1.11.4", "serial": 1, "lineage": "0d6c9f1e-1111-2222-3333-444455556666",
             "outputs": {}, "resources": [], "check_results": None}
    (tmp_path / "state.json").write_text(json.dumps(state))
    # Someone else holds the lock (S3-native: a .tflock object beside the state): the write must wait for it.
    lock = {"ID": "a1b2", "Operation": "OperationTypeApply", "Who": "colleague@ci", "Version": "1.11.4",
            "Created": "2026-12-01T00:00:00Z", "Path": "acme-tf-state/infc/embed-aws/terraform.tfstate", "Info": ""}
    s3.put_object(Bucket="acme-tf-state", Key="infc/embed-aws/terraform.tfstate.tflock", Body=json.dumps(lock))
    held = tf(stack, tf_env, "state", "push", "-lock-timeout=0s", str(tmp_path / "state.json"))
    assert held.returncode != 0 and "Error acquiring the state lock" in held.stderr, held.stderr
    s3.delete_object(Bucket="acme-tf-state", Key="infc/embed-aws/terraform.tfstate.tflock")
    push = tf(stack, tf_env, "state", "push", str(tmp_path / "state.json"))
    assert push.returncode == 0, push.stderr
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="acme-tf-state").get("Contents", []))
    assert keys == ["infc/embed-aws/terraform.tfstate"]  # the state, and no lock object left behind
    stored = json.loads(s3.get_object(Bucket="acme-tf-state", Key=keys[0])["Body"].read())
    assert stored["version"] == 4 and stored["resources"] == []
    assert not (stack / "terraform.tfstate").exists()
