"""Hypothesis strategies: valid infc/v1 specs inside every target's limits, and damaged variants of them.

`specs()` draws a spec (as a dict) that every target it names must accept: values lie in the intersection of
compiler/spec.py's field constraints, compiler/validate.py's rules and each backend's check() (targets/*.py LIMITS
and capability gaps), with hardware drawn from what the catalog offers on every chosen cloud. Only fields known when
this was written are drawn; new optional settings keep their defaults.

`damaged()` draws the YAML bytes of such a spec after 1-4 mutations (deleted, retyped, misspelt or added keys,
out-of-range, hostile or non-finite values), a raw YAML 1.1 scalar (0x1F40, 2:13:20, yes, 1.10, .inf) or raw byte
damage. Used by tests/test_properties.py and fuzz/fuzz_cli.py.
"""

from __future__ import annotations

import copy
import importlib
import string

import yaml
from hypothesis import strategies as st

from compiler import catalog

TARGETS = ("aws", "azure", "gcp", "kubernetes", "azureml", "gke", "eks", "aks")
CLOUD_OF = {t: catalog.CATALOG_OF[t] for t in TARGETS}  # kubernetes: None (no catalog)

# --- small value strategies ---------------------------------------------------------------------------------------

_LOWER = string.ascii_lowercase
_ALNUM = _LOWER + string.digits


def _word(alphabet: str, min_size: int, max_size: int) -> st.SearchStrategy[str]:
    return st.text(alphabet, min_size=min_size, max_size=max_size)


# Free text (model name, args, env values): any printable Unicode, incl. quotes, '$', '{', '%', spaces, emoji and
# non-ASCII, but no control or line/paragraph separators (compiler/values.py Line: env values are single lines).
# Hostile shapes are drawn on purpose: template sequences, option-like '-' prefixes, shell and env-file syntax.
FREE_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp", "Co", "Cn"),
                                  exclude_characters="\ufeff\x85"), min_size=1, max_size=30) | st.sampled_from([
    "${file(\"/etc/passwd\")}", "%{ for x in y }x%{ endfor }", "$${x}", "--privileged", "-v", "--volume=/:/host",
    "$(id)", "`id`", "'; rm -rf / #", "A=B", "#x", " x ", "\U0001F600 emoji", "café ☃", "١٢٣", "３００"])
# Arguments may also hold tab and line feed (an inline template): argv lists never split on them.
ARG_TEXT = FREE_TEXT | st.lists(st.sampled_from(["a", "-", "\n", "\t", " ", "${x}", "\U0001F600"]), min_size=1,
                                max_size=12).map("".join)


@st.composite
def service_name(draw) -> str:
    """metadata.name: the spec pattern (1-24 chars) and azureml's endpoint name (3-32 chars, no '--')."""
    middle = draw(_word(_ALNUM + "-", 1, 22).filter(lambda s: "--" not in s))
    name = draw(st.sampled_from(_LOWER)) + middle + draw(st.sampled_from(_ALNUM))
    return name


# Labels valid on GCP (key ^[a-z][a-z0-9_-]{0,62}$, value ^[a-z0-9_-]{0,63}$) and Kubernetes (name and value start
# and end alphanumeric): lowercase words with '_' and '-' inside.
_LABEL = st.builds(lambda a, b, c: a + b + c, st.sampled_from(_LOWER), _word(_ALNUM + "_-", 0, 20),
                   st.sampled_from(_ALNUM)) | st.sampled_from(_LOWER)
_LABEL_VALUE = st.just("") | _LABEL | _word(string.digits, 1, 5)

IMAGE = st.builds(
    lambda repo, name, ref: f"{repo}{name}{ref}",
    st.sampled_from(["", "ghcr.io/acme/", "registry.example.com:5000/ml/", "vllm/"]),
    _word(_ALNUM, 1, 12).map(lambda s: "i" + s),
    st.sampled_from([":v0.6.3", ":1", ":latest", "", "@sha256:" + "a" * 64, ":2024-01-01_x.y"]))

ENV_KEY = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,15}\Z").filter(
    lambda k: k not in ("MODEL_URI", "MODEL_NAME", "MODEL_DIR"))
HTTP_PATH = st.builds(lambda segs: "/" + "/".join(segs),
                      st.lists(_word(_ALNUM + "_-.", 1, 10).filter(lambda s: s.strip(".-")), min_size=1, max_size=3))
HOST = st.builds(lambda parts: ".".join(parts), st.lists(_LABEL.filter(lambda s: "_" not in s), min_size=1,
                                                         max_size=3))
K8S_NAME = st.builds(lambda a, b: a + b, st.sampled_from(_ALNUM), st.just("") | st.builds(
    lambda m, e: m + e, _word(_ALNUM + "-", 0, 20), st.sampled_from(_ALNUM)))
HEX = _word("0123456789abcdef", 1, 17)


