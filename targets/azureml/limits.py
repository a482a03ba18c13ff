"""Azure ML target: what a managed online endpoint can express (no CDK)."""

from __future__ import annotations

from compiler import ir
from compiler.errors import Diagnostic, suggest
from compiler.ir import MODEL_DIR
from targets import delivery
from targets.azure import site as azure_site
from targets.base import (Limit, check_limits, check_scale_to_zero, error, fallback_refused, on_demand_base_refused,
                          warning)

_ML_DOCS = "https://learn.microsoft.com/en-us/azure/machine-learning"
_LIMITS_DOC = f"{_ML_DOCS}/how-to-manage-quotas#azure-machine-learning-online-endpoints-and-batch-endpoints"
_SKU_DOC = f"{_ML_DOCS}/reference-managed-online-endpoints-vm-sku-list"
_PROBE_DOC = f"{_ML_DOCS}/reference-yaml-deployment-managed-online#probesettings"
_REQUEST_DOC = f"{_ML_DOCS}/reference-yaml-deployment-managed-online#requestsettings"
_DEPLOYMENT_DOC = f"{_ML_DOCS}/reference-yaml-deployment-managed-online#yaml-syntax"
_ENVIRONMENT_REST = ("https://learn.microsoft.com/en-us/rest/api/azureml/environment-versions/create-or-update"
                     "#environmentversionproperties")
_ROUTE_REST = "https://learn.microsoft.com/en-us/rest/api/azureml/environment-versions/create-or-update#route"
_ENDPOINT_REST = ("https://learn.microsoft.com/en-us/rest/api/azureml/online-endpoints/create-or-update"
                  "#onlineendpointproperties")
_SECRET_INJECTION_DOC = f"{_ML_DOCS}/how-to-deploy-online-endpoint-with-secret-injection"
_MOUNT_DOC = f"{_ML_DOCS}/how-to-deploy-custom-container#locating-the-mounted-model"
_AUTOSCALE_DOC = "https://registry.terraform.io/providers/hashicorp/azurerm/latest/docs/resources/monitor_autoscale_setting"
_UPDATE_RESOURCE_DOC = "https://registry.terraform.io/providers/Azure/azapi/latest/docs/resources/update_resource"

LIMITS = (
    # Autoscale cooldowns: "between 1 minute and 1 week" (ISO 8601).
    Limit("replicas.autoscale.scale_out_delay", lambda s: s.autoscale.scale_out_delay_s if s.autoscale else None,
          60, 604800, "an Azure autoscale cooldown", _AUTOSCALE_DOC, "s"),
    Limit("replicas.autoscale.scale_in_delay", lambda s: s.autoscale.scale_in_delay_s if s.autoscale else None,
          60, 604800, "an Azure autoscale cooldown", _AUTOSCALE_DOC, "s"),
)

# ProbeSettings: initial_delay, timeout, success_threshold and failure_threshold have a documented minimum of 1 (the
# spec already keeps thresholds >= 1 and interval > timeout); no maximum is documented.
PROBE_MINIMUMS = (
    ("probes.readiness.initial_delay", lambda s: s.initial_delay_s, "initial_delay"),
    ("probes.readiness.timeout", lambda s: s.readiness.timeout_s, "timeout"),
    ("probes.liveness.timeout", lambda s: s.liveness.timeout_s if s.liveness else None, "timeout"),
)

ENDPOINT_NAME = (3, 32)  # "Begin with a letter, be 3-32 characters, only letters and numbers" (single dashes accepted)
# Deployment names: the same rule (_LIMITS_DOC, "Deployment name"). Each variant is the deployment of its own name, and
# a variant name (1-8 lowercase letters and digits, starting with a letter) fits but for its length. A one-version spec
# runs the deployment DEPLOYMENT. (azapi's embedded type is looser, ^[a-zA-Z0-9][a-zA-Z0-9\-_]{0,254}$; the service
# rule is the one that holds.) At most 20 deployments per endpoint: the spec's five variants fit.
DEPLOYMENT_NAME = (3, 32)
DEPLOYMENT = "main"
MAX_INSTANCES = 50  # instances per deployment, raisable by a support request
# The endpoint's maximum scoring timeout (request_timeout_ms <= 180000, _REQUEST_DOC; Azure's default is 5 s):
# load_balancer.idle_timeout up to it is carried as the request timeout, a longer one is cut to it with a warning.
REQUEST_TIMEOUT_S = 180

