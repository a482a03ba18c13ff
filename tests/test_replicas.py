"""The model actually serves (issue 12): every example's replicas get the model and their secrets and start a server
that passes the load balancer's health check.

VM targets (aws, azure, gcp): the boot script is taken out of the synthesized stack and run in the sandbox of
tests/replica_sandbox.py, whose stubs play docker, the cloud CLIs, the secret stores, the model stores and the server
(tests/fake_server.py, which starts only when the model files are where its arguments say and the arguments fit the
model); it is then probed as the stack's load balancer would (port, path, success codes, timeout from the same
JSON). Kubernetes targets (kubernetes, gke, eks, aks): the pod is played from the Deployment: the init container's download into
its volume, the server container with that volume mounted where it says, its arguments and environment as the
kubelet passes them, probed as its readiness probe says. A broken mapping must fail; a planted secret must appear
only where the server reads it.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import shutil
import time
import urllib.error
import urllib.request

import pytest
import yaml

from compiler.ir import MODEL_DIR
from targets import delivery
from tests import fake_server
from tests.conftest import EXAMPLES, ROOT, synth_documents
from tests.replica_sandbox import CLIENT_ID, Sandbox, boot_script, health_check, kubelet_reads

MARKER = "hf_PLANTED-a7c3e91d-do-not-leak"  # the value of every secret in the stub stores
VM, KUBERNETES = ("aws", "azure", "gcp"), ("kubernetes", "gke", "eks", "aks")

# The models the examples serve, as their config.json on the Hugging Face Hub says (num_attention_heads,
# num_key_value_heads, max_position_embeddings, torch_dtype), and whether the repository is gated (a license to
# accept). Llama 3.1 8B/70B and Llama Guard 3 1B (a fine-tuned Llama 3.2 1B): meta-llama's model cards and configs;
# Mistral 7B Instruct v0.3: mistralai's config; bge-small-en-v1.5: BAAI's config (BERT, 12 heads, 512 positions);
# Qwen2.5 7B Instruct: Qwen's config (28 heads, 4 key-value heads, 32768 positions; not gated), Qwen2.5 1.5B Instruct
# likewise (12 heads, 2 key-value heads, 32768 positions; the Qwen2.5-Coder-1.5B model card gives the same 12 Q / 2 KV
# heads); DistilBERT SST-2:
# distilbert's config (n_heads 12, 512 positions; float32).
MODELS = {
    "llama-3.1-70b-instruct": ({"num_attention_heads": 64, "num_key_value_heads": 8,
                                "max_position_embeddings": 131072, "torch_dtype": "bfloat16"}, True),
    "llama-3.1-8b-instruct": ({"num_attention_heads": 32, "num_key_value_heads": 8,
                               "max_position_embeddings": 131072, "torch_dtype": "bfloat16"}, True),
    "llama-guard-3-1b": ({"num_attention_heads": 32, "num_key_value_heads": 8, "max_position_embeddings": 131072,
                          "torch_dtype": "bfloat16"}, True),
    "mistral-7b-instruct-v0.3": ({"num_attention_heads": 32, "num_key_value_heads": 8,
                                  "max_position_embeddings": 32768, "torch_dtype": "bfloat16"}, True),
    "bge-small-en-v1.5": ({"num_attention_heads": 12, "max_position_embeddings": 512, "torch_dtype": "float32"},
                          False),
    "qwen2.5-7b-instruct": ({"num_attention_heads": 28, "num_key_value_heads": 4,
                             "max_position_embeddings": 32768, "torch_dtype": "bfloat16"}, False),
    "qwen2.5-1.5b-instruct": ({"num_attention_heads": 12, "num_key_value_heads": 2,
                               "max_position_embeddings": 32768, "torch_dtype": "bfloat16"}, False),
    "distilbert-base-uncased-finetuned-sst-2-english": (
        {"num_attention_heads": 12, "max_position_embeddings": 512, "torch_dtype": "float32"}, False),
}
# Compute capability of each accelerator the examples use (NVIDIA's CUDA GPUs table): bfloat16 needs 8.0.
CAPABILITY = {"nvidia-t4": 7.5, "nvidia-a10g": 8.6, "nvidia-l4": 8.9, "nvidia-a100-80gb": 8.0, "none": 0.0}


def services() -> list[dict]:
    return [doc for example in EXAMPLES for doc in yaml.safe_load_all(example.read_text()) if doc]


def stacks(kinds: tuple[str, ...]) -> list[str]:
    return [f"{doc['metadata']['name']}-{t}" for doc in services() for t in doc["targets"] if t in kinds]


def service_of(stack: str) -> tuple[dict, str]:
    for doc in services():
        for target in doc["targets"]:
            if f"{doc['metadata']['name']}-{target}" == stack:
                return doc, target
    raise KeyError(stack)


def model_files(uri: str) -> dict:
    """The fixture files a model store holds at `uri`, and what it asks of the download (a token for a gated
    repository)."""
    name = uri.rstrip("/").rsplit("/", 1)[-1].split("@")[0].lower()
    config, gated = MODELS[name]
    return {"files": {"config.json": json.dumps(config), "tokenizer.json": "{}"}, "token": MARKER if gated else None}


def world(doc: dict, target: str, serve: bool = True) -> dict:
    """The sandbox's outside world for a VM replica of `doc` on `target`: secret and model stores, its GPUs."""
    secrets = {}
    for refs in (doc["model"].get("secrets") or {}).values():
        ref = refs[target]
        if target == "gcp":
            ref = ref if "/versions/" in ref else f"{ref}/versions/latest"
        secrets[ref] = MARKER
    uri = doc["targets"][target].get("model_uri") or doc["model"].get("uri")
    source = delivery.source(uri)
    model = model_files(uri) | {"client_id": CLIENT_ID if source.scheme == "blob" and target == "azure" else None,
                                "anonymous": source.scheme == "s3" and target != "aws"}
    hardware = doc["hardware"]
    gpus = hardware.get("count", 0 if hardware["accelerator"] == "none" else 1)
    return {"secrets": secrets, "client_id": CLIENT_ID, "models": {source.initializer_uri: model}, "serve": serve,
            "gpus": gpus, "compute_capability": CAPABILITY[hardware["accelerator"]],
            "tools": {"aws": delivery.AWS_CLI, "gcloud": delivery.GCLOUD, "az": delivery.AZURE_CLI,
                      "initializer": delivery.STORAGE_INITIALIZER}}


