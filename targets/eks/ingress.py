"""EKS target: the load balancers of the workload, a Classic Load Balancer for http listeners (Service annotations of
the in-tree service controller) and an ALB for https (an Ingress of the AWS Load Balancer Controller)."""

from __future__ import annotations

import ipaddress
import json

from compiler import ir
from targets.aws import TLS_POLICY
from targets.kubernetes.workload import ingress_rule, labels

# In-tree service controller annotations (https://cloud-provider-aws.sigs.k8s.io/service_controller/).
_CLB = "service.beta.kubernetes.io/aws-load-balancer-"
# AWS Load Balancer Controller Ingress annotations
# (https://kubernetes-sigs.github.io/aws-load-balancer-controller/latest/guide/ingress/annotations/).
_ALB = "alb.ingress.kubernetes.io/"
INGRESS_CLASS = "alb"  # the IngressClass the controller's Helm chart creates


def service_annotations(service: ir.Service) -> dict[str, str]:
    """The Classic Load Balancer of the http listeners: idle timeout, connection draining (0 s: off) and tags."""
    lb = service.load_balancer
    out = {f"{_CLB}connection-idle-timeout": str(lb.idle_timeout_s),
           f"{_CLB}connection-draining-enabled": "true" if lb.drain_timeout_s else "false"}
    if lb.drain_timeout_s:
        out[f"{_CLB}connection-draining-timeout"] = str(lb.drain_timeout_s)
    if service.labels:
        out[f"{_CLB}additional-resource-tags"] = ",".join(f"{k}={v}" for k, v in service.labels)
    return out


def ingress_annotations(service: ir.Service, target: ir.Target) -> dict[str, str]:
    """The ALB: scheme, the pods as IP targets, listeners (+ redirect), certificate and TLS policy, source ranges,
    the readiness probe as health check, and the idle timeout, draining and stickiness as attributes."""
    lb, hc = service.load_balancer, service.readiness
    ports = [{"HTTPS": x.port} for x in lb.listeners if x.protocol == "https"]
    redirect = next((x for x in lb.listeners if x.redirect_to), None)
    ports += [{"HTTP": redirect.port}] if redirect else []
    cidrs = [c for c in lb.allowed_cidrs if ipaddress.ip_network(c).version == 4]  # an IPv4 ALB (check() warns)
    group = [f"deregistration_delay.timeout_seconds={lb.drain_timeout_s}"]
    if lb.stickiness:
        group += ["stickiness.enabled=true", "stickiness.type=lb_cookie", "stickiness.lb_cookie.duration_seconds=86400"]
    out = {
        f"{_ALB}scheme": "internet-facing" if lb.public else "internal",
        # Pod IPs as targets: the health check reaches the readiness port of each replica, not a node port.
        f"{_ALB}target-type": "ip",
        f"{_ALB}listen-ports": json.dumps(ports, separators=(",", ":")),
        f"{_ALB}certificate-arn": str(target.get("certificate")),
        f"{_ALB}ssl-policy": TLS_POLICY,
        f"{_ALB}inbound-cidrs": ",".join(cidrs),
        f"{_ALB}healthcheck-protocol": "HTTP",
        f"{_ALB}healthcheck-path": hc.path,
        f"{_ALB}healthcheck-port": str(hc.port),
        f"{_ALB}healthcheck-interval-seconds": str(hc.interval_s),
        f"{_ALB}healthcheck-timeout-seconds": str(hc.timeout_s),
        f"{_ALB}healthy-threshold-count": str(hc.healthy_threshold),
        f"{_ALB}unhealthy-threshold-count": str(hc.unhealthy_threshold),
        f"{_ALB}success-codes": hc.success_codes,
        f"{_ALB}load-balancer-attributes": f"idle_timeout.timeout_seconds={lb.idle_timeout_s},"
                                            "routing.http.drop_invalid_header_fields.enabled=true",
        f"{_ALB}target-group-attributes": ",".join(group),
    }
    if redirect:
        out[f"{_ALB}ssl-redirect"] = str(redirect.redirect_to)
    if service.labels:
        out[f"{_ALB}tags"] = ",".join(f"{k}={v}" for k, v in service.labels)
    return out


def emit(stack, service: ir.Service, target: ir.Target, workload, nodes):
    """The https Ingress; returns the endpoint's host: targets.eks.host, else the ALB's DNS name once the controller
    has made it (empty until then: the apply does not wait for a controller infc does not install)."""
    resource = stack.add(
        "kubernetes_ingress_v1", "ingress", depends_on=[workload.deployment, nodes],
        metadata={"name": service.name, "namespace": workload.namespace, "labels": labels(service),
                  "annotations": ingress_annotations(service, target)},
        spec={"ingress_class_name": INGRESS_CLASS, "rule": [ingress_rule(service, target.get("host") or None)]},
        wait_for_load_balancer=False)
    hostname = stack.expr('try({}, "")', resource.status[0].load_balancer[0].ingress[0].hostname)
    stack.output("ingress_hostname", hostname,
                 "DNS name of the https Ingress's ALB (empty until the AWS Load Balancer Controller has made it)")
    return target.get("host") or hostname
