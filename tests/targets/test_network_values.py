"""Explicit network values per backend: listeners, redirects, TLS policy and certificate, timeouts, and exactly
the ports each security group, NSG and firewall opens (not a superset), read from the Terraform JSON of the
variant specs (tests/targets/variants.py) and compared with the spec values."""

from __future__ import annotations

import ipaddress

import pytest

from tests.targets.variants import CIDRS, VARIANTS, ports, seconds, strip

# TLS policies docs/targets/*.md document: AWS ELBSecurityPolicy-TLS13-1-2-2021-06 (TLS 1.3 and 1.2; see
# https://docs.aws.amazon.com/elasticloadbalancing/latest/application/describe-ssl-policies.html) and Azure
# Application Gateway's predefined AppGwSslPolicy20220101S (TLS 1.2 minimum; see
# https://learn.microsoft.com/en-us/azure/application-gateway/application-gateway-ssl-policy-overview).
AWS_TLS = "ELBSecurityPolicy-TLS13-1-2-2021-06"
AZURE_TLS = {"policy_type": "Predefined", "policy_name": "AppGwSslPolicy20220101S"}
# Google's health checkers (and the global external ALB's proxies) come from these ranges; an internal ALB's proxies
# from its proxy-only subnet, which infc creates as 10.127.254.0/23 (docs/targets/gcp.md).
# https://cloud.google.com/load-balancing/docs/firewall-rules
GOOGLE_RANGES = ["35.191.0.0/16", "130.211.0.0/22"]
PROXY_ONLY = ["10.127.254.0/23"]
AZURE_GATEWAY_SUBNET = "10.0.16.0/24"  # docs/targets/azure.md: the gateway subnet of the network infc creates


@pytest.fixture(scope="module")
def resources(variant_stacks):
    def get(name: str) -> dict:
        (target,) = VARIANTS[name]["targets"]
        return strip(variant_stacks(name, target))["resource"]
    return get


def spec(name: str) -> dict:
    return VARIANTS[name]


# --- AWS ----------------------------------------------------------------------------------------------------------

def aws_rules(res: dict) -> set[tuple]:
    """Every security group rule as (group, direction, protocol, from port, to port, peer)."""
    out = set()
    for direction, kind in (("in", "aws_vpc_security_group_ingress_rule"), ("out", "aws_vpc_security_group_egress_rule")):
        for rule in res[kind].values():
            peer = rule.get("cidr_ipv4") or rule.get("cidr_ipv6") or rule["referenced_security_group_id"]
            group = rule["security_group_id"].split(".")[1]
            out.add((group, direction, rule["ip_protocol"], rule.get("from_port"), rule.get("to_port"), peer))
    return out


@pytest.mark.parametrize("name", ["v-aws", "v-aws-cpu", "v-aws-a100"])
def test_aws_security_groups_open_exactly_the_needed_ports(resources, name):
    """Clients reach the listener ports from allowed_cidrs; the load balancer reaches the replicas on the model and
    readiness ports only (liveness has no EC2 check); replicas send anywhere (image and model downloads)."""
    lb = spec(name)["load_balancer"]
    lb_group, replicas = "${aws_security_group.lb_security_group.id}", "${aws_security_group.replica_security_group.id}"
    needed = sorted(set(ports(name)))
    assert aws_rules(resources(name)) == {
        *{("lb_security_group", "in", "tcp", x["port"], x["port"], cidr)
          for x in lb["listeners"] for cidr in lb.get("allowed_cidrs", ["0.0.0.0/0"])},
        *{("lb_security_group", "out", "tcp", port, port, replicas) for port in needed},
        *{("replica_security_group", "in", "tcp", port, port, lb_group) for port in needed},
        ("replica_security_group", "out", "-1", None, None, "0.0.0.0/0")}


