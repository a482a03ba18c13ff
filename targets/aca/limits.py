"""Azure Container Apps target: what a container app on a Consumption or serverless GPU workload profile can express
(no CDK)."""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import re

from compiler import ir
from compiler.errors import Diagnostic
from targets import delivery
from targets.azure import site as azure_site
from targets.base import (Limit, check_limits, check_variants, error, fallback_refused, on_demand_base_refused,
                          unpulled_image, warning)
from targets.kubernetes.limits import code_ranges

_ACA = "https://learn.microsoft.com/en-us/azure/container-apps"
_SCALE_DOC = f"{_ACA}/scale-app"
_PROBE_DOC = f"{_ACA}/health-probes"
_INGRESS_DOC = f"{_ACA}/ingress-overview"
_PROFILES_DOC = f"{_ACA}/workload-profiles-overview"
_GPU_DOC = f"{_ACA}/gpu-serverless-overview"
_COLD_START_DOC = f"{_ACA}/cold-start"
_CONTAINERS_DOC = f"{_ACA}/containers"
_NAME_DOC = "https://learn.microsoft.com/en-us/azure/azure-resource-manager/management/resource-name-rules#microsoftapp"
_SECRETS_DOC = f"{_ACA}/manage-secrets#reference-secret-from-key-vault"
# The ContainerAppProbe ranges are written in the Microsoft.App REST API's descriptions (azure-rest-api-specs
# specification/app/resource-manager/Microsoft.App/stable/2025-01-01/CommonDefinitions.json, as embedded in
# Azure/azapi internal/azure/generated/app_0/microsoft.app/2025-01-01/types.json): periodSeconds and timeoutSeconds
# 1-240, failureThreshold and successThreshold 1-10 (successThreshold must be 1 for liveness and startup),
# initialDelaySeconds 1-60.
_PROBE_REST = ("https://github.com/Azure/azure-rest-api-specs/blob/main/specification/app/resource-manager/"
               "Microsoft.App/stable/2025-01-01/CommonDefinitions.json")

PERIOD = (1, 240)  # periodSeconds, timeoutSeconds
THRESHOLD = (1, 10)  # failureThreshold, successThreshold
STARTUP_DELAY = 1  # the startup probe's initialDelaySeconds: the least the API takes (1-60)
# probes.readiness.initial_delay is the startup probe's budget: a first probe STARTUP_DELAY after the container starts,
# then up to THRESHOLD[1] failures a period apart, so at most (10 - 1) x 240 s past it (resources.startup_probe).
MAX_INITIAL_DELAY = (THRESHOLD[1] - 1) * PERIOD[1]
MAX_REPLICAS = 1000  # "Maximum replicas configurable are 1,000" (_SCALE_DOC, Scale definition)
REQUEST_TIMEOUT_S = 240  # "Request timeout is 240 seconds" (_INGRESS_DOC, HTTP), not configurable
SCALE_DOWN_WINDOW_S = 300  # "Scale down stabilization window: 300 seconds" (_SCALE_DOC, Scale behavior), fixed
# Names of container apps: 2-32 lowercase letters, digits and '-', starting with a letter, ending alphanumeric, and no
# '--' (_NAME_DOC, Microsoft.App containerApps).
APP_NAME = (2, 32)

