"""Google Cloud backend, network side: VPC lookup, health checks, firewall rules and the Application Load Balancer."""

from __future__ import annotations

import dataclasses

from compiler import ir
from targets.base import Version, output_endpoint, resource_name

# Probes of Google's health checkers, and (for instance-group backends) the global external ALB's proxies,
# come from these ranges (https://cloud.google.com/load-balancing/docs/firewall-rules).
HEALTH_CHECK_RANGES = ("35.191.0.0/16", "130.211.0.0/22")

# An internal ALB's Envoy proxies reach the backends from a REGIONAL_MANAGED_PROXY subnet of the network
# (/23 recommended, at least /26; https://cloud.google.com/load-balancing/docs/proxy-only-subnets). A network has one
# ACTIVE such subnet per region, shared by every regional Envoy-based load balancer there: the first internal
# service creates it (targets.gcp.proxy_subnet_cidr, default below), the next ones name it (targets.gcp.proxy_subnet).
# The default lies outside 10.128.0.0/9, which auto-mode networks (the default network) reserve for their own
# per-region subnets.
PROXY_SUBNET_CIDR = "10.127.254.0/23"

# Backend capacity the autoscaler holds for requests_per_replica: max_rate_per_instance = target / LB_UTILIZATION,
# so the autoscaler's LB_UTILIZATION x capacity is exactly the spec's requests per second per replica (and the
# load balancer still sees headroom on every replica at the target).
LB_UTILIZATION = 0.8

COOKIE_TTL_S = 86400  # GENERATED_COOKIE lifetime: the maximum, one day (affinity_cookie_ttl_sec).
ARMOR_RANGES_PER_RULE = 10  # Cloud Armor: at most 10 IP ranges per rule (src_ip_ranges).
ARMOR_DEFAULT_PRIORITY = 2147483647  # the policy's default rule, evaluated last


@dataclasses.dataclass(frozen=True)
class Network:
    network: object  # name or self link
    subnet: object | None  # None: the network is auto mode and picks the region's subnet


@dataclasses.dataclass(frozen=True)
class ProxySubnet:
    range: object  # the CIDR the proxies connect from: the firewall admits it
    created: object | None  # the subnet this stack creates (forwarding rules wait for it), None when it reads one


@dataclasses.dataclass(frozen=True)
class HealthChecks:
    ready: object  # the load balancer's health check (readiness)
    autoheal: object  # the MIG's auto-healing check: liveness when given, else the readiness check


def network(stack, target: ir.Target) -> Network:
    """targets.gcp.network/subnet as given, else the project's default network and its subnet in the region."""
    net, subnet = target.get("network"), target.get("subnet")
    if not net:
        net = stack.data("google_compute_network", "network", name="default").self_link
        if not subnet:
            # Auto-mode networks name their subnet in every region after the network.
            subnet = stack.data("google_compute_subnetwork", "subnet", name="default",
                                region=target.get("region")).self_link
    return Network(net, subnet)


def nat(stack, service: ir.Service, target: ir.Target, net: Network):
    """Outbound access for replicas or nodes without external IPs: a Cloud Router and a Cloud NAT gateway with
    automatically allocated addresses for the subnet (all its ranges, so GKE Pod ranges too), or for every subnet of
    an auto-mode network given without a subnet (https://cloud.google.com/nat/docs/overview)."""
    router = stack.add("google_compute_router", "router", name=resource_name(service, "nat"),
                       region=target.get("region"), network=net.network,
                       description=f"infc {service.name}: outbound access through Cloud NAT")
    subnets = [{"name": net.subnet, "source_ip_ranges_to_nat": ["ALL_IP_RANGES"]}] if net.subnet else None
    return stack.add("google_compute_router_nat", "nat", name=resource_name(service, "nat"), router=router.name,
                     region=router.region, nat_ip_allocate_option="AUTO_ONLY",
                     source_subnetwork_ip_ranges_to_nat=("LIST_OF_SUBNETWORKS" if subnets
                                                         else "ALL_SUBNETWORKS_ALL_IP_RANGES"),
                     subnetwork=subnets,
                     # Errors only (dropped connections, e.g. exhausted ports): the one log worth its ingestion cost.
                     log_config={"enable": True, "filter": "ERRORS_ONLY"})


