"""compiler/provider_check: each kind of violation is caught on hand-made bodies, against the committed schemas."""

from __future__ import annotations

import copy
import json
import pathlib
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler import provider_rules
from compiler.provider_check import Violation, admits, check_document, has_attribute, known_types
from fuzz.specgen import specs
from tests.conftest import synth_documents

AWS5, AWS6 = "hashicorp/aws 5.100.0", "hashicorp/aws 6.69.1"
BOTH = f"{AWS5}, {AWS6}"
K8S, GOOGLE, TLS, AZAPI = "hashicorp/kubernetes 3.4.0", "hashicorp/google 8.7.0", "hashicorp/tls 4.4.1", \
    "Azure/azapi 2.13.0"
RANGES = {"aws": ("hashicorp/aws", ">= 5.100.0, < 7.0.0"), "google": ("hashicorp/google", ">= 8.7.0, < 9.0.0"),
          "kubernetes": ("hashicorp/kubernetes", ">= 3.0.0, < 4.0.0"), "tls": ("hashicorp/tls", ">= 4.4.1, < 5.0.0"),
          "azapi": ("Azure/azapi", ">= 2.13.0, < 3.0.0")}

# A small valid document per provider; each test damages one thing in a copy.
BASE = {
    "terraform": {"required_providers": {k: {"source": s, "version": v} for k, (s, v) in RANGES.items()}},
    "provider": {"aws": [{"region": "us-east-1", "default_tags": [{"tags": {"team": "ml"}}]}],
                 "google": [{"project": "p", "region": "us-central1"}], "kubernetes": [{}], "tls": [{}],
                 "azapi": [{}]},
    "data": {"aws_vpc": {"default_vpc": {"default": True}}},
    "resource": {
        "aws_lb_target_group": {"tg": {
            "//": {"metadata": {"path": "svc-aws/tg", "uniqueId": "tg"}},
            "name": "svc-tg", "port": 8000, "protocol": "HTTP", "vpc_id": "${data.aws_vpc.default_vpc.id}",
            "deregistration_delay": "60",
            "health_check": {"enabled": True, "interval": 30, "path": "/health", "port": "8000", "matcher": "200"},
            "tags": {"team": "ml"}}},
        "aws_lb": {"lb": {"name": "svc", "internal": False, "load_balancer_type": "application",
                          "subnets": ["subnet-1", "subnet-2"], "security_groups": ["sg-1"]}},
        "aws_lb_listener": {"http": {"load_balancer_arn": "${aws_lb.lb.arn}", "port": 80, "protocol": "HTTP",
                                     "default_action": [{"type": "forward",
                                                         "target_group_arn": "${aws_lb_target_group.tg.arn}"}]}},
        "aws_iam_role": {"role": {"name": "svc", "assume_role_policy": "{}"}},
        "kubernetes_namespace_v1": {"ns": {"metadata": {"name": "svc"}}},
        "kubernetes_deployment_v1": {"dep": {
            "metadata": {"name": "svc", "namespace": "${kubernetes_namespace_v1.ns.metadata[0].name}"},
            "spec": {"replicas": "1", "selector": {"match_labels": {"app": "svc"}},
                     "template": {"metadata": {"labels": {"app": "svc"}},
                                  "spec": {"container": [{"name": "model", "image": "vllm/vllm-openai:v1",
                                                          "port": [{"container_port": 8000}]}]}}}}},
        "google_compute_firewall": {"fw": {"name": "svc", "network": "default",
                                           "allow": [{"protocol": "tcp", "ports": ["8000"]}]}},
        "tls_private_key": {"key": {"algorithm": "RSA", "rsa_bits": 4096}},
        "azapi_resource": {"ws": {"type": "Microsoft.MachineLearningServices/workspaces@2024-04-01",
                                  "name": "svc", "parent_id": "/subscriptions/x", "body": {"properties": {}}}},
    },
    "output": {"url": {"value": "${aws_lb.lb.dns_name}"}},
}


def damaged(edit) -> list[Violation]:
    doc = copy.deepcopy(BASE)
    edit(doc)
    return check_document(doc)


def res(doc: dict, type_name: str, name: str) -> dict:
    return doc["resource"][type_name][name]