def duration(low: int, high: int) -> st.SearchStrategy:
    """A duration in [low, high] seconds, written as an int, "Ns", or "Nm"/"Nh" where it divides."""
    def spell(seconds: int, style: int):
        if style == 1:
            return f"{seconds}s"
        if style == 2 and seconds % 60 == 0:
            return f"{seconds // 60}m"
        if style == 3 and seconds % 3600 == 0:
            return f"{seconds // 3600}h"
        return seconds
    return st.builds(spell, st.integers(low, high), st.integers(0, 3))


def seconds_of(value) -> int:
    if isinstance(value, int):
        return value
    return int(value[:-1]) * {"s": 1, "m": 60, "h": 3600}[value[-1]]


# --- hardware from the catalog ------------------------------------------------------------------------------------

def _usable(target: str):
    """What a machine leaves a replica on `target` (GKE keeps part of each node), as the driver measures it."""
    if target in ("gke", "eks", "aks"):
        return importlib.import_module(f"targets.{target}").allocatable
    return lambda vcpus, memory: (vcpus, memory)


def _rows(target: str, combo: tuple[str, int, str], spot: bool) -> list[tuple[catalog.InstanceType, float, float]]:
    """The rows of `combo` that `target` can select: not retired, sold the way hardware.spot asks the target."""
    cloud = CLOUD_OF[target]
    if cloud is None:
        return []
    usable, how = _usable(target), catalog.how_bought(target, spot)
    return [(r, *usable(r.vcpus, r.memory_gib)) for r in catalog.rows(cloud)
            if (r.accelerator, r.accelerator_count, r.arch) == combo and not r.retired and r.sells(how)]


def combos_for(targets: tuple[str, ...], spot: bool) -> list[tuple[str, int, str]]:
    """(accelerator, count, arch) that every target in `targets` can buy the way `spot` asks."""
    every = sorted({(r.accelerator, r.accelerator_count, r.arch) for c in catalog.clouds() for r in catalog.rows(c)})
    # azure: A10s are GRID-only virtual GPUs that infc's default image cannot drive, so they need a targets.azure.image
    # of the user's (targets/azure/limits.py), which the azure settings strategy does not draw
    grid = {"nvidia-a10"} if "azure" in targets else set()
    return [c for c in every if c[0] not in grid and all(CLOUD_OF[t] is None or _rows(t, c, spot) for t in targets)]


@st.composite
def hardware(draw, targets: tuple[str, ...]) -> dict:
    spot_written = draw(st.booleans())
    spot = False if "azureml" in targets or not spot_written else draw(st.booleans())
    accelerator, count, arch = combo = draw(st.sampled_from(combos_for(targets, spot)))
    hw: dict = {"accelerator": accelerator}
    if count != (0 if accelerator == "none" else 1) or draw(st.booleans()):
        hw["count"] = count
    if arch != "x86_64" or draw(st.booleans()):
        hw["arch"] = arch
    clouds = [t for t in targets if CLOUD_OF[t]]
    max_cpus = min((int(max(cpu for _, cpu, _ in _rows(t, combo, spot))) for t in clouds), default=64)
    cpus = draw(st.none() | st.integers(1, max(max_cpus, 1))) if max_cpus >= 1 else None
    if cpus is not None:
        hw["cpus"] = cpus
    max_mem = min((max(mem for _, cpu, mem in _rows(t, combo, spot) if cpu >= (cpus or 0)) for t in clouds),
                  default=256)
    if max_mem >= 0.5 and draw(st.booleans()):
        hw["memory_gib"] = draw(st.integers(1, int(max_mem * 2))) / 2  # whole bytes (Kubernetes quantities)
        if hw["memory_gib"] == int(hw["memory_gib"]) and draw(st.booleans()):
            hw["memory_gib"] = int(hw["memory_gib"])
    if draw(st.booleans()):
        # gke >= 10, azure OS disk <= 4095, aks node OS disk 30-2048
        hw["disk_gib"] = draw(st.integers(30, 2048) if "aks" in targets else st.integers(10, 4095))
    if spot_written:
        hw["spot"] = spot
    types = {}
    for t in clouds:
        if draw(st.integers(0, 3)) == 0:
            fits = sorted({r.instance_type for r, cpu, mem in _rows(t, combo, spot)
                           if cpu >= (cpus or 0) and mem >= hw.get("memory_gib", 0)})
            if fits:
                types[t] = draw(st.sampled_from(fits))
    if types:
        hw["instance_types"] = types
    return hw


# --- the spec -----------------------------------------------------------------------------------------------------

@st.composite
def listeners(draw, https: bool) -> list[dict]:
    """Distinct ports; https only on 443 (Kubernetes Ingress); the one redirect any target takes, 80 -> 443."""
    out = []
    redirect = https and draw(st.booleans())
    if https:
        out.append({"port": 443, "protocol": "https"})
    if redirect:
        out.append({"port": 80, "protocol": "http", "redirect_to": 443})
    taken = {x["port"] for x in out}
    http_ports = draw(st.lists(st.integers(1, 65199).filter(lambda p: p not in taken), unique=True,
                               min_size=0 if https else 1, max_size=3))
    out += [{"port": p, "protocol": "http"} for p in http_ports]
    return draw(st.permutations(out))


