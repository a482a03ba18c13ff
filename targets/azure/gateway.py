"""Azure front ends: a layer-4 Standard Load Balancer, or an Application Gateway v2 when the spec needs layer 7."""

from __future__ import annotations

import dataclasses

from compiler import ir
from compiler.errors import Diagnostic
from targets.azure import key_vault
from targets.base import Limit, check_limits, error, resource_name, warning

_LB_PROBE_DOC = "https://learn.microsoft.com/en-us/azure/load-balancer/load-balancer-custom-probe-overview"
_LB_PROBE_TF = "https://registry.terraform.io/providers/hashicorp/azurerm/latest/docs/resources/lb_probe"
_LB_RULE_TF = "https://registry.terraform.io/providers/hashicorp/azurerm/latest/docs/resources/lb_rule"
_AGW_TF = "https://registry.terraform.io/providers/hashicorp/azurerm/latest/docs/resources/application_gateway"
_AGW_PROBE_DOC = "https://learn.microsoft.com/en-us/azure/application-gateway/application-gateway-probe-overview"
_AGW_FAQ = ("https://learn.microsoft.com/en-us/azure/application-gateway/application-gateway-faq"
            "#what-are-the-settings-for-keep-alive-timeout-and-tcp-idle-timeout")
_AGW_NSG_DOC = ("https://learn.microsoft.com/en-us/azure/application-gateway/configuration-infrastructure"
                "#network-security-groups")
_AGW_SUBNET_DOC = ("https://learn.microsoft.com/en-us/azure/application-gateway/configuration-infrastructure"
                   "#virtual-network-and-dedicated-subnet")
_AGW_PORTS_DOC = "https://learn.microsoft.com/en-us/azure/application-gateway/application-gateway-components#ports"
_WAF_DOC = "https://learn.microsoft.com/en-us/azure/web-application-firewall/ag/policy-overview"
_HEALTH_EXT_DOC = ("https://learn.microsoft.com/en-us/azure/virtual-machine-scale-sets/"
                   "virtual-machine-scale-sets-health-extension#binary-health-states")

# Standard Load Balancer (layer 4).
LB_LIMITS = (
    # probe_threshold: consecutive successes or failures that let traffic in or take it away, 1-100.
    Limit("probes.readiness.unhealthy_threshold", lambda s: s.readiness.unhealthy_threshold, 1, 100,
          "an Azure Load Balancer probe threshold", _LB_PROBE_TF),
)
LB_MIN_INTERVAL = 5  # "The default value is 15, the minimum value is 5" (no maximum is documented)
LB_IDLE_MINUTES = (4, 100)  # lb_rule idle_timeout_in_minutes
LB_HTTP_TIMEOUT = 30  # an HTTP probe fails without a response within min(interval, 30 s); not configurable
LB_BLOCKED_PROBE_PORTS = (19, 21, 25, 70, 110, 119, 143, 220, 993)  # "HTTP probes don't support probing on"
LB_MAX_FRONTEND_PORT = 65534  # lb_rule frontend_port: 0-65534