def test_the_base_document_is_valid():
    assert check_document(BASE) == []


def expect(found: list[Violation], address: str, path: str, message: str, schema: str) -> None:
    """Exactly one violation, naming these four things (message: a substring)."""
    assert len(found) == 1, "\n".join(map(str, found))
    v = found[0]
    assert (v.address, v.path, v.schema) == (address, path, schema), str(v)
    assert message in v.message, str(v)
    assert str(v).startswith(f"{address}.{path}:" if path else f"{address}:") and schema in str(v)


# --- unknown attributes and blocks -----------------------------------------------------------------------------------

@pytest.mark.parametrize("edit, address, path, message, schema", [
    (lambda d: res(d, "aws_lb_target_group", "tg").update(nmae="x"), "aws_lb_target_group.tg", "nmae",
     "unknown attribute or block 'nmae' (did you mean 'name'?)", BOTH),
    (lambda d: res(d, "aws_lb_target_group", "tg")["health_check"].update(intervall=5), "aws_lb_target_group.tg",
     "health_check.intervall", "did you mean 'interval'?", BOTH),
    # region is an argument of every AWS resource only since provider 6.0: output must work with 5.100.0 too
    (lambda d: res(d, "aws_lb", "lb").update(region="us-east-1"), "aws_lb.lb", "region",
     "unknown attribute or block 'region'", AWS5),
    (lambda d: res(d, "kubernetes_deployment_v1", "dep")["spec"]["template"]["spec"]["container"][0].update(
        imagee="x"), "kubernetes_deployment_v1.dep", "spec.template.spec.container[0].imagee",
     "did you mean 'image'?", K8S),
    (lambda d: d["data"]["aws_vpc"]["default_vpc"].update(defualt=True), "data.aws_vpc.default_vpc", "defualt",
     "unknown attribute or block 'defualt'", BOTH),
    (lambda d: d["provider"]["aws"][0].update(regoin="x"), "provider.aws", "regoin", "did you mean 'region'?",
     BOTH),
    (lambda d: d["resource"].update(aws_lbb={"x": {}}), "aws_lbb.x", "",
     "resource type 'aws_lbb' is not in the committed schema (did you mean 'aws_lb'?)", BOTH),
    (lambda d: res(d, "google_compute_firewall", "fw")["allow"][0].update(port=["80"]), "google_compute_firewall.fw",
     "allow[0].port", "did you mean 'ports'?", GOOGLE),
    # a data source takes no provisioner
    (lambda d: d["data"]["aws_vpc"]["default_vpc"].update(provisioner=[]), "data.aws_vpc.default_vpc",
     "provisioner", "unknown attribute or block 'provisioner'", BOTH),
])
def test_unknown_attribute_or_block(edit, address, path, message, schema):
    expect(damaged(edit), address, path, message, schema)


def test_a_provider_without_a_committed_schema_is_reported():
    def edit(d):
        d["terraform"]["required_providers"]["random"] = {"source": "hashicorp/random", "version": ">= 3.0.0"}
        d["resource"].update(random_id={"x": {"byte_length": 4}})

    expect(damaged(edit), "random_id.x", "", "no committed schema for provider 'random'", "Terraform configuration")


def test_a_resource_whose_provider_is_not_declared_is_reported():
    """What CDK Terrain's App validation refused when each resource was its own element: without an entry in
    required_providers Terraform would take hashicorp/<name> at its newest version, a range infc never checked."""
    found = damaged(lambda d: d["terraform"]["required_providers"].pop("tls"))
    expect(found, "tls_private_key.key", "", "its provider 'tls' is not in terraform.required_providers",
           "Terraform configuration")


# --- missing required attributes and blocks --------------------------------------------------------------------------

