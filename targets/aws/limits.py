"""AWS target: what an EC2 autoscaling group behind an Application Load Balancer can express (no CDK)."""

from __future__ import annotations

from compiler import ir, values
from compiler.errors import Diagnostic
from targets import delivery, startup
from targets.aws import registry, resources
from targets.base import Limit, check_limits, error, label_errors, on_machine, unpulled_image, warning

_TG_DOC = "https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateTargetGroup.html"
_LB_DOC = "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/edit-load-balancer-attributes.html"
_TG_ATTR_DOC = "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/edit-target-group-attributes.html"
_TT_DOC = "https://docs.aws.amazon.com/autoscaling/ec2/userguide/target-tracking-scaling-policy-overview.html"
_WAF_DOC = "https://docs.aws.amazon.com/waf/latest/developerguide/web-acl-associating-aws-resource.html"
_USER_DATA_DOC = "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instancedata-add-user-data.html"
# "User data is limited to 16 KB, in raw form, before it is base64-encoded" (_USER_DATA_DOC).
USER_DATA_MAX = 16 * 1024
_S3_NAMES_DOC = "https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html"
_IAM_VARIABLES_DOC = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html"
_OVERRIDES_DOC = "https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_LaunchTemplateOverrides.html"
# "The maximum number of instance types that can be associated with an Auto Scaling group is 40. The maximum number
# of distinct launch templates you can define for an Auto Scaling group is 20." (_OVERRIDES_DOC)
MAX_TYPES, MAX_TEMPLATES = 40, 20
_PARTITIONS_DOC = "https://docs.aws.amazon.com/whitepapers/latest/aws-fault-isolation-boundaries/partitions.html"
_CROSS_ACCOUNT_DOC = "https://docs.aws.amazon.com/AmazonECR/latest/userguide/repository-policy-examples.html"
# Tags infc sets itself on the instances, their volumes and the autoscaling group.
RESERVED_TAGS = ("Name",)

LIMITS = (
    Limit("probes.readiness.interval", lambda s: s.readiness.interval_s, 5, 300,
          "an ALB target group health-check interval", _TG_DOC, "s"),
    Limit("probes.readiness.timeout", lambda s: s.readiness.timeout_s, 2, 120,
          "an ALB target group health-check timeout", _TG_DOC, "s"),
    Limit("probes.readiness.healthy_threshold", lambda s: s.readiness.healthy_threshold, 2, 10,
          "an ALB healthy threshold", _TG_DOC),
    Limit("probes.readiness.unhealthy_threshold", lambda s: s.readiness.unhealthy_threshold, 2, 10,
          "an ALB unhealthy threshold", _TG_DOC),
    Limit("load_balancer.idle_timeout", lambda s: s.load_balancer.idle_timeout_s, 1, 4000,
          "an ALB idle timeout", _LB_DOC, "s"),
    Limit("load_balancer.drain_timeout", lambda s: s.load_balancer.drain_timeout_s, 0, 3600,
          "a target group deregistration delay", _TG_ATTR_DOC, "s"),
    # Target tracking scales in only after 15 one-minute datapoints below target: a shorter delay is
    # honoured as a lower bound, a longer one cannot be expressed.
    Limit("replicas.autoscale.scale_in_delay", lambda s: s.autoscale.scale_in_delay_s if s.autoscale else None,
          0, 900, "the scale-in delay of an EC2 target-tracking policy", _TT_DOC, "s"),
)

# ALB health-check matchers accept HTTP codes 200-499 only (API_Matcher.html).
_MATCHER_RANGE = (200, 499)

# replicas.autoscale.scale_to_zero_after is the idle alarm's count of one-minute periods (targets/aws/resources.py),
# and "EvaluationPeriods multiplied by Period cannot be more than 86,400 seconds" (_ALARM_DOC).
_ALARM_DOC = "https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html"
IDLE_RANGE_S = (60, 86400)


def check(service: ir.Service, target: ir.Target) -> list[Diagnostic]:
    """Everything this target cannot express, as errors naming field and range. No CDK needed."""
    out = check_limits("aws", service, LIMITS)
    out += _check_variants(service)
    out += _check_scale_to_zero(service)
    for part in service.readiness.success_codes.replace("-", ",").split(","):
        if not _MATCHER_RANGE[0] <= int(part) <= _MATCHER_RANGE[1]:
            out.append(error("aws", "probes.readiness.success_codes",
                             f"probes.readiness.success_codes has {part}; an ALB health check accepts codes "
                             f"{_MATCHER_RANGE[0]}-{_MATCHER_RANGE[1]} (see {_TG_DOC})"))
            break
    out += _check_placement(target)
    out += check_model_uri("aws", target)
    out += delivery.check("aws", service, target)
    out += unpulled_image("aws", service, "the replicas", cloud="aws")
    out += check_image_pull(service, target)
    out += label_errors("aws", values.aws_tag_problems(list(service.labels), RESERVED_TAGS))
    out += startup.check_size("aws", service, "cloud-init user data", startup.cloud_init(service, target),
                              USER_DATA_MAX, _USER_DATA_DOC)
    out += _check_fallback(service, target)
    if service.liveness:
        out.append(warning("aws", "probes.liveness",
                           "probes.liveness has no separate check on EC2: the autoscaling group replaces "
                           "replicas that fail the readiness check (health_check_type ELB)"))
    return out