# Application Gateway v2 (layer 7).
GATEWAY_LIMITS = (
    Limit("probes.readiness.interval", lambda s: s.readiness.interval_s, 1, 86400,
          "an Application Gateway probe interval", _AGW_TF, "s"),
    Limit("probes.readiness.timeout", lambda s: s.readiness.timeout_s, 1, 86400,
          "an Application Gateway probe timeout", _AGW_TF, "s"),
    Limit("probes.readiness.unhealthy_threshold", lambda s: s.readiness.unhealthy_threshold, 1, 20,
          "an Application Gateway unhealthy threshold", _AGW_TF),
    # 0 turns connection draining off; otherwise drain_timeout_sec is 1-3600.
    Limit("load_balancer.drain_timeout", lambda s: s.load_balancer.drain_timeout_s, 0, 3600,
          "an Application Gateway connection draining timeout", _AGW_TF, "s"),
)
GATEWAY_IDLE_MINUTES = (4, 30)  # TCP idle timeout of the gateway's public IP
GATEWAY_PRIVATE_IDLE_S = 300  # "For private IP addresses, the value is nonconfigurable ... 5 minutes"
GATEWAY_INFRA_PORTS = "65200-65535"  # v2 infrastructure ports, must be open to the GatewayManager tag
GATEWAY_MAX_LISTENER_PORT = 65199  # "1 to 65199 for V2 SKU" (the rest is the infrastructure range)
TLS_POLICY = "AppGwSslPolicy20220101S"  # predefined: TLS 1.2 minimum (1.3 enabled), strong ciphers only
# WAF: Microsoft's Default Rule Set 2.1 (the recommended managed rule set for WAF_v2). Requests are inspected up to the
# largest body size it allows (2 MB): long prompts must not be blocked for size alone.
WAF_RULE_SET = ("Microsoft_DefaultRuleSet", "2.1")
WAF_MAX_BODY_KB = 2000

# Address plan of a network infc creates: replicas, and the subnet an Application Gateway needs to itself.
NETWORK = {"vnet": "10.0.0.0/16", "replicas": "10.0.0.0/20", "gateway": "10.0.16.0/24"}
GATEWAY_PRIVATE_IP = "10.0.16.254"  # upper end of the gateway subnet, as the Application Gateway docs advise
POOL, SETTINGS, PROBE, CERT = "replicas", "replicas", "readiness", "tls"


def layer7_reasons(service: ir.Service) -> list[str]:
    """Why this spec needs an Application Gateway rather than a layer-4 Standard Load Balancer (empty: it doesn't)."""
    lb = service.load_balancer
    reasons = [f"an https listener on {x.port}" for x in lb.listeners if x.protocol == "https"]
    reasons += [f"a redirect from {x.port}" for x in lb.listeners if x.redirect_to is not None]
    return reasons + (["stickiness"] if lb.stickiness else [])


def check(service: ir.Service, target: ir.Target) -> list[Diagnostic]:
    reasons = layer7_reasons(service)
    out = _check_waf(target, reasons)
    out += key_vault.check(service, target, any(x.protocol == "https" for x in service.load_balancer.listeners))
    return out + (_check_gateway(service, target, reasons) if reasons else _check_load_balancer(service))


def _check_waf(target: ir.Target, reasons: list[str]) -> list[Diagnostic]:
    """A WAF (created, or an existing policy) sits on an Application Gateway: one of the two, and only with one."""
    given = [key for key in ("waf", "waf_policy_id") if target.get(key)]
    if len(given) == 2:
        return [error("azure", "targets.azure.waf_policy_id",
                      "targets.azure.waf and targets.azure.waf_policy_id are both set; an Application Gateway takes "
                      "one WAF policy: set waf to create one, or waf_policy_id to attach an existing one")]
    if given and not reasons:
        return [error("azure", f"targets.azure.{given[0]}",
                      f"targets.azure.{given[0]} is set, but this service is served by a layer-4 Standard Load "
                      "Balancer (http listeners only, no redirect, no stickiness), which has no WAF; a WAF needs an "
                      f"Application Gateway (see {_WAF_DOC}): add an https listener, or remove {given[0]}")]
    return []


