"""A sandbox standing in for a VM replica: the boot script of a synthesized stack runs in it with stub commands.

A temporary directory holds bin/ (stubs of every command the boot path may call: docker, apt-get, curl, gpg,
nvidia-ctk, nvidia-smi, systemctl, chown, sleep, and `id`, which a command substitution in a spec string would run;
each logs its argv NUL-separated) and tools/ (the few real utilities the script uses); PATH is those two only, so a
command nobody stubbed fails the run. The script's fixed paths (/etc/infc, /var/lib/infc, ...) move under root/.

The docker stub plays docker and the images the script runs, from the sandbox's world.json: the pinned cloud CLIs
print a secret from a stub secret store when asked for it by its reference (the Azure CLI only for the replica's
managed identity); KServe's storage initializer copies a fixture model into the host directory mounted at its
destination, refusing a gated Hugging Face repository without the store's token and Azure Blob without the
identity's client id; any other image is the server: with world["serve"] it starts tests/fake_server.py with the
argv, environment (docker's --env-file rules), mounts and published ports docker would give it. Published host
ports are mapped to free loopback ports, written to published.json. A private registry of world["registries"]
(host -> user and password) takes `docker login --password-stdin` with those only, and refuses to pull (`docker pull`,
or `docker run` of an image not pulled) without a login; the AWS CLI prints world["ecr"][region] as the ECR password.

The curl stub plays the metadata servers from world["metadata"]: Compute Engine's access token (gcp_token), the Azure
instance metadata service's token (aad_token) for the managed identity world["client_id"], and an Azure Container
Registry's /oauth2/exchange, which trades that token for a refresh token (acr_refresh); any other URL answers nothing.
"""

from __future__ import annotations

import base64
import json
import pathlib
import re
import shutil
import subprocess
import sys

import yaml

HERE = pathlib.Path(__file__).resolve().parent
# Fixed paths of infc's own script text that the sandbox moves under its root.
MOVED = ("/etc/infc", "/var/lib/infc", "/etc/apt/", "/usr/share/keyrings/")
SH_STUBS = ("apt-get", "gpg", "nvidia-ctk", "nvidia-smi", "systemctl", "chown", "sleep", "id")
REAL_TOOLS = ("sh", "bash", "install", "chmod", "sed", "basename", "ln", "rm", "mv", "cat")
CLIENT_ID = "7f0c5e8a-1b2c-4d3e-9f4a-5b6c7d8e9f01"  # the replicas' managed identity, as the cloud would fill it in


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