LIMITS = (
    Limit("probes.readiness.interval", lambda s: s.readiness.interval_s, *PERIOD, "a Container Apps probe period",
          _PROBE_REST, "s"),
    Limit("probes.readiness.timeout", lambda s: s.readiness.timeout_s, *PERIOD, "a Container Apps probe timeout",
          _PROBE_REST, "s"),
    Limit("probes.readiness.healthy_threshold", lambda s: s.readiness.healthy_threshold, *THRESHOLD,
          "a Container Apps readiness probe's success threshold", _PROBE_REST),
    Limit("probes.readiness.unhealthy_threshold", lambda s: s.readiness.unhealthy_threshold, *THRESHOLD,
          "a Container Apps probe's failure threshold", _PROBE_REST),
    Limit("probes.readiness.initial_delay", lambda s: s.initial_delay_s, 0, MAX_INITIAL_DELAY,
          "the start-up time a Container Apps startup probe can allow (at most 10 failures, 240 s apart)",
          _PROBE_REST, "s"),
    Limit("probes.liveness.interval", lambda s: s.liveness.interval_s if s.liveness else None, *PERIOD,
          "a Container Apps probe period", _PROBE_REST, "s"),
    Limit("probes.liveness.timeout", lambda s: s.liveness.timeout_s if s.liveness else None, *PERIOD,
          "a Container Apps probe timeout", _PROBE_REST, "s"),
    Limit("probes.liveness.failure_threshold", lambda s: s.liveness.failure_threshold if s.liveness else None,
          *THRESHOLD, "a Container Apps probe's failure threshold", _PROBE_REST),
    Limit("replicas.max", lambda s: s.max_replicas, 1, MAX_REPLICAS, "a container app's maximum replica count",
          _SCALE_DOC),
    Limit("load_balancer.idle_timeout", lambda s: s.load_balancer.idle_timeout_s, 1, REQUEST_TIMEOUT_S,
          "an idle timeout within Container Apps' fixed ingress request timeout", _INGRESS_DOC, "s"),
)


@dataclasses.dataclass(frozen=True)
class Profile:
    """A workload profile type a replica runs on: its accelerator and what one replica gets (_PROFILES_DOC)."""

    type: str  # workloadProfileType
    name: str  # the profile's name in the environment
    accelerator: str
    vcpus: int
    memory_gib: int


CONSUMPTION = Profile("Consumption", "Consumption", "none", 4, 8)  # 0.25-4 vCPUs, 0.5-8 GiB per replica
# Serverless GPUs: one GPU per replica ("Multi and fractional GPU replicas aren't supported", _GPU_DOC), the whole
# profile's vCPUs and memory (Consumption-GPU-NC8as-T4: 8 vCPUs, 56 GiB, NVIDIA T4 16 GB;
# Consumption-GPU-NC24-A100: 24 vCPUs, 220 GiB, NVIDIA A100 80 GB PCIe). Checked against _PROFILES_DOC on 2026-12-02.
GPU_PROFILES = {
    "nvidia-t4": Profile("Consumption-GPU-NC8as-T4", "gpu-t4", "nvidia-t4", 8, 56),
    "nvidia-a100-80gb": Profile("Consumption-GPU-NC24-A100", "gpu-a100", "nvidia-a100-80gb", 24, 220),
}


def profile(service: ir.Service) -> Profile:
    return GPU_PROFILES.get(service.accelerator, CONSUMPTION)


def cpu_size(service: ir.Service) -> tuple[int, int]:
    """(vCPUs, GiB) of a replica on the Consumption profile, which takes CPU and memory in a 1:2 ratio (0.25 vCPU /
    0.5 GiB up to 4 vCPUs / 8 GiB): the fewest whole vCPUs that give hardware.cpus and hardware.memory_gib, 1 vCPU and
    2 GiB by default (as the kubernetes target's default CPU replica)."""
    cpus = max(service.cpus or 1, math.ceil((service.memory_gib or 0) / 2))
    return cpus, 2 * cpus


# Why variants are refused: revisions come one after another (https://learn.microsoft.com/en-us/azure/container-apps/
# revisions), so a split between two declared versions is not something one apply can make.
_ONE_REVISION = ("a container app's template describes one revision, and each apply that changes it makes the next "
                 "one; ingress traffic weights split requests between revisions that earlier applies left running, so "
                 "two variants cannot both be declared in one apply (see "
                 "https://learn.microsoft.com/en-us/azure/container-apps/revisions)")


def check(service: ir.Service, target: ir.Target) -> list[Diagnostic]:
    """Everything a container app cannot express, as errors naming field and range. No CDK needed."""
    out = check_limits("aca", service, LIMITS)
    out += check_variants("aca", service, _ONE_REVISION)
    out += azure_site.check_tags("aca", service)
    out += _check_name(service)
    out += _check_hardware(service, target)
    out += _check_model(service, target)
    out += _check_probes(service)
    out += _check_scale(service)
    out += _check_front(service)
    return out