@pytest.mark.parametrize("edit, address, path, message, schema", [
    (lambda d: res(d, "aws_iam_role", "role").pop("assume_role_policy"), "aws_iam_role.role", "",
     "missing required attribute 'assume_role_policy'", BOTH),
    (lambda d: res(d, "aws_lb_listener", "http")["default_action"][0].pop("type"), "aws_lb_listener.http",
     "default_action[0]", "missing required attribute 'type'", BOTH),
    (lambda d: res(d, "google_compute_firewall", "fw").update(network=None), "google_compute_firewall.fw", "",
     "missing required attribute 'network'", GOOGLE),
    (lambda d: res(d, "tls_private_key", "key").pop("algorithm"), "tls_private_key.key", "",
     "missing required attribute 'algorithm'", TLS),
    (lambda d: res(d, "aws_lb_listener", "http").pop("default_action"), "aws_lb_listener.http", "",
     "missing required block 'default_action' (at least 1)", BOTH),
    (lambda d: res(d, "kubernetes_deployment_v1", "dep").pop("spec"), "kubernetes_deployment_v1.dep", "",
     "missing required block 'spec'", K8S),
    (lambda d: res(d, "kubernetes_deployment_v1", "dep")["spec"]["template"]["spec"]["container"][0]["port"][0].pop(
        "container_port"), "kubernetes_deployment_v1.dep", "spec.template.spec.container[0].port[0]",
     "missing required attribute 'container_port'", K8S),
])
def test_missing_required(edit, address, path, message, schema):
    expect(damaged(edit), address, path, message, schema)


# --- wrong types, by cty's conversion rules --------------------------------------------------------------------------

@pytest.mark.parametrize("attribute, value", [
    ("port", "eighty"), ("port", True), ("port", [80]), ("port", {"n": 80}), ("port", "80 "),
    ("proxy_protocol_v2", "yes"), ("proxy_protocol_v2", 1), ("proxy_protocol_v2", "True"),
    ("name", ["svc"]), ("name", {"a": "b"}),
    ("tags", ["team"]), ("tags", "team=ml"), ("tags", {"team": ["ml"]}),
])
def test_wrong_type(attribute, value):
    found = damaged(lambda d: res(d, "aws_lb_target_group", "tg").update({attribute: value}))
    assert [(v.address, v.path.split(".")[0], v.schema) for v in found] == [("aws_lb_target_group.tg", attribute,
                                                                               BOTH)], found
    assert "required, got" in found[0].message


@pytest.mark.parametrize("attribute, value", [
    ("port", "8080"), ("port", 8080.0), ("port", "1e3"), ("port", "-1"),  # a numeric string converts to a number
    ("proxy_protocol_v2", "true"), ("proxy_protocol_v2", "false"), ("proxy_protocol_v2", "1"),  # and bools
    ("name", 5), ("name", True), ("tags", {"n": 1, "b": False}),  # numbers and bools convert to strings
    ("port", "${var.port}"), ("tags", "${local.tags}"), ("tags", None),  # one `${...}`: any type; null: unset
    ("proxy_protocol_v2", "${var.a}-${var.b}"),  # a template is a string, converted at plan
])
def test_values_cty_converts_are_accepted(attribute, value):
    assert damaged(lambda d: res(d, "aws_lb_target_group", "tg").update({attribute: value})) == []


def test_a_template_string_is_a_string_not_a_list():
    found = damaged(lambda d: res(d, "aws_lb", "lb").update(subnets="subnet-${var.x}"))
    expect(found, "aws_lb.lb", "subnets", "a string template, but set(string) is required", BOTH)
    assert damaged(lambda d: res(d, "aws_lb", "lb").update(subnets="${data.aws_vpc.default_vpc.id}")) == []


def test_an_object_typed_attribute_needs_every_field_in_5_100_only():
    """aws_security_group.ingress is set(object) in 5.100.0 (JSON prefers the attribute reading, so cty demands
    every field); the 6.x bindings record nested attributes, whose fields are optional."""
    rule = {"from_port": 80, "to_port": 80, "protocol": "tcp", "cidr_blocks": ["0.0.0.0/0"]}
    found = damaged(lambda d: d["resource"].update(aws_security_group={"sg": {"ingress": [rule]}}))
    assert {v.message for v in found} == {f"missing attribute '{k}' (an object value must set every attribute)"
                                          for k in ("description", "ipv6_cidr_blocks", "prefix_list_ids",
                                                    "security_groups", "self")}
    assert {(v.address, v.path, v.schema) for v in found} == {("aws_security_group.sg", "ingress[0]", AWS5)}
    found = damaged(lambda d: d["resource"].update(aws_security_group={"sg": {"ingress": [{**rule, "port": 1}]}}))
    assert any(v.path == "ingress[0].port" and v.message.startswith("unknown attribute 'port'") for v in found)