DOCKER = r'''#!{python}
"""docker, and the images the boot script runs (tests/replica_sandbox.py)."""
import json, os, pathlib, shutil, socket, subprocess, sys
sys.path.insert(0, {here!r})
from replica_sandbox import docker_env_file
box = pathlib.Path({box!r})
world = json.loads((box / "world.json").read_text())
argv = sys.argv[1:]
with open(box / "calls", "ab") as log:
    log.write(b"".join(part.encode() + b"\0" for part in ["docker", str(len(argv)), *argv]))
if argv[:2] == ["container", "inspect"]:
    sys.exit(0 if (box / "running").exists() else 1)
registries, logins = world.get("registries", {{}}), box / "logins"
if argv[:1] == ["login"]:  # docker login --username USER --password-stdin HOST
    assert "--password-stdin" in argv and "--password" not in argv and "-p" not in argv, argv
    # One trailing \n, then \r, is dropped (docker/cli cli/command/registry/login.go, runLogin).
    host, user = argv[-1], argv[argv.index("--username") + 1]
    password = sys.stdin.read().removesuffix("\n").removesuffix("\r")
    if registries.get(host) != {{"user": user, "password": password}}:
        print(f"Error response from daemon: Get \"https://{{host}}/v2/\": unauthorized", file=sys.stderr); sys.exit(1)
    logins.mkdir(exist_ok=True)
    (logins / host).touch(); sys.exit(0)
if argv[:1] == ["logout"]:
    (logins / argv[1]).unlink(missing_ok=True); sys.exit(0)
if argv[:1] == ["pull"]:
    if argv[1].split("/")[0] in registries and not (logins / argv[1].split("/")[0]).exists():
        print("Error response from daemon: pull access denied", file=sys.stderr); sys.exit(1)
    with open(box / "images", "a") as images:
        images.write(argv[1] + "\n")
    sys.exit(0)
if argv[:1] != ["run"]:
    sys.exit(0)
options = {{"env_files": [], "env": [], "publish": [], "volume": []}}
i, words = 1, argv
while i < len(words) and words[i].startswith("-"):
    flag = words[i]
    if flag in ("--rm", "--detach"):
        options[flag] = True
        i += 1
        continue
    value = words[i + 1]
    key = {{"--env-file": "env_files", "--env": "env", "--publish": "publish", "--volume": "volume"}}.get(flag, flag)
    if isinstance(options.get(key), list):
        options[key].append(value)
    else:
        options[key] = value
    i += 2
image, args = words[i], words[i + 1:]
env = {{}}
for path in options["env_files"]:
    env.update(docker_env_file(pathlib.Path(path).read_bytes()))
for item in options["env"]:
    key, _, value = item.partition("=")
    env[key] = value
mounts = [(v.split(":")[0], v.split(":")[1], v.split(":")[2:] == ["ro"]) for v in options["volume"]]
tools = world["tools"]
if image == tools["aws"] and args[:2] == ["ecr", "get-login-password"]:
    region = args[args.index("--region") + 1]
    if region not in world.get("ecr", {{}}):
        print("An error occurred (AccessDeniedException)", file=sys.stderr); sys.exit(254)
    print(world["ecr"][region]); sys.exit(0)
if image == tools["aws"]:
    service, op = args[0], args[1]
    named = dict(zip(args[2::2], args[3::2]))
    ref = named.get("--secret-id") or named.get("--name")
    assert ref.split(":")[3] == named["--region"], (ref, named)
    if ref not in world["secrets"]:
        print("An error occurred (AccessDeniedException)", file=sys.stderr); sys.exit(254)
    print(world["secrets"][ref]); sys.exit(0)
if image == tools["gcloud"]:
    assert args[:4] == ["gcloud", "secrets", "versions", "access"], args
    named = dict(zip(args[5::2], args[6::2]))
    ref = f"projects/{{named['--project']}}/secrets/{{named['--secret']}}/versions/{{args[4]}}"
    if ref not in world["secrets"]:
        print("PERMISSION_DENIED", file=sys.stderr); sys.exit(1)
    sys.stdout.write(world["secrets"][ref]); sys.exit(0)
if image == tools["az"]:
    assert args[:2] == ["sh", "-c"] and args[3] == "infc", args
    client_id, url = args[4], args[5]
    if client_id != world["client_id"] or url not in world["secrets"]:
        print("ERROR: Forbidden", file=sys.stderr); sys.exit(1)
    print(world["secrets"][url]); sys.exit(0)
if image == tools["initializer"]:
    uri, destination = args
    (host,) = [h for h, c, ro in mounts if c == destination and not ro]
    model = world["models"].get(uri)
    if model is None:
        print(f"no such model {{uri}}", file=sys.stderr); sys.exit(1)
    if model.get("token") and env.get("HF_TOKEN") != model["token"]:
        print(f"GatedRepoError: {{uri}} needs an accepted license and HF_TOKEN", file=sys.stderr); sys.exit(1)
    if model.get("client_id") and env.get("AZURE_CLIENT_ID") != model["client_id"]:
        print("Azure credentials not found, retrying anonymous access: 403", file=sys.stderr); sys.exit(1)
    if model.get("anonymous") and env.get("awsAnonymousCredential") != "true":
        print("NoCredentialsError: Unable to locate credentials", file=sys.stderr); sys.exit(1)
    for name, text in model["files"].items():
        (pathlib.Path(host) / name).write_text(text)
    sys.exit(0)
# The server: docker run --detach pulls an image it does not have, which a private registry refuses without a login,
# and returns once the container started, whatever the process does then.
pulled = (box / "images").read_text().split() if (box / "images").exists() else []
if image.split("/")[0] in registries and image not in pulled and not (logins / image.split("/")[0]).exists():
    print("Error response from daemon: pull access denied", file=sys.stderr); sys.exit(125)
(box / "running").touch()
if not world.get("serve"):
    sys.exit(0)
published = {{}}
for item in options["publish"]:
    host_port, container_port = map(int, item.split(":"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        published[host_port] = (s.getsockname()[1], container_port)
(box / "published.json").write_text(json.dumps(published))
entrypoint = options.get("--entrypoint")
config = {{"image": image, "env": env, "mounts": mounts, "gpus": world["gpus"] if "--gpus" in options else 0,
          "compute_capability": world["compute_capability"], "ready_file": str(box / "ready"),
          "publish": list(published.values()), "argv": ([entrypoint] + args) if entrypoint else None,
          "default_args": args}}
(box / "server.json").write_text(json.dumps(config))
process = subprocess.Popen([sys.executable, {server!r}, str(box / "server.json")], start_new_session=True,
                           stdout=open(box / "server.log", "wb"), stderr=subprocess.STDOUT)
(box / "server.pid").write_text(str(process.pid))
'''