def _check_name(service: ir.Service) -> list[Diagnostic]:
    low, high = APP_NAME
    if not low <= len(service.name) <= high or "--" in service.name:
        return [error("aca", "metadata.name",
                      f"metadata.name '{service.name}' names the container app, whose name must be {low}-{high} "
                      "lowercase letters, digits and single dashes, starting with a letter and ending with a letter "
                      f"or digit (see {_NAME_DOC})")]
    return []


def _check_hardware(service: ir.Service, target: ir.Target) -> list[Diagnostic]:
    out = []
    if service.accelerator != "none" and service.accelerator not in GPU_PROFILES:
        out.append(error("aca", "hardware.accelerator",
                         f"hardware.accelerator is {service.accelerator}; Container Apps' serverless GPUs are "
                         f"{', '.join(GPU_PROFILES)} (workload profiles "
                         f"{', '.join(p.type for p in GPU_PROFILES.values())}; see {_GPU_DOC})"))
    elif service.accelerator != "none" and service.accelerator_count != 1:
        out.append(error("aca", "hardware.count",
                         f"hardware.count is {service.accelerator_count}; a Container Apps serverless GPU replica has "
                         f"exactly one GPU (multi-GPU replicas aren't supported, see {_GPU_DOC})"))
    one = profile(service)
    cpus, memory = (one.vcpus, one.memory_gib) if one is not CONSUMPTION else cpu_size(service)
    if service.cpus and service.cpus > one.vcpus:
        out.append(error("aca", "hardware.cpus",
                         f"hardware.cpus is {service.cpus}; a replica on the {one.type} workload profile has at most "
                         f"{one.vcpus} vCPUs (see {_PROFILES_DOC})"))
    elif service.memory_gib and max(memory, service.memory_gib) > one.memory_gib:
        out.append(error("aca", "hardware.memory_gib",
                         f"hardware.memory_gib is {service.memory_gib:g}; a replica on the {one.type} workload profile "
                         f"has at most {one.memory_gib} GiB (see {_PROFILES_DOC})"))
    if service.spot:
        out.append(error("aca", "hardware.spot",
                         "hardware.spot is true, but Container Apps has no spot capacity: Consumption replicas are "
                         "billed per second of use; remove spot"))
    if service.arch != "x86_64":
        out.append(error("aca", "hardware.arch",
                         f"hardware.arch is {service.arch}; Container Apps runs linux/amd64 images only (see "
                         f"{_CONTAINERS_DOC})"))
    one_size = f"every replica runs on the one workload profile of the app ({one.type})"
    out += fallback_refused("aca", service, target, one_size) + on_demand_base_refused("aca", service, one_size)
    if service.accelerator in GPU_PROFILES:
        out.append(warning("aca", "hardware.accelerator",
                           f"serverless GPUs ({one.type}) need GPU quota granted through a support request, and are "
                           f"offered in some regions only: check targets.aca.location against {_GPU_DOC}; each "
                           f"replica gets the whole profile, {cpus} vCPUs and {memory} GiB", always=True))
    out.append(warning("aca", "hardware.disk_gib",
                       f"hardware.disk_gib ({service.disk_gib}GiB) has no setting on a container app: a replica's "
                       f"ephemeral storage comes with its vCPUs (see {_CONTAINERS_DOC})"))
    return out


def _literal_text(service: ir.Service) -> list[tuple[str, str]]:
    """(field, text) of every command-line word and env value a container app passes to the container."""
    words = [("model.command", w) for w in service.command or ()] + [("model.args", w) for w in service.args]
    return words + [(f"model.env.{k}", v) for k, v in service.env]