@dataclasses.dataclass
class Replica:
    passed: bool
    why: str
    box: pathlib.Path
    server: dict | None  # the container config docker gave the server


def probe(box: pathlib.Path, check: dict, published: dict, process_alive) -> str | None:
    """None when `healthy` checks in a row pass as the load balancer would run them, else why not."""
    if str(check["port"]) not in published:
        return f"nothing listens on the health-check port {check['port']} (published: {sorted(published)})"
    url = f"http://127.0.0.1:{published[str(check['port'])][0]}{check['path']}"
    passed, deadline, last = 0, time.monotonic() + 20, ""
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=check["timeout"]) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except OSError as exc:
            status, last = None, str(exc)
        passed = passed + 1 if status in check["codes"] else 0
        if passed >= check["healthy"]:
            return None
        if status is None and not process_alive():
            return "the server exited: " + (box / "server.log").read_text()
        time.sleep(0.05)
    return f"health check {url} did not pass {check['healthy']} times in a row ({last or status})"


def run_vm(doc: dict, target: str, stack: dict, path: pathlib.Path, serve: bool = True) -> Replica:
    box = Sandbox(path, world(doc, target, serve))
    script, files = boot_script(stack, target)
    for name, content in files.items():
        file = box.root / name.lstrip("/")
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(content)
    try:
        run = box.run(box.move(script))
        (path / "boot.out").write_bytes(run.stdout)
        (path / "boot.err").write_bytes(run.stderr)
        if run.returncode != 0:
            return Replica(False, f"the boot script failed: {run.stderr.decode()[-2000:]}", path, None)
        if not serve:
            return Replica(True, "", path, None)
        server = json.loads((path / "server.json").read_text())
        published = json.loads((path / "published.json").read_text())
        pid = int((path / "server.pid").read_text())
        why = probe(path, health_check(stack, target), published, lambda: alive(pid))
        return Replica(why is None, why or "", path, server)
    finally:
        box.stop()