CURL = r'''#!{python}
"""curl: the clouds' metadata servers and an Azure Container Registry's token exchange, from the sandbox's world.json
(world["metadata"]); any other URL answers nothing, successfully (tests/replica_sandbox.py)."""
import json, pathlib, sys, urllib.parse
box = pathlib.Path({box!r})
world = json.loads((box / "world.json").read_text())
argv = sys.argv[1:]
with open(box / "calls", "ab") as log:
    log.write(b"".join(part.encode() + b"\0" for part in ["curl", str(len(argv)), *argv]))
metadata = world.get("metadata", {{}})
headers = [argv[i + 1] for i, a in enumerate(argv) if a == "-H"]
form = {{}}
for i, a in enumerate(argv):
    if a == "--data-urlencode":
        name, at, value = argv[i + 1].partition("@")
        if at:
            assert value == "-", argv
            form[name] = sys.stdin.read()
        else:
            name, _, value = argv[i + 1].partition("=")
            form[name] = value
(url,) = [a for a in argv if a.startswith(("http://", "https://"))]
parts = urllib.parse.urlsplit(url)
query = dict(urllib.parse.parse_qsl(parts.query))
if url.startswith("http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token"):
    assert headers == ["Metadata-Flavor: Google"], headers
    if "gcp_token" not in metadata:
        sys.exit(22)
    print(json.dumps({{"access_token": metadata["gcp_token"], "expires_in": 3599, "token_type": "Bearer"}})); sys.exit(0)
if parts.netloc == "169.254.169.254" and parts.path == "/metadata/identity/oauth2/token":
    assert headers == ["Metadata:true"] and query["resource"] == "https://management.azure.com/", (headers, query)
    if query.get("client_id") != world["client_id"] or "aad_token" not in metadata:
        sys.exit(22)  # IMDS answers 400 for an identity the VM does not have
    print(json.dumps({{"access_token": metadata["aad_token"], "expires_in": "86399", "token_type": "Bearer"}})); sys.exit(0)
if parts.path == "/oauth2/exchange":
    registry = world.get("registries", {{}}).get(parts.netloc)
    if (registry is None or form != {{"grant_type": "access_token", "service": parts.netloc,
                                     "access_token": metadata.get("aad_token")}}):
        sys.exit(22)
    print(json.dumps({{"refresh_token": metadata["acr_refresh"]}})); sys.exit(0)
sys.exit(0)
'''

SH_STUB = """#!/bin/sh
name=$(basename "$0")
printf '%s\\0' "$name" "$#" "$@" >> '{log}'
if [ "$name" = apt-get ] && [ "$1" = install ]; then
  for pkg in "$@"; do
    case "$pkg" in docker.io) ln -sf '{docker}' '{bin}/docker';;
                   nvidia-container-toolkit) ln -sf '{stub}' '{bin}/nvidia-ctk';; esac
  done
fi
exit 0
"""


