"""AWS target: the resources of the stack, an EC2 autoscaling group of the model container behind an ALB."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence

from compiler import ir
from targets import delivery, startup
from targets.aws import registry
from targets.base import Version, on_machine, output_endpoint, resource_name, versions

# The range the output is checked against: hashicorp/aws 5.100.0 (also validated with terraform in tests) and 6.x
# (compiler/provider_schemas/).
PROVIDER = ("hashicorp/aws", ">= 5.100.0, < 7.0.0")

PROTOCOL = {"http": "HTTP", "https": "HTTPS"}
METRIC = {"requests_per_replica": "ALBRequestCountPerTarget", "cpu_percent": "ASGAverageCPUUtilization"}
# ALBRequestCountPerTarget counts per minute; the spec's requests_per_replica is per second.
METRIC_SCALE = {"requests_per_replica": 60, "cpu_percent": 1}
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"  # TLS 1.3 and 1.2 only: the ELB-recommended policy

# Default machine images: owner and name pattern, newest first (AWS DLAMI release notes; Canonical's AMI names).
IMAGES = {
    ("gpu", "x86_64"): ("amazon", "Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 22.04) *"),
    ("gpu", "arm64"): ("amazon", "Deep Learning ARM64 Base OSS Nvidia Driver GPU AMI (Ubuntu 22.04) *"),
    ("cpu", "x86_64"): ("099720109477", "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-*"),
    ("cpu", "arm64"): ("099720109477", "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-arm64-server-*"),
}


def emit(stack, service: ir.Service, target: ir.Target) -> None:
    """Every resource of the AWS stack, in dependency order: what the versions share (network, load balancer,
    listeners, the replicas' role), then each version's target group, launch templates, group and scaling."""
    labels = dict(service.labels)
    stack.provider("aws", *PROVIDER, region=target.get("region"),
                   default_tags=[{"tags": labels}] if labels else None)
    vpc_id, subnets = network(stack, target)
    lb_sg, replica_sg = _security_groups(stack, service, vpc_id)
    lb = _load_balancer(stack, service, target, subnets, lb_sg)
    found = versions(service, target)
    groups = [_target_group(stack, service, version, vpc_id) for version in found]
    _listeners(stack, service, target, lb, list(zip(found, groups)))
    own = registry.repository(stack, service) if target.get("registry") else None
    profile, grants = _instance_profile(stack, service, own, found)
    images = _images(stack, found)  # a version's accelerators are all GPUs of its arch: one image serves it
    for version, group in zip(found, groups):
        one, where = version.service, version.target
        mixed = mixed_instances(one, where)
        image = images[_image_key(version)]
        templates = {args: _launch_template(stack, version, image, replica_sg, profile, template, mixed)
                     for args, template in launch_templates(one, where).items()}
        asg = _autoscaling_group(stack, version, templates, group, where.get("replica_subnet_ids") or subnets, grants)
        if one.autoscale:
            _scaling_policy(stack, version, asg, lb, group)
        if one.min_replicas == 0:  # one version only: check() refuses replicas.min 0 in a variant
            _scale_to_zero(stack, one, asg, lb)
    output_endpoint(stack, service, lb.dns_name)


def target_group_name(service: ir.Service, variant: str | None) -> str:
    """The target group's name (at most TARGET_GROUP_NAME_MAX characters: check() refuses a longer one)."""
    return resource_name(service, f"{variant}-tg" if variant else "tg")


def network(stack, target: ir.Target):
    """The VPC and subnets: given ones, or the region's default VPC and its default subnets."""
    vpc_id = target.get("vpc_id")
    if not vpc_id:
        vpc_id = stack.data("aws_vpc", "default_vpc", default=True).id
    subnets = target.get("subnet_ids")
    if not subnets:
        found = stack.data("aws_subnets", "subnets", filter=[
            {"name": "vpc-id", "values": [vpc_id]},
        ] + ([] if target.get("vpc_id") else [{"name": "default-for-az", "values": ["true"]}]))
        return vpc_id, found.ids
    return vpc_id, list(subnets)


def _security_groups(stack, service: ir.Service, vpc_id):
    """Clients reach the LB on listener ports; only the LB reaches replicas, only on serving/probe ports."""
    lb_sg = stack.add("aws_security_group", "lb_security_group",
                      name=resource_name(service, "lb"), vpc_id=vpc_id,
                      description=f"infc {service.name}: load balancer, listener ports from allowed_cidrs")
    replica_sg = stack.add("aws_security_group", "replica_security_group",
                           name=resource_name(service, "replicas"), vpc_id=vpc_id,
                           description=f"infc {service.name}: model replicas, reachable from the load balancer only")
    for listener in service.load_balancer.listeners:
        for cidr in service.load_balancer.allowed_cidrs:
            family = "cidr_ipv6" if ":" in cidr else "cidr_ipv4"
            stack.add("aws_vpc_security_group_ingress_rule", f"lb_ingress_{listener.port}_{_slug(cidr)}",
                      security_group_id=lb_sg.id, ip_protocol="tcp", from_port=listener.port, to_port=listener.port,
                      **{family: cidr}, description=f"{listener.protocol} listener {listener.port} from {cidr}")
    # The load balancer forwards to the model port and health-checks the readiness port; liveness has no EC2 check
    # (check() warns), so its port stays closed.
    for port in sorted({service.port, service.readiness.port}):
        stack.add("aws_vpc_security_group_egress_rule", f"lb_egress_{port}",
                  security_group_id=lb_sg.id, referenced_security_group_id=replica_sg.id,
                  ip_protocol="tcp", from_port=port, to_port=port, description=f"to replicas on {port}")
        stack.add("aws_vpc_security_group_ingress_rule", f"replica_ingress_{port}",
                  security_group_id=replica_sg.id, referenced_security_group_id=lb_sg.id,
                  ip_protocol="tcp", from_port=port, to_port=port, description=f"from the load balancer on {port}")
    stack.add("aws_vpc_security_group_egress_rule", "replica_egress",
              security_group_id=replica_sg.id, ip_protocol="-1", cidr_ipv4="0.0.0.0/0",
              description="image pulls and model downloads")
    return lb_sg, replica_sg


def _slug(cidr: str) -> str:
    return cidr.replace(".", "-").replace(":", "-").replace("/", "_")


def _load_balancer(stack, service: ir.Service, target: ir.Target, subnets, lb_sg):
    lb_spec = service.load_balancer
    # Options that need user input or money (targets.aws.*): each emits its arguments only when set.
    logs, acl = target.get("access_logs_bucket"), target.get("waf_acl_arn")
    lb = stack.add("aws_lb", "load_balancer", name=resource_name(service, ""),
                   load_balancer_type="application", internal=not lb_spec.public,
                   security_groups=[lb_sg.id], subnets=subnets, idle_timeout=lb_spec.idle_timeout_s,
                   drop_invalid_header_fields=True,
                   enable_deletion_protection=target.get("deletion_protection") or None,
                   access_logs={"bucket": logs, "enabled": True, "prefix": service.name} if logs else None)
    if acl:
        stack.add("aws_wafv2_web_acl_association", "waf_association", resource_arn=lb.arn, web_acl_arn=acl)
    return lb


def _target_group(stack, service: ir.Service, version: Version, vpc_id):
    """A version's target group, health-checked by the shared readiness probe."""
    lb_spec, hc = service.load_balancer, service.readiness
    return stack.add(
        "aws_lb_target_group", version.id("target_group"), name=target_group_name(service, version.variant),
        port=service.port, protocol="HTTP", target_type="instance", vpc_id=vpc_id,
        deregistration_delay=str(lb_spec.drain_timeout_s),
        health_check={"enabled": True, "protocol": "HTTP", "path": hc.path, "port": str(hc.port),
                      "interval": hc.interval_s, "timeout": hc.timeout_s, "healthy_threshold": hc.healthy_threshold,
                      "unhealthy_threshold": hc.unhealthy_threshold, "matcher": hc.success_codes},
        stickiness={"type": "lb_cookie", "enabled": lb_spec.stickiness, "cookie_duration": 86400})


# With variants, each serving listener forwards to the variants' target groups weighted by their percents (the
# provider takes weights 0-999 and at most 5 groups: hashicorp/aws internal/service/elbv2/listener.go,
# default_action.forward.target_group). With load_balancer.stickiness, target group stickiness keeps a client on the
# variant it first reached for as long as the groups' own cookie keeps it on one replica (forward.stickiness.duration,
# 1-604800 s: https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_TargetGroupStickinessConfig.html).
VARIANT_STICKINESS_S = 86400


def _listeners(stack, service: ir.Service, target: ir.Target, lb, groups: list) -> None:
    """One listener per spec listener: a redirect, or a forward to the one target group (weighted between the
    variants' target groups with variants)."""
    lb_spec = service.load_balancer
    if service.variants:
        forward = {"target_group": [{"arn": group.arn, "weight": version.weight} for version, group in groups],
                   "stickiness": {"enabled": True, "duration": VARIANT_STICKINESS_S} if lb_spec.stickiness else None}
    by_port = {x.port: x for x in lb_spec.listeners}
    for listener in lb_spec.listeners:
        if listener.redirect_to is not None:
            to = by_port[listener.redirect_to]
            action = {"type": "redirect", "redirect": {"port": str(to.port), "protocol": PROTOCOL[to.protocol],
                                                       "status_code": "HTTP_301"}}
        elif service.variants:
            action = {"type": "forward", "forward": forward}
        else:
            action = {"type": "forward", "target_group_arn": groups[0][1].arn}
        https = listener.protocol == "https"
        stack.add("aws_lb_listener", f"listener_{listener.port}", load_balancer_arn=lb.arn,
                  port=listener.port, protocol=PROTOCOL[listener.protocol], default_action=[action],
                  certificate_arn=target.get("certificate") if https else None,
                  ssl_policy=TLS_POLICY if https else None)


def mixed_instances(service: ir.Service, target: ir.Target) -> bool:
    """Whether the group takes a mixed instances policy: several types (capacity fallback) or an on-demand base."""
    return bool(target.fallback) or service.on_demand_base is not None


def launch_templates(service: ir.Service, target: ir.Target) -> dict[tuple[str, ...] | None, tuple[str, ir.Machine]]:
    """One launch template per set of arguments the replicas run with: model.args (key None, the template
    `launch_template`, as without fallback) and each different hardware.alternatives[i].args, named after the first
    accelerator that uses it. Values: (the resource id's suffix, the first machine that uses it)."""
    found: dict[tuple[str, ...] | None, tuple[str, ir.Machine]] = {None: ("", target.machine)}
    for machine in target.fallback:
        key = None if machine.args in (None, service.args) else machine.args
        found.setdefault(key, (f"{machine.accelerator}-x{machine.accelerator_count}", machine))
    return found


def _launch_template(stack, version: Version, image, replica_sg, profile, template, mixed: bool):
    suffix, machine = template
    service, target = on_machine(version.service, machine), version.target
    tags = {**dict(service.labels), "Name": version.name("")}
    # Replica subnets of their own route out through a NAT: no public IP. The security group then moves to the
    # interface, as EC2 takes groups on the template or on its interfaces, not both (provider doc:
    # vpc_security_group_ids "Conflicts with network_interfaces.security_groups").
    private = bool(target.get("replica_subnet_ids"))
    return stack.add(
        "aws_launch_template", version.id("launch_template" + (f"_{suffix.replace('-', '_')}" if suffix else "")),
        name=version.name(suffix), image_id=image.id, instance_type=machine.instance_type,
        user_data=base64.b64encode(startup.cloud_init(service, target).encode()).decode(),
        vpc_security_group_ids=None if private else [replica_sg.id], update_default_version=True,
        network_interfaces=[{"device_index": 0, "associate_public_ip_address": "false",
                             "security_groups": [replica_sg.id], "delete_on_termination": "true"}] if private else None,
        iam_instance_profile={"arn": profile.arn},
        # IMDSv2 only; hop limit 2 so the container (bridge network: one hop more) reaches credentials.
        metadata_options={"http_endpoint": "enabled", "http_tokens": "required", "http_put_response_hop_limit": 2},
        block_device_mappings=[{"device_name": image.root_device_name, "ebs": {
            "volume_size": service.disk_gib, "volume_type": "gp3", "encrypted": "true",
            "delete_on_termination": "true"}}],
        # A mixed instances policy buys spot through its instances distribution; its launch templates must not ask
        # for spot themselves (https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-mixed-instances-groups.html).
        instance_market_options={"market_type": "spot"} if service.spot and not mixed else None,
        tag_specifications=[{"resource_type": kind, "tags": tags} for kind in ("instance", "volume")])


def _image_key(version: Version) -> tuple[str, str] | None:
    """Which machine image a version's replicas boot: None for targets.aws.image, else the default image's key in
    IMAGES."""
    if version.target.get("image"):
        return None
    return ("gpu" if version.service.accelerator_count else "cpu", version.service.arch)


def _images(stack, found: tuple[Version, ...]) -> dict:
    """The AMIs as data sources, by _image_key: the given id, or the newest default image (also gives the root device
    name). One is `image`; variants on hardware that needs another (CPU and GPU, or another arch) get one per key."""
    keys = sorted({_image_key(version) for version in found}, key=str)
    out = {}
    for key in keys:
        name = "image" if len(keys) == 1 else "image_" + "_".join(key)
        if key is None:
            given = found[0].target.get("image")
            out[key] = stack.data("aws_ami", name, most_recent=True, filter=[{"name": "image-id", "values": [given]}])
        else:
            owner, pattern = IMAGES[key]
            out[key] = stack.data("aws_ami", name, most_recent=True, owners=[owner],
                                  filter=[{"name": "name", "values": [pattern]},
                                          {"name": "state", "values": ["available"]}])
    return out


def _instance_profile(stack, service: ir.Service, own, found: tuple[Version, ...]):
    """A role for the replicas of every version, which may read (only) the models' S3 prefixes and their secrets,
    and pull from the ECR repositories of their images and from `own` (infc's repository, or None): the instance
    profile, and the grants the replicas need from their first boot."""
    assume = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                       "Principal": {"Service": "ec2.amazonaws.com"}}]}
    role = stack.add("aws_iam_role", "replica_role", name=resource_name(service, "replica"),
                     assume_role_policy=json.dumps(assume, sort_keys=True),
                     description=f"infc {service.name}: model replicas")
    grants = []
    targets = [version.target for version in found]
    policy = model_read_policy(stack, targets[0], also=targets[1:])
    if policy:
        grants.append(stack.add("aws_iam_role_policy", "model_read", name="model-read", role=role.id,
                                policy=stack.json(policy)))
    refs = [delivery.aws_secret(s.ref) for target in targets for s in target.secrets]
    if refs:
        # Each secret by its exact ARN: GetSecretValue for Secrets Manager, GetParameter for Parameter Store
        # (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awssecretsmanager.html,
        # .../list_awssystemsmanager.html). A customer-managed KMS key must also let the role decrypt (key policy).
        statements = [{"Effect": "Allow", "Action": action, "Resource": sorted({r.arn for r in refs if r.service == kind})}
                      for kind, action in (("secretsmanager", "secretsmanager:GetSecretValue"),
                                           ("ssm", "ssm:GetParameter")) if any(r.service == kind for r in refs)]
        grants.append(stack.add(
            "aws_iam_role_policy", "secrets_read", name="secrets-read", role=role.id,
            policy=json.dumps({"Version": "2012-10-17", "Statement": statements}, sort_keys=True)))
    pull = registry.pull_policy([version.service.image for version in found], own)
    if pull:
        grants.append(stack.add("aws_iam_role_policy", "image_pull", name="image-pull", role=role.id,
                                policy=stack.json(pull)))
    profile = stack.add("aws_iam_instance_profile", "replica_profile",
                        name=resource_name(service, "replica"), role=role.name)
    return profile, grants