def test_a_dynamic_attribute_takes_anything():
    for body in ({"a": [1, {"b": None}]}, [1, 2], "x", 3):
        assert damaged(lambda d: res(d, "azapi_resource", "ws").update(body=body)) == []


# --- block counts and shapes -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("edit, path, message, schema", [
    (lambda d: res(d, "aws_lb_target_group", "tg").update(health_check=[{"enabled": True}] * 2), "health_check",
     "2 blocks, at most 1 allowed (nesting mode list)", BOTH),
    (lambda d: res(d, "aws_lb_listener", "http").update(default_action=[]), "default_action",
     "0 blocks, at least 1 required", BOTH),
    (lambda d: res(d, "aws_lb", "lb").update(timeouts=[{}, {}]), "timeouts",
     "2 blocks, at most 1 allowed (nesting mode single)", BOTH),
    (lambda d: res(d, "aws_lb_target_group", "tg").update(health_check="${local.hc}"), "health_check",
     "a block must be an object, not a string", BOTH),
    (lambda d: res(d, "aws_lb_target_group", "tg").update(health_check=None), "health_check",
     "a block must be an object, not null", BOTH),  # JSON syntax: "either a JSON object or a JSON array"
    (lambda d: res(d, "aws_lb", "lb").update(subnet_mapping=[{"subnet_id": "subnet-1"}, 3]), "subnet_mapping[1]",
     "a block must be an object, not a number", BOTH),
])
def test_block_counts_and_shapes(edit, path, message, schema):
    found = damaged(edit)
    assert len(found) == 1 and found[0].path == path and message in found[0].message and \
        found[0].schema == schema, "\n".join(map(str, found))


def test_a_block_is_one_object_or_a_list_of_objects():
    for hc in ({"enabled": True}, [{"enabled": True}], []):
        assert damaged(lambda d: res(d, "aws_lb_target_group", "tg").update(health_check=hc)) == []


NESTED = {"attributes": {
    "one": {"optional": True, "nested_type": {"nesting_mode": "single", "attributes": {
        "a": {"required": True, "type": "string"}}}},
    "many": {"optional": True, "nested_type": {"nesting_mode": "list", "attributes": {
        "a": {"optional": True, "type": "number"}}}},
    "named": {"optional": True, "nested_type": {"nesting_mode": "map", "attributes": {
        "a": {"optional": True, "type": "bool"}}}}},
    "block_types": {"rule": {"nesting_mode": "map", "block": {"attributes": {"x": {"required": True,
                                                                                   "type": "string"}}}},
                    "item": {"nesting_mode": "set", "max_items": 2, "block": {"attributes": {
                        "x": {"optional": True, "type": "string"}}}}}}


@pytest.mark.parametrize("body, expected", [
    ({"one": {"a": "x"}, "many": [{"a": 1}], "named": {"k": {"a": True}}, "rule": {"r1": {"x": "y"}},
      "item": [{"x": "1"}, {"x": "2"}]}, []),
    ({"one": [{"a": "x"}]}, [("one", "must be an object (nesting mode single), not a list")]),
    ({"many": {"a": 1}}, [("many", "must be a list of objects (nesting mode list), not an object")]),
    ({"named": [{"a": True}]}, [("named", "must be a map of objects, not a list")]),
    ({"one": {}}, [("one", "missing required attribute 'a'")]),
    ({"rule": [{"x": "y"}]}, [("rule", "must be an object of labelled blocks, not a list")]),
    ({"rule": {"r1": {}}}, [("rule.r1", "missing required attribute 'x'")]),
    ({"item": [{}, {}, {}]}, [("item", "3 blocks, at most 2 allowed (nesting mode set)")]),
    ({"dynamic": {"item": {"for_each": "${var.items}", "content": {"x": "${item.value}"}}}}, []),
    ({"dynamic": {"itme": {"for_each": "${var.items}", "content": {}}}},
     [("dynamic.itme", "no block type 'itme' to generate (did you mean 'item'?)")]),
    ({"dynamic": {"item": {"for_each": "${var.items}", "content": {"y": 1}}}},
     [("dynamic.item.content.y", "unknown attribute or block 'y'")]),
])
def test_nested_attributes_map_blocks_and_dynamic_blocks(body, expected):
    """Nesting modes the committed schemas use little, on a hand-made schema block."""
    found: list = []
    provider_rules.Body(found, "x_thing.t", "test 1.0", "resource").block(NESTED, body, "")
    assert [(path, message) for _, path, message, _ in found] == expected


