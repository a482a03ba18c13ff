"""A stand-in for a serving container (vLLM, TGI, TEI) started by the docker stub of tests/replica_sandbox.py.

It reads its process argv the way the real server does (the image's entrypoint, or the one `--entrypoint` gives,
followed by the arguments), finds the model where the arguments say inside the container's mounts, refuses what the
real server refuses at start-up (no model files there, a Hub id it would have to download, tensor parallelism that
does not divide the attention heads or exceeds the GPUs, a context longer than the model's, bfloat16 on a GPU
without it), and otherwise answers GET /health with 200 on the port it listens on, wherever docker published that
port. Usage: fake_server.py CONFIG.json (written by the docker stub).
"""

from __future__ import annotations

import http.server
import json
import pathlib
import sys
import threading

# Per serving image (repository without tag): its entrypoint, default port (and the variable that sets it), the flag
# naming the model, the default model, and its health route. vLLM: the vllm/vllm-openai Dockerfile's ENTRYPOINT and
# --port 8000; TGI and TEI: their Dockerfiles' ENTRYPOINT and `ENV PORT=80`, read by clap as --port's default.
IMAGES = {
    "vllm/vllm-openai": {"kind": "vllm", "entrypoint": ["python3", "-m", "vllm.entrypoints.openai.api_server"],
                         "port": 8000, "model_flag": "--model", "default_model": "facebook/opt-125m"},
    "ghcr.io/huggingface/text-generation-inference": {
        "kind": "tgi", "entrypoint": ["text-generation-launcher"], "port_env": "PORT", "port": 80,
        "model_flag": "--model-id", "default_model": "bigscience/bloom-560m"},
    "ghcr.io/huggingface/text-embeddings-inference": {
        "kind": "tei", "entrypoint": ["text-embeddings-router"], "port_env": "PORT", "port": 80,
        "model_flag": "--model-id", "default_model": None},
}
# examples/gke-registry.yaml serves vllm/vllm-openai pushed to its own Artifact Registry repository under this name.
IMAGES["us-central1-docker.pkg.dev/acme-ml/qwen-chat/vllm-qwen"] = IMAGES["vllm/vllm-openai"]
HEALTH = "/health"  # all three answer readiness here once the model is loaded


class Refused(Exception):
    """What the real server would print before it exits at start-up."""


def image_of(reference: str) -> dict:
    name = reference.split("@")[0]
    repository = name.rsplit(":", 1)[0] if ":" in name.rsplit("/", 1)[-1] else name
    if repository not in IMAGES:
        raise Refused(f"no fake for image {reference}")
    return IMAGES[repository]


def flags(words: list[str]) -> tuple[dict[str, str], list[str]]:
    """`--name value` and `--name=value` pairs (a flag without a value maps to ""), and the positional words."""
    out, positional, i = {}, [], 0
    while i < len(words):
        word = words[i]
        if word.startswith("--") and "=" in word:
            key, _, value = word.partition("=")
            out[key] = value
        elif word.startswith("-") and i + 1 < len(words) and not words[i + 1].startswith("--"):
            out[word] = words[i + 1]
            i += 1
        elif word.startswith("-"):
            out[word] = ""
        else:
            positional.append(word)
        i += 1
    return out, positional


def host_path(path: str, mounts: list) -> pathlib.Path:
    """The host directory behind a container path, through the longest mount that holds it."""
    best = None
    for host, container, _read_only in mounts:
        if path == container or path.startswith(container.rstrip("/") + "/"):
            if best is None or len(container) > len(best[1]):
                best = (host, container)
    if best is None:
        raise Refused(f"{path}: no such file or directory in the container (nothing is mounted there)")
    return pathlib.Path(best[0]) / path[len(best[1]):].lstrip("/")


def start(config: dict) -> tuple[int, dict]:
    """(the port the server listens on, the model's config.json) or Refused, as the real server starts."""
    image = image_of(config["image"])
    argv = config["argv"] or image["entrypoint"] + config["default_args"]
    if argv[:len(image["entrypoint"])] == image["entrypoint"]:
        given, positional = flags(argv[len(image["entrypoint"]):])
    elif image["kind"] == "vllm" and argv[:2] == ["vllm", "serve"]:
        given, positional = flags(argv[2:])
        if positional:
            given.setdefault("--model", positional[0])
    else:
        raise Refused(f"{argv[0]}: command not found in {config['image']}")
    model = given.get(image["model_flag"], image["default_model"])
    if model is None:
        raise Refused(f"{image['model_flag']} is required")
    if not model.startswith("/"):
        raise Refused(f"{model} would be downloaded from the Hugging Face Hub at start-up; the replica has no such "
                      "access here (the model must come from the delivered files)")
    directory = host_path(model, config["mounts"])
    if not (directory / "config.json").is_file():
        raise Refused(f"{model}: no config.json (the model's files are not there)")
    model_config = json.loads((directory / "config.json").read_text())
    port_default = int(config["env"].get(image.get("port_env", ""), image["port"]))
    port = int(given.get("--port", port_default))
    gpus, capability = config["gpus"], config["compute_capability"]
    if image["kind"] in ("vllm", "tgi") and not gpus:
        raise Refused("no CUDA device: the server needs a GPU (docker run --gpus)")
    if image["kind"] == "vllm":
        tp = int(given.get("--tensor-parallel-size", given.get("-tp", "1")))
        heads, kv = model_config["num_attention_heads"], model_config.get("num_key_value_heads", 0)
        if heads % tp:
            raise Refused(f"Total number of attention heads ({heads}) must be divisible by tensor parallel size ({tp})")
        if kv and kv % tp and tp % kv:
            raise Refused(f"{kv} key-value heads cannot be split over tensor parallel size {tp}")
        if tp > gpus:
            raise Refused(f"tensor parallel size {tp} needs {tp} GPUs; {gpus} visible")
        length = int(given.get("--max-model-len", model_config["max_position_embeddings"]))
        if length > model_config["max_position_embeddings"]:
            raise Refused(f"max_model_len {length} is longer than the model's {model_config['max_position_embeddings']}")
        if given.get("--dtype", "auto") == "auto" and model_config.get("torch_dtype") == "bfloat16" \
                and capability < 8.0:
            raise Refused(f"Bfloat16 is only supported on GPUs with compute capability of at least 8.0 (this one has "
                          f"{capability}); use --dtype half")
    if image["kind"] == "tgi":
        total = int(given.get("--max-total-tokens", "4096"))
        if total > model_config["max_position_embeddings"]:
            raise Refused(f"--max-total-tokens {total} is longer than the model's context")
    return port, model_config


class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == HEALTH else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def main(path: str) -> int:
    config = json.loads(pathlib.Path(path).read_text())
    try:
        port, _ = start(config)
    except Refused as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 1
    # docker forwards a published host port to the container port; only the ones the server listens on answer.
    servers = [http.server.ThreadingHTTPServer(("127.0.0.1", loopback), Health)
               for loopback, container in config["publish"] if container == port]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    pathlib.Path(config["ready_file"]).write_text(json.dumps({"port": port}))
    threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