SCALE_TO_ZERO = ("a managed online deployment runs at least one instance (its instance count and the autoscale "
                 "minimum are at least 1); Azure ML has no scale to zero for managed online endpoints, and a compute "
                 "cluster that scales to 0 nodes runs jobs and batch endpoints, not an online endpoint")

# Every size of "Managed online endpoints SKU list" (lower case: the list writes them in capitals). The catalog file
# azureml.csv holds the priced subset that selection picks from; an instance type given in
# hardware.instance_types.azureml must be one of these.
SUPPORTED_SIZES = frozenset(f"standard_{s}" for s in (
    "d2as_v4 d4as_v4 d8as_v4 d16as_v4 d32as_v4 d48as_v4 d64as_v4 d96as_v4 "
    "d2a_v4 d4a_v4 d8a_v4 d16a_v4 d32a_v4 d48a_v4 d64a_v4 d96a_v4 ds1_v2 ds2_v2 ds3_v2 ds4_v2 ds5_v2 "
    "e2s_v3 e4s_v3 e8s_v3 e16s_v3 e32s_v3 e48s_v3 e64s_v3 f2s_v2 f4s_v2 f8s_v2 f16s_v2 f32s_v2 f48s_v2 f64s_v2 "
    "f72s_v2 fx4mds fx12mds fx24mds fx36mds fx48mds l8as_v3 l16as_v3 l32as_v3 l48as_v3 l64as_v3 l80as_v3 "
    "l8s_v2 l16s_v2 l32s_v2 l48s_v2 l64s_v2 l80s_v2 l8s_v3 l16s_v3 l32s_v3 l48s_v3 l64s_v3 l80s_v3 "
    "nc24ads_a100_v4 nc48ads_a100_v4 nc96ads_a100_v4 nc4as_t4_v3 nc8as_t4_v3 nc16as_t4_v3 nc64as_t4_v3 "
    "nc6s_v2 nc12s_v2 nc24s_v2 nc6s_v3 nc12s_v3 nc24s_v3 nc40ads_h100_v5 nc80adis_h100_v5 nd96amsr_a100_v4 "
    "nd96asr_v4 nd40rs_v2 nd96is_h100_v5 nd96isr_h100_v5 nv6ads_a10_v5 nv12ads_a10_v5 nv18ads_a10_v5 "
    "nv36ads_a10_v5 nv36adms_a10_v5 nv72ads_a10_v5").split())


def check(service: ir.Service, target: ir.Target) -> list[Diagnostic]:
    """Everything a managed online endpoint cannot express, as errors naming field and range. No CDK needed."""
    out = check_limits("azureml", service, LIMITS)
    out += _check_variants(service)
    out += check_scale_to_zero("azureml", service, SCALE_TO_ZERO)
    out += azure_site.check_tags("azureml", service, max_key=128)  # the workspace's storage account takes them
    out += _check_name(service)
    out += _check_hardware(service, target)
    one = "a managed online deployment runs every instance on its one instance_type, on dedicated capacity"
    out += fallback_refused("azureml", service, target, one) + on_demand_base_refused("azureml", service, one)
    out += _check_model(service, target)
    out += _check_probes(service, target)
    out += _check_front(service)
    if service.max_replicas > MAX_INSTANCES:
        out.append(warning("azureml", "replicas.max",
                           f"replicas.max is {service.max_replicas}; a managed online deployment holds up to "
                           f"{MAX_INSTANCES} instances unless Azure raises the limit on request (see {_LIMITS_DOC})"))
    out.append(warning("azureml", "targets.azureml",
                       "a managed online deployment admits 1 concurrent request per instance by default "
                       "(request_settings.max_concurrent_requests_per_instance) and the spec has no setting for it: "
                       f"requests beyond it wait or get HTTP 429 (see {_REQUEST_DOC})", always=True))
    return out