def _check_model(service: ir.Service, target: ir.Target) -> list[Diagnostic]:
    out = []
    if target.model_uri:
        path = "targets.aca.model_uri" if target.get("model_uri") else "model.uri"
        found = delivery.source(target.model_uri)
        out.append(error("aca", path,
                         f"{path} is {delivery.SCHEMES[found.scheme]}, but infc does not deliver model files on aca: "
                         "a download into the replica (an init container and an EmptyDir volume) would count "
                         "against the replica's ephemeral storage, whose size infc cannot check; build the weights "
                         "into model.image, or let the server download them itself (e.g. vLLM's --model "
                         "<org>/<model>, with HF_TOKEN in model.secrets)"))
    for field, text in _literal_text(service):
        if "$(" in text or "$$" in text:
            # Container Apps runs containers on Kubernetes, whose kubelet expands $(VAR) and reads $$ as $; the
            # Container Apps API does not say whether it escapes them, so infc cannot pass such text literally.
            out.append(error("aca", field,
                             f"{field} holds '$(' or '$$', which Container Apps may expand (it runs containers on "
                             "Kubernetes, whose kubelet expands $(VAR) in commands, arguments and env values) and "
                             "infc cannot pass literally there; write the text without it"))
            break
    names: dict[str, str] = {}
    for secret in target.secrets:
        key = secret_name(secret.name)
        if key in names:
            out.append(error("aca", f"model.secrets.{secret.name}",
                             f"model.secrets.{secret.name} and model.secrets.{names[key]} both become the container "
                             f"app secret '{key}' (lowercase letters, digits and '-'); rename one"))
        names[key] = secret.name
    if target.secrets:
        out.append(warning("aca", "model.secrets",
                           "model.secrets on aca are Key Vault references read with a user-assigned identity that "
                           "infc grants Key Vault Secrets User on each secret (the vault must use Azure RBAC); a "
                           "reference without a version follows the latest version, refreshed within 30 minutes "
                           f"(see {_SECRETS_DOC})"))
    out += unpulled_image("aca", service, "the container app")
    return out


def secret_name(variable: str) -> str:
    """The container app secret that holds `variable`: lowercase letters, digits and single '-' (Container Apps secret
    names are lowercase alphanumerics and '-', starting and ending alphanumeric)."""
    return "env-" + (re.sub(r"[^a-z0-9]+", "-", variable.lower()).strip("-") or "x")


def _check_probes(service: ir.Service) -> list[Diagnostic]:
    out = []
    # HTTP probes pass on 200-399 (_PROBE_DOC, "HTTP probes").
    codes = service.readiness.success_codes
    if any(first < 200 or last > 399 for first, last in code_ranges(codes)):
        out.append(error("aca", "probes.readiness.success_codes",
                         f"probes.readiness.success_codes is {codes}; a Container Apps HTTP probe counts exactly the "
                         f"codes 200-399 as success (see {_PROBE_DOC})"))
    elif codes not in ("200", "200-399"):
        out.append(warning("aca", "probes.readiness.success_codes",
                           f"probes.readiness.success_codes is {codes}, but a Container Apps HTTP probe counts every "
                           f"code from 200 to 399 as success (see {_PROBE_DOC})"))
    return out


def _check_scale(service: ir.Service) -> list[Diagnostic]:
    auto, out = service.autoscale, []
    if auto is None:
        return out
    whole = f"{auto.target:g}"
    if auto.metric == "requests_per_replica" and auto.target != int(auto.target):
        out.append(error("aca", "replicas.autoscale.target",
                         f"replicas.autoscale.target is {whole}; a Container Apps HTTP scale rule takes whole requests "
                         f"per second per replica (concurrentRequests, at least 1; see {_SCALE_DOC})"))
    if auto.metric == "cpu_percent" and (auto.target != int(auto.target) or not 1 <= auto.target <= 100):
        out.append(error("aca", "replicas.autoscale.target",
                         f"replicas.autoscale.target is {whole}; a Container Apps CPU scale rule takes a whole "
                         f"percent of the replica's CPU, 1-100 (see {_SCALE_DOC})"))
    if auto.metric == "cpu_percent" and service.min_replicas == 0:
        out.append(error("aca", "replicas.min",
                         "replicas.min is 0 with the cpu_percent metric; a Container Apps CPU scale rule measures "
                         "running replicas and cannot start one from zero: only an HTTP scale rule does, so scale to "
                         f"zero with metric: requests_per_replica (see {_SCALE_DOC})"))
    if auto.scale_in_delay_s != SCALE_DOWN_WINDOW_S:
        out.append(error("aca", "replicas.autoscale.scale_in_delay",
                         f"replicas.autoscale.scale_in_delay is {auto.scale_in_delay_s}s; Container Apps scales in "
                         f"after a fixed {SCALE_DOWN_WINDOW_S}s stabilization window: use {SCALE_DOWN_WINDOW_S}s "
                         f"(see {_SCALE_DOC})"))
    out.append(warning("aca", "replicas.autoscale.scale_out_delay",
                       f"replicas.autoscale.scale_out_delay ({auto.scale_out_delay_s}s) has no setting on a container "
                       "app: Container Apps scales out as soon as a rule asks (no stabilization window), by 1, 4, 8, "
                       f"16... replicas at a time (see {_SCALE_DOC})", always=True))
    if service.min_replicas == 0:
        out.append(warning(
            "aca", "replicas.min",
            f"replicas.min is 0: the app runs no replica once no request has come for scale_to_zero_after "
            f"({auto.scale_to_zero_after_s}s, the scale rule's cooldown period), and the next request triggers a cold "
            "start (the image pulled, a replica started, the model loaded: minutes for a GPU model) and waits for it; "
            f"Container Apps ends a request after {REQUEST_TIMEOUT_S}s, so a first request whose cold start takes "
            f"longer fails and the client must retry (see {_COLD_START_DOC} and {_INGRESS_DOC})"))
    return out