def alive(pid: int) -> bool:
    import os
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped by its parent, the docker stub) is not alive either
        return pathlib.Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return True


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory) -> pathlib.Path:
    from compiler.cli import main

    out = tmp_path_factory.mktemp("replicas") / "out"
    assert main(["synth", *map(str, EXAMPLES), "--out", str(out)]) == 0
    return out


def load(out: pathlib.Path, stack: str) -> dict:
    return json.loads((out / "stacks" / stack / "cdk.tf.json").read_text())


@pytest.fixture(scope="module")
def vm_replicas(synthesized, tmp_path_factory) -> dict[str, Replica]:
    out = {}
    for stack in stacks(VM):
        doc, target = service_of(stack)
        out[stack] = run_vm(doc, target, load(synthesized, stack), tmp_path_factory.mktemp(stack))
    return out


@pytest.mark.parametrize("stack", stacks(VM))
def test_every_vm_replica_gets_its_model_and_passes_the_health_check(vm_replicas, stack):
    replica = vm_replicas[stack]
    assert replica.passed, replica.why
    doc, target = service_of(stack)
    calls = [c for c in Sandbox.calls_of(replica.box) if c[:2] == ["docker", "run"]]
    (download,) = [c for c in calls if delivery.STORAGE_INITIALIZER in c]
    uri = doc["targets"][target].get("model_uri") or doc["model"]["uri"]
    assert download[-2:] == [delivery.source(uri).initializer_uri, MODEL_DIR]
    # The server mounts the downloaded directory read-only where the model is expected, and knows where it is.
    host = download[download.index("--volume") + 1].split(":")[0]
    assert [host, MODEL_DIR, True] in replica.server["mounts"]
    assert replica.server["env"]["MODEL_DIR"] == MODEL_DIR and replica.server["env"]["MODEL_URI"] == uri
    assert {name: replica.server["env"].get(name) for name in doc["model"].get("secrets", {})} == {
        name: MARKER for name in doc["model"].get("secrets", {})}


KUBERNETES_SECRETS = {("hf-token", "token"): MARKER}  # the Secret the examples name, in the stub cluster


