"""Hostile spec text through every boot path: each model.args entry reaches the container as exactly one literal
argv element, and the env file holds the literal values, on aws and azure (cloud-init user data, base64 in the
JSON), gcp (the startup script) and kubernetes/gke (container args).

The scripts really run, under `sh -n` first and then in a sandbox: a temporary directory whose bin/ holds stubs of
every command the boot path may call (docker, apt-get, curl, gpg, nvidia-ctk, systemctl, and `id`, which a command
substitution in a spec string would run), each recording its argv NUL-separated, and whose tools/ links the few real
utilities the scripts use (sh, install, chmod, sed); PATH is those two directories only, so a command nobody
stubbed fails the run instead of running on the test machine. cloud-init's part is emulated as
cloud-init does it: the user data is read with PyYAML's safe loader, write_files is written, and runcmd becomes the
/bin/sh script of cloud-init's `shellify` (canonical/cloud-init cloudinit/util.py, at 04eacd06: a list entry is each
item in single quotes, a quote inside written '\\'' , items joined by spaces), run by sh. The startup script writes
to /etc and /usr/share itself: those fixed paths of infc's own text are moved under the sandbox (the hostile
strings contain none of them, which is checked). Rewriting a root prefix needs no privileges or user namespaces,
so the test runs the same on any CI machine.
"""

from __future__ import annotations

import base64
import json
import pathlib
import re
import shutil
import stat
import subprocess

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import synth_documents

IMAGE = "registry.example.com/acme/vllm:0.6.3"
ARGS = ["--x=$(id)", "a;b", "'", '"', "\\", "`id`", "two\nlines", "${HOME}", "%{x}", "$${HOME}", "😀 é ü",
        "  spaced  ", "", "*", "--y=$((1+1))", "back\\slash'quote\"", "tab\there", "-", "#not-a-comment",
        "a b c", "%%{y}", "$", "!", "~root"]
ENV = {"A": "$(id)", "B": "a;b'\"\\`id`", "C": "${HOME} %{x} $${y}", "D": "😀", "E": "  lead and trail  ",
       "F": "#not a comment", "G": "=x=y", "H": "", "I": "back\\slash"}
NAME = "m'$(id)\"`id`${x}"
URI = "https://models.example.com/a b/'q'/${x}?y=%{z}"
MODEL_PORT, READY_PORT, LIVE_PORT = 9000, 8081, 8082
# Fixed paths of infc's own script text that the sandbox moves under its root.
MOVED = ("/etc/infc", "/etc/apt/", "/usr/share/keyrings/")
STUBS = ("docker", "apt-get", "curl", "gpg", "nvidia-ctk", "systemctl", "id")
REAL_TOOLS = ("sh", "install", "chmod", "sed", "basename", "ln")  # the last two for the stubs themselves


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
        service("boot-aml", {"azureml": {"location": "eastus", "image": IMAGE}}, "nvidia-a100-80gb")]


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


def docker_env_file(data: bytes) -> dict[str, str]:
    """An --env-file as docker reads it (docker/cli pkg/kvfile/kvfile.go at 28f75608): valid UTF-8, lines split
    at \\n with one trailing \\r dropped (bufio.ScanLines), leading whitespace removed, '#' lines and empty lines
    skipped, KEY=VALUE with the value taken as is, a key without '=' ignored (no such variable in the host)."""
    out = {}
    for line in data.decode("utf-8").split("\n"):
        line = line.removesuffix("\r").lstrip()
        if not line or line.startswith("#"):
            continue
        key, equals, value = line.partition("=")
        assert key and not re.search(r"[ \t]", key), line
        if equals:
            out[key] = value
    return out


WANTED_ENV = {"MODEL_NAME": NAME, "MODEL_URI": URI, **ENV}