@pytest.mark.parametrize("name", ["v-aws", "v-aws-cpu"])
def test_aws_load_balancer_listeners_and_timeouts(resources, name):
    res, lb = resources(name), spec(name)["load_balancer"]
    alb = res["aws_lb"]["load_balancer"]
    assert (alb["internal"], alb["idle_timeout"]) == (not lb.get("public", True), seconds(lb["idle_timeout"]))
    group = res["aws_lb_target_group"]["target_group"]
    assert (group["port"], group["protocol"]) == (spec(name)["model"]["port"], "HTTP")
    assert group["deregistration_delay"] == str(seconds(lb["drain_timeout"]))
    # docs/targets/aws.md: stickiness is a load balancer cookie of one day (the most AWS allows is 7 days, lb_target_group docs).
    assert group["stickiness"] == {"type": "lb_cookie", "enabled": lb.get("stickiness", False), "cookie_duration": 86400}
    by_port = {x["port"]: x for x in lb["listeners"]}
    emitted = {x["port"]: x for x in res["aws_lb_listener"].values()}
    assert set(emitted) == set(by_port)
    for port, listener in emitted.items():
        wanted = by_port[port]
        assert listener["protocol"] == wanted["protocol"].upper()
        if wanted["protocol"] == "https":
            certificate = spec(name)["targets"]["aws"]["certificate"]
            assert (listener["ssl_policy"], listener["certificate_arn"]) == (AWS_TLS, certificate)
        else:
            assert not {"ssl_policy", "certificate_arn"} & listener.keys()
        (action,) = listener["default_action"]
        if wanted.get("redirect_to"):
            to = by_port[wanted["redirect_to"]]
            assert action == {"type": "redirect", "redirect": {"port": str(to["port"]), "status_code": "HTTP_301",
                                                                "protocol": to["protocol"].upper()}}
        else:
            assert action == {"type": "forward", "target_group_arn": "${aws_lb_target_group.target_group.arn}"}


# --- Azure --------------------------------------------------------------------------------------------------------

def nsg_rules(res: dict, group: str) -> set[tuple]:
    """Rules of one NSG as (access, protocol, destination ports, sources), the final deny-all included."""
    out = set()
    for rule in res["azurerm_network_security_rule"].values():
        if rule["network_security_group_name"] != f"${{azurerm_network_security_group.{group}.name}}":
            continue
        assert (rule["direction"], rule["source_port_range"], rule["destination_address_prefix"]) == (
            "Inbound", "*", "*")
        destination = tuple(rule.get("destination_port_ranges") or [rule["destination_port_range"]])
        sources = tuple(rule.get("source_address_prefixes") or [rule["source_address_prefix"]])
        out.add((rule["access"], rule["protocol"], destination, sources))
    return out


DENY_ALL = ("Deny", "*", ("*",), ("*",))


def test_azure_load_balancer_nsg_admits_clients_on_the_model_port_and_probes_on_the_readiness_port(resources):
    model, ready = ports("v-azlb")
    v4, v6 = CIDRS
    assert nsg_rules(resources("v-azlb"), "replica_security_group") == {
        ("Allow", "Tcp", (str(model),), (v4,)), ("Allow", "Tcp", (str(model),), (v6,)),
        ("Allow", "Tcp", (str(ready),), ("AzureLoadBalancer",)), DENY_ALL}


def test_azure_gateway_nsgs(resources):
    """Gateway subnet: listener ports from allowed_cidrs, the v2 infrastructure ports from GatewayManager and the
    Azure load balancer (both required: https://learn.microsoft.com/en-us/azure/application-gateway/
    configuration-infrastructure#network-security-groups). Replicas: model and readiness ports from the gateway."""
    res = resources("v-azgw")
    lb = spec("v-azgw")["load_balancer"]
    assert nsg_rules(res, "gateway_security_group") == {
        *{("Allow", "Tcp", (str(x["port"]),), (cidr,)) for x in lb["listeners"] for cidr in lb["allowed_cidrs"]},
        ("Allow", "Tcp", ("65200-65535",), ("GatewayManager",)), ("Allow", "*", ("*",), ("AzureLoadBalancer",)),
        DENY_ALL}
    assert nsg_rules(res, "replica_security_group") == {
        ("Allow", "Tcp", tuple(sorted(map(str, ports("v-azgw")))), (AZURE_GATEWAY_SUBNET,)), DENY_ALL}