def pod(doc: dict, stack: dict, path: pathlib.Path) -> Replica:
    """The Deployment's pod, played: init container -> volume -> mount -> args -> readiness probe."""
    spec = stack["resource"]["kubernetes_deployment_v1"]["deployment"]["spec"]["template"]["spec"]
    (init,) = spec["init_container"]
    (server,) = spec["container"]
    volumes = {v["name"]: v for v in spec["volume"]}
    directories = {name: path / name for name in volumes}
    for directory in directories.values():
        directory.mkdir()

    def env_of(container: dict) -> dict[str, str]:
        env = {}
        for item in container.get("env") or ():
            if "value_from" in item:
                ref = item["value_from"]["secret_key_ref"]
                env[item["name"]] = KUBERNETES_SECRETS[(ref["name"], ref["key"])]
            else:
                env[item["name"]] = kubelet_reads(item["value"], env)
        return env

    # The init container: KServe's storage initializer, writing the model volume at its destination argument.
    assert init["image"] == delivery.STORAGE_INITIALIZER
    uri, destination = (kubelet_reads(a, {}) for a in init["args"])
    (mount,) = [m for m in init["volume_mount"] if m["mount_path"] == destination]
    assert "empty_dir" in volumes[mount["name"]] and not mount.get("read_only")
    model = model_files(uri)
    if model["token"] and env_of(init).get("HF_TOKEN") != model["token"]:
        return Replica(False, f"the download of {uri} has no HF_TOKEN for the gated repository", path, None)
    for name, text in model["files"].items():
        (directories[mount["name"]] / name).write_text(text)
    # The server container, with its mounts, environment and argv as the kubelet gives them.
    env = env_of(server)
    mounts = [[str(directories[m["name"]]), m["mount_path"], bool(m.get("read_only"))]
              for m in server.get("volume_mount") or () if m["name"] in directories]
    command = [kubelet_reads(a, env) for a in server.get("command") or ()]
    args = [kubelet_reads(a, env) for a in server.get("args") or ()]
    hardware = doc["hardware"]
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        loopback = s.getsockname()[1]
    ready = server["readiness_probe"]
    port = int(ready["http_get"]["port"])
    config = {"image": server["image"], "env": env, "mounts": mounts, "publish": [[loopback, port]],
              "gpus": int(server["resources"]["limits"].get("nvidia.com/gpu", 0)),
              "compute_capability": CAPABILITY[hardware["accelerator"]], "ready_file": str(path / "ready"),
              "argv": command + args if command else None, "default_args": args}
    (path / "server.json").write_text(json.dumps(config))
    import subprocess
    import sys
    process = subprocess.Popen([sys.executable, fake_server.__file__, str(path / "server.json")],
                               stdout=open(path / "server.log", "wb"), stderr=subprocess.STDOUT)
    try:
        check = {"port": port, "path": ready["http_get"]["path"], "codes": set(range(200, 400)),
                 "timeout": ready["timeout_seconds"], "healthy": ready["success_threshold"]}
        why = probe(path, check, {str(port): [loopback, port]}, lambda: process.poll() is None)
        return Replica(why is None, why or "", path, config)
    finally:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def pods(synthesized, tmp_path_factory) -> dict[str, Replica]:
    return {stack: pod(service_of(stack)[0], load(synthesized, stack), tmp_path_factory.mktemp(stack))
            for stack in stacks(KUBERNETES)}


@pytest.mark.parametrize("stack", stacks(KUBERNETES))
def test_every_pod_downloads_mounts_and_serves_the_model(pods, stack):
    replica = pods[stack]
    assert replica.passed, replica.why
    assert [m for m in replica.server["mounts"] if m[1] == MODEL_DIR][0][2] is True  # read-only for the server


# --- A broken mapping fails -------------------------------------------------------------------------------------

def chat() -> dict:
    doc = next(d for d in services() if d["metadata"]["name"] == "chat")
    return json.loads(json.dumps(doc))


def replica_of(doc: dict, target: str, stack: dict, work: pathlib.Path) -> Replica:
    work.mkdir(parents=True)
    return pod(doc, stack, work) if target in KUBERNETES else run_vm(doc, target, stack, work)


def without(args: list[str], flag: str) -> list[str]:
    i = args.index(flag)
    return args[:i] + args[i + 2:]


BROKEN = {  # what a user (or a regression) can get wrong, and what the real server (or download) says then
    "no --model": (lambda m: m.update(args=without(m["args"], "--model")),  # vLLM's default, facebook/opt-125m
                   "would be downloaded from the Hugging Face Hub"),
    "model elsewhere": (lambda m: m.update(args=["--model", "/models", *without(m["args"], "--model")]),
                        "no such file or directory in the container"),
    "tensor parallel 3": (lambda m: m.update(args=[*m["args"], "--tensor-parallel-size", "3"]),
                          "must be divisible by tensor parallel size (3)"),
    "context too long": (lambda m: m.update(args=[*without(m["args"], "--max-model-len"), "--max-model-len",
                                                  "200000"]), "max_model_len 200000 is longer"),
    "wrong port": (lambda m: m.update(args=[*m["args"], "--port", "8001"]), "did not pass"),
    "no token": (lambda m: m.update(secrets={}), "HF_TOKEN"),
}