# "The name of the target group ... can have a maximum of 32 characters" (_TG_DOC, Name).
TARGET_GROUP_NAME_MAX = 32
# An ALB forward action takes at most 5 target groups (load-balancer-limits.html, "Target groups per action"), each
# weighted 0-999 (API_TargetGroupTuple.html; hashicorp/aws 5.100.0 internal/service/elbv2/listener.go:
# forward.target_group MaxItems 5, weight IntBetween(0, 999)). The spec's at most five variants weighted 0-100 always
# fit: tests/targets/test_aws_variants.py pins the spec's bounds to these.
MAX_FORWARD_GROUPS, WEIGHT_RANGE = 5, (0, 999)
_METRICS_DOC = "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-cloudwatch-metrics.html"


def _check_variants(service: ir.Service) -> list[Diagnostic]:
    """Variants as the ALB splits requests between them, each with a target group of its own: its name fits, and no
    variant scales to zero."""
    out = []
    for index, variant in enumerate(service.variants):
        name = resources.target_group_name(service, variant.name)
        over = len(name) - TARGET_GROUP_NAME_MAX
        if over > 0:
            out.append(error("aws", f"variants.{index}.name",
                             f"variants[{index}].name: variant {variant.name}'s target group would be named '{name}', "
                             f"{len(name)} characters; a target group name has at most {TARGET_GROUP_NAME_MAX} (see "
                             f"{_TG_DOC}): shorten metadata.name or the variant's name by {over} "
                             f"character{'s' * (over > 1)} in all"))
    # Where a variant's replicas.min 0 comes from: the shared section, unless the variant sets replicas of its own.
    zero: dict[tuple[str, str], list[str]] = {}
    shared = (service.min_replicas, service.max_replicas, service.autoscale)
    for index, variant in enumerate(service.variants):
        one = variant.service
        if one.min_replicas == 0:
            where = (("replicas.min", "replicas.min") if (0, one.max_replicas, one.autoscale) == shared
                     else (f"variants.{index}.replicas.min", f"variants[{index}].replicas.min"))
            zero.setdefault(where, []).append(variant.name)
    for (path, shown), names in zero.items():
        out.append(error("aws", path,
                         f"{shown} is 0 for variant {', '.join(names)}; a variant cannot scale to zero on aws: a "
                         "replica starts on the load balancer's 503s, and HTTPCode_ELB_503_Count is published per "
                         "load balancer, not per target group, so it cannot tell which variant has no replica (see "
                         f"{_METRICS_DOC}); use replicas.min 1 or more with variants"))
    return out


def _check_scale_to_zero(service: ir.Service) -> list[Diagnostic]:
    """replicas.min 0: the idle period in whole minutes within the alarm's range, and the cold start as a warning."""
    if service.min_replicas != 0 or service.autoscale is None:
        return []
    path, idle = "replicas.autoscale.scale_to_zero_after", service.autoscale.scale_to_zero_after_s
    low, high = IDLE_RANGE_S
    if idle % 60 or not low <= idle <= high:
        return [error("aws", path, f"{path} is {idle}s; the idle alarm counts whole minutes, so it must be a "
                                   f"multiple of 60s within {low}-{high}s (see {_ALARM_DOC})")]
    out = [warning("aws", "replicas.min",
                   f"replicas.min: 0 scales to zero: after {idle}s without a request the group stops its last "
                   "replica; the next requests get 503 from the load balancer and start one, which serves only once "
                   "it has booted, pulled the image and the model and passed its readiness check (minutes for a GPU "
                   "replica): clients must retry until then")]
    if idle < service.initial_delay_s:
        out.append(warning("aws", path,
                           f"{path} ({idle}s) is shorter than probes.readiness.initial_delay "
                           f"({service.initial_delay_s}s): a replica started by one request may be stopped before "
                           "it is ready, unless requests keep coming"))
    return out