def _check_variants(service: ir.Service) -> list[Diagnostic]:
    """Each variant is a deployment named after it, its weight the deployment's share of the endpoint's traffic."""
    if not service.variants:
        return []
    low, high = DEPLOYMENT_NAME
    out = [error("azureml", f"variants.{i}.name",
                 f"variants[{i}].name '{v.name}' names the variant's online deployment, whose name must be "
                 f"{low}-{high} letters, digits and single dashes, starting with a letter (see {_LIMITS_DOC}); use a "
                 f"name of at least {low} characters")
           for i, v in enumerate(service.variants) if not low <= len(v.name) <= high]
    # azapi_update_resource PUTs its body merged into the endpoint as it is (Azure/azapi utils/json.go
    # mergeObjectAtPath keeps every key the new body does not name), so a deployment that leaves the traffic map
    # keeps its last weight there, and the weights sum to 100 again only if that weight was 0.
    named_main = any(v.name == DEPLOYMENT for v in service.variants)
    out.append(warning(
        "azureml", "variants",
        "the endpoint's traffic is set by merging these weights into its current ones (azapi_update_resource), so a "
        "variant removed or renamed keeps its last weight and the update fails unless the weights still sum to 100: "
        "set its weight to 0 and apply before removing or renaming it"
        + ("" if named_main else f"; an endpoint deployed without variants serves from the deployment "
                                 f"'{DEPLOYMENT}' with 100%, so to add variants to it, name one of them {DEPLOYMENT}")
        + f" (see {_UPDATE_RESOURCE_DOC})"))
    return out


def _check_name(service: ir.Service) -> list[Diagnostic]:
    low, high = ENDPOINT_NAME
    if not low <= len(service.name) <= high or "--" in service.name:
        return [error("azureml", "metadata.name",
                      f"metadata.name '{service.name}' names the online endpoint, whose name must be {low}-{high} "
                      f"letters, digits and single dashes, starting with a letter (see {_LIMITS_DOC})")]
    return []


def _check_hardware(service: ir.Service, target: ir.Target) -> list[Diagnostic]:
    out = []
    chosen = target.machine.instance_type if target.machine else None
    if chosen and chosen.lower() not in SUPPORTED_SIZES:
        out.append(error("azureml", "hardware.instance_types.azureml",
                         f"hardware.instance_types.azureml is '{chosen}', which is not in the managed online "
                         f"endpoints SKU list{suggest(chosen.lower(), SUPPORTED_SIZES)} (see {_SKU_DOC})"))
    if service.spot:
        out.append(error("azureml", "hardware.spot",
                         "hardware.spot is true, but managed online deployments run on dedicated capacity only: "
                         "remove spot, or serve spot replicas from another target"))
    out.append(warning("azureml", "hardware.disk_gib",
                       f"hardware.disk_gib ({service.disk_gib}GiB) has no setting on a managed online deployment: "
                       f"the disk comes with the VM size (see {_DEPLOYMENT_DOC})"))
    return out


def _check_model(service: ir.Service, target: ir.Target) -> list[Diagnostic]:
    out = []
    for field, words in (("model.command", service.command), ("model.args", service.args)):
        if words and not target.get("image"):
            out.append(error("azureml", field,
                             f"{field} is set ({' '.join(words)}), but an Azure ML environment has an image and routes, "
                             "no command or arguments, so the container would start with its image's own entrypoint "
                             f"and CMD (see {_ENVIRONMENT_REST}); build an image whose ENTRYPOINT and CMD carry them "
                             "and set it as targets.azureml.image"))
        elif words:
            out.append(warning("azureml", field,
                               f"{field} is not passed on azureml: targets.azureml.image must start the server with it "
                               f"itself ({' '.join(words)})"))
    out += delivery.check("azureml", service, target)
    if delivery.source(target.model_uri) is not None:
        out.append(warning("azureml", "targets.azureml.model_uri" if target.get("model_uri") else "model.uri",
                           f"Azure ML mounts the registered model at {MODEL_DIR} in its own layout (the model's "
                           "files may sit in a folder named after the path it was registered from); check the "
                           "layout once in the deployment's logs and point targets.azureml.image's arguments there "
                           f"(see {_MOUNT_DOC})"))
    for secret in target.secrets:
        if not delivery.key_vault_secret(secret.ref).version:
            out.append(Diagnostic(
                f"azureml: model.secrets.{secret.name}.azureml names no secret version; Azure ML's secret injection "
                f"takes https://<vault>.vault.azure.net/secrets/<name>/<version> (see {_SECRET_INJECTION_DOC})",
                path=("model", "secrets", secret.name, "azureml")))
    if target.secrets:
        out.append(warning("azureml", "model.secrets",
                           "model.secrets on azureml uses Azure ML's secret injection, a preview feature: the "
                           "deployment fails to create unless the endpoint's identity can read each secret, which "
                           f"infc grants (Key Vault Secrets User; the vault must use Azure RBAC) (see "
                           f"{_SECRET_INJECTION_DOC})"))
    return out