@st.composite
def specs(draw, targets: tuple[str, ...] | None = None) -> dict:
    if targets is None:
        targets = tuple(t for t in TARGETS if draw(st.booleans())) or TARGETS
        if draw(st.booleans()):
            targets = TARGETS  # every target at once, often
    name = draw(service_name())
    doc: dict = {"apiVersion": "infc/v1", "kind": "InferenceService", "metadata": {"name": name}}
    if draw(st.booleans()):
        doc["metadata"]["labels"] = draw(st.dictionaries(_LABEL, _LABEL_VALUE, max_size=4))

    port = draw(st.integers(1, 65535).filter(lambda p: p not in (19, 21, 25, 70, 110, 119, 143, 220, 993)))
    model: dict = {"name": draw(FREE_TEXT), "image": draw(IMAGE)}
    if draw(st.booleans()):
        model["port"] = port
    if draw(st.booleans()):
        # The bucket is a bucket name on S3 and Cloud Storage (it becomes an IAM grant there), the rest any path.
        bucket = draw(st.builds(lambda a, m, e: a + m + e, st.sampled_from(_ALNUM), _word(_ALNUM + "-", 1, 12),
                                st.sampled_from(_ALNUM)))
        path = draw(st.just("") | _word(_ALNUM + "/-", 1, 20).map(lambda p: "/" + p))
        model["uri"] = draw(st.sampled_from([  # the forms compiler/values.py ModelUri admits, azureml:// aside
            f"s3://{bucket}{path}", f"gs://{bucket}{path}", f"hf://{bucket}/{bucket}",
            f"https://{bucket.replace('-', '')}.blob.core.windows.net/{bucket}/{path.lstrip('/')}"]))
    if draw(st.booleans()):
        model["command"] = draw(st.lists(ARG_TEXT, min_size=1, max_size=3))
    args = draw(st.lists(ARG_TEXT | st.integers(-10, 10**6) | st.booleans(), max_size=4))
    if args or draw(st.booleans()):
        model["args"] = args
    if draw(st.booleans()):
        model["env"] = draw(st.dictionaries(ENV_KEY, FREE_TEXT | st.integers(0, 100) | st.booleans(), max_size=4))
    if draw(st.booleans()):
        names = st.from_regex(r"\A[A-Z][A-Z0-9_]{0,11}\Z").filter(
            lambda k: k not in model.get("env", {}) and k not in ("MODEL_URI", "MODEL_NAME", "MODEL_DIR"))
        model["secrets"] = draw(st.dictionaries(names, secret_refs(targets), min_size=1, max_size=2))
    doc["model"] = model
    doc["hardware"] = draw(hardware(targets))

    replicas: dict = {}
    low = draw(st.integers(1, 20))  # no target scales to zero
    if low != 1 or draw(st.booleans()):
        replicas["min"] = low
    https = draw(st.booleans())
    lst = draw(listeners(https)) if https or draw(st.booleans()) else None  # None: the default, http on 80
    layer7 = any(x["protocol"] == "https" or "redirect_to" in x for x in lst or ())
    if draw(st.booleans()):
        replicas["max"] = draw(st.integers(low, 1000))  # azure scale set <= 1000
        if draw(st.booleans()):
            # azure: requests_per_replica only behind an Application Gateway (layer 7)
            metric = draw(st.sampled_from(["cpu_percent", "requests_per_replica"] if layer7 else ["cpu_percent"]))
            target = (draw(st.integers(1, 100)) if metric == "cpu_percent"  # HPA: whole percent
                      else draw(st.integers(1, 10**6)) / draw(st.sampled_from([1, 10, 1000])))  # HPA: milli units
            auto = {"metric": metric, "target": target}
            if draw(st.booleans()):
                auto["scale_out_delay"] = draw(duration(60, 3600))  # azure >= 60, HPA <= 3600
            if draw(st.booleans()):
                auto["scale_in_delay"] = draw(duration(60, 900))  # azure >= 60, aws <= 900
            replicas["autoscale"] = auto
    if replicas or draw(st.booleans()):
        doc["replicas"] = replicas

    lb: dict = {}
    if draw(st.booleans()):
        lb["public"] = True  # azureml, gke https: public only
    if draw(st.booleans()):
        # azureml: no filter; aks https: the add-on's Ingress load balancer is IPv4 and open to all
        lb["allowed_cidrs"] = draw(st.sampled_from([["0.0.0.0/0"]] if https and "aks" in targets else [
            ["0.0.0.0/0"], ["0.0.0.0/0", "::/0"], ["::/0", "0.0.0.0/0"], ["0.0.0.0/0", "::0/0"]]))
    if lst is not None:
        lb["listeners"] = lst
    if draw(st.booleans()):  # whole minutes 4-20: azure LB 4-100 min, gateway 4-30 min, gcp 5-1200 s
        minutes = draw(st.integers(4, 20))
        lb["idle_timeout"] = draw(st.sampled_from([minutes * 60, f"{minutes}m", f"{minutes * 60}s"]))
    if draw(st.booleans()):
        lb["drain_timeout"] = draw(duration(0, 3600))  # aws, gcp, gateway 0-3600
    if draw(st.booleans()):
        lb["stickiness"] = False  # azureml has no session affinity
    if lb or draw(st.booleans()):
        doc["load_balancer"] = lb

    serving_port = model.get("port", 8000)
    probes: dict = {}
    ready: dict = {}
    # azure's application health extension (liveness, or readiness behind a gateway) and aks's load balancer probe
    # every 5-60 s
    extension = 60 if {"azure", "aks"} & set(targets) else 300
    interval = draw(st.integers(5, extension))  # aws 5-300, gcp 1-300, azure LB >= 5
    timeout = draw(st.integers(2, min(120, interval - 1)))  # aws 2-120, < interval
    if draw(st.booleans()) or timeout >= 15:
        ready["interval"], ready["timeout"] = draw(duration(interval, interval)), draw(duration(timeout, timeout))
    if draw(st.booleans()):
        ready["path"] = draw(HTTP_PATH)
    if draw(st.booleans()):
        other = draw(st.integers(1, 65535).filter(lambda p: p not in (19, 21, 25, 70, 110, 119, 143, 220, 993)))
        ready["port"] = serving_port if https else other  # gke infers the Ingress check only on model.port
    for key in ("healthy_threshold", "unhealthy_threshold"):
        if draw(st.booleans()):
            ready[key] = draw(st.integers(2, 10))  # aws 2-10, gcp 1-10
    every = interval if "interval" in ready else 15  # the spec's default interval
    if "aks" in targets and every * ready.get("unhealthy_threshold", 3) > 120:  # aks: the probes fit in 120 s
        ready["unhealthy_threshold"] = 120 // every
    if draw(st.booleans()):
        ready["success_codes"] = draw(st.sampled_from(["200", 200]))  # gcp, azure LB: 200 only
    if draw(st.booleans()):
        ready["initial_delay"] = draw(duration(1, 3600))  # azureml >= 1, gcp <= 3600
    if ready:
        probes["readiness"] = ready
    if draw(st.booleans()):
        live_interval = draw(st.integers(5 if "azure" in targets else 2, extension))  # gcp 1-300
        live = {"interval": live_interval, "timeout": draw(st.integers(1, live_interval - 1))}
        if draw(st.booleans()):
            live["path"] = draw(HTTP_PATH)
        if draw(st.booleans()):
            live["port"] = draw(st.integers(1, 65535))
        if draw(st.booleans()):
            live["failure_threshold"] = draw(st.integers(1, 10))
        probes["liveness"] = live
    if probes or draw(st.booleans()):
        doc["probes"] = probes

    doc["targets"] = {t: draw(_TARGET[t](https, bool(args or model.get("command")))) for t in targets}
    if "azureml" in targets and "uri" in model:  # a managed deployment mounts registry models only
        doc["targets"]["azureml"]["model_uri"] = "azureml://registries/acme-ml/models/m/versions/1"
    return doc