def model_read_policy(stack, target: ir.Target, partition=None, *, also: Sequence[ir.Target] = ()) -> dict | None:
    """With an s3:// model URI for `target` (or for any of `also`: the other variants' targets), an IAM policy that may
    read (only) those prefixes; None otherwise. `partition`: the stack's aws_partition reference, if it has one
    already."""
    sources = []
    for one in (target, *also):
        found = delivery.source(one.model_uri)
        if found is not None and found.scheme == "s3" and (found.store, found.path) not in sources:
            sources.append((found.store, found.path))
    if not sources:
        return None
    partition = partition or stack.data("aws_partition", "partition").partition
    statements = []
    for bucket, prefix in sources:
        arn = stack.fmt("arn:{}:s3:::{}", partition, bucket)
        # KServe's download calls HeadBucket, which S3 authorizes as s3:ListBucket without a prefix: IfExists lets it
        # through, and listings that name a prefix must name this one
        # (https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadBucket.html).
        statements += [
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": stack.fmt("{}/{}*", arn, prefix)},
            {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": arn,
             "Condition": {"StringLikeIfExists": {"s3:prefix": [f"{prefix}*"]}}},
        ]
    return {"Version": "2012-10-17", "Statement": statements}


def _autoscaling_group(stack, version: Version, templates: dict, group, subnets, grants):
    service, target = version.service, version.target
    tags = {**dict(service.labels), "Name": version.name("")}
    template = templates[None]
    mixed = _mixed_instances_policy(service, target, templates) if mixed_instances(service, target) else None
    return stack.add(
        "aws_autoscaling_group", version.id("autoscaling_group"), name=version.name(""),
        min_size=service.min_replicas, max_size=service.max_replicas, vpc_zone_identifier=subnets,
        target_group_arns=[group.arn], health_check_type="ELB", health_check_grace_period=service.initial_delay_s,
        default_instance_warmup=service.autoscale.scale_out_delay_s if service.autoscale else None,
        # The version number, not "$Latest": a new version then changes the group and starts the rolling refresh
        # ("A refresh will not start when version = \"$Latest\"", aws provider docs, autoscaling_group).
        launch_template=None if mixed else {"id": template.id, "version": template.latest_version},
        mixed_instances_policy=mixed,
        # With spot, launch a replacement when EC2 signals a spot instance at elevated risk of interruption.
        capacity_rebalance=True if mixed and service.spot else None,
        instance_refresh={"strategy": "Rolling"},
        tag=[{"key": key, "value": value, "propagate_at_launch": True} for key, value in sorted(tags.items())],
        depends_on=grants)  # replicas read the model and their secrets on first boot


