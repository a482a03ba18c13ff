"""model.uri, model.secrets and model.command (issue 12): what the spec refuses, with a located message, and the read
grants and command lines each target emits for them, read from the synthesized JSON."""

from __future__ import annotations

import json
import shlex

import pytest
import yaml

from compiler.cli import main
from tests.conftest import spec_dict, synth_documents
from tests.replica_sandbox import boot_script

GCP = {"project": "acme-ml", "region": "us-central1"}
HF = "hf://meta-llama/Llama-3.1-8B-Instruct"
ARGS = ["--model", "/mnt/models"]


def errors(tmp_path, capsys, doc: dict, severity: str = "error") -> list[str]:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    code = main(["validate", str(path)])
    found = [line for line in capsys.readouterr().err.splitlines() if f": {severity}: " in line]
    assert code == (2 if severity == "error" and found else 0), found
    assert all(line.startswith(f"{path}:") for line in found)  # located: FILE:LINE:COL
    return [line.split(f": {severity}: ", 1)[1] for line in found]


@pytest.mark.parametrize("model, targets, expected", [
    ({"secrets": {"HF_TOKEN": {"aws": "arn:aws:ssm:us-east-1:123456789012:parameter/hf"}}},
     {"aws": {"region": "us-east-1"}, "gcp": GCP},
     "gcp: model.secrets.HF_TOKEN has no reference for gcp; add gcp: projects/<project>/secrets/<secret>"),
    ({"env": {"HF_TOKEN": "x"}, "secrets": {"HF_TOKEN": {"aws": "arn:aws:ssm:us-east-1:123456789012:parameter/hf"}}},
     {"aws": {"region": "us-east-1"}}, "model.secrets.HF_TOKEN is also in model.env"),
    ({"secrets": {"MODEL_DIR": {"aws": "arn:aws:ssm:us-east-1:123456789012:parameter/hf"}}},
     {"aws": {"region": "us-east-1"}}, "model.secrets.MODEL_DIR is set by infc from model.uri"),
    ({"secrets": {"T": {"aws": "arn:aws:secretsmanager:us-east-1:123456789012:secret:hftoken"}}},
     {"aws": {"region": "us-east-1"}}, "is not a Secrets Manager secret ARN"),
    ({"secrets": {"T": {"azureml": "https://kv1.vault.azure.net/secrets/t"}},
      "uri": "azureml://registries/r-1/models/m/versions/1"},
     {"azureml": {"location": "eastus", "image": "x.azurecr.io/m:1"}},
     "azureml: model.secrets.T.azureml names no secret version"),
    ({"uri": "azureml://registries/r-1/models/m/versions/1"}, {"aws": {"region": "us-east-1"}},
     "aws: model.uri is an Azure ML registry model, which only the azureml target mounts"),
    ({"uri": "https://models.example.com/m"}, {"aws": {"region": "us-east-1"}}, "is not a model location"),
])
def test_what_cannot_be_delivered_is_a_located_error(tmp_path, capsys, model, targets, expected):
    doc = spec_dict(model={**spec_dict()["model"], "args": ARGS, **model})
    doc["targets"] = targets
    if "azureml" in targets:
        doc["hardware"] = {"accelerator": "nvidia-a100-80gb"}
    found = errors(tmp_path, capsys, doc)
    assert len(found) == 1 and expected in found[0], found


def test_a_model_the_server_is_never_told_about_is_a_warning(tmp_path, capsys):
    doc = spec_dict(model={**spec_dict()["model"], "uri": HF})
    assert [w for w in errors(tmp_path, capsys, doc, "warning") if "/mnt/models" in w] == [
        "model.args: the model's files are delivered to /mnt/models (aws), but neither model.args, model.command nor "
        "model.env mention /mnt/models or MODEL_DIR: tell the server where they are, e.g. args: [--model, /mnt/models]"
        .replace("model.args: ", "")]