def open_to_all(service: ir.Service) -> bool:
    """Whether allowed_cidrs admits every IPv4 client (0.0.0.0/0): the ingress then takes no IP restriction."""
    every = ipaddress.ip_network("0.0.0.0/0")
    return any(ipaddress.ip_network(c) == every for c in service.load_balancer.allowed_cidrs)


def _check_front(service: ir.Service) -> list[Diagnostic]:
    """The app's HTTP ingress: Azure's front end on the app's FQDN, HTTP on 80 and HTTPS on 443 (_INGRESS_DOC)."""
    lb, out = service.load_balancer, []
    if not lb.public:
        out.append(error("aca", "load_balancer.public",
                         "load_balancer.public is false; internal ingress reaches only apps in the same Container "
                         "Apps environment unless the environment is in a virtual network, which infc does not emit; "
                         "use public: true"))
    v6 = [c for c in lb.allowed_cidrs if ipaddress.ip_network(c).version == 6]
    if v6 and not open_to_all(service):
        out.append(error("aca", "load_balancer.allowed_cidrs",
                         f"load_balancer.allowed_cidrs has IPv6 ranges ({', '.join(v6)}); Container Apps IP "
                         f"restrictions take IPv4 ranges (see {_INGRESS_DOC}); list IPv4 ranges, or 0.0.0.0/0 for "
                         "every client"))
    for i, x in enumerate(lb.listeners):
        if x.redirect_to is not None and (x.protocol, x.port, x.redirect_to) != ("http", 80, 443):
            out.append(error("aca", f"load_balancer.listeners.{i}",
                             f"load_balancer.listeners[{i}] ({x.protocol} {x.port} -> {x.redirect_to}): Container Apps "
                             "ingress redirects only HTTP on 80 to HTTPS on 443"))
        elif x.redirect_to is None and (x.protocol, x.port) not in (("http", 80), ("https", 443)):
            out.append(error("aca", f"load_balancer.listeners.{i}",
                             f"load_balancer.listeners[{i}] ({x.protocol} {x.port}): Container Apps HTTP ingress "
                             f"serves HTTP on 80 and HTTPS on 443 only (see {_INGRESS_DOC})"))
    if not any(x.protocol == "https" for x in lb.listeners):
        out.append(warning("aca", "load_balancer.listeners",
                           "Container Apps ingress also serves HTTPS on 443 with Microsoft's certificate for the "
                           "app's FQDN, which cannot be turned off", always=True))
    if lb.idle_timeout_s < REQUEST_TIMEOUT_S:
        out.append(warning("aca", "load_balancer.idle_timeout",
                           f"load_balancer.idle_timeout ({lb.idle_timeout_s}s) has no setting on a container app: "
                           f"its ingress ends requests after {REQUEST_TIMEOUT_S}s (see {_INGRESS_DOC})"))
    return out