def _mixed_instances_policy(service: ir.Service, target: ir.Target, templates: dict) -> dict:
    """Every type of the capacity fallback as an override, in order of preference, each with the launch template of
    its arguments; on-demand capacity takes the overrides in that order (prioritized), spot capacity the pools
    least likely to be interrupted at the lowest price (price-capacity-optimized), above `on_demand_base` on-demand
    replicas (https://docs.aws.amazon.com/autoscaling/ec2/userguide/allocation-strategies.html)."""
    def spec(template) -> dict:
        return {"launch_template_id": template.id, "version": template.latest_version}

    overrides = []
    for machine in target.machines:
        key = None if machine.args in (None, service.args) else machine.args
        overrides.append({"instance_type": machine.instance_type,
                          "launch_template_specification": spec(templates[key]) if key is not None else None})
    return {
        "instances_distribution": {
            "on_demand_allocation_strategy": "prioritized",
            "on_demand_base_capacity": service.on_demand_base or 0,
            "on_demand_percentage_above_base_capacity": 0 if service.spot else 100,
            "spot_allocation_strategy": "price-capacity-optimized" if service.spot else None},
        "launch_template": {"launch_template_specification": spec(templates[None]), "override": overrides}}


def _scaling_policy(stack, version: Version, asg, lb, group) -> None:
    """Target tracking of a version's group; requests are counted per target of its own target group."""
    auto = version.service.autoscale
    label = stack.fmt("{}/{}", lb.arn_suffix, group.arn_suffix) if auto.metric == "requests_per_replica" else None
    stack.add("aws_autoscaling_policy", version.id("scaling_policy"),
              name=version.name(auto.metric.replace("_", "-")), autoscaling_group_name=asg.name,
              policy_type="TargetTrackingScaling", estimated_instance_warmup=auto.scale_out_delay_s,
              target_tracking_configuration={
                  "target_value": auto.target * METRIC_SCALE[auto.metric],
                  "predefined_metric_specification": {"predefined_metric_type": METRIC[auto.metric],
                                                      "resource_label": label}})