KV = "https://acme-kv.vault.azure.net/secrets/"
SECRETS = {  # two secrets in one vault, and one secret under two names: one lookup, one grant per secret
    "HF_TOKEN": {"azure": KV + "hf", "gcp": "projects/p-secrets/secrets/hf", "kubernetes": "hf/token",
                 "aws": "arn:aws:secretsmanager:us-east-1:123456789012:secret:hf-Ab12Cd"},
    "HUGGING_FACE_HUB_TOKEN": {"azure": KV + "hf", "gcp": "projects/p-secrets/secrets/hf/versions/3",
                               "kubernetes": "hf/token",
                               "aws": "arn:aws:secretsmanager:us-east-1:123456789012:secret:hf-Ab12Cd"},
    "API_KEY": {"azure": KV + "api-key", "gcp": "projects/p-secrets/secrets/api-key", "kubernetes": "api/key",
                "aws": "arn:aws:ssm:us-east-1:123456789012:parameter/api/key"},
}


@pytest.fixture(scope="module")
def stacks(tmp_path_factory):
    model = {"uri": HF, "command": ["vllm", "serve", "$(HOME)"], "args": ARGS, "secrets": SECRETS}
    doc = spec_dict(model={**spec_dict()["model"], **model},
                    hardware={"accelerator": "nvidia-t4"},
                    targets={"aws": {"region": "us-east-1"}, "azure": {"location": "eastus"}, "gcp": GCP,
                             "kubernetes": {}})
    out = synth_documents(tmp_path_factory.mktemp("delivery"), [doc])
    return lambda target: json.loads((out / "stacks" / f"svc-{target}" / "cdk.tf.json").read_text())


def test_azure_looks_each_vault_up_once_and_grants_each_secret_once(stacks):
    doc = stacks("azure")
    assert list(doc["data"]["azurerm_resources"]) == ["key_vault_acme-kv"]
    grants = doc["resource"]["azurerm_role_assignment"]
    assert sorted(g["scope"] for g in grants.values()) == [
        "${data.azurerm_resources.key_vault_acme-kv.resources[0].id}/secrets/api-key",
        "${data.azurerm_resources.key_vault_acme-kv.resources[0].id}/secrets/hf"]
    assert {g["role_definition_name"] for g in grants.values()} == {"Key Vault Secrets User"}
    assert {g["principal_id"] for g in grants.values()} == {
        "${azurerm_user_assigned_identity.replica_identity.principal_id}"}


def test_gcp_binds_the_accessor_role_on_each_secret_once(stacks):
    members = stacks("gcp")["resource"]["google_secret_manager_secret_iam_member"].values()
    assert sorted((m["project"], m["secret_id"], m["role"]) for m in members) == [
        ("p-secrets", "api-key", "roles/secretmanager.secretAccessor"),
        ("p-secrets", "hf", "roles/secretmanager.secretAccessor")]


def test_aws_may_read_exactly_those_arns(stacks):
    policy = json.loads(stacks("aws")["resource"]["aws_iam_role_policy"]["secrets_read"]["policy"])
    assert policy["Statement"] == [
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
         "Resource": ["arn:aws:secretsmanager:us-east-1:123456789012:secret:hf-Ab12Cd"]},
        {"Effect": "Allow", "Action": "ssm:GetParameter",
         "Resource": ["arn:aws:ssm:us-east-1:123456789012:parameter/api/key"]}]


def test_the_command_replaces_the_entrypoint_literally(stacks):
    script, _ = boot_script(stacks("gcp"), "gcp")
    run = shlex.split(script.rstrip("\n").rsplit("\n", 1)[-1])
    entry = run.index("--entrypoint")
    assert run[entry + 1] == "vllm" and run[-5:] == ["vllm/vllm-openai:v0.6.3", "serve", "$(HOME)", *ARGS]
    (container,) = stacks("kubernetes")["resource"]["kubernetes_deployment_v1"]["deployment"]["spec"]["template"][
        "spec"]["container"]
    assert container["command"] == ["vllm", "serve", "$$(HOME)"]  # the kubelet reads $$ as $: no expansion
    assert container["args"] == ARGS
    names = [e["name"] for e in container["env"] if "value_from" in e]
    assert names == ["API_KEY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"]