def _check_load_balancer(service: ir.Service) -> list[Diagnostic]:
    hc, lb = service.readiness, service.load_balancer
    out = check_limits("azure", service, LB_LIMITS)
    if hc.interval_s < LB_MIN_INTERVAL:
        out.append(error("azure", "probes.readiness.interval",
                         f"probes.readiness.interval is {hc.interval_s}s; an Azure Load Balancer probe interval must "
                         f"be at least {LB_MIN_INTERVAL}s (see {_LB_PROBE_TF})"))
    if hc.port in LB_BLOCKED_PROBE_PORTS:
        out.append(error("azure", "probes.readiness.port",
                         f"probes.readiness.port is {hc.port}; Azure Load Balancer HTTP probes cannot use ports "
                         f"{', '.join(map(str, LB_BLOCKED_PROBE_PORTS))} (see {_LB_PROBE_DOC})"))
    if hc.success_codes != "200":
        out.append(error("azure", "probes.readiness.success_codes",
                         f"probes.readiness.success_codes is {hc.success_codes}; an Azure Load Balancer HTTP probe "
                         f"counts only 200 as healthy (see {_LB_PROBE_DOC}); use \"200\", or an https listener "
                         "(Application Gateway), whose probes match status codes"))
    out += _minutes("load_balancer.idle_timeout", lb.idle_timeout_s, LB_IDLE_MINUTES,
                    "an Azure Load Balancer rule idle timeout", _LB_RULE_TF)
    out += _listener_ports(lb, LB_MAX_FRONTEND_PORT, "an Azure Load Balancer frontend port", _LB_RULE_TF)
    if service.autoscale and service.autoscale.metric == "requests_per_replica":
        out.append(error("azure", "replicas.autoscale.metric",
                         "replicas.autoscale.metric requests_per_replica needs a per-replica request metric, and the "
                         "layer-4 Standard Load Balancer emitted for this service (http listeners only, no redirect, "
                         "no stickiness) has none; use metric: cpu_percent (Percentage CPU of the scale set)"))
    if hc.timeout_s != min(hc.interval_s, LB_HTTP_TIMEOUT):
        out.append(warning("azure", "probes.readiness.timeout",
                           f"probes.readiness.timeout ({hc.timeout_s}s) has no Azure Load Balancer setting: an HTTP "
                           f"probe fails when no response arrives within min(interval, {LB_HTTP_TIMEOUT}s) = "
                           f"{min(hc.interval_s, LB_HTTP_TIMEOUT)}s (see {_LB_PROBE_DOC})"))
    if hc.healthy_threshold != hc.unhealthy_threshold:
        out.append(warning("azure", "probes.readiness.healthy_threshold",
                           f"probes.readiness.healthy_threshold ({hc.healthy_threshold}) cannot differ from "
                           f"unhealthy_threshold on an Azure Load Balancer probe: its probe_threshold "
                           f"({hc.unhealthy_threshold}) counts successes and failures alike, so a replica gets "
                           f"traffic after {hc.unhealthy_threshold} successful checks (see {_LB_PROBE_TF})"))
    if lb.drain_timeout_s:
        out.append(warning("azure", "load_balancer.drain_timeout",
                           f"load_balancer.drain_timeout ({lb.drain_timeout_s}s) has no Azure Load Balancer setting: "
                           "connections to a replica whose probe fails go on until they close or idle out, and a "
                           "replica removed by scale-in or repair is deleted without draining"))
    return out


def _check_gateway(service: ir.Service, target: ir.Target, reasons: list[str]) -> list[Diagnostic]:
    hc, lb = service.readiness, service.load_balancer
    why = ", ".join(reasons)
    out = check_limits("azure", service, GATEWAY_LIMITS)
    if target.get("subnet_id"):
        out.append(error("azure", "targets.azure.subnet_id",
                         f"targets.azure.subnet_id is set, but this service needs an Application Gateway ({why}), "
                         "which needs a subnet of its own (see " + _AGW_SUBNET_DOC + ") that infc cannot carve out of "
                         "a given network; remove subnet_id to let infc create the network"))
    out += _listener_ports(lb, GATEWAY_MAX_LISTENER_PORT, "an Application Gateway v2 listener port", _AGW_PORTS_DOC)
    if lb.public:
        out += _minutes("load_balancer.idle_timeout", lb.idle_timeout_s, GATEWAY_IDLE_MINUTES,
                        "the TCP idle timeout of an Application Gateway public IP", _AGW_FAQ)
    elif lb.idle_timeout_s != GATEWAY_PRIVATE_IDLE_S:
        out.append(error("azure", "load_balancer.idle_timeout",
                         f"load_balancer.idle_timeout is {lb.idle_timeout_s}s; an Application Gateway private frontend "
                         f"(public: false) has a fixed TCP idle timeout of {GATEWAY_PRIVATE_IDLE_S}s (see {_AGW_FAQ})"))
    if hc.success_codes != "200" and not service.liveness:
        out.append(error("azure", "probes.readiness.success_codes",
                         f"probes.readiness.success_codes is {hc.success_codes}; behind an Application Gateway the "
                         "scale set repairs replicas from the readiness path through the application health "
                         f"extension, which counts only 200 as healthy (see {_HEALTH_EXT_DOC}); use \"200\" or add "
                         "probes.liveness on a path that returns 200"))
    if hc.healthy_threshold > 1:
        out.append(warning("azure", "probes.readiness.healthy_threshold",
                           f"probes.readiness.healthy_threshold ({hc.healthy_threshold}) has no Application Gateway "
                           f"setting: a replica gets traffic again after one successful probe (see {_AGW_PROBE_DOC})"))
    return out


