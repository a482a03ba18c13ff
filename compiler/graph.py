"""`infc graph`: the architecture of one synthesized stack as Mermaid or DOT, drawn from its resources and the
references between them, so the picture cannot drift from the output.

Each Terraform type has a role on the request path (client -> front end -> proxy -> load balancer -> backend ->
replicas) or beside it (health check, instance template, autoscaler, nodes, cluster), and a few attributes worth
showing. Edges are the references in the synthesized JSON (`${aws_lb.load_balancer.arn}`), `depends_on`, and
Kubernetes' links by name and label selector (a Service selects a Deployment's pods; an Ingress names a Service;
an HPA names a Deployment). The default picture draws the resources that have a role; `--all` draws every resource
and data source.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from compiler import ir

# Where a role sits: the request path runs through ranks 1-6 in order; the others hang beside it.
PATH_ROLES = {"front": 1, "proxy": 2, "balancer": 3, "backend": 4, "replicas": 6}
SIDE_ROLES = {"health": 5, "template": 7, "scaling": 7, "nodes": 7, "cluster": 8, "other": 9}

# Terraform type -> (role, label lines: "{dotted.attribute}" templates; a line with a missing value is left out).
TYPES: dict[str, tuple[str, tuple[str, ...]]] = {
    "aws_lb_listener": ("front", ("{protocol} :{port}", "{default_action.type} to :{default_action.redirect.port}")),
    "aws_lb": ("balancer", ("Application Load Balancer", "internal: {internal}")),
    "aws_lb_target_group": ("backend", ("{protocol} :{port}",)),
    "aws_autoscaling_group": ("replicas", ("{min_size}-{max_size} instances",)),
    "aws_launch_template": ("template", ("{instance_type}",)),
    "aws_autoscaling_policy": ("scaling", ("{target_tracking_configuration.predefined_metric_specification"
                                           ".predefined_metric_type} at {target_tracking_configuration.target_value}",)),
    "azurerm_lb_rule": ("front", ("{protocol} :{frontend_port} to :{backend_port}",)),
    "azurerm_lb": ("balancer", ("Standard Load Balancer",)),
    "azurerm_application_gateway": ("balancer", ("Application Gateway {sku.name}",)),
    "azurerm_lb_backend_address_pool": ("backend", ()),
    "azurerm_lb_probe": ("health", ("{protocol} {request_path} :{port} every {interval_in_seconds}s",)),
    "azurerm_linux_virtual_machine_scale_set": ("replicas", ("{sku} x {instances}",)),
    "azurerm_monitor_autoscale_setting": ("scaling", ("{profile.capacity.minimum}-{profile.capacity.maximum} "
                                                      "instances",)),
    "google_compute_global_forwarding_rule": ("front", ("port {port_range}",)),
    "google_compute_forwarding_rule": ("front", ("port {port_range}", "{load_balancing_scheme}")),
    "google_compute_target_http_proxy": ("proxy", ("http",)),
    "google_compute_target_https_proxy": ("proxy", ("https",)),
    "google_compute_region_target_http_proxy": ("proxy", ("http",)),
    "google_compute_region_target_https_proxy": ("proxy", ("https",)),
    "google_compute_url_map": ("balancer", ("redirect to https: {default_url_redirect.https_redirect}",)),
    "google_compute_region_url_map": ("balancer", ()),
    "google_compute_backend_service": ("backend", ("{protocol}, timeout {timeout_sec}s",)),
    "google_compute_region_backend_service": ("backend", ("{protocol}, timeout {timeout_sec}s",)),
    "google_compute_health_check": ("health", ("{http_health_check.request_path} :{http_health_check.port} "
                                               "every {check_interval_sec}s",)),
    "google_compute_region_health_check": ("health", ("{http_health_check.request_path} :{http_health_check.port} "
                                                      "every {check_interval_sec}s",)),
    "google_compute_region_instance_group_manager": ("replicas", ("managed instance group",)),
    "google_compute_region_instance_template": ("template", ("{machine_type}",)),
    "google_compute_region_autoscaler": ("scaling", ("{autoscaling_policy.min_replicas}-"
                                                     "{autoscaling_policy.max_replicas} instances",)),
    "kubernetes_ingress_v1": ("front", ("Ingress", "class {spec.ingress_class_name}")),
    "kubernetes_manifest": ("front", ("{manifest.kind}",)),  # the HTTPRoute on a Gateway (targets/kubernetes/route.py)
    "kubernetes_service_v1": ("balancer", ("Service {spec.type}",)),
    "kubernetes_deployment_v1": ("replicas", ("Deployment", "{spec.replicas} replicas")),
    "kubernetes_horizontal_pod_autoscaler_v2": ("scaling", ("{spec.min_replicas}-{spec.max_replicas} replicas",)),
    "google_container_node_pool": ("nodes", ("{node_config.machine_type}",)),
    "google_container_cluster": ("cluster", ("GKE cluster",)),
    "azapi_update_resource": ("backend", ("traffic",)),
}
# azapi_resource is one Terraform type for every Azure resource: its `type` attribute says which.
AZAPI = {"Microsoft.MachineLearningServices/workspaces/onlineEndpoints@": ("balancer", ("online endpoint",)),
         "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments@":
             ("replicas", ("{body.properties.instanceType} x {body.sku.capacity}",)),
         # aca: the app is its own front end (its ingress) and its replicas.
         "Microsoft.App/managedEnvironments@": ("cluster", ("Container Apps environment",)),
         "Microsoft.App/containerApps@": ("replicas", ("container app on {body.properties.workloadProfileName}",
                                                       "{body.properties.template.scale.minReplicas}-"
                                                       "{body.properties.template.scale.maxReplicas} replicas"))}

_REFERENCE = re.compile(r"\b(?:data\.)?[a-z][a-z0-9_]*\.[A-Za-z_][A-Za-z0-9_-]*")
_FIELD = re.compile(r"\{([^{}]+)\}")


@dataclasses.dataclass(frozen=True)
class Node:
    id: str
    address: str  # "aws_lb.load_balancer", or "" for the client and the model source
    role: str
    lines: tuple[str, ...]
    shape: str = "box"  # box | client | store


@dataclasses.dataclass(frozen=True)
class Edge:
    source: str
    target: str
    path: bool  # on the request path (solid) or beside it (dashed)
    label: str = ""


@dataclasses.dataclass(frozen=True)
class Graph:
    name: str
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]


def _get(value: Any, dotted: str) -> Any:
    for key in dotted.split("."):
        while isinstance(value, list) and value:  # a nested block written as a list of one or more
            value = value[0]
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def _line(template: str, attributes: dict) -> str | None:
    missing = False

    def field(match: re.Match) -> str:
        nonlocal missing
        value = _get(attributes, match.group(1))
        if value is None or isinstance(value, (dict, list)):
            missing = True
            return ""
        return str(value).lower() if isinstance(value, bool) else str(value)

    text = _FIELD.sub(field, template)
    return None if missing else text


def _role(type_name: str, attributes: dict) -> tuple[str, tuple[str, ...]] | None:
    if type_name == "azapi_resource":
        kind = str(attributes.get("type", ""))
        return next((v for prefix, v in AZAPI.items() if kind.startswith(prefix)), None)
    return TYPES.get(type_name)


def _blocks(document: dict) -> dict[str, tuple[str, dict]]:
    """address -> (type, attributes) of every resource and data source."""
    out = {}
    for kind in ("resource", "data"):
        for type_name, named in sorted(document.get(kind, {}).items()):
            for name, attributes in sorted(named.items()):
                address = f"data.{type_name}.{name}" if kind == "data" else f"{type_name}.{name}"
                out[address] = (type_name, {k: v for k, v in attributes.items() if k != "//"})
    return out


def _strings(value: Any):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def references(document: dict, depends_on: bool = True) -> set[tuple[str, str]]:
    """(from, to) addresses: `from` refers to `to` in a `${...}` expression, or names it in depends_on (an order of
    creation, not a link: drawn only with --all)."""
    blocks = _blocks(document)
    out = set()
    for address, (_, attributes) in blocks.items():
        for text in _strings({k: v for k, v in attributes.items() if k != "depends_on"}):
            for expression in re.findall(r"\$\{(.*?)\}", text):
                out |= {(address, m) for m in _REFERENCE.findall(expression) if m in blocks and m != address}
        out |= {(address, d) for d in attributes.get("depends_on", []) if d in blocks and depends_on}
    return out | _kubernetes_links(blocks)


def _kubernetes_links(blocks: dict[str, tuple[str, dict]]) -> set[tuple[str, str]]:
    """Links Kubernetes makes by name and labels, not by Terraform reference."""
    of_type = {t: [(a, attrs) for a, (ty, attrs) in blocks.items() if ty == t] for t in
               ("kubernetes_service_v1", "kubernetes_deployment_v1", "kubernetes_ingress_v1",
                "kubernetes_horizontal_pod_autoscaler_v2", "kubernetes_manifest")}
    out = set()
    for service, attrs in of_type["kubernetes_service_v1"]:
        selector = _get(attrs, "spec.selector") or {}
        for deployment, d in of_type["kubernetes_deployment_v1"]:
            labels = _get(d, "spec.template.metadata.labels") or {}
            if selector and selector.items() <= labels.items():
                out.add((service, deployment))
        name = _get(attrs, "metadata.name")
        fronts = [(i, _get(attrs_i, "spec")) for i, attrs_i in of_type["kubernetes_ingress_v1"]]
        fronts += [(m, _get(attrs_m, "manifest.spec")) for m, attrs_m in of_type["kubernetes_manifest"]]
        for front, spec in fronts:
            if name and name in _strings(spec):
                out.add((front, service))
    for hpa, h in of_type["kubernetes_horizontal_pod_autoscaler_v2"]:
        target = _get(h, "spec.scale_target_ref.name")
        out |= {(hpa, d) for d, attrs in of_type["kubernetes_deployment_v1"] if _get(attrs, "metadata.name") == target}
    return out


def build(name: str, document: dict, service: ir.Service, everything: bool = False) -> Graph:
    blocks = _blocks(document)
    nodes: dict[str, Node] = {}
    for address, (type_name, attributes) in blocks.items():
        role = _role(type_name, attributes)
        if role is None and not everything:
            continue
        lines = tuple(line for t in (role[1] if role else ()) if (line := _line(t, attributes)))
        nodes[address] = Node(_node_id(address), address, role[0] if role else "other", lines)
    if len({n.id for n in nodes.values()}) != len(nodes):  # ids come from addresses: stable as names are
        raise ValueError(f"{name}: two addresses make the same node id")
    edges = []
    for source, target in sorted(references(document, depends_on=everything)):
        if source not in nodes or target not in nodes:
            continue
        a, b = nodes[source], nodes[target]
        on_path = a.role in PATH_ROLES and b.role in PATH_ROLES and a.role != b.role
        rank = {**PATH_ROLES, **SIDE_ROLES}
        first, second = (a, b) if rank[a.role] <= rank[b.role] else (b, a)
        if not on_path and rank[a.role] == rank[b.role]:
            first, second = a, b
        edges.append(Edge(first.id, second.id, on_path))
    client = Node("client", "", "client", ("clients", ", ".join(service.load_balancer.allowed_cidrs)), "client")
    entry = min((PATH_ROLES[n.role] for n in nodes.values() if n.role in PATH_ROLES), default=None)
    listeners = ", ".join(f"{x.protocol} :{x.port}" + (f" to :{x.redirect_to}" if x.redirect_to else "")
                          for x in service.load_balancer.listeners)
    edges += [Edge("client", n.id, True, listeners) for n in nodes.values()
              if entry is not None and n.role in PATH_ROLES and PATH_ROLES[n.role] == entry]
    extra = [client]
    if service.model_uri:
        extra.append(Node("model", "", "model", ("model", service.model_uri), "store"))
        edges += [Edge(n.id, "model", False, "MODEL_URI") for n in nodes.values() if n.role == "replicas"]
    unique = list(dict.fromkeys(edges))
    return Graph(name, tuple(extra) + tuple(nodes.values()), tuple(unique))


def _node_id(address: str) -> str:
    return "r_" + re.sub(r"[^A-Za-z0-9_]", "_", address)


# Mermaid: a label is quoted text in which `#code;` writes any character (https://mermaid.js.org/syntax/
# flowchart.html#entity-codes-to-escape-characters); everything but plain letters, digits and a few signs is written
# so, so no spec string can end the label, open HTML or start a directive.
_MERMAID_SAFE = re.compile(r"[A-Za-z0-9 .:/_=,+@-]")


def _mermaid_text(text: str) -> str:
    return "".join(c if _MERMAID_SAFE.fullmatch(c) else f"#{ord(c)};" for c in text)


def mermaid(graph: Graph) -> str:
    shapes = {"box": ('["', '"]'), "client": ('(["', '"])'), "store": ('[("', '")]')}
    out = ["flowchart LR"]
    for node in graph.nodes:
        lines = ([node.address] if node.address else []) + list(node.lines)
        opening, closing = shapes[node.shape]
        out.append(f"  {node.id}{opening}{'<br/>'.join(_mermaid_text(x) for x in lines)}{closing}")
    for edge in graph.edges:
        arrow = "-->" if edge.path else "-.->"
        label = f'|"{_mermaid_text(edge.label)}"|' if edge.label else ""
        out.append(f"  {edge.source} {arrow}{label} {edge.target}")
    return "\n".join(out)


def _dot_text(text: str) -> str:
    """A DOT quoted string's content: backslash and quote escaped, so text stays one string
    (https://graphviz.org/doc/info/lang.html: in quoted strings only \\" is an escape of the grammar; backslashes
    are doubled so that Graphviz's label escapes such as \\n cannot come from a spec)."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


def dot(graph: Graph) -> str:
    shapes = {"box": "box", "client": "oval", "store": "cylinder"}
    out = [f'digraph "{_dot_text(graph.name)}" {{', "  rankdir=LR;", '  node [shape=box, fontname="Helvetica"];']
    for node in graph.nodes:
        label = "\\n".join(_dot_text(x) for x in ([node.address] if node.address else []) + list(node.lines))
        out.append(f'  "{node.id}" [shape={shapes[node.shape]}, label="{label}"];')
    for edge in graph.edges:
        attributes = [] if edge.path else ["style=dashed"]
        attributes += [f'label="{_dot_text(edge.label)}"'] if edge.label else []
        out.append(f'  "{edge.source}" -> "{edge.target}"' + (f" [{', '.join(attributes)}]" if attributes else "")
                   + ";")
    out.append("}")
    return "\n".join(out)