# The targets that split requests between variants by weight without settings of their own (kubernetes needs a
# Gateway and the default load balancer, so it is left to its own tests).
VARIANT_TARGETS = ("aws", "gcp", "azureml")


@st.composite
def variant_specs(draw) -> dict:
    """A spec of specs() for some of VARIANT_TARGETS with 2-5 variants: whole-percent weights summing to 100, names
    that fit every target (azureml deployments take 3-32 characters; an aws target group name is
    <name>-<variant>-tg, at most 32), each overriding a random part of image, args, env, hardware and replicas as
    the targets accept it (no uri: a target's model_uri would replace it; azureml takes args only with its own image,
    and then no image of a variant)."""
    targets = tuple(t for t in VARIANT_TARGETS if draw(st.booleans())) or VARIANT_TARGETS
    doc = draw(specs(targets=targets))
    count = draw(st.integers(2, 5))
    longest = min(8, 28 - len(doc["metadata"]["name"]))
    names = draw(st.lists(_word(_LOWER, 1, 1).flatmap(lambda a: _word(_LOWER + string.digits, 2, longest - 1).map(
        lambda rest: a + rest)), min_size=count, max_size=count, unique=True))
    cuts = sorted(draw(st.lists(st.integers(0, 100), min_size=count - 1, max_size=count - 1)))
    weights = [b - a for a, b in zip([0, *cuts], [*cuts, 100])]
    azureml_image = "azureml" in targets and "image" in doc["targets"]["azureml"]
    variants = []
    for name, weight in zip(names, weights):
        variant: dict = {"name": name, "weight": weight}
        if draw(st.booleans()) and not azureml_image:
            variant["image"] = draw(IMAGE)
        if draw(st.booleans()) and ("azureml" not in targets or azureml_image):
            variant["args"] = draw(st.lists(ARG_TEXT, max_size=3))
        if draw(st.booleans()):
            variant["env"] = draw(st.dictionaries(ENV_KEY.filter(lambda k: k not in doc["model"].get("secrets", {})),
                                                  FREE_TEXT, max_size=2))
        if draw(st.booleans()):
            variant["hardware"] = draw(hardware(targets))
        if draw(st.booleans()):
            low = draw(st.integers(1, 20))
            variant["replicas"] = {"min": low, "max": draw(st.integers(low, 1000))}
        variants.append(variant)
    doc["variants"] = variants
    return doc