def health_checks(stack, service: ir.Service, target: ir.Target) -> HealthChecks:
    """Readiness drives the load balancer; liveness (when given) drives auto-healing, so a replica that is only
    busy (not ready) loses traffic but is not recreated."""
    hc = service.readiness
    public = service.load_balancer.public
    ready = stack.add(
        "google_compute_health_check" if public else "google_compute_region_health_check", "readiness",
        name=resource_name(service, "ready"), **({} if public else {"region": target.get("region")}),
        description=f"infc {service.name}: readiness, drives the load balancer",
        check_interval_sec=hc.interval_s, timeout_sec=hc.timeout_s, healthy_threshold=hc.healthy_threshold,
        unhealthy_threshold=hc.unhealthy_threshold,
        http_health_check={"port": hc.port, "port_specification": "USE_FIXED_PORT", "request_path": hc.path})
    live = service.liveness
    if not live:
        return HealthChecks(ready, ready)
    autoheal = stack.add(
        "google_compute_health_check", "liveness", name=resource_name(service, "live"),
        description=f"infc {service.name}: liveness, drives auto-healing",
        check_interval_sec=live.interval_s, timeout_sec=live.timeout_s, unhealthy_threshold=live.failure_threshold,
        healthy_threshold=1,  # liveness has no success threshold: one passing check counts (as in Kubernetes)
        http_health_check={"port": live.port, "port_specification": "USE_FIXED_PORT", "request_path": live.path})
    return HealthChecks(ready, autoheal)


def proxy_subnet(stack, service: ir.Service, target: ir.Target, net: Network) -> ProxySubnet | None:
    """The internal load balancer's proxy-only subnet: the existing one named by targets.gcp.proxy_subnet (read for
    its range; a postcondition checks that it is in the stack's network), else a new one with proxy_subnet_cidr.
    None for an external load balancer, whose proxies are Google's front ends."""
    if service.load_balancer.public:
        return None
    region, existing = target.get("region"), target.get("proxy_subnet")
    if existing:
        # Subnet names are unique per project and region, not per network: the one named may be in another VPC.
        # Its network reads as a self link (.../global/networks/NAME); targets.gcp.network is a name or a link, and
        # network() reads "default" when none is given.
        network_name = str(target.get("network") or "default").rsplit("/", 1)[-1]
        same = stack.expr("endswith(self.network, {})", f"/networks/{network_name}")
        subnet = stack.data(
            "google_compute_subnetwork", "proxy_subnet", name=existing, region=region,
            lifecycle={"postcondition": [{
                "condition": same,
                "error_message": f"targets.gcp.proxy_subnet '{existing}' is not a subnet of this stack's network: "
                                 "name the network's proxy-only subnet in the region."}]})
        return ProxySubnet(subnet.ip_cidr_range, None)
    cidr = str(target.get("proxy_subnet_cidr") or PROXY_SUBNET_CIDR)
    subnet = stack.add(
        "google_compute_subnetwork", "proxy_subnet", name=resource_name(service, "proxy-only"),
        region=region, network=net.network, ip_cidr_range=cidr, purpose="REGIONAL_MANAGED_PROXY", role="ACTIVE",
        description=f"infc {service.name}: Envoy proxies of the internal load balancer")
    stack.output("proxy_subnet_name", subnet.name,
                 "Proxy-only subnet of the network in the region: other internal services there name it in "
                 "targets.gcp.proxy_subnet")
    return ProxySubnet(cidr, subnet)


def firewall(stack, service: ir.Service, net: Network, proxies: ProxySubnet | None) -> None:
    """Replicas (network tag = service name) accept only health-check probes and the load balancer's proxies."""
    probes = sorted({service.readiness.port} | ({service.liveness.port} if service.liveness else set()))
    stack.add("google_compute_firewall", "allow_health_checks", name=resource_name(service, "health-checks"),
              network=net.network, description=f"infc {service.name}: Google health-check probes to the probe ports",
              direction="INGRESS", source_ranges=list(HEALTH_CHECK_RANGES), target_tags=[service.name],
              allow=[{"protocol": "tcp", "ports": [str(p) for p in probes]}])
    sources = list(HEALTH_CHECK_RANGES) if proxies is None else [proxies.range]
    stack.add("google_compute_firewall", "allow_load_balancer", name=resource_name(service, "load-balancer"),
              network=net.network, description=f"infc {service.name}: load balancer proxies to the model port",
              direction="INGRESS", source_ranges=sources, target_tags=[service.name],
              allow=[{"protocol": "tcp", "ports": [str(service.port)]}])