class Sandbox:
    """A directory standing in for the machine: stubs in bin/ that log their argv, files under root/."""

    def __init__(self, path: pathlib.Path, world: dict, absent: tuple[str, ...] = ()):
        self.path, self.bin, self.root, self.log = path, path / "bin", path / "root", path / "calls"
        self.bin.mkdir()
        self.root.mkdir()
        (self.root / "etc/apt/sources.list.d").mkdir(parents=True)
        (self.root / "usr/share/keyrings").mkdir(parents=True)
        (path / "world.json").write_text(json.dumps(world))
        self.docker = path / "docker-stub"
        self.docker.write_text(DOCKER.format(python=sys.executable, here=str(HERE), box=str(path),
                                             server=str(HERE / "fake_server.py")))
        self.stub = path / "stub"
        self.stub.write_text(SH_STUB.format(log=self.log, docker=self.docker, bin=self.bin, stub=self.stub))
        self.curl = path / "curl-stub"
        self.curl.write_text(CURL.format(python=sys.executable, box=str(path)))
        for stub in (self.docker, self.stub, self.curl):
            stub.chmod(0o755)
        if "docker" not in absent:
            (self.bin / "docker").symlink_to(self.docker)
        if "curl" not in absent:
            (self.bin / "curl").symlink_to(self.curl)
        for command in SH_STUBS:
            if command not in absent:
                (self.bin / command).symlink_to(self.stub)
        tools = path / "tools"
        tools.mkdir()
        for tool in REAL_TOOLS:
            (tools / tool).symlink_to(shutil.which(tool))
        self.env = {"PATH": f"{self.bin}:{tools}", "HOME": str(path / "home"), "LC_ALL": "C.UTF-8"}

    def move(self, script: str) -> str:
        """The script with infc's fixed paths under the sandbox's root (they occur nowhere else in it)."""
        assert re.fullmatch(r"[A-Za-z0-9/_.-]+", str(self.root))  # a root prefix needs no quoting in the script
        for moved in MOVED:
            script = script.replace(moved, f"{self.root}{moved}")
        return script

    def run(self, script: str) -> subprocess.CompletedProcess:
        file = self.path / "script"
        file.write_text(script, encoding="utf-8")
        return subprocess.run([shutil.which("bash"), str(file)], env=self.env, capture_output=True, timeout=120)

    def calls(self) -> list[list[str]]:
        return self.calls_of(self.path)

    @staticmethod
    def calls_of(path: pathlib.Path) -> list[list[str]]:
        """Every stub call of the sandbox at `path`: [command, arguments...], in order."""
        log = path / "calls"
        fields = log.read_bytes().decode("utf-8").split("\0")[:-1] if log.exists() else []
        out = []
        while fields:
            name, count = fields[0], int(fields[1])
            out.append([name, *fields[2:2 + count]])
            fields = fields[2 + count:]
        return out

    def stop(self) -> None:
        """Stops the server the docker stub started, if it did (its own process group)."""
        pid = self.path / "server.pid"
        if pid.exists():
            import os
            import signal
            try:
                os.killpg(int(pid.read_text()), signal.SIGTERM)
            except ProcessLookupError:
                pass


# --- the boot script and the health check, as the stacks write them ---------------------------------------------

def hcl_string(literal: str) -> str:
    """A quoted HCL string literal's value (hashicorp/hcl hclsyntax spec, "Template Literals"): \\n \\r \\t \\" \\\\
    \\uNNNN escapes, and $${ / %%{ for a literal ${ / %{."""
    assert literal[0] == literal[-1] == '"', literal[:20]
    body, out, i = literal[1:-1], [], 0
    escapes = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}
    while i < len(body):
        c = body[i]
        if c == "\\":
            if body[i + 1] == "u":
                out.append(chr(int(body[i + 2:i + 6], 16)))
                i += 6
                continue
            out.append(escapes[body[i + 1]])
            i += 2
        elif body.startswith(("$${", "%%{"), i):
            out.append(body[i + 1:i + 3])
            i += 3
        else:
            assert not body.startswith(("${", "%{"), i), body[i:i + 40]
            out.append(c)
            i += 1
    return "".join(out)


_JOINED = re.compile(r'\$\{base64encode\(join\("", \[("(?:[^"\\]|\\.)*"), azurerm_user_assigned_identity\.'
                     r'replica_identity\.client_id, ("(?:[^"\\]|\\.)*")\]\)\)\}', re.S)