# --- computed-only attributes ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("edit, address, path, schema", [
    (lambda d: res(d, "aws_lb", "lb").update(arn="arn:x"), "aws_lb.lb", "arn", BOTH),
    (lambda d: res(d, "aws_lb", "lb").update(dns_name="x"), "aws_lb.lb", "dns_name", BOTH),
    (lambda d: res(d, "kubernetes_deployment_v1", "dep")["metadata"].update(uid="x"), "kubernetes_deployment_v1.dep",
     "metadata.uid", K8S),
    (lambda d: res(d, "tls_private_key", "key").update(public_key_pem="x"), "tls_private_key.key", "public_key_pem",
     TLS),
    (lambda d: res(d, "azapi_resource", "ws").update(output={}), "azapi_resource.ws", "output", AZAPI),
])
def test_setting_a_computed_only_attribute(edit, address, path, schema):
    expect(damaged(edit), address, path, "is computed-only", schema)


def test_optional_computed_attributes_may_be_set():
    assert damaged(lambda d: res(d, "aws_lb_target_group", "tg").update(name_prefix="svc", id="x")) == []


# --- references ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, message, schema", [
    ("${aws_lb.lb.arnn}", "cannot read 'aws_lb.lb.arnn': no attribute 'arnn' (did you mean 'arn'?)", BOTH),
    ("${aws_lb.lb.region}", "no attribute 'region'", AWS5),  # exported only since 6.0
    ("${aws_lb.lb.subnet_mapping[0].subnet_id}", "'subnet_mapping' is a set of blocks: its elements have no index",
     BOTH),
    ("${kubernetes_namespace_v1.ns.metadata.name}", "'metadata' is a list of blocks: index it before '.name'", K8S),
    ("${kubernetes_namespace_v1.ns.metadata[0].nmae}", "no attribute 'metadata[0].nmae'", K8S),
    ("${data.aws_vpc.default_vpc.cidr_blok}", "did you mean 'cidr_block'?", BOTH),
    ("arn:${aws_lb.lb.arn}/${aws_lb_target_group.tg.arn_sufix}", "did you mean 'arn_suffix'?", BOTH),
    ('${jsonencode({"a" = "${aws_lb.lb.zone_idd}"})}', "did you mean 'zone_id'?", BOTH),  # in a nested template
    ("${aws_lb.lb.tags_all.team.x}", "'tags_all.team' is a string: it has no 'x'", BOTH),
    ("${aws_lb.nope.arn}", "reference to undeclared resource aws_lb.nope in 'aws_lb.nope.arn'",
     "Terraform configuration"),
    ("${data.aws_vpc.other.id}", "reference to undeclared data data.aws_vpc.other", "Terraform configuration"),
    ("x-${aws_lb.lb.arn", "unterminated template sequence", "Terraform configuration"),
])
def test_references_to_attributes_a_type_does_not_export(value, message, schema):
    found = damaged(lambda d: res(d, "aws_iam_role", "role").update(description=value))
    expect(found, "aws_iam_role.role", "description", message, schema)


@pytest.mark.parametrize("value", [
    "${aws_lb.lb.arn}", "${aws_lb.lb.subnet_mapping[*].subnet_id}", "${aws_lb.lb.tags_all[\"team\"]}",
    "${kubernetes_namespace_v1.ns.metadata[0].name}", "${kubernetes_namespace_v1.ns.metadata.0.name}",
    "${[for m in kubernetes_namespace_v1.ns.metadata : m.name]}", "${aws_lb.lb}",
    '${format("aws_lb.lb.nope %s", aws_lb.lb.id)}',  # text in a string literal is not a reference
    "$${aws_lb.lb.nope}", "%%{aws_lb.lb.nope}",  # escaped: literal text
    "${var.x.y} ${local.a.b} ${each.value.c} ${path.module}",
])
def test_references_that_resolve(value):
    assert damaged(lambda d: res(d, "aws_iam_role", "role").update(description=value)) == []