@st.composite
def secret_refs(draw, targets: tuple[str, ...]) -> dict:
    """A reference for every target in `targets`, each of its store's form (compiler/values.py)."""
    name = draw(_word(_ALNUM, 3, 12))
    refs = {"aws": draw(st.sampled_from([f"arn:aws:secretsmanager:us-east-1:123456789012:secret:{name}-Ab12Cd",
                                         f"arn:aws:ssm:eu-west-3:123456789012:parameter/{name}"])),
            "azure": f"https://kv{name}.vault.azure.net/secrets/{name}",
            "gcp": draw(st.sampled_from([f"projects/acme-{name}/secrets/{name}",
                                         f"projects/123/secrets/{name}/versions/2"])),
            "kubernetes": f"{name}/token", "gke": f"{name}/token", "eks": f"{name}/token", "aks": f"{name}/token",
            "azureml": f"https://kv{name}.vault.azure.net/secrets/{name}/{'0' * 32}",
            "aca": f"https://kv{name}.vault.azure.net/secrets/{name}"}
    return {t: refs[t] for t in targets}


def _settings(https: bool, required: dict, optional: dict):
    """Every `required` key and a random subset of the `optional` ones; with an https listener the certificate is
    required too (validate.py: every emitted target that takes one needs it)."""
    if https and "certificate" in optional:
        required = {**required, "certificate": optional.pop("certificate")}

    @st.composite
    def build(draw) -> dict:
        out = {k: draw(v) for k, v in required.items()}
        for key, value in optional.items():
            if draw(st.booleans()):
                out[key] = draw(value)
        return out
    return build()


_REGION = st.sampled_from(["us-east-1", "eu-west-3", "us-gov-west-1", "ap-southeast-2"])
_GCP_REGION = st.sampled_from(["us-central1", "europe-west4", "asia-northeast1"])
_PROJECT = st.builds(lambda a, m, e: a + m + e, st.sampled_from(_LOWER), _word(_ALNUM + "-", 4, 28),
                     st.sampled_from(_ALNUM))
_LOCATION = st.sampled_from(["eastus", "westeurope", "southcentralus", "japaneast"])
_RG = st.from_regex(r"\A[-\w._()]{0,39}[-\w()]\Z", alphabet=string.ascii_letters + string.digits + "-_.()")


def _aws(https: bool, args: bool):
    return _settings(https, {"region": _REGION}, {
        "certificate": (st.builds(lambda h: f"arn:aws:acm:us-east-1:123456789012:certificate/{h}",
                                              HEX)),
        "vpc_id": HEX.map(lambda h: f"vpc-{h}"),
        "subnet_ids": st.lists(HEX.map(lambda h: f"subnet-{h}"), min_size=2, max_size=4, unique=True),
        "image": HEX.map(lambda h: f"ami-{h}"),
    })


def _azure(https: bool, args: bool):
    return _settings(https, {"location": _LOCATION}, {
        "certificate": (_word(_ALNUM, 3, 12).map(
            lambda n: f"https://kv{n}.vault.azure.net/secrets/{n}")),
        "resource_group": _RG,
        "image": st.sampled_from(["Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2:latest",
                                  "microsoft-dsvm:ubuntu-hpc:2204:latest"]),
        "ssh_public_key": st.sampled_from(["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB", "ssh-rsa AAAAB3NzaC1yc2E x@y"]),
        # subnet_id only without an Application Gateway (https, redirect or stickiness): not drawn
    })


def _gcp(https: bool, args: bool):
    return _settings(https, {"project": _PROJECT, "region": _GCP_REGION}, {
        "certificate": (_word(_ALNUM, 1, 12).map(
            lambda n: f"projects/p/global/sslCertificates/c{n}")),
        "network": st.sampled_from(["default", "vpc-a", "projects/p/global/networks/n"]),
        "subnet": st.sampled_from(["default", "sub-a"]),
        "image": st.sampled_from(["projects/ubuntu-os-cloud/global/images/family/ubuntu-2204-lts", "my-image"]),
    })


def _kubernetes(https: bool, args: bool):
    return _settings(https, {}, {
        "certificate": (K8S_NAME),
        "namespace": K8S_NAME,
        "namespace_exists": st.booleans(),
        "node_selector": st.dictionaries(_LABEL, _LABEL, max_size=2),
        "host": HOST,
        "ingress_class": K8S_NAME,
    })