def test_azure_load_balancer_rules(resources):
    res, lb = resources("v-azlb"), spec("v-azlb")["load_balancer"]
    rules = {r["frontend_port"]: r for r in res["azurerm_lb_rule"].values()}
    assert set(rules) == {x["port"] for x in lb["listeners"]}
    for rule in rules.values():
        assert (rule["protocol"], rule["backend_port"], rule["idle_timeout_in_minutes"]) == (
            "Tcp", spec("v-azlb")["model"]["port"], seconds(lb["idle_timeout"]) // 60)
        assert rule["tcp_reset_enabled"] is True  # docs/targets/azure.md: clients learn of an idle-timed-out connection
        assert rule["probe_id"] == "${azurerm_lb_probe.readiness_probe.id}"


def test_azure_gateway_listeners_tls_and_timeouts(resources):
    res, lb = resources("v-azgw"), spec("v-azgw")["load_balancer"]
    gateway = res["azurerm_application_gateway"]["gateway"]
    assert gateway["ssl_policy"] == AZURE_TLS
    assert gateway["ssl_certificate"] == [{"name": "tls",
                                           "key_vault_secret_id": spec("v-azgw")["targets"]["azure"]["certificate"]}]
    assert {x["port"] for x in gateway["frontend_port"]} == {x["port"] for x in lb["listeners"]}
    assert {(x["name"], x["protocol"]) for x in gateway["http_listener"]} == {
        (f"listener-{x['port']}", x["protocol"].capitalize()) for x in lb["listeners"]}
    assert gateway["redirect_configuration"] == [
        {"name": f"redirect-{x['port']}", "redirect_type": "Permanent", "target_listener_name": f"listener-{to}",
         "include_path": True, "include_query_string": True}
        for x in lb["listeners"] for to in [x.get("redirect_to")] if to]
    (settings,) = gateway["backend_http_settings"]
    assert (settings["port"], settings["request_timeout"]) == (spec("v-azgw")["model"]["port"],
                                                               seconds(lb["idle_timeout"]))
    assert settings["connection_draining"] == {"enabled": True, "drain_timeout_sec": seconds(lb["drain_timeout"])}
    ip = res["azurerm_public_ip"]["frontend_ip"]
    assert ip["idle_timeout_in_minutes"] == seconds(lb["idle_timeout"]) // 60


# --- Google Cloud -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, proxies", [("v-gcp", GOOGLE_RANGES), ("v-gcp-internal", PROXY_ONLY)])
def test_gcp_firewall_opens_exactly_the_probe_and_model_ports(resources, name, proxies):
    probes = spec(name)["probes"]
    walls = resources(name)["google_compute_firewall"]
    summary = {(w["direction"], tuple(w["source_ranges"]), tuple(w["target_tags"]), a["protocol"], tuple(a["ports"]))
               for w in walls.values() for a in w["allow"]}
    probe_ports = sorted({str(p["port"]) for p in probes.values()})
    assert summary == {("INGRESS", tuple(GOOGLE_RANGES), (name,), "tcp", tuple(probe_ports)),
                       ("INGRESS", tuple(proxies), (name,), "tcp", (str(spec(name)["model"]["port"]),))}


def test_gcp_external_load_balancer(resources):
    res, lb = resources("v-gcp"), spec("v-gcp")["load_balancer"]
    backend = res["google_compute_backend_service"]["backend_service"]
    assert (backend["timeout_sec"], backend["connection_draining_timeout_sec"]) == (
        seconds(lb["idle_timeout"]), seconds(lb["drain_timeout"]))
    assert backend["load_balancing_scheme"] == "EXTERNAL_MANAGED"
    rules = {r["port_range"]: r for r in res["google_compute_global_forwarding_rule"].values()}
    assert set(rules) == {str(x["port"]) for x in lb["listeners"]}
    https = res["google_compute_target_https_proxy"]["proxy_443"]
    assert https["ssl_certificates"] == [spec("v-gcp")["targets"]["gcp"]["certificate"]]
    assert https["url_map"] == "${google_compute_url_map.url_map.id}"
    http = res["google_compute_target_http_proxy"]["proxy_8080"]  # the redirecting listener
    assert http["url_map"] == "${google_compute_url_map.redirect_url_map.id}"
    assert res["google_compute_url_map"]["redirect_url_map"]["default_url_redirect"] == {
        "https_redirect": True, "redirect_response_code": "MOVED_PERMANENTLY_DEFAULT", "strip_query": False}
    assert {https["http_keep_alive_timeout_sec"], http["http_keep_alive_timeout_sec"]} == {seconds(lb["idle_timeout"])}
    # allowed_cidrs other than 0.0.0.0/0: Cloud Armor admits exactly them and denies everyone else.
    rules = res["google_compute_security_policy"]["client_allowlist"]["rule"]
    assert [(r["action"], r["match"]["config"]["src_ip_ranges"]) for r in rules] == [
        ("allow", lb["allowed_cidrs"]), ("deny(403)", ["*"])]
    assert backend["security_policy"] == "${google_compute_security_policy.client_allowlist.id}"


def test_gcp_internal_load_balancer(resources):
    res, lb = resources("v-gcp-internal"), spec("v-gcp-internal")["load_balancer"]
    backend = res["google_compute_region_backend_service"]["backend_service"]
    assert backend["load_balancing_scheme"] == "INTERNAL_MANAGED"
    assert (backend["timeout_sec"], backend["connection_draining_timeout_sec"]) == (
        seconds(lb["idle_timeout"]), seconds(lb["drain_timeout"]))
    assert {r["port_range"] for r in res["google_compute_forwarding_rule"].values()} == {
        str(x["port"]) for x in lb["listeners"]}
    assert {p["http_keep_alive_timeout_sec"] for p in res["google_compute_region_target_http_proxy"].values()} == {
        seconds(lb["idle_timeout"])}
    assert res["google_compute_subnetwork"]["proxy_subnet"]["ip_cidr_range"] == PROXY_ONLY[0]


# --- Kubernetes ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["v-k8s", "v-k8s-derived", "v-k8s-v6", "v-eks", "v-aks"])
def test_kubernetes_service_ports_and_source_ranges(resources, name):
    """The Service is single-stack in targets.kubernetes.ip_family (default IPv4; always IPv4 on eks and aks) and
    carries the allowed_cidrs of that family only: one GCE firewall rule cannot mix IPv4 and IPv6 (issue 13 item 6)."""
    res, lb = resources(name), spec(name)["load_balancer"]
    family = spec(name)["targets"].get("kubernetes", {}).get("ip_family", "IPv4")
    service = res["kubernetes_service_v1"]["service"]["spec"]
    assert service["type"] == "LoadBalancer"
    assert (service["ip_families"], service["ip_family_policy"]) == ([family], "SingleStack")
    own = [c for c in lb.get("allowed_cidrs", ["0.0.0.0/0"])
           if f"IPv{ipaddress.ip_network(c).version}" == family]
    assert own and service["load_balancer_source_ranges"] == own
    assert [(p["port"], p["target_port"], p["protocol"]) for p in service["port"]] == [
        (x["port"], str(spec(name)["model"]["port"]), "TCP") for x in lb["listeners"]]
    pod = res["kubernetes_deployment_v1"]["deployment"]["spec"]["template"]["spec"]
    assert pod["termination_grace_period_seconds"] == seconds(lb.get("drain_timeout", 30))
    (container,) = pod["container"]
    assert container["port"] == [{"name": "http", "container_port": spec(name)["model"]["port"], "protocol": "TCP"}]
