"""Hostile spec text through every boot path: each model.args entry reaches the container as exactly one literal
argv element, and the env file holds the literal values, on aws and azure (cloud-init user data, base64 in the
JSON), gcp (the startup script) and kubernetes/gke (container args, as the kubelet passes them on).

The VM boot script really runs, under `bash -n` first and then in the sandbox of tests/replica_sandbox.py: stubs of
every command the boot path may call (docker, apt-get, curl, gpg, nvidia-ctk, nvidia-smi, systemctl, and `id`, which
a command substitution in a spec string would run), each recording its argv NUL-separated, and a few real utilities;
PATH holds only those, so a command nobody stubbed fails the run instead of running on the test machine. cloud-init's
part is read as cloud-init reads it (PyYAML's safe loader): it writes the script and runs it with bash, infc's own
text. The script's fixed paths (/etc/infc, /var/lib/infc, ...) move under the sandbox (the hostile strings contain
none of them, which is checked). Rewriting a root prefix needs no privileges or user namespaces, so the test runs the
same on any CI machine.
"""

from __future__ import annotations

import json
import stat
import subprocess

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.ir import MODEL_DIR
from targets import delivery
from tests.conftest import synth_documents
from tests.replica_sandbox import MOVED, Sandbox, boot_script, docker_env_file, kubelet_reads

IMAGE = "registry.example.com/acme/vllm:0.6.3"
ARGS = ["--x=$(id)", "a;b", "'", '"', "\\", "`id`", "two\nlines", "${HOME}", "%{x}", "$${HOME}", "😀 é ü",
        "  spaced  ", "", "*", "--y=$((1+1))", "back\\slash'quote\"", "tab\there", "-", "#not-a-comment",
        "a b c", "%%{y}", "$", "!", "~root"]
ENV = {"A": "$(id)", "B": "a;b'\"\\`id`", "C": "${HOME} %{x} $${y}", "D": "😀", "E": "  lead and trail  ",
       "F": "#not a comment", "G": "=x=y", "H": "", "I": "back\\slash"}
NAME = "m'$(id)\"`id`${x}"
# A model URI is one token of a known form (compiler/values.py), but its key may hold any other character: gs:// is
# read anonymously outside gcp and granted by bucket there, so nothing in the key reaches an IAM policy.
URI = "gs://acme-models/a'b/\"q\"/`id`/$(id)/${x}?y=%{z}&$${w}\\"
AML_URI = "azureml://registries/acme-ml/models/m/versions/1"  # azureml mounts registry models only
MODEL_PORT, READY_PORT, LIVE_PORT = 9000, 8081, 8082


def service(name: str, target: dict, accelerator: str = "nvidia-t4") -> dict:
    return {
        "apiVersion": "infc/v1", "kind": "InferenceService", "metadata": {"name": name},
        "model": {"name": NAME, "image": IMAGE, "uri": URI, "port": MODEL_PORT, "args": ARGS, "env": ENV},
        "hardware": {"accelerator": accelerator, **({"memory_gib": 16} if accelerator == "none" else {})},
        "probes": {"readiness": {"path": "/ready", "port": READY_PORT},
                   "liveness": {"path": "/live", "port": LIVE_PORT}},
        "targets": target,
    }


GCP = {"project": "acme-ml", "region": "us-central1"}
DOCS = [service("boot-aws", {"aws": {"region": "us-east-1"}}),
        service("boot-aws-cpu", {"aws": {"region": "us-east-1"}}, "none"),
        service("boot-azure", {"azure": {"location": "eastus"}}),
        service("boot-gcp", {"gcp": GCP}),
        service("boot-gcp-cpu", {"gcp": GCP}, "none"),
        service("boot-k8s", {"kubernetes": {}}),
        service("boot-gke", {"gke": GCP}),
        service("boot-aml", {"azureml": {"location": "eastus", "image": IMAGE, "model_uri": AML_URI}},
                "nvidia-a100-80gb")]