def _azureml(https: bool, args: bool):
    image = IMAGE.filter(lambda i: "@" in i or (":" in i.rsplit("/", 1)[-1] and not i.endswith(":latest")))
    return _settings(https, {"location": _LOCATION, **({"image": image} if args else {})}, {
        "resource_group": _RG,
        "image": image,
        "container_registry_id": st.builds(
            lambda n: f"/subscriptions/0000/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/{n}",
            _word(_ALNUM, 5, 10)),
    })


def _gke(https: bool, args: bool):
    return _settings(https, {"project": _PROJECT, "region": _GCP_REGION}, {
        "certificate": (st.builds(lambda a, b: a + b, st.sampled_from(_LOWER), _word(_ALNUM + "-", 0, 20)
                                              .map(lambda s: s.rstrip("-")))),
        "namespace": K8S_NAME,
        "host": HOST,
    })


@st.composite
def _eks_settings(draw, https: bool) -> dict:
    """The certificate is an ACM ARN in the cluster's region (targets/eks/limits.py)."""
    out = draw(_settings(False, {"region": _REGION}, {
        "vpc_id": HEX.map(lambda h: f"vpc-{h}"),
        "subnet_ids": st.lists(HEX.map(lambda h: f"subnet-{h}"), min_size=2, max_size=4, unique=True),
        "public_access_cidrs": st.lists(st.sampled_from(["203.0.113.0/24", "198.51.100.7/32", "10.0.0.0/8"]),
                                        min_size=1, max_size=3, unique=True),
        "namespace": K8S_NAME,
        "host": HOST,
        "registry": st.booleans(),
    }))
    if https:
        out["certificate"] = f"arn:aws:acm:{out['region']}:123456789012:certificate/{draw(HEX)}"
    return out


def _eks(https: bool, args: bool):
    return _eks_settings(https)


def _aks(https: bool, args: bool):
    sub = "/subscriptions/0000/resourceGroups/rg/providers"
    return _settings(https, {"location": _LOCATION}, {
        "certificate": _word(_ALNUM, 3, 12).map(lambda n: f"https://kv{n}.vault.azure.net/certificates/{n}"),
        "resource_group": _RG,
        "subnet_id": _word(_ALNUM, 1, 10).map(
            lambda n: f"{sub}/Microsoft.Network/virtualNetworks/vnet-{n}/subnets/nodes"),
        "key_vault_id": _word(_ALNUM, 3, 12).map(lambda n: f"{sub}/Microsoft.KeyVault/vaults/kv{n}"),
        "api_authorized_cidrs": st.lists(st.sampled_from(["203.0.113.0/24", "198.51.100.7/32"]), min_size=1,
                                         max_size=2, unique=True),
        "registry": st.booleans(),
        "container_registry_id": _word(_ALNUM, 5, 10).map(
            lambda n: f"{sub}/Microsoft.ContainerRegistry/registries/{n}"),
        "azureml_compute": st.just({}) | _word(_ALNUM, 3, 12).map(lambda n: {
            "workspace_id": f"{sub}/Microsoft.MachineLearningServices/workspaces/w{n}"}),
        "namespace": K8S_NAME,
        "host": HOST,
    })


_TARGET = {"aws": _aws, "azure": _azure, "gcp": _gcp, "kubernetes": _kubernetes, "azureml": _azureml, "gke": _gke,
           "eks": _eks, "aks": _aks}


# --- aca: specs of its own ------------------------------------------------------------------------------------------
# aca's limits (HTTP ingress on 80 and 443 only, a fixed 240 s request timeout and 300 s scale-in window, whole-number
# scale targets, one GPU per replica, no model delivery, no text Kubernetes would expand) would narrow every other
# target's specs if it joined TARGETS, so aca gets a strategy of its own, drawn from the whole range it accepts
# (targets/aca/limits.py), replicas.min 0 included.
ACA = "aca"
_ACA_SAFE = lambda text: "$(" not in text and "$$" not in text  # noqa: E731 - a filter, named once