def test_references_in_outputs_depends_on_and_counted_resources():
    found = damaged(lambda d: d["output"].update(bad={"value": "${aws_lb.lb.dns_nme}"}))
    expect(found, "output.bad", "value", "did you mean 'dns_name'?", BOTH)
    found = damaged(lambda d: res(d, "aws_iam_role", "role").update(depends_on=["aws_lb.lb", "aws_lb.other"]))
    expect(found, "aws_iam_role.role", "depends_on[1]", "reference to undeclared resource aws_lb.other",
           "Terraform configuration")

    def counted(d, ref):
        res(d, "aws_lb", "lb")["count"] = 2
        res(d, "aws_lb_listener", "http")["load_balancer_arn"] = ref
        d["output"]["url"]["value"] = "${aws_lb.lb[0].dns_name}"
    assert damaged(lambda d: counted(d, "${aws_lb.lb[count.index].arn}")) == []
    expect(damaged(lambda d: counted(d, "${aws_lb.lb.arn}")), "aws_lb_listener.http", "load_balancer_arn",
           "aws_lb.lb has count or for_each: index it before '.arn'", "Terraform configuration")


# --- meta-arguments, lifecycle and CDK metadata ----------------------------------------------------------------------

def test_meta_arguments_and_cdk_metadata_are_allowed():
    def meta(d):
        res(d, "aws_lb", "lb").update({
            "//": {"metadata": {"path": "x"}}, "depends_on": ["aws_iam_role.role", "data.aws_vpc.default_vpc"],
            "count": 1, "provider": "aws", "provisioner": [{"local-exec": {"command": "true"}}],
            "connection": {"type": "ssh"}, "timeouts": {"create": "10m"},
            "lifecycle": {"create_before_destroy": True, "prevent_destroy": False,
                          "ignore_changes": ["tags", "subnet_mapping"], "replace_triggered_by": ["aws_iam_role.role"],
                          "precondition": [{"condition": "${length(aws_iam_role.role.name) > 0}",
                                            "error_message": "x"}],
                          "postcondition": [{"condition": "${self.arn != \"\"}", "error_message": "y"}]}})
        d["output"]["url"]["value"] = "${aws_lb.lb[0].dns_name}"
        res(d, "aws_lb_listener", "http")["load_balancer_arn"] = "${aws_lb.lb[0].arn}"
        d["data"]["aws_vpc"]["default_vpc"].update(for_each="${toset([\"a\"])}")
        d["resource"]["aws_lb_target_group"]["tg"]["vpc_id"] = "${data.aws_vpc.default_vpc[\"a\"].id}"
        d["provider"]["aws"].append({"alias": "east", "region": "us-east-2"})
    assert damaged(meta) == []


@pytest.mark.parametrize("lifecycle, path, message", [
    ({"prevent_destory": True}, "lifecycle.prevent_destory", "did you mean 'prevent_destroy'?"),
    ({"ignore_changes": ["tagz"]}, "lifecycle.ignore_changes[0]", "cannot ignore changes to 'tagz'"),
    ({"ignore_changes": ["health_check[0].intervall"]}, "lifecycle.ignore_changes[0]", "no attribute"),
])
def test_lifecycle_arguments_are_checked(lifecycle, path, message):
    expect(damaged(lambda d: res(d, "aws_lb_target_group", "tg").update(lifecycle=lifecycle)),
           "aws_lb_target_group.tg", path, message, BOTH)


# --- versions --------------------------------------------------------------------------------------------------------

def test_the_declared_range_must_admit_every_committed_schema():
    found = damaged(lambda d: d["terraform"]["required_providers"]["aws"].update(version="~> 5.100"))
    expect(found, "terraform.required_providers.aws", "version", "excludes 6.69.1", AWS6)