# The sandbox's world: the model store holds the hostile URI; nothing is served (the image is no real server).
WORLD = {"secrets": {}, "client_id": "", "serve": False, "gpus": 1, "compute_capability": 7.5,
         "models": {URI: {"files": {"config.json": "{}"}}},
         "tools": {"aws": delivery.AWS_CLI, "gcloud": delivery.GCLOUD, "az": delivery.AZURE_CLI,
                   "initializer": delivery.STORAGE_INITIALIZER}}


def test_the_hostile_text_avoids_the_paths_the_sandbox_moves():
    texts = [*ARGS, *ENV.values(), NAME, URI]
    assert not [t for t in texts for moved in MOVED if moved in t]


@pytest.fixture(scope="module")
def stacks(tmp_path_factory):
    out = synth_documents(tmp_path_factory.mktemp("boot"), DOCS)

    def load(name: str) -> dict:
        (target,) = next(d for d in DOCS if d["metadata"]["name"] == name)["targets"]
        return json.loads((out / "stacks" / f"{name}-{target}" / "cdk.tf.json").read_text())
    return load


def terraform_reads(text: str) -> str:
    """A Terraform JSON string as Terraform reads it. Strings are templates there, so every ${ and %{ must be
    escaped by doubling its first character, which Terraform reads back as ${ and %{ (HCL's template literals,
    hashicorp/hcl hclsyntax/spec.md; checked against terraform itself in tests/test_literal.py)."""
    out, i = [], 0
    while i < len(text):
        if text.startswith(("$${", "%%{"), i):
            out.append(text[i + 1:i + 3])
            i += 3
        else:
            assert not text.startswith(("${", "%{"), i), f"an unescaped template sequence at {i} in {text!r}"
            out.append(text[i])
            i += 1
    return "".join(out)


WANTED_ENV = {"MODEL_NAME": NAME, "MODEL_URI": URI, "MODEL_DIR": MODEL_DIR, **ENV}


def check_docker_run(calls: list[list[str]], env_file: str, gpus: bool) -> None:
    """The model's download, then one server `docker run`, each spec argument one literal argv element after the
    image; nothing else ran `id`."""
    assert not [c for c in calls if c[0] == "id"], "a command substitution ran"
    runs = [c for c in calls if c[:2] == ["docker", "run"]]
    assert len(runs) == 2, calls
    download, argv = runs
    assert download[-3:] == [delivery.STORAGE_INITIALIZER, URI, MODEL_DIR] and "--rm" in download
    assert "--detach" in argv and argv[-len(ARGS) - 1:] == [IMAGE, *ARGS]
    options = argv[2:-len(ARGS) - 1]
    assert options[options.index("--env-file") + 1] == env_file
    assert sorted(options[i + 1] for i, x in enumerate(options) if x == "--publish") == [
        f"{p}:{p}" for p in sorted((LIVE_PORT, READY_PORT, MODEL_PORT))]
    assert ("--gpus" in options) == gpus and (not gpus or options[options.index("--gpus") + 1] == "all")
    host = download[download.index("--volume") + 1].split(":")[0]
    assert options[options.index("--volume") + 1] == f"{host}:{MODEL_DIR}:ro"


def run_boot(box: Sandbox, script: str) -> subprocess.CompletedProcess:
    assert script.startswith("#!/bin/bash\n")
    for shell in ("sh", "bash"):
        syntax = subprocess.run([shell, "-n"], input=script.encode(), capture_output=True)
        assert syntax.returncode == 0, (shell, syntax.stderr)
    run = box.run(box.move(script))
    assert run.returncode == 0, run.stderr.decode()
    return run


def check_env_file(box: Sandbox) -> str:
    env_file = box.root / "etc/infc/model.env"
    assert docker_env_file(env_file.read_bytes()) == WANTED_ENV
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((box.root / "etc/infc").stat().st_mode) == 0o700
    return str(env_file)


# --- cloud-init (aws launch template user data, azure scale set custom data) ---------------------------------------

@pytest.mark.parametrize("name, gpus, docker_on_image", [("boot-aws", True, True), ("boot-aws-cpu", False, False),
                                                        ("boot-azure", True, True)])