@st.composite
def aca_specs(draw) -> dict:
    doc: dict = {"apiVersion": "infc/v1", "kind": "InferenceService", "metadata": {"name": draw(service_name())}}
    if draw(st.booleans()):
        doc["metadata"]["labels"] = draw(st.dictionaries(_LABEL, _LABEL_VALUE, max_size=4))
    model: dict = {"name": draw(FREE_TEXT), "image": draw(IMAGE)}
    if draw(st.booleans()):
        model["port"] = draw(st.integers(1, 65535))
    if draw(st.booleans()):
        model["command"] = draw(st.lists(ARG_TEXT.filter(_ACA_SAFE), min_size=1, max_size=3))
    if draw(st.booleans()):
        model["args"] = draw(st.lists(ARG_TEXT.filter(_ACA_SAFE) | st.integers(-10, 10**6), max_size=4))
    if draw(st.booleans()):
        model["env"] = draw(st.dictionaries(ENV_KEY, FREE_TEXT.filter(_ACA_SAFE) | st.integers(0, 100), max_size=4))
    if draw(st.booleans()):
        names = st.from_regex(r"\A[A-Z][A-Z0-9]{0,11}\Z").filter(
            lambda k: k not in model.get("env", {}) and k not in ("MODEL_URI", "MODEL_NAME", "MODEL_DIR"))
        model["secrets"] = draw(st.dictionaries(names, secret_refs((ACA,)), min_size=1, max_size=2))
    doc["model"] = model
    # The Consumption profile (up to 4 vCPUs, 8 GiB) or a serverless GPU profile (T4: 8, 56; A100: 24, 220).
    accelerator, cpus, memory = draw(st.sampled_from([("none", 4, 8), ("nvidia-t4", 8, 56),
                                                      ("nvidia-a100-80gb", 24, 220)]))
    hw: dict = {"accelerator": accelerator}
    if accelerator != "none" and draw(st.booleans()):
        hw["count"] = 1
    if draw(st.booleans()):
        hw["cpus"] = draw(st.integers(1, cpus))
    if draw(st.booleans()):
        hw["memory_gib"] = draw(st.integers(1, memory))
    if draw(st.booleans()):
        hw["disk_gib"] = draw(st.integers(8, 16384))
    doc["hardware"] = hw
    low = draw(st.integers(0, 5))
    metric = draw(st.sampled_from(["requests_per_replica"] if low == 0 else ["requests_per_replica", "cpu_percent"]))
    auto: dict = {"metric": metric, "target": draw(st.integers(1, 100 if metric == "cpu_percent" else 10**6))}
    if draw(st.booleans()):
        auto["scale_out_delay"] = draw(duration(0, 3600))
    if draw(st.booleans()):
        auto["scale_in_delay"] = draw(st.sampled_from([300, "300s", "5m"]))
    if draw(st.booleans()):
        auto["scale_to_zero_after"] = draw(duration(0, 86400))
    doc["replicas"] = {"min": low, "max": draw(st.integers(max(low, 1), 1000)), "autoscale": auto}
    https = draw(st.booleans())
    listeners = [{"port": 443, "protocol": "https"}] if https else []
    listeners += draw(st.sampled_from([[{"port": 80, "protocol": "http"}]] + (
        [[], [{"port": 80, "protocol": "http", "redirect_to": 443}]] if https else [])))
    lb: dict = {"listeners": draw(st.permutations(listeners))}
    if draw(st.booleans()):
        lb["allowed_cidrs"] = draw(st.sampled_from([["0.0.0.0/0"], ["203.0.113.0/24", "198.51.100.7/32"],
                                                    ["10.0.0.0/8"], ["0.0.0.0/0", "::/0"]]))
    if draw(st.booleans()):
        lb["idle_timeout"] = draw(duration(1, 240))
    if draw(st.booleans()):
        lb["drain_timeout"] = draw(duration(0, 3600))
    if draw(st.booleans()):
        lb["stickiness"] = draw(st.booleans())
    doc["load_balancer"] = lb
    interval = draw(st.integers(2, 240))
    ready = {"interval": interval, "timeout": draw(st.integers(1, interval - 1)), "path": draw(HTTP_PATH),
             "healthy_threshold": draw(st.integers(1, 10)), "unhealthy_threshold": draw(st.integers(1, 10)),
             "initial_delay": draw(duration(0, 2160)), "success_codes": draw(st.sampled_from(["200", "200-399"]))}
    if draw(st.booleans()):
        ready["port"] = draw(st.integers(1, 65535))
    probes = {"readiness": ready}
    if draw(st.booleans()):
        every = draw(st.integers(2, 240))
        probes["liveness"] = {"interval": every, "timeout": draw(st.integers(1, every - 1)),
                              "failure_threshold": draw(st.integers(1, 10)), "path": draw(HTTP_PATH)}
    doc["probes"] = probes
    settings = {"location": draw(_LOCATION)}
    if draw(st.booleans()):
        settings["resource_group"] = draw(_RG)
    doc["targets"] = {ACA: settings}
    return doc


def dump(doc) -> bytes:
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True).encode()


# --- damage -------------------------------------------------------------------------------------------------------

BAD_VALUES = [None, 0, -1, 1, 2**40, -(2**63), 1.5, -0.0, float("inf"), float("nan"), True, False, "", " ", "x",
              "10m", "1h30m", "-5s", "1.5m", "0.0.0.0/0", "10.0.0.1/8", "::/0", [], {}, [1], {"a": 1}, [[]],
              "nvidia-l4", "none", "https", 443, 65536, 0.0, "200-299", "299-200", "600", "∞", "a" * 300, "\n",
              "${x}", "*", "\t", "é", "null", "~", "yes", "0x1F", "1e3", "2024-01-01", "<<",
              # hostile and odd: option-like prefixes, line breaks, non-ASCII digits, huge and non-finite numbers
              "-x", "--privileged", "x\n", "a\nb=c", "\u2028", "x\x85", "\r", "３００s", "٣٠٠", " 300 s ", "300\n",
              "ghcr.io/a/b:1\n", "A", "a b", "0755", "１", "\U0001F600", "${file(\"/etc/passwd\")}", "%{x}",
              10**21, 2**31, 2**31 - 1, 1e308, -1e308, 1e-300, 999_999_999, 1_000_000_000, "1e309"]