def _listener_ports(lb: ir.LoadBalancer, high: int, what: str, doc: str) -> list[Diagnostic]:
    return [error("azure", f"load_balancer.listeners.{i}.port",
                  f"load_balancer.listeners[{i}].port is {x.port}; {what} must be 1-{high} (see {doc})")
            for i, x in enumerate(lb.listeners) if x.port > high]


def _minutes(path: str, seconds: int, bounds: tuple[int, int], what: str, doc: str) -> list[Diagnostic]:
    low, high = bounds
    if seconds % 60 == 0 and low <= seconds // 60 <= high:
        return []
    return [error("azure", path, f"{path} is {seconds}s; {what} must be a whole number of minutes from {low} to "
                                 f"{high} ({low * 60}-{high * 60}s) (see {doc})")]


@dataclasses.dataclass(frozen=True)
class Rule:
    """One inbound NSG rule: TCP to `ports` from `sources` (CIDRs of one family, or one service tag)."""

    name: str
    ports: tuple[str, ...]
    sources: tuple[str, ...]
    description: str
    access: str = "Allow"
    protocol: str = "Tcp"


DENY_ALL = Rule("deny-all-inbound", ("*",), ("*",), "everything not allowed above", "Deny", "*")


@dataclasses.dataclass(frozen=True)
class Front:
    """What the scale set and outputs need from the front end."""

    host: object  # address clients use
    pool: dict  # backend pool ids for the replicas' IP configuration
    health_probe_id: object | None  # the LB probe (layer 4); None behind an Application Gateway
    metric_resource_id: object | None  # the gateway, whose per-host request metric autoscaling can use
    replica_rules: tuple[Rule, ...]
    depends_on: tuple = ()


def emit(stack, service: ir.Service, target: ir.Target, site) -> Front:
    if layer7_reasons(service):
        return _application_gateway(stack, service, target, site)
    return _load_balancer(stack, service, site)


def _families(cidrs) -> list[tuple[str, tuple[str, ...]]]:
    """allowed_cidrs split by address family: one NSG rule cannot mix IPv4 and IPv6 prefixes."""
    out = [("ipv4", tuple(c for c in cidrs if ":" not in c)), ("ipv6", tuple(c for c in cidrs if ":" in c))]
    return [(family, group) for family, group in out if group]


def security_rules(stack, nsg, construct: str, rules) -> list:
    """Separate rule resources (stable ids from rule names), priorities in order, the deny-all last (4096)."""
    out = []
    for index, rule in enumerate([*rules, DENY_ALL]):
        priority = 4096 if rule is DENY_ALL else 100 + 10 * index
        one_port, one_source = len(rule.ports) == 1, len(rule.sources) == 1
        out.append(stack.add(
                  "azurerm_network_security_rule", f"{construct}_{rule.name.replace('-', '_')}",
                  name=rule.name, resource_group_name=nsg.resource_group_name, network_security_group_name=nsg.name,
                  priority=priority, direction="Inbound", access=rule.access, protocol=rule.protocol,
                  source_port_range="*", destination_address_prefix="*",
                  destination_port_range=rule.ports[0] if one_port else None,
                  destination_port_ranges=None if one_port else list(rule.ports),
                  source_address_prefix=rule.sources[0] if one_source else None,
                  source_address_prefixes=None if one_source else list(rule.sources),
                  description=rule.description))
    return out