def _backend(service: ir.Service, group) -> dict:
    auto = service.autoscale
    if auto and auto.metric == "requests_per_replica":
        capacity = {"balancing_mode": "RATE", "max_rate_per_instance": auto.target / LB_UTILIZATION}
    else:
        capacity = {"balancing_mode": "UTILIZATION"}
    return {"group": group.instance_group, "capacity_scaler": 1, **capacity}


def _backend_settings(service: ir.Service) -> dict:
    lb = service.load_balancer
    return dict(
        protocol="HTTP", port_name="http",
        # Time the proxy waits for a complete response: the spec's idle timeout is its closest equivalent.
        timeout_sec=lb.idle_timeout_s, connection_draining_timeout_sec=lb.drain_timeout_s,
        session_affinity="GENERATED_COOKIE" if lb.stickiness else "NONE",
        affinity_cookie_ttl_sec=COOKIE_TTL_S if lb.stickiness else None)


def load_balancer(stack, service: ir.Service, target: ir.Target, net: Network, groups: list[tuple[Version, object]],
                  health: HealthChecks, proxies: ProxySubnet | None) -> None:
    """The load balancer in front of `groups`, each version's instance group: one backend service per version."""
    if proxies is None:
        _external(stack, service, target, groups, health)
    else:
        _internal(stack, service, target, net, groups, health, proxies)


def _route(backends: list[tuple[Version, object]]) -> dict:
    """Where the URL map sends every request: the one backend service, or the variants' backend services by weight.
    Read in hashicorp/terraform-provider-google at e03b7622, google/services/compute/: a weight is 0-1000 and each
    service gets weight / (sum of the weights) of new requests (resource_compute_url_map.go:1023-1034 and
    resource_compute_region_url_map.go:573-579, default_route_action.weighted_backend_services.weight,
    `validation.IntBetween(0, 1000)`); a variant's weight is its whole percent, 0-100, summing to 100, so it is
    carried as is. default_service and default_route_action.weighted_backend_services exclude each other
    (`ExactlyOneOf`, resource_compute_url_map.go:1050, resource_compute_region_url_map.go:601). Both load balancers
    infc emits, EXTERNAL_MANAGED and INTERNAL_MANAGED, split by weight; a classic external Application Load
    Balancer (EXTERNAL), which infc does not emit, takes only urlRewrite in a defaultRouteAction
    (resource_compute_region_url_map.go:161)."""
    run, backend = backends[0]
    if run.weight is None:
        return {"default_service": backend.id}
    return {"default_route_action": {"weighted_backend_services": [
        {"backend_service": backend.id, "weight": run.weight} for run, backend in backends]}}


# An http listener that redirects: to https on 443, the one redirect a URL map can make (checked in targets.gcp).
_REDIRECT = {"https_redirect": True, "redirect_response_code": "MOVED_PERMANENTLY_DEFAULT", "strip_query": False}


def _external(stack, service: ir.Service, target: ir.Target, groups: list[tuple[Version, object]],
              health: HealthChecks) -> None:
    """Global external Application Load Balancer (EXTERNAL_MANAGED)."""
    policy = _client_allowlist(stack, service)
    backends = [(run, stack.add("google_compute_backend_service", run.id("backend_service"), name=run.name(),
                                load_balancing_scheme="EXTERNAL_MANAGED", health_checks=[health.ready.id],
                                backend=[_backend(run.service, group)],
                                security_policy=policy.id if policy else None, **_backend_settings(service)))
                for run, group in groups]
    url_map = stack.add("google_compute_url_map", "url_map", name=resource_name(service, ""), **_route(backends))
    redirect_map = None
    if any(x.redirect_to for x in service.load_balancer.listeners):
        redirect_map = stack.add("google_compute_url_map", "redirect_url_map",
                                 name=resource_name(service, "redirect"), default_url_redirect=_REDIRECT)
    address = stack.add("google_compute_global_address", "address", name=resource_name(service, ""),
                        description=f"infc {service.name}: endpoint")
    keepalive = service.load_balancer.idle_timeout_s
    for listener in service.load_balancer.listeners:
        name = resource_name(service, str(listener.port))
        maps = redirect_map if listener.redirect_to else url_map
        if listener.protocol == "https":
            proxy = stack.add("google_compute_target_https_proxy", f"proxy_{listener.port}", name=name,
                              url_map=maps.id, ssl_certificates=[target.get("certificate")],
                              http_keep_alive_timeout_sec=keepalive)
        else:
            proxy = stack.add("google_compute_target_http_proxy", f"proxy_{listener.port}", name=name,
                              url_map=maps.id, http_keep_alive_timeout_sec=keepalive)
        stack.add("google_compute_global_forwarding_rule", f"forwarding_rule_{listener.port}", name=name,
                  load_balancing_scheme="EXTERNAL_MANAGED", ip_protocol="TCP", ip_address=address.address,
                  port_range=str(listener.port), target=proxy.id)
    output_endpoint(stack, service, address.address)