# Scalars written raw into the YAML text, as a careless hand would: YAML 1.1 reads most of them as something other
# than their text (a number, a boolean, a date, null), YAML 1.2 as something else again.
YAML_11 = ["0x1F40", "017500", "0755", "2:13:20", "5:00", "12:30", "1.10", "1_000", "0b1010", "yes", "no", "on", "off",
           "Yes", "TRUE", "True", "~", "null", "2024-01-01", "2024-01-01T12:00:00Z", ".inf", "-.inf", ".nan", "1e309",
           "1.0e+309", "1.0e+308", "+8000", "-0", "8000.0", "1e3", "08", "0o17", "１２", "!!str 0755", "!!int 0x10",
           "!!float 1", "'0755'", '"300\\n"', '"\\ud83d\\ude00"', '"a\\x00b"', '"x\\u2028y"']
_RAW = "__infc_raw__"
KEYS = ["zzz", "spot", "count", "min", "max", "port", "redirect_to", "certificate", "apiVersion", "metrics", "<<",
        "", "1", "Port", "certificat"]


def _paths(value, path=()):
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, path + (key,))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _paths(item, path + (i,))


@st.composite
def mutated(draw, doc: dict) -> dict:
    doc = copy.deepcopy(doc)
    for _ in range(draw(st.integers(1, 4))):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        key = path[-1]
        kind = draw(st.sampled_from(["delete", "misspell", "add", "retype", "retype", "bump", "wrap"]))
        if kind == "delete" and isinstance(parent, (dict, list)):
            del parent[key]
        elif kind == "misspell" and isinstance(parent, dict):
            spelt = str(key) + draw(st.sampled_from(["s", "_", "x", "S"])) if draw(st.booleans()) \
                else str(key)[:-1] or "k"
            parent[spelt] = parent.pop(key)
        elif kind == "add" and isinstance(parent, dict):
            parent[draw(st.sampled_from(KEYS))] = copy.deepcopy(draw(st.sampled_from(BAD_VALUES)))
        elif kind == "bump" and isinstance(parent[key], (int, float)) and not isinstance(parent[key], bool):
            parent[key] = draw(st.sampled_from([lambda v: -v, lambda v: v * 1000, lambda v: v + 1, lambda v: v - 1,
                                                lambda v: v + 0.5, lambda v: 10**9]))(parent[key])
        elif kind == "wrap":
            parent[key] = draw(st.sampled_from([lambda v: [v], lambda v: {"v": v}, lambda v: str(v)]))(parent[key])
        else:
            parent[key] = copy.deepcopy(draw(st.sampled_from(BAD_VALUES) | st.integers() | st.text(max_size=5)))
    return doc


@st.composite
def raw_scalar(draw, doc: dict) -> bytes:
    """The YAML text of `doc` with one value (or mapping key) replaced by a raw YAML_11 token."""
    doc = copy.deepcopy(doc)
    path = draw(st.sampled_from([p for p in _paths(doc) if p]))
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    if isinstance(parent, dict) and draw(st.booleans()):
        parent[_RAW] = parent.pop(path[-1])  # the key
    else:
        parent[path[-1]] = _RAW
    return dump(doc).replace(_RAW.encode(), draw(st.sampled_from(YAML_11)).encode(), 1)


@st.composite
def damaged(draw) -> bytes:
    """YAML bytes of a generated spec after structural mutations, raw YAML 1.1 scalars, text edits or byte damage."""
    doc = draw(specs())
    how = draw(st.integers(0, 11))
    if how >= 10:
        return draw(raw_scalar(doc))
    if how < 7:
        return dump(draw(mutated(doc)))
    text = bytearray(dump(doc))
    if how == 7:  # flip bytes: invalid UTF-8, NULs, broken syntax
        for _ in range(draw(st.integers(1, 4))):
            text[draw(st.integers(0, len(text) - 1))] = draw(st.integers(0, 255))
        return bytes(text)
    if how == 8:  # insert YAML punctuation somewhere
        at = draw(st.integers(0, len(text)))
        piece = draw(st.sampled_from([b"&a ", b"*a", b"*nope", b"<<: *a\n", b"!!python/name:os.system ", b"{", b"]",
                                      b"\t", b": ", b"- ", b"---\n", b"...\n", b"%YAML 1.1\n", b"? ", b"|\n", b"'",
                                      b'"', b"\xef\xbb\xbf", b"!!binary ", b"!!timestamp ", b"!!set ", b"!x "]))
        return bytes(text[:at] + piece + text[at:])
    at = draw(st.integers(0, len(text)))  # truncate
    return bytes(text[:at])