def check_model_uri(name: str, target: ir.Target) -> list[Diagnostic]:
    """An s3:// model URI becomes the replicas' read grant (an IAM policy of target `name`): its prefix must be
    literal, since '*' and '?' are IAM wildcards and ${...} a policy variable: s3://b/* would grant every key
    (_IAM_VARIABLES_DOC).
    The bucket name's grammar is the spec's (compiler/values.py); '..' is not a bucket name either (_S3_NAMES_DOC)."""
    found = delivery.source(target.model_uri)
    if found is None or found.scheme != "s3":
        return []
    path = f"targets.{name}.model_uri" if target.get("model_uri") else "model.uri"
    if ".." in found.store:
        return [error(name, path, f"{path} names the S3 bucket '{found.store}', which is not a bucket name "
                                  f"(3-63 lowercase letters, digits, '.' and '-'; see {_S3_NAMES_DOC})")]
    wild = next((c for c in "*?$" if c in found.path), None)
    if wild:
        return [error(name, path, f"{path} has '{wild}' in its key prefix; the replicas' read grant names the "
                                  f"prefix in an IAM policy, where '*' and '?' are wildcards and ${{...}} a policy "
                                  f"variable (see {_IAM_VARIABLES_DOC})")]
    return []


def check_image_pull(service: ir.Service, target: ir.Target) -> list[Diagnostic]:
    """An ECR image: the replicas' role may pull from its repository, which IAM allows only within one partition; a
    repository of another account must also allow this one in its repository policy, which infc cannot see."""
    found = registry.ecr_image(service.image)
    if found is None:
        return []
    region = str(target.get("region"))
    if found.partition != registry.partition(region):
        return [error("aws", "model.image",
                      f"model.image is in Amazon ECR in the {found.partition} partition ({found.host}), but the stack "
                      f"deploys to {region}, in {registry.partition(region)}: IAM grants no access across partitions "
                      f"(see {_PARTITIONS_DOC}); copy the image to ECR in {registry.partition(region)}")]
    return [warning("aws", "model.image",
                    f"model.image is in the ECR registry of account {found.account}: the replicas' role may pull from "
                    f"its repository {found.repository}; unless the stack deploys to account {found.account}, that "
                    "repository's policy must also allow this account to pull (see "
                    f"{_CROSS_ACCOUNT_DOC})")]


def _check_placement(target: ir.Target) -> list[Diagnostic]:
    """Settings that only make sense together: replica subnets with the VPC and load balancer subnets they share;
    a web ACL in the stack's region."""
    out = []
    missing = [key for key in ("vpc_id", "subnet_ids") if not target.get(key)]
    if target.get("replica_subnet_ids") and missing:
        out.append(error("aws", "targets.aws.replica_subnet_ids",
                         f"targets.aws.replica_subnet_ids needs {' and '.join(missing)} as well: the security groups "
                         "and target group must be in the replicas' VPC, and the load balancer needs its own subnets "
                         "there (the default lookup would take the replicas' subnets, or the default VPC's)"))
    acl = target.get("waf_acl_arn")
    if acl and acl.split(":")[3] != target.get("region"):
        out.append(error("aws", "targets.aws.waf_acl_arn",
                         f"targets.aws.waf_acl_arn is a web ACL in {acl.split(':')[3]}; a load balancer in "
                         f"{target.get('region')} can only use a regional web ACL of its own region (see {_WAF_DOC})"))
    return out



def _check_fallback(service: ir.Service, target: ir.Target) -> list[Diagnostic]:
    """The capacity fallback as a mixed instances policy: at most MAX_TYPES overrides and MAX_TEMPLATES launch
    templates (one per set of arguments), each template's user data within USER_DATA_MAX. Never truncated."""
    out = []
    if len(target.machines) > MAX_TYPES:
        out.append(error("aws", "hardware.flexible" if service.flexible else "hardware.instance_types.aws",
                         f"the capacity fallback has {len(target.machines)} instance types; an autoscaling group "
                         f"takes at most {MAX_TYPES} (see {_OVERRIDES_DOC}): narrow it with hardware.cpus, "
                         "hardware.memory_gib or fewer hardware.alternatives, or list the types in "
                         "hardware.instance_types.aws"))
    found = resources.launch_templates(service, target)
    if len(found) > MAX_TEMPLATES:
        out.append(error("aws", "hardware.alternatives",
                         f"hardware.alternatives need {len(found)} launch templates (one per set of args); an "
                         f"autoscaling group takes at most {MAX_TEMPLATES} (see {_OVERRIDES_DOC})"))
    for key, (_, machine) in found.items():
        if key is not None:
            out += startup.check_size("aws", service, f"cloud-init user data on {machine.accelerator}",
                                      startup.cloud_init(on_machine(service, machine), target), USER_DATA_MAX,
                                      _USER_DATA_DOC)
    return out