def _public_ip(stack, service: ir.Service, site, suffix: str, idle_minutes: int | None = None):
    return stack.add("azurerm_public_ip", "frontend_ip", name=resource_name(service, suffix),
                     resource_group_name=site.resource_group, location=site.location, allocation_method="Static",
                     sku="Standard", idle_timeout_in_minutes=idle_minutes, tags=site.tags)


def _load_balancer(stack, service: ir.Service, site) -> Front:
    """Layer 4: frontend -> one rule per listener -> the model port; HTTP probe on the readiness path."""
    lb_spec, hc = service.load_balancer, service.readiness
    if lb_spec.public:
        ip = _public_ip(stack, service, site, "lb")
        frontend = {"name": "frontend", "public_ip_address_id": ip.id}
    else:
        frontend = {"name": "frontend", "subnet_id": site.replicas_subnet, "private_ip_address_allocation": "Dynamic"}
    lb = stack.add("azurerm_lb", "load_balancer", name=resource_name(service, "lb"),
                   resource_group_name=site.resource_group, location=site.location, sku="Standard",
                   frontend_ip_configuration=[frontend], tags=site.tags)
    pool = stack.add("azurerm_lb_backend_address_pool", "backend_pool", name=POOL, loadbalancer_id=lb.id)
    probe = stack.add("azurerm_lb_probe", "readiness_probe", name=PROBE, loadbalancer_id=lb.id,
                      protocol="Http", port=hc.port, request_path=hc.path, interval_in_seconds=hc.interval_s,
                      probe_threshold=hc.unhealthy_threshold)
    rules = [stack.add("azurerm_lb_rule", f"rule_{x.port}", name=f"listener-{x.port}", loadbalancer_id=lb.id,
                       frontend_ip_configuration_name="frontend", protocol="Tcp", frontend_port=x.port,
                       backend_port=service.port, backend_address_pool_ids=[pool.id], probe_id=probe.id,
                       idle_timeout_in_minutes=lb_spec.idle_timeout_s // 60, tcp_reset_enabled=True,
                       # the NAT gateway of a created network carries outbound traffic instead of the rule's SNAT
                       disable_outbound_snat=True if lb_spec.public and site.created_network else None)
             for x in sorted(lb_spec.listeners, key=lambda x: x.port)]
    # Layer 4 keeps the clients' addresses: replicas admit the model port from allowed_cidrs (they have no public
    # IPs, so from outside the network only the load balancer reaches them) and probes from the AzureLoadBalancer tag.
    replica_rules = [Rule(f"model-{service.port}-{family}", (str(service.port),), group,
                          f"model port, for clients of the load balancer from allowed_cidrs ({family})")
                     for family, group in _families(lb_spec.allowed_cidrs)]
    replica_rules.append(Rule("health-probes", (str(hc.port),), ("AzureLoadBalancer",),
                              "load balancer health probes (168.63.129.16)"))
    return Front(host=ip.ip_address if lb_spec.public else lb.private_ip_address, pool={
        "load_balancer_backend_address_pool_ids": [pool.id]}, health_probe_id=probe.id, metric_resource_id=None,
        replica_rules=tuple(replica_rules), depends_on=tuple(rules))