def user_data(encoded: str, client_id: str = CLIENT_ID) -> str:
    """The cloud-init text of an aws user_data or azure custom_data value: base64, or (azure, with a managed
    identity) base64encode(join("", [text, <identity>.client_id, text])), evaluated with `client_id`."""
    joined = _JOINED.fullmatch(encoded)
    if joined:
        return hcl_string(joined.group(1)) + client_id + hcl_string(joined.group(2))
    assert "${" not in encoded
    return base64.b64decode(encoded).decode("utf-8")


def cloud_init_files(text: str) -> dict[str, dict]:
    """cloud-init's write_files by path, read with PyYAML's safe loader as cloud-init does; runcmd checked to be
    the boot script."""
    assert text.startswith("#cloud-config\n")
    config = yaml.safe_load(text)
    assert config["runcmd"] == [["bash", "/etc/infc/boot.sh"]], config["runcmd"]
    return {f["path"]: f for f in config["write_files"]}


def boot_script(doc: dict, target: str) -> tuple[str, dict[str, str]]:
    """(the boot script, the other files cloud-init writes before it runs) of a synthesized VM stack."""
    resource = doc["resource"]
    if target == "gcp":
        template = resource["google_compute_region_instance_template"]["instance_template"]
        return hcl_template(template["metadata"]["startup-script"]), {}
    encoded = (resource["aws_launch_template"]["launch_template"]["user_data"] if target == "aws"
               else resource["azurerm_linux_virtual_machine_scale_set"]["scale_set"]["custom_data"])
    files = cloud_init_files(user_data(encoded))
    script = files.pop("/etc/infc/boot.sh")
    assert script["permissions"] == "0700"
    return script["content"], {path: f["content"] for path, f in files.items()}


def hcl_template(text: str) -> str:
    """A Terraform JSON string as Terraform reads it: $${ and %%{ are literal ${ and %{; no live template."""
    return hcl_string('"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"')


def health_check(doc: dict, target: str) -> dict:
    """What the stack's load balancer probes: port, path, success codes (a set), timeout (s), healthy threshold."""
    resource = doc["resource"]
    if target == "aws":
        check = resource["aws_lb_target_group"]["target_group"]["health_check"]
        return {"port": int(check["port"]), "path": check["path"], "codes": codes(check["matcher"]),
                "timeout": check["timeout"], "healthy": check["healthy_threshold"]}
    if target == "gcp":
        checks = resource.get("google_compute_health_check", {}) | resource.get("google_compute_region_health_check",
                                                                                 {})
        check = checks["readiness"]
        http = check["http_health_check"]
        return {"port": http["port"], "path": http["request_path"], "codes": {200}, "timeout": check["timeout_sec"],
                "healthy": check["healthy_threshold"]}
    if "azurerm_application_gateway" in resource:
        (probe,) = resource["azurerm_application_gateway"]["gateway"]["probe"]
        return {"port": probe["port"], "path": probe["path"], "codes": codes(",".join(probe["match"]["status_code"])),
                "timeout": probe["timeout"], "healthy": 1}
    probe = resource["azurerm_lb_probe"]["readiness_probe"]
    # An Azure Load Balancer HTTP probe passes on 200 only and waits min(interval, 30 s) for an answer.
    return {"port": probe["port"], "path": probe["request_path"], "codes": {200},
            "timeout": min(probe["interval_in_seconds"], 30), "healthy": probe["probe_threshold"]}


def codes(matcher: str) -> set[int]:
    out = set()
    for part in matcher.split(","):
        low, _, high = part.partition("-")
        out |= set(range(int(low), int(high or low) + 1))
    return out


def kubelet_reads(text: str, env: dict[str, str]) -> str:
    """`text` as the kubelet passes it on: $(VAR) expands to a defined variable, $$ is $ (kubernetes
    third_party/forked/golang/expansion/expand.go: Expand and tryReadVariableName)."""
    out, i = [], 0
    while i < len(text):
        if text[i] == "$" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "$":
                out.append("$")
                i += 2
                continue
            if nxt == "(":
                end = text.find(")", i + 2)
                if end != -1:
                    name = text[i + 2:end]
                    out.append(env.get(name, f"$({name})"))
                    i = end + 1
                    continue
                out.append("$(")
                i += 2
                continue
            out.append(text[i:i + 2])
            i += 2
            continue
        out.append(text[i])
        i += 1
    return "".join(out)