class Sandbox:
    """A directory standing in for the machine: stub commands in bin/ that log their argv, files under root/."""

    def __init__(self, path: pathlib.Path, present=STUBS):
        self.path, self.bin, self.root, self.log = path, path / "bin", path / "root", path / "calls"
        self.bin.mkdir()
        self.root.mkdir()
        (self.root / "etc/apt/sources.list.d").mkdir(parents=True)
        (self.root / "usr/share/keyrings").mkdir(parents=True)
        # Each call appends: its name, its argument count, its arguments, NUL-separated. `docker container inspect`
        # succeeds once `docker run` has run; installing a package installs its command, as apt-get would.
        self.stub = path / "stub"
        self.stub.write_text(f"""#!/bin/sh
name=$(basename "$0")
printf '%s\\0' "$name" "$#" "$@" >> '{self.log}'
if [ "$name" = docker ] && [ "$1" = run ]; then : > '{path}/running'; fi
if [ "$name" = docker ] && [ "$1" = container ]; then [ -e '{path}/running' ]; exit $?; fi
if [ "$name" = apt-get ] && [ "$1" = install ]; then
  for pkg in "$@"; do
    case "$pkg" in docker.io) ln -sf '{self.stub}' '{self.bin}/docker';;
                   nvidia-container-toolkit) ln -sf '{self.stub}' '{self.bin}/nvidia-ctk';; esac
  done
fi
exit 0
""")
        self.stub.chmod(0o755)
        for command in present:
            (self.bin / command).symlink_to(self.stub)
        tools = path / "tools"
        tools.mkdir()
        for tool in REAL_TOOLS:
            (tools / tool).symlink_to(shutil.which(tool))
        self.env = {"PATH": f"{self.bin}:{tools}", "HOME": str(path / "home"), "LC_ALL": "C.UTF-8"}

    def run(self, shell: str, script: str) -> subprocess.CompletedProcess:
        file = self.path / "script"
        file.write_text(script, encoding="utf-8")
        return subprocess.run([shutil.which(shell), str(file)], env=self.env, capture_output=True, timeout=60)

    def calls(self) -> list[list[str]]:
        fields = self.log.read_bytes().decode("utf-8").split("\0")[:-1] if self.log.exists() else []
        out = []
        while fields:
            name, count = fields[0], int(fields[1])
            out.append([name, *fields[2:2 + count]])
            fields = fields[2 + count:]
        return out


def check_docker_run(calls: list[list[str]], env_file: str, gpus: bool) -> None:
    """One `docker run`, each spec argument one literal argv element after the image; nothing else ran `id`."""
    assert not [c for c in calls if c[0] == "id"], "a command substitution ran"
    runs = [c for c in calls if c[:2] == ["docker", "run"]]
    assert len(runs) == 1, calls
    argv = runs[0]
    assert argv[-len(ARGS) - 1:] == [IMAGE, *ARGS]
    options = argv[2:-len(ARGS) - 1]
    assert options[options.index("--env-file") + 1] == env_file
    assert sorted(options[i + 1] for i, x in enumerate(options) if x == "--publish") == [
        f"{p}:{p}" for p in sorted((LIVE_PORT, READY_PORT, MODEL_PORT))]
    assert ("--gpus" in options) == gpus and (not gpus or options[options.index("--gpus") + 1] == "all")


# --- cloud-init (aws launch template user data, azure scale set custom data) ---------------------------------------

def shellify(commands: list) -> str:
    """cloud-init's runcmd script (cloudinit/util.py shellify): list entries quoted item by item, strings as is."""
    lines = ["#!/bin/sh"]
    for command in commands:
        if isinstance(command, list):
            lines.append(" ".join("'" + str(item).replace("'", "'\\''") + "'" for item in command))
        elif command is not None:
            lines.append(command)
    return "\n".join(lines) + "\n"


def cloud_config(doc: dict, name: str) -> dict:
    resource = doc["resource"]
    encoded = (resource["aws_launch_template"]["launch_template"]["user_data"] if "-aws" in name
               else resource["azurerm_linux_virtual_machine_scale_set"]["scale_set"]["custom_data"])
    text = base64.b64decode(encoded).decode("utf-8")
    assert text.startswith("#cloud-config\n")
    return yaml.safe_load(text)  # cloud-init reads user data with PyYAML's safe loader


@pytest.mark.parametrize("name, gpus, docker_on_image", [("boot-aws", True, True), ("boot-aws-cpu", False, False),
                                                        ("boot-azure", True, True)])