def _application_gateway(stack, service: ir.Service, target: ir.Target, site) -> Front:
    """Layer 7: Application Gateway v2 with TLS from Key Vault, redirects, cookie affinity and a custom probe."""
    lb_spec, hc = service.load_balancer, service.readiness
    listeners = sorted(lb_spec.listeners, key=lambda x: x.port)
    https = any(x.protocol == "https" for x in listeners)
    ip = _public_ip(stack, service, site, "gateway", lb_spec.idle_timeout_s // 60 if lb_spec.public else None)
    # A v2 gateway always has a public frontend; public: false listens on the private one only (and the NSG denies
    # the rest), the generally available way to keep a v2 gateway internal.
    frontends = [{"name": "public", "public_ip_address_id": ip.id}]
    if not lb_spec.public:
        frontends.append({"name": "private", "subnet_id": site.gateway_subnet,
                          "private_ip_address": GATEWAY_PRIVATE_IP, "private_ip_address_allocation": "Static"})
    listen_on = "public" if lb_spec.public else "private"
    identity, readable = None, []
    if https:
        # The gateway reads the certificate from Key Vault as this identity: granted here with targets.azure.
        # key_vault_id (key_vault.py), else by the user between two applies (docs/targets/azure.md).
        identity = stack.add("azurerm_user_assigned_identity", "gateway_identity",
                             name=resource_name(service, "gateway"), resource_group_name=site.resource_group,
                             location=site.location, tags=site.tags)
        readable = key_vault.grant(stack, target, identity, site.client)
        stack.output("gateway_identity_principal_id", identity.principal_id,
                     "The gateway's identity, which reads targets.azure.certificate: granted by infc with "
                     "targets.azure.key_vault_id; without it, grant this principal 'Get' on secrets (access policy) "
                     "or 'Key Vault Secrets User' on the vault, after: terraform apply "
                     "-target=azurerm_user_assigned_identity.gateway_identity" if not target.get("key_vault_id") else
                     "The gateway's identity, which reads targets.azure.certificate (granted on "
                     "targets.azure.key_vault_id)")
    # Azure refuses an NSG on a gateway subnet that blocks the infrastructure ports: rules, association, then gateway.
    secured = _gateway_security_group(stack, service, site)
    waf = _waf_policy(stack, service, target, site)
    tier = "WAF_v2" if waf else "Standard_v2"
    draining = {"enabled": True, "drain_timeout_sec": lb_spec.drain_timeout_s} if lb_spec.drain_timeout_s else None
    gw = stack.add(
        "azurerm_application_gateway", "gateway", name=resource_name(service, "gateway"),
        resource_group_name=site.resource_group, location=site.location, tags=site.tags,
        sku={"name": tier, "tier": tier}, firewall_policy_id=waf,
        autoscale_configuration={"min_capacity": 1},
        gateway_ip_configuration=[{"name": "gateway", "subnet_id": site.gateway_subnet}],
        frontend_ip_configuration=frontends,
        frontend_port=[{"name": f"port-{x.port}", "port": x.port} for x in listeners],
        backend_address_pool=[{"name": POOL}],
        backend_http_settings=[{
            "name": SETTINGS, "port": service.port, "protocol": "Http",
            "cookie_based_affinity": "Enabled" if lb_spec.stickiness else "Disabled", "probe_name": PROBE,
            # how long the gateway waits for a replica: the connection is idle while the model computes
            "request_timeout": lb_spec.idle_timeout_s, "connection_draining": draining}],
        probe=[{"name": PROBE, "protocol": "Http", "host": "127.0.0.1", "path": hc.path, "port": hc.port,
                "interval": hc.interval_s, "timeout": hc.timeout_s, "unhealthy_threshold": hc.unhealthy_threshold,
                "match": {"status_code": hc.success_codes.split(",")}}],
        http_listener=[{
            "name": f"listener-{x.port}", "frontend_ip_configuration_name": listen_on,
            "frontend_port_name": f"port-{x.port}", "protocol": x.protocol.capitalize(),
            "ssl_certificate_name": CERT if x.protocol == "https" else None} for x in listeners],
        redirect_configuration=[{
            "name": f"redirect-{x.port}", "redirect_type": "Permanent",
            "target_listener_name": f"listener-{x.redirect_to}", "include_path": True, "include_query_string": True}
            for x in listeners if x.redirect_to is not None] or None,
        # Priority is required on v2 (1 highest .. 20000); ports in ascending order.
        request_routing_rule=[{
            "name": f"rule-{x.port}", "rule_type": "Basic", "priority": 10 * (i + 1),
            "http_listener_name": f"listener-{x.port}",
            "redirect_configuration_name": f"redirect-{x.port}" if x.redirect_to is not None else None,
            "backend_address_pool_name": POOL if x.redirect_to is None else None,
            "backend_http_settings_name": SETTINGS if x.redirect_to is None else None}
            for i, x in enumerate(listeners)],
        ssl_certificate=[{"name": CERT, "key_vault_secret_id": target.get("certificate")}] if https else None,
        # Always set: older predefined policies (TLS 1.0/1.1) are retired, even on a gateway without https.
        ssl_policy={"policy_type": "Predefined", "policy_name": TLS_POLICY},
        identity={"type": "UserAssigned", "identity_ids": [identity.id]} if identity else None,
        depends_on=[secured, *readable])
    host = ip.ip_address if lb_spec.public else GATEWAY_PRIVATE_IP
    # The gateway's instances (in its subnet) forward to the model port and probe the readiness port.
    ports = tuple(str(p) for p in sorted({service.port, hc.port}))
    rules = (Rule("gateway", ports, (NETWORK["gateway"],), "application gateway: forwarded requests and probes"),)
    pool = {"application_gateway_backend_address_pool_ids": [stack.fmt("{}/backendAddressPools/{}", gw.id, POOL)]}
    return Front(host=host, pool=pool, health_probe_id=None, metric_resource_id=gw.id, replica_rules=rules)


def _waf_policy(stack, service: ir.Service, target: ir.Target, site):
    """The WAF policy id for the gateway: the given one, one created here for targets.azure.waf, or None."""
    if target.get("waf_policy_id"):
        return target.get("waf_policy_id")
    mode = target.get("waf")
    if not mode:
        return None
    rule_set, version = WAF_RULE_SET
    return stack.add(
        "azurerm_web_application_firewall_policy", "waf_policy", name=resource_name(service, "waf"),
        resource_group_name=site.resource_group, location=site.location, tags=site.tags,
        policy_settings={"enabled": True, "mode": str(mode).capitalize(), "request_body_check": True,
                         "max_request_body_size_in_kb": WAF_MAX_BODY_KB},
        managed_rules={"managed_rule_set": [{"type": rule_set, "version": version}]}).id


def _gateway_security_group(stack, service: ir.Service, site):
    """The gateway subnet's NSG, in the order the docs give: listener ports from allowed_cidrs, the v2
    infrastructure ports from GatewayManager, AzureLoadBalancer, then deny everything else."""
    lb_spec = service.load_balancer
    nsg = stack.add("azurerm_network_security_group", "gateway_security_group",
                    name=resource_name(service, "gateway"), resource_group_name=site.resource_group,
                    location=site.location, tags=site.tags)
    rules = [Rule(f"listener-{x.port}-{family}", (str(x.port),), group, f"{x.protocol} listener {x.port} ({family})")
             for x in sorted(lb_spec.listeners, key=lambda x: x.port)
             for family, group in _families(lb_spec.allowed_cidrs)]
    rules += [Rule("gateway-manager", (GATEWAY_INFRA_PORTS,), ("GatewayManager",),
                   "Application Gateway v2 infrastructure (required)"),
              Rule("azure-load-balancer", ("*",), ("AzureLoadBalancer",), "Azure load balancer (required)",
                   protocol="*")]
    created = security_rules(stack, nsg, "gateway_security_group", rules)
    return stack.add("azurerm_subnet_network_security_group_association", "gateway_security_group_association",
                     subnet_id=site.gateway_subnet, network_security_group_id=nsg.id, depends_on=created)