@pytest.mark.parametrize("constraint, version, ok", [
    (">= 5.100.0, < 7.0.0", "5.100.0", True), (">= 5.100.0, < 7.0.0", "6.69.1", True),
    (">= 5.100.0, < 7.0.0", "7.0.0", False), (">= 5.100.0, < 7.0.0", "5.99.9", False),
    ("~> 5.100", "5.200.1", True), ("~> 5.100", "6.0.0", False), ("~> 1.2.3", "1.2.9", True),
    ("~> 1.2.3", "1.3.0", False), ("= 4.4.1", "4.4.1", True), ("4.4.1", "4.4.2", False), ("!= 3.0", "3.0.0", False),
    ("latest", "1.0.0", False),
])
def test_version_constraints(constraint, version, ok):
    assert admits(constraint, version) is ok


# --- has_attribute and known_types -----------------------------------------------------------------------------------

@pytest.mark.parametrize("kind, type_name, path, expected", [
    ("resource", "aws_lb", ("arn",), True),
    ("resource", "aws_lb", ("region",), False),  # 6.x only: 5.100.0 does not export it
    ("resource", "aws_lb", ("arnn",), False),
    ("resource", "aws_lb", ("subnet_mapping", 0, "subnet_id"), False),  # a set has no index
    ("resource", "aws_lb", ("tags_all", "Name"), True),
    ("resource", "aws_lb", ("access_logs", 0, "bucket"), True),
    ("resource", "aws_lb", ("access_logs", "bucket"), False),
    ("resource", "kubernetes_namespace_v1", ("metadata", 0, "name"), True),
    ("resource", "kubernetes_namespace_v1", ("metadata", "name"), False),
    ("resource", "kubernetes_deployment_v1", ("spec", 0, "template", 0, "spec", 0, "container", 1, "image"), True),
    ("resource", "aws_eks_cluster", ("certificate_authority", 0, "data"), True),  # list(object) / nested list
    ("resource", "aws_eks_cluster", ("identity", 0, "oidc", 0, "issuer"), True),
    ("resource", "aws_eks_cluster", ("identity", 0, "oidc", 0, "issuerr"), False),
    ("resource", "tls_private_key", ("public_key_openssh",), True),
    ("resource", "azapi_resource", ("output", "properties", "anything"), True),  # dynamic
    ("data", "aws_caller_identity", ("account_id",), True),
    ("data", "aws_vpc", ("cidr_block",), True),
    ("resource", "aws_vpc", ("cidr_block",), False),  # only the data source is committed
    ("resource", "random_id", ("hex",), False),  # no schema for the provider
])
def test_has_attribute(kind, type_name, path, expected):
    assert has_attribute(kind, type_name, path) is expected


def test_known_types():
    assert {"aws_lb", "kubernetes_namespace_v1", "azapi_resource", "tls_private_key"} <= known_types("resource")
    assert {"aws_vpc", "aws_iam_policy_document", "google_client_config"} <= known_types("data")
    assert "aws_vpc" not in known_types("resource") and "aws_lb" not in known_types("data")


# --- today's output passes -------------------------------------------------------------------------------------------

TARGETS = ("aws", "azure", "gcp", "kubernetes", "azureml", "gke")


def _violations(out) -> dict[str, list[str]]:
    found = {}
    for path in sorted((out / "stacks").glob("*/cdk.tf.json")):
        violations = check_document(json.loads(path.read_text()))
        if violations:
            found[path.parent.name] = [str(v) for v in violations]
    return found


@pytest.mark.parametrize("target", TARGETS)
def test_every_example_passes_for_every_target(synth_for, target):
    out = synth_for(target)
    assert len(list((out / "stacks").glob(f"*-{target}/cdk.tf.json"))) >= 1
    assert _violations(out) == {}


@settings(max_examples=1, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(specs(targets=TARGETS), min_size=6, max_size=6, unique_by=lambda d: d["metadata"]["name"]))
def test_property_generated_specs_pass_for_every_target(docs):
    """Six generated services, each emitted to all six targets, in one synth (the CDK runtime loads once)."""
    with tempfile.TemporaryDirectory(prefix="infc-provider-check-") as tmp:
        out = synth_documents(pathlib.Path(tmp), docs)
        assert len(list((out / "stacks").glob("*/cdk.tf.json"))) == 6 * len(TARGETS)
        assert _violations(out) == {}