# Scale to zero (replicas.min 0; docs/targets/aws.md "Scale to zero"). With no replica the target group has no
# registered target, so the load balancer answers every request itself with 503 and counts it in
# HTTPCode_ELB_503_Count; RequestCount counts only requests for which it could choose a target, and neither is
# published while no request arrives (_ALB_METRICS_DOC). Target tracking cannot leave zero (its metric has no data
# there) and never takes the group to zero itself (it sets ceil(replicas x metric / target), at least 1 while any
# request reaches a replica, and does nothing without data), so two alarms drive the edges: 503s start one replica,
# an idle period stops the last.
_ALB_METRICS_DOC = "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-cloudwatch-metrics.html"
_SIMPLE_SCALING_DOC = "https://docs.aws.amazon.com/autoscaling/ec2/userguide/as-scaling-simple-step.html"
ALARM_PERIOD_S = 60  # ALB metrics are published per minute


def _alb_metric(lb, name: str) -> dict:
    return {"namespace": "AWS/ApplicationELB", "metric_name": name, "dimensions": {"LoadBalancer": lb.arn_suffix},
            "period": ALARM_PERIOD_S, "stat": "Sum"}


def _scale_to_zero(stack, service: ir.Service, asg, lb) -> None:
    """A replica started by the load balancer's 503s, and the group set to zero after scale_to_zero_after without a
    request. After a simple scaling activity the group waits out that policy's cooldown before any simple scaling
    again (_SIMPLE_SCALING_DOC): one replica per probes.readiness.initial_delay, the time a replica gets to boot,
    while 503s go on; none after a stop, so the next request starts a replica at once."""
    start = stack.add("aws_autoscaling_policy", "start_policy", name=resource_name(service, "start"),
                      autoscaling_group_name=asg.name, policy_type="SimpleScaling",
                      adjustment_type="ChangeInCapacity", scaling_adjustment=1, cooldown=service.initial_delay_s)
    stack.add("aws_cloudwatch_metric_alarm", "start_alarm", alarm_name=resource_name(service, "requests-refused"),
              alarm_description="Requests the load balancer answered with 503 (no replica registered): start one",
              namespace="AWS/ApplicationELB", metric_name="HTTPCode_ELB_503_Count",
              dimensions={"LoadBalancer": lb.arn_suffix}, statistic="Sum", period=ALARM_PERIOD_S,
              evaluation_periods=1, comparison_operator="GreaterThanThreshold", threshold=0,
              treat_missing_data="notBreaching",  # no data: no 503 in that minute
              alarm_actions=[start.arn])
    stop = stack.add("aws_autoscaling_policy", "stop_policy", name=resource_name(service, "stop"),
                     autoscaling_group_name=asg.name, policy_type="SimpleScaling",
                     adjustment_type="ExactCapacity", scaling_adjustment=0,
                     cooldown=0)  # not the group's default 300 s: that would hold off the next start as long
    minutes = service.autoscale.scale_to_zero_after_s // ALARM_PERIOD_S
    stack.add("aws_cloudwatch_metric_alarm", "idle_alarm", alarm_name=resource_name(service, "idle"),
              alarm_description="No request (served or refused) for replicas.autoscale.scale_to_zero_after: stop "
                                "every replica",
              evaluation_periods=minutes, datapoints_to_alarm=minutes,
              comparison_operator="LessThanOrEqualToThreshold", threshold=0,
              # The load balancer publishes nothing while no request arrives, so a minute without data is idle.
              treat_missing_data="breaching",
              metric_query=[
                  {"id": "requests", "expression": "FILL(served, 0) + FILL(refused, 0)",
                   "label": "Requests per minute", "return_data": True},
                  {"id": "served", "metric": [_alb_metric(lb, "RequestCount")], "return_data": False},
                  {"id": "refused", "metric": [_alb_metric(lb, "HTTPCode_ELB_503_Count")], "return_data": False}],
              alarm_actions=[stop.arn])