def _client_allowlist(stack, service: ir.Service):
    """A Cloud Armor policy admitting only allowed_cidrs (none when 0.0.0.0/0 is allowed): an external ALB's
    clients never reach the VPC, so firewall rules cannot filter them."""
    cidrs = service.load_balancer.allowed_cidrs
    if "0.0.0.0/0" in cidrs:
        return None

    def rule(priority: int, action: str, ranges: list[str], description: str) -> dict:
        return {"priority": priority, "action": action, "description": description,
                "match": {"versioned_expr": "SRC_IPS_V1", "config": {"src_ip_ranges": ranges}}}

    chunks = [list(cidrs[i:i + ARMOR_RANGES_PER_RULE]) for i in range(0, len(cidrs), ARMOR_RANGES_PER_RULE)]
    rules = [rule(1000 + i, "allow", chunk, "load_balancer.allowed_cidrs") for i, chunk in enumerate(chunks)]
    rules.append(rule(ARMOR_DEFAULT_PRIORITY, "deny(403)", ["*"], "everyone else"))
    return stack.add("google_compute_security_policy", "client_allowlist", name=resource_name(service, "clients"),
                     type="CLOUD_ARMOR", description=f"infc {service.name}: clients from load_balancer.allowed_cidrs "
                                                     "only", rule=rules)


def _internal(stack, service: ir.Service, target: ir.Target, net: Network, groups: list[tuple[Version, object]],
              health: HealthChecks, proxies: ProxySubnet) -> None:
    """Regional internal Application Load Balancer (INTERNAL_MANAGED) behind the network's proxy-only subnet."""
    region = target.get("region")
    backends = [(run, stack.add("google_compute_region_backend_service", run.id("backend_service"), name=run.name(),
                                region=region, load_balancing_scheme="INTERNAL_MANAGED",
                                health_checks=[health.ready.id], backend=[_backend(run.service, group)],
                                **_backend_settings(service)))
                for run, group in groups]
    url_map = stack.add("google_compute_region_url_map", "url_map", name=resource_name(service, ""), region=region,
                        **_route(backends))
    redirect_map = None
    if any(x.redirect_to for x in service.load_balancer.listeners):
        redirect_map = stack.add("google_compute_region_url_map", "redirect_url_map",
                                 name=resource_name(service, "redirect"), region=region,
                                 default_url_redirect=_REDIRECT)
    shared = len(service.load_balancer.listeners) > 1  # one IP for several forwarding rules (ports)
    address = stack.add("google_compute_address", "address", name=resource_name(service, ""),
                        region=region, address_type="INTERNAL", subnetwork=net.subnet,
                        purpose="SHARED_LOADBALANCER_VIP" if shared else "GCE_ENDPOINT",
                        description=f"infc {service.name}: endpoint")
    keepalive = service.load_balancer.idle_timeout_s
    for listener in service.load_balancer.listeners:
        name = resource_name(service, str(listener.port))
        maps = redirect_map if listener.redirect_to else url_map
        if listener.protocol == "https":
            proxy = stack.add("google_compute_region_target_https_proxy", f"proxy_{listener.port}", name=name,
                              region=region, url_map=maps.id, ssl_certificates=[target.get("certificate")],
                              http_keep_alive_timeout_sec=keepalive)
        else:
            proxy = stack.add("google_compute_region_target_http_proxy", f"proxy_{listener.port}", name=name,
                              region=region, url_map=maps.id, http_keep_alive_timeout_sec=keepalive)
        stack.add("google_compute_forwarding_rule", f"forwarding_rule_{listener.port}",
                  name=name, region=region, load_balancing_scheme="INTERNAL_MANAGED", ip_protocol="TCP",
                  network=net.network, subnetwork=net.subnet, ip_address=address.address,
                  port_range=str(listener.port), target=proxy.id,
                  # The proxy-only subnet must exist before an INTERNAL_MANAGED forwarding rule is created.
                  depends_on=[proxies.created] if proxies.created else ())
    output_endpoint(stack, service, address.address)