@pytest.fixture(scope="module")
def broken(tmp_path_factory) -> tuple[dict, pathlib.Path]:
    """The chat service intact (chat) and broken each way (chat-b0...), synthesized together."""
    docs = {"chat": chat()}
    for i, (change, _) in enumerate(BROKEN.values()):
        doc = chat()
        doc["metadata"]["name"] = f"chat-b{i}"
        change(doc["model"])
        docs[doc["metadata"]["name"]] = doc
    return docs, synth_documents(tmp_path_factory.mktemp("broken"), list(docs.values()), "aws", "kubernetes")


@pytest.mark.parametrize("target", ["aws", "kubernetes"])
@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_mapping_does_not_serve(broken, tmp_path, target, case):
    docs, out = broken
    name = f"chat-b{list(BROKEN).index(case)}"
    intact = replica_of(docs["chat"], target, load(out, f"chat-{target}"), tmp_path / "intact")
    assert intact.passed, intact.why  # the same spec, unbroken, serves
    replica = replica_of(docs[name], target, load(out, f"{name}-{target}"), tmp_path / "broken")
    assert not replica.passed and BROKEN[case][1] in replica.why, replica.why


def test_a_mount_in_the_wrong_place_does_not_serve(tmp_path, monkeypatch):
    """infc's own mapping broken: the server's volume mounted elsewhere than the model directory."""
    from targets import startup

    original = startup.docker_run

    def elsewhere(service, target):
        argv = original(service, target)
        return [a.replace(f":{MODEL_DIR}:ro", ":/opt/model:ro") for a in argv]

    monkeypatch.setattr(startup, "docker_run", elsewhere)
    doc = chat()
    stack = load(synth_documents(tmp_path, [doc], "aws"), "chat-aws")
    replica = replica_of(doc, "aws", stack, tmp_path / "replica")
    assert not replica.passed and "no such file or directory in the container" in replica.why, replica.why


# --- No secret value in anything written --------------------------------------------------------------------------

# Where the planted value may be: the stub secret store (world.json), the root-only env file the server's docker run
# reads (etc/infc/secrets.env), and the server's own environment as docker or the kubelet gives it (server.json).
MAY_HOLD_SECRETS = {"world.json", "secrets.env", "server.json"}


def test_a_planted_secret_is_only_where_the_server_reads_it(synthesized, vm_replicas, pods):
    """Every file the synth and the replica runs wrote (the stacks, the boot scripts' output and logs, the stubs' argv
    log, the server's log, the snapshots) is searched for the marker value of every secret store."""
    assert all(replica.passed for replica in (*vm_replicas.values(), *pods.values()))
    roots = [synthesized, ROOT / "tests" / "targets" / "__snapshots__",
             *(replica.box for replica in (*vm_replicas.values(), *pods.values()))]
    found, searched = set(), 0
    for root in roots:
        for file in (f for f in root.rglob("*") if f.is_file() and not f.is_symlink()):
            searched += 1
            if MARKER.encode() in file.read_bytes():
                found.add(file)
    assert searched > 100
    assert {f for f in found if f.name not in MAY_HOLD_SECRETS} == set()
    # It is there, where the server reads it, for every replica with secrets; the download's token file is gone.
    with_secrets = [r for s, r in vm_replicas.items() if service_of(s)[0]["model"].get("secrets")]
    assert with_secrets and all(r.box / "root/etc/infc/secrets.env" in found for r in with_secrets)
    assert not [r for r in vm_replicas.values() if (r.box / "root/etc/infc/download.env").exists()]