def test_cloud_init_runs_each_argument_as_one_literal_argv_element(stacks, tmp_path, name, gpus, docker_on_image):
    config = cloud_config(stacks(name), name)
    box = Sandbox(tmp_path, STUBS if docker_on_image else tuple(s for s in STUBS if s != "docker"))
    (written,) = config["write_files"]
    target = box.root / written["path"].lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(written["content"].encode("utf-8"))  # cloud-init writes text files as UTF-8
    target.chmod(int(written["permissions"], 8))
    assert docker_env_file(target.read_bytes()) == WANTED_ENV
    assert written["permissions"] == "0600"
    script = shellify(config["runcmd"])
    syntax = subprocess.run(["sh", "-n"], input=script.encode(), capture_output=True)
    assert syntax.returncode == 0, syntax.stderr
    run = box.run("sh", script)
    assert run.returncode == 0, run.stderr.decode()
    calls = box.calls()
    check_docker_run(calls, written["path"], gpus)
    installs = [c for c in calls if c[0] == "apt-get"]
    assert installs == ([] if docker_on_image else [["apt-get", "update", "-y"],
                                                    ["apt-get", "install", "-y", "docker.io"]])


# --- the Compute Engine startup script -----------------------------------------------------------------------------

def startup_script(doc: dict, root: pathlib.Path) -> str:
    template = doc["resource"]["google_compute_region_instance_template"]["instance_template"]
    script = terraform_reads(template["metadata"]["startup-script"])
    assert script.startswith("#!/bin/bash\n")
    for moved in MOVED:
        script = script.replace(moved, f"{root}{moved}")
    return script


@pytest.mark.parametrize("name, gpus, present", [
    ("boot-gcp", True, STUBS),  # the Deep Learning VM image: docker and the toolkit are there
    ("boot-gcp", True, tuple(s for s in STUBS if s != "nvidia-ctk")),  # a GPU image without the toolkit
    ("boot-gcp-cpu", False, tuple(s for s in STUBS if s != "docker"))])  # Ubuntu: docker gets installed
def test_startup_script_runs_each_argument_as_one_literal_argv_element(stacks, tmp_path, name, gpus, present):
    box = Sandbox(tmp_path, present)
    assert re.fullmatch(r"[A-Za-z0-9/_.-]+", str(box.root))  # a root prefix needs no quoting in the script
    script = startup_script(stacks(name), box.root)
    for shell in ("sh", "bash"):
        syntax = subprocess.run([shell, "-n"], input=script.encode(), capture_output=True)
        assert syntax.returncode == 0, (shell, syntax.stderr)
    first = box.run("bash", script)
    assert first.returncode == 0, first.stderr.decode()
    env_file = box.root / "etc/infc/model.env"
    assert docker_env_file(env_file.read_bytes()) == WANTED_ENV
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((box.root / "etc/infc").stat().st_mode) == 0o700
    calls = box.calls()
    check_docker_run(calls, str(env_file), gpus)
    if "nvidia-ctk" not in present:
        assert ["nvidia-ctk", "runtime", "configure", "--runtime=docker"] in calls
        assert ["systemctl", "restart", "docker"] in calls
    # Compute Engine runs the script on every boot: the second run changes nothing and starts nothing.
    before = len(calls)
    again = box.run("bash", script)
    assert again.returncode == 0, again.stderr.decode()
    assert [c[:2] for c in box.calls()[before:]] == [["docker", "container"]]
    assert docker_env_file(env_file.read_bytes()) == WANTED_ENV


# --- Kubernetes, GKE and Azure ML: structured fields, no shell -----------------------------------------------------

@pytest.mark.parametrize("name", ["boot-k8s", "boot-gke"])
def test_container_args_and_env_are_literal(stacks, name):
    (container,) = stacks(name)["resource"]["kubernetes_deployment_v1"]["deployment"]["spec"]["template"]["spec"][
        "container"]
    assert [terraform_reads(a) for a in container["args"]] == ARGS
    assert {terraform_reads(e["name"]): terraform_reads(e["value"]) for e in container["env"]} == WANTED_ENV
    assert "command" not in container  # args are appended to the image's entrypoint, not run by a shell


def test_azureml_environment_variables_are_literal(stacks):
    body = stacks("boot-aml")["resource"]["azapi_resource"]["deployment"]["body"]["properties"]
    assert {terraform_reads(k): terraform_reads(v) for k, v in body["environmentVariables"].items()} == WANTED_ENV



# --- Text no boot path can carry is refused where it is written ----------------------------------------------------

REFUSED = [  # compiler/values.py words the messages
    ({"name": "m\nEVIL=1"}, "model.name: must be one line of text"),  # would add a variable to the env file
    ({"uri": "s3://bucket/p\rX"}, "model.uri: must be one line of text"),
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