def test_cloud_init_runs_each_argument_as_one_literal_argv_element(stacks, tmp_path, name, gpus, docker_on_image):
    script, files = boot_script(stacks(name), name.split("-")[1])  # cloud-init writes it 0700 and runs it with bash
    assert files == {}
    box = Sandbox(tmp_path, WORLD, absent=() if docker_on_image else ("docker",))
    run_boot(box, script)
    calls = box.calls()
    check_docker_run(calls, check_env_file(box), gpus)
    installs = [c for c in calls if c[0] == "apt-get"]
    assert installs == ([] if docker_on_image else [["apt-get", "update", "-y"],
                                                    ["apt-get", "install", "-y", "docker.io"]])


# --- the Compute Engine startup script -----------------------------------------------------------------------------

@pytest.mark.parametrize("name, gpus, absent", [
    ("boot-gcp", True, ()),  # the Deep Learning VM image: docker and the toolkit are there
    ("boot-gcp", True, ("nvidia-ctk",)),  # a GPU image without the toolkit
    ("boot-gcp-cpu", False, ("docker",))])  # Ubuntu: docker gets installed
def test_startup_script_runs_each_argument_as_one_literal_argv_element(stacks, tmp_path, name, gpus, absent):
    box = Sandbox(tmp_path, WORLD, absent)
    script, _ = boot_script(stacks(name), "gcp")
    run_boot(box, script)
    env_file = check_env_file(box)
    calls = box.calls()
    check_docker_run(calls, env_file, gpus)
    if "nvidia-ctk" in absent:
        assert ["nvidia-ctk", "runtime", "configure", "--runtime=docker"] in calls
        assert ["systemctl", "restart", "docker"] in calls
    # Compute Engine runs the script on every boot: the second run downloads nothing and starts nothing.
    before = len(calls)
    run_boot(box, script)
    assert [c[:2] for c in box.calls()[before:] if c[0] == "docker"] == [["docker", "container"]]
    check_env_file(box)


# --- Kubernetes, GKE and Azure ML: structured fields, no shell -----------------------------------------------------

@pytest.mark.parametrize("name", ["boot-k8s", "boot-gke"])
def test_container_args_and_env_are_literal(stacks, name):
    (container,) = stacks(name)["resource"]["kubernetes_deployment_v1"]["deployment"]["spec"]["template"]["spec"][
        "container"]
    env = {}
    for e in container["env"]:  # the kubelet expands $(VAR) of the variables before it, and reads $$ as $
        env[terraform_reads(e["name"])] = kubelet_reads(terraform_reads(e["value"]), env)
    assert env == WANTED_ENV
    assert [kubelet_reads(terraform_reads(a), env) for a in container["args"]] == ARGS
    assert "command" not in container  # args are appended to the image's entrypoint, not run by a shell


def test_azureml_environment_variables_are_literal(stacks):
    body = stacks("boot-aml")["resource"]["azapi_resource"]["deployment"]["body"]["properties"]
    assert {terraform_reads(k): terraform_reads(v) for k, v in body["environmentVariables"].items()} == {
        **WANTED_ENV, "MODEL_URI": AML_URI}



# --- Text no boot path can carry is refused where it is written ----------------------------------------------------

REFUSED = [  # compiler/values.py words the messages
    ({"name": "m\nEVIL=1"}, "model.name: must be one line of text"),  # would add a variable to the env file
    ({"uri": "s3://bucket/p\rX"}, "model.uri: 's3://bucket/p\\rX' is not a model location"),  # the value's repr
    ({"env": {"A": "value\r"}}, "model.env.A: must be one line of text"),  # docker drops a \r before the line end
    ({"args": ["ok", "a\0b"]}, "model.args[1]: must be text without control characters other than tab and line feed"),
]


@pytest.mark.parametrize("model, message", REFUSED, ids=["name-newline", "uri-cr", "env-cr", "args-nul"])
def test_text_no_boot_path_can_carry_is_a_located_error(tmp_path, capsys, model, message):
    from compiler.cli import main

    doc = service("refused", {"gcp": GCP, "kubernetes": {}})
    doc["model"].update(model)
    file = tmp_path / "spec.yaml"
    file.write_text(yaml.safe_dump(doc, sort_keys=False))
    assert main(["validate", str(file)]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if ": error: " in line]
    assert len(errors) == 1 and message in errors[0] and errors[0].startswith(f"{file}:"), errors