def _check_probes(service: ir.Service, target: ir.Target) -> list[Diagnostic]:
    out = []
    for path, value, name in PROBE_MINIMUMS:
        seconds = value(service)
        if seconds is not None and seconds < 1:
            out.append(error("azureml", path, f"{path} is {seconds}s; a managed online deployment probe's {name} "
                                              f"must be at least 1s (see {_PROBE_DOC})"))
    probes = [("probes.readiness.path", service.readiness.path)]
    probes += [("probes.liveness.path", service.liveness.path)] if service.liveness else []
    probes += [("targets.azureml.scoring_route", str(target.get("scoring_route")))]
    for path, value in probes:
        if not any(c.isalnum() or c == "_" for c in value):
            # azapi checks this pattern of Route.path at plan time (its embedded type of the 2024-10-01 API).
            out.append(error("azureml", path, f"{path} is '{value}'; an Azure ML inference route's path must contain "
                                              f"a letter, digit or '_' (pattern [a-zA-Z0-9_], see {_ROUTE_REST})"))
    if service.readiness.success_codes != "200":
        out.append(warning("azureml", "probes.readiness.success_codes",
                           f"probes.readiness.success_codes ({service.readiness.success_codes}) has no setting on a "
                           f"managed online deployment probe (see {_PROBE_DOC})"))
    return out


def _check_front(service: ir.Service) -> list[Diagnostic]:
    """The endpoint is Azure's own HTTPS front end: load-balancer settings it has no place for."""
    lb, out = service.load_balancer, []
    if not lb.public:
        out.append(error("azureml", "load_balancer.public",
                         "load_balancer.public is false; a private managed online endpoint (public_network_access: "
                         "disabled) is reachable only through a private endpoint of the workspace, which infc does "
                         "not emit; use public: true"))
    if not {"0.0.0.0/0"} <= set(lb.allowed_cidrs) <= {"0.0.0.0/0", "::/0"}:
        out.append(error("azureml", "load_balancer.allowed_cidrs",
                         f"load_balancer.allowed_cidrs is {', '.join(lb.allowed_cidrs)}; a managed online endpoint "
                         f"has no client address filter, only public network access on or off (see {_ENDPOINT_REST}); "
                         "use [0.0.0.0/0]"))
    if lb.stickiness:
        out.append(error("azureml", "load_balancer.stickiness",
                         "load_balancer.stickiness is true, but a managed online endpoint has no session affinity "
                         "between clients and instances; remove stickiness"))
    for i, x in enumerate(lb.listeners):
        if x.redirect_to is not None:
            out.append(warning("azureml", f"load_balancer.listeners.{i}",
                               f"load_balancer.listeners[{i}] ({x.protocol} {x.port} -> {x.redirect_to}) is not "
                               "served: a managed online endpoint has one front end, its HTTPS scoring URI on 443, "
                               "and no redirects"))
        elif (x.protocol, x.port) != ("https", 443):
            out.append(warning("azureml", f"load_balancer.listeners.{i}",
                               f"load_balancer.listeners[{i}] ({x.protocol} {x.port}) is served as HTTPS on 443: a "
                               "managed online endpoint has one front end, its HTTPS scoring URI with Microsoft's "
                               "certificate"))
    if lb.idle_timeout_s < 1:
        out.append(error("azureml", "load_balancer.idle_timeout",
                         f"load_balancer.idle_timeout is {lb.idle_timeout_s}s; it is the managed online endpoint's "
                         "request timeout (request_settings.request_timeout_ms), which must be at least 1s (see "
                         f"{_REQUEST_DOC})"))
    if lb.idle_timeout_s > REQUEST_TIMEOUT_S:
        out.append(warning("azureml", "load_balancer.idle_timeout",
                           f"load_balancer.idle_timeout ({lb.idle_timeout_s}s) is carried as the managed online "
                           "endpoint's request timeout, which bounds each request's total time and is at most "
                           f"{REQUEST_TIMEOUT_S}s: it is set to {REQUEST_TIMEOUT_S}s, so longer requests are cut off "
                           f"(see {_REQUEST_DOC})"))
    if lb.drain_timeout_s:
        out.append(warning("azureml", "load_balancer.drain_timeout",
                           f"load_balancer.drain_timeout ({lb.drain_timeout_s}s) has no setting on a managed online "
                           f"deployment, which removes instances on its own terms (see {_DEPLOYMENT_DOC})"))
    return out

