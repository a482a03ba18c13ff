"""Issue 10: hostile or odd input never reaches a shell, a template, a crash or a silent change (one test per finding)."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import shlex

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.cli import main
from compiler.driver import compile_files
from tests.conftest import spec_dict

# One service on every target, written as YAML text so that a test can put any raw scalar anywhere.
BASE = """\
apiVersion: infc/v1
kind: InferenceService
metadata: {{name: svc, labels: {{team: ml{labels}}}}}
model: {{name: {name}, image: {image}, port: {port}{model}}}
hardware: {{accelerator: none{hardware}}}
replicas: {{min: 1, max: {max}{replicas}}}
load_balancer: {{idle_timeout: {idle}}}
targets: {{{targets}}}
"""
EVERY = ("aws: {region: us-east-1}, azure: {location: eastus}, gcp: {project: acme-ml, region: us-central1}, "
         "kubernetes: {}, azureml: {location: eastus}, gke: {project: acme-ml, region: us-central1}")
DEFAULTS = {"labels": "", "name": "m", "image": "vllm/vllm-openai:v0.6.3", "port": "8000", "model": "",
            "hardware": ", memory_gib: 16", "max": "1", "replicas": "", "idle": "240", "targets": EVERY}


def text(**parts: str) -> str:
    return BASE.format(**{**DEFAULTS, **parts})


def run(tmp_path, source: str | bytes, *files: str, command: str = "validate") -> tuple[int, list[str]]:
    """Exit code and stderr lines of the real command line on `source` written to spec.yaml."""
    path = tmp_path / "spec.yaml"
    path.write_bytes(source.encode() if isinstance(source, str) else source)
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = main([command, str(path), *files])
    return code, err.getvalue().splitlines()


def errors(tmp_path, source: str | bytes) -> list[str]:
    """The error messages (without place) of `validate`; the run must end with exit 2, never 3 or 0."""
    code, lines = run(tmp_path, source)
    assert code == 2, (code, lines)
    assert all(": error: " in x or ": warning: " in x for x in lines), lines
    return [x.split(": error: ", 1)[1] for x in lines if ": error: " in x]


def only_error(tmp_path, source: str, field: str) -> str:
    found = errors(tmp_path, source)
    assert len(found) >= 1, found
    assert all(field in m for m in found), found
    return found[0]


# --- security ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("image", ['"--privileged"', '"-v"', '"alpine --privileged"', '"vllm/vllm-openai:v1\\n"',
                                   '"vllm/Server:1"', '"Server:1"', '"vllm/server:1:2"', '"vllm/server:-x"', '"registry:5000/-x:1"',
                                   '"vllm/server@sha256:abc"', '" vllm/server:1"', '"a/${x}:1"'])
def test_an_image_must_be_an_image_reference_never_an_option(tmp_path, image):
    message = only_error(tmp_path, text(image=image), "model.image")
    assert "is not an image reference" in message and "distribution/reference" in message


@pytest.mark.parametrize("image", ["vllm/vllm-openai:v0.6.3", "registry.example.com:5000/team/server:1.2",
                                   "[::1]:5000/x:1", "localhost/x:latest@sha256:" + "a" * 64, "x__y/a-b.c:V_1.0",
                                   "UPPER.example.com/x:1", "a" * 200 + ":1"])
def test_image_references_of_the_grammar_pass(tmp_path, image):
    code, lines = run(tmp_path, text(image=json.dumps(image), targets="kubernetes: {}"))
    assert code == 0, lines


@pytest.mark.parametrize("field, value", [
    ("name", '"m\\nLD_PRELOAD=/tmp/x.so"'), ("name", '"m\\rx"'), ("name", '"m\\u2028x"'), ("name", '"m\\x85x"'),
    ("uri", '"s3://b/m\\nMODEL_URI=s3://evil"'), ("uri", '"s3://b/\\tm"'),
])
def test_model_name_and_uri_are_single_lines(tmp_path, field, value):
    model = f", {field}: {value}" if field != "name" else ""
    source = text(name=value if field == "name" else "m", model=model)
    message = only_error(tmp_path, source, f"model.{field}")
    # A model URI is one of a few forms of one token (compiler/values.py ModelUri), which no line break fits.
    assert ("one line of text" if field == "name" else "is not a model location infc can deliver") in message


@pytest.mark.parametrize("env", ['{"FOO\\n": x}', '{1BAD: x}', '{"LD_PRELOAD=x": y}', '{A: "x\\nLD_PRELOAD=/tmp/x.so"}',
                                 '{A: "x\\u0000"}', '{"١": x}'])
def test_env_names_and_values_cannot_inject_lines(tmp_path, env):
    message = only_error(tmp_path, text(model=f", env: {env}"), "model.env")
    assert "variable name" in message or "one line of text" in message


def test_env_names_and_values_that_are_fine_pass(tmp_path):
    code, lines = run(tmp_path, text(model=', env: {_A1: "x=y # z \U0001F600", B: 8080, C: true, D: ""}',
                                     targets="kubernetes: {}"))
    assert code == 0, lines


def test_the_gke_precondition_message_is_literal_text(tmp_path):
    """The node pool's precondition error_message carries the instance type; it is escaped like every string."""
    from compiler import cdk
    from targets import gke

    compiled, _ = compile_files([_write(tmp_path, text(targets="gke: {project: acme-ml, region: us-central1}"))])
    service = compiled[0].service
    target = service.targets[0]
    hostile = dataclasses.replace(target, machine=dataclasses.replace(target.machine,
                                                                      instance_type='${file("/etc/passwd")}'))
    service = dataclasses.replace(service, targets=(hostile,))
    cdk.synth([("svc-gke", lambda stack: gke.emit(stack, service, hostile))], str(tmp_path / "out"))
    stack = json.loads((tmp_path / "out" / "stacks" / "svc-gke" / "cdk.tf.json").read_text())
    (pool,) = stack["resource"]["google_container_node_pool"].values()
    message = pool["lifecycle"]["precondition"][0]["error_message"]
    assert '$${file("/etc/passwd")}' in message and '${file' not in message.replace("$${", "")


def test_an_instance_type_is_a_name_not_an_expression(tmp_path):
    source = text(hardware=', memory_gib: 16, instance_types: {gke: "${file(\\"/etc/passwd\\")}"}',
                  targets="gke: {project: acme-ml, region: us-central1}")
    assert "is not an instance type name" in only_error(tmp_path, source, "hardware.instance_types.gke")


def _write(tmp_path, source: str) -> str:
    path = tmp_path / "in.yaml"
    path.write_text(source)
    return str(path)


@pytest.mark.parametrize("uri, target, expected", [
    ("s3://*", "aws: {region: us-east-1}", "is not a model location"),  # the spec's bucket grammar
    ("s3://*/models/", "aws: {region: us-east-1}", "is not a model location"),
    ("s3://a..b/models/", "aws: {region: us-east-1}", "not a bucket name"),
    ("s3://models/*", "aws: {region: us-east-1}", "'*'"),
    ("s3://models/${aws:username}/", "aws: {region: us-east-1}", "'$'"),
    ("gs://*", "gcp: {project: acme-ml, region: us-central1}", "is not a model location"),
    ("gs://" + "a" * 64, "gcp: {project: acme-ml, region: us-central1}", "not a bucket name"),
])
def test_a_model_uri_cannot_widen_the_replicas_read_grant(tmp_path, uri, target, expected):
    """The s3:// bucket and prefix become an IAM policy: s3://* granted every bucket of the account."""
    assert expected in only_error(tmp_path, text(model=f", uri: {json.dumps(uri)}", targets=target), "model.uri")


def test_instance_types_for_kubernetes_are_not_dropped_silently(tmp_path):
    code, lines = run(tmp_path, text(hardware=", memory_gib: 16, instance_types: {kubernetes: m5.large}",
                                     targets="kubernetes: {}"))
    assert code == 0 and any("instance_types.kubernetes has no effect" in x for x in lines), lines


@pytest.mark.parametrize("targets, expected", [
    ("aws: {region: us-east-1}, kubernetes: ", "targets.kubernetes has no value"),
    ("kubernetes:", "targets.kubernetes has no value"),
    ("", "name at least one target"),
])
def test_a_target_without_a_value_is_not_dropped_silently(tmp_path, targets, expected):
    """`kubernetes:` is null in YAML: it emitted no kubernetes stack, and with no other target validate said ok."""
    assert expected in only_error(tmp_path, text(targets=targets), "targets")


# --- crashes (exit 3) become located errors ---------------------------------------------------------------------

@pytest.mark.parametrize("where, value", [
    ("hardware", ", memory_gib: .inf"), ("hardware", ", memory_gib: .nan"), ("hardware", ", memory_gib: 1.0e+309"),
    ("replicas", ", autoscale: {metric: requests_per_replica, target: .inf}"),
    ("replicas", ", autoscale: {metric: cpu_percent, target: .nan}"),
    ("targets", "kubernetes: {cpu_limit: .inf}"), ("targets", "gke: {project: acme-ml, region: us-central1, "
                                                               "cpu_limit: -.inf}"),
])
def test_non_finite_numbers_are_errors_not_crashes(tmp_path, where, value):
    parts = {"max": "2"} if where == "replicas" else {}
    message = " ".join(errors(tmp_path, text(**{where: value}, **parts)))
    assert "finite number" in message or "infinity" in message, message


def test_a_huge_finite_autoscale_target_is_an_error_not_a_synth_crash(tmp_path):
    source = text(max="2", replicas=", autoscale: {metric: requests_per_replica, target: 1.0e+308}",
                  targets="aws: {region: us-east-1}")
    assert "less than or equal to" in only_error(tmp_path, source, "replicas.autoscale.target")


# --- wrong exit 0 -------------------------------------------------------------------------------------------------

def test_replicas_beyond_a_32_bit_integer_are_an_error(tmp_path):
    message = only_error(tmp_path, text(max="1000000000000000000000"), "replicas.max")
    assert "less than or equal to 2147483647" in message


@pytest.mark.parametrize("target, size, limit", [("aws", 17_000, 16384), ("azure", 66_000, 65535),
                                                 ("gcp", 263_000, 262144)])
def test_start_up_data_over_the_cloud_limit_is_an_error_with_both_sizes(tmp_path, target, size, limit):
    one = {"aws": "aws: {region: us-east-1}", "azure": "azure: {location: eastus}",
           "gcp": "gcp: {project: acme-ml, region: us-central1}"}[target]
    source = text(model=f", env: {{BIG: {'x' * size}}}", targets=one)
    message = only_error(tmp_path, source, f"{target}: ")
    assert f"at most {limit} bytes" in message and f"{size + 200}" not in message
    assert any(str(n) in message for n in range(size, size + 2000)), message  # the real size, measured


def test_start_up_data_just_under_the_limit_passes(tmp_path):
    code, lines = run(tmp_path, text(model=f", env: {{BIG: {'x' * 15_000}}}", targets="aws: {region: us-east-1}"))
    assert code == 0, lines


@pytest.mark.parametrize("targets, part", [
    ("gcp: {project: acme-ml, region: us-central1}", 'metadata: {name: svc, labels: {"team\\n": ml}}'),
    ("kubernetes: {}", 'metadata: {name: svc, labels: {team: "ml\\n"}}'),
    ('kubernetes: {node_selector: {"pool\\n": gpu}}', None),
    ('kubernetes: {node_selector: {pool: "gpu\\n"}}', None),
    ('kubernetes: {ingress_class: "nginx\\n"}', None),
])
def test_a_trailing_newline_is_refused(tmp_path, targets, part):
    source = text(targets=targets)
    if part:
        source = source.replace("metadata: {name: svc, labels: {team: ml}}", part)
    assert errors(tmp_path, source)


def test_a_trailing_newline_in_the_gke_certificate_is_refused(tmp_path):
    source = text(targets='gke: {project: acme-ml, region: us-central1, certificate: "cert\\n"}').replace(
        "load_balancer: {idle_timeout: 240}", "load_balancer: {listeners: [{port: 443, protocol: https}]}")
    assert errors(tmp_path, source)


@pytest.mark.parametrize("labels, expected", [
    ('"": x', "empty"), ('"aws:team": x', "aws:"), ('"AWS:team": x', "aws:"), ('"k" : "' + "v" * 257 + '"', "256"),
    ('"' + "k" * 128 + '": x', "127"), ('"a#b": x', "character"), ('"Team": x, "TEAM": y', "case"),
    ('"Name": x', "Name"), ('"a\\nb": x', "one line"),
])
def test_aws_tag_rules(tmp_path, labels, expected):
    source = text(targets="aws: {region: us-east-1}").replace("labels: {team: ml}", f"labels: {{{labels}}}")
    found = errors(tmp_path, source)
    assert any(expected in m for m in found), found


@pytest.mark.parametrize("labels, expected", [
    ('"": x', "empty"), ('"a<b": x', "<"), ('"a%b": x', "%"), ('"a/b": x', "/"), ('"k": "' + "v" * 257 + '"', "256"),
    ('"' + "k" * 513 + '": x', "512"), ('"Team": x, "TEAM": y', "case"),
])
def test_azure_tag_rules(tmp_path, labels, expected):
    source = text(targets="azure: {location: eastus}").replace("labels: {team: ml}", f"labels: {{{labels}}}")
    found = errors(tmp_path, source)
    assert any(expected in m for m in found), found


def test_azureml_tag_names_are_at_most_128_characters_for_its_storage_account(tmp_path):
    source = text(targets="azureml: {location: eastus}").replace("labels: {team: ml}",
                                                                 "labels: {" + "k" * 129 + ": x}")
    assert any("128" in m for m in errors(tmp_path, source))


def test_labels_every_cloud_takes_pass(tmp_path):
    source = text().replace("labels: {team: ml}", 'labels: {team: ml, cost-center: "42", "région": "été"}')
    source = source.replace("kubernetes: {}, ", "").replace(", gke: {project: acme-ml, region: us-central1}", "")
    code, lines = run(tmp_path, source)
    assert code == 0, lines  # GCP takes international lowercase letters (Ll, Lo), AWS and Azure any letter


# --- YAML 1.1 ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, read", [("1.10", "the number 1.1"), ("12:30", "the number 750"),
                                       ("0755", "the number 493"), ("yes", "the boolean true"),
                                       ("2024-01-01", "a date"), ("True", "the boolean true"), ("+5", "the number 5"),
                                       ("1_000", "the number 1000"), (".inf", "the number inf")])
def test_a_string_that_yaml_would_change_is_refused_with_a_hint_to_quote(tmp_path, raw, read):
    source = text(targets="kubernetes: {}").replace("labels: {team: ml}", f"labels: {{team: {raw}}}")
    message = only_error(tmp_path, source, "metadata.labels.team")
    assert read in message and f'quote it: "{raw}"' in message


@pytest.mark.parametrize("field, raw, read", [
    ("port", "0x1F40", "hexadecimal"), ("port", "017500", "octal"), ("port", "2:13:20", "base-60"),
    ("port", "8_000", "'_'"), ("port", "0b1010", "binary"), ("idle", "5:00", "base-60"),
])
def test_numbers_only_in_plain_decimal(tmp_path, field, raw, read):
    message = only_error(tmp_path, text(**{field: raw}, targets="kubernetes: {}"),
                         {"port": "model.port", "idle": "load_balancer.idle_timeout"}[field])
    assert read in message and "plain decimal" in message


@pytest.mark.parametrize("raw", ["yes", "on", "No", "OFF"])
def test_booleans_only_as_true_or_false(tmp_path, raw):
    message = only_error(tmp_path, text(hardware=f", memory_gib: 16, spot: {raw}", targets="kubernetes: {}"),
                         "hardware.spot")
    assert "YAML 1.2" in message and ("write true" in message or "write false" in message)


@pytest.mark.parametrize("raw", ["+8000", "8000.0", "TRUE", "True"])
def test_numbers_and_booleans_yaml_12_reads_alike_pass(tmp_path, raw):
    field = {"port": raw} if "TRUE" not in raw.upper() else {"hardware": f", memory_gib: 16, spot: {raw}"}
    code, lines = run(tmp_path, text(**field, targets="kubernetes: {}"))
    assert code == 0, lines


@pytest.mark.parametrize("value", ["'３００s'", "'٣٠٠'", "' 300 s '", '"300\\n"', "'300 s'", "'1000000000'",
                                   "'100000000m'", "'1000000h'"])
def test_durations_are_ascii_digits_and_one_unit(tmp_path, value):
    assert "expected a duration" in only_error(tmp_path, text(idle=value, targets="kubernetes: {}"),
                                               "load_balancer.idle_timeout")


def test_emoji_in_env_values_survive_cloud_init(tmp_path):
    """cloud-init reads user data with PyYAML: what it reads back must be the env file and argv infc meant."""
    from targets import startup

    value = "héllo \U0001F600 ☃ \"q\" \\ 'x' # ${x} %{y} \u00a0 end"
    quoted = json.dumps(value, ensure_ascii=False)
    compiled, _ = compile_files([_write(tmp_path, text(model=f", env: {{E: {quoted}}}, args: [{quoted}]",
                                                       targets="aws: {region: us-east-1}"))])
    service, (target,) = compiled[0].service, compiled[0].service.targets
    document = yaml.safe_load(startup.cloud_init(service, target))
    (script,) = document["write_files"]
    assert script["content"] == startup.boot_script(service, target)
    assert f"E={value}\n" in startup.env_file(service, target)
    assert shlex.quote(startup.env_file(service, target)) in script["content"]
    assert script["content"].rstrip("\n").endswith(" " + shlex.quote(value))
    assert startup.docker_run(service, target)[-1] == value


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(st.text(st.characters(exclude_categories=("Cs",))), st.lists(st.text(st.characters(exclude_categories=("Cs",)))))
def test_cloud_init_strings_read_back_as_written_whatever_they_hold(text, argv):
    """Any text (control characters, U+2028, NEL, BOM, emoji) written by startup.yaml_flow reads back unchanged."""
    from targets import startup

    assert yaml.safe_load(f"a: {startup.yaml_flow(text)}\nb: {startup.yaml_flow(argv)}\n") == {"a": text, "b": argv}
    # libyaml's emitter, which yaml_flow uses, writes what PyYAML's own writes: output does not depend on which one
    # a machine has
    for value in (text, argv):
        assert startup.yaml_flow(value) == yaml.dump(value, Dumper=yaml.SafeDumper, default_flow_style=True,
                                                     default_style='"', allow_unicode=True,
                                                     width=2**31 - 1).rstrip("\n")
    assert startup._DUMPER is yaml.CSafeDumper


def test_an_escaped_surrogate_pair_is_refused_with_the_escape_to_use(tmp_path):
    """YAML reads "\\ud83d\\ude00" as two lone surrogates, which no UTF-8 file can hold (synth crashed on them)."""
    message = only_error(tmp_path, text(model=', env: {E: "\\ud83d\\ude00"}'), "cannot read value")
    assert "surrogate" in message and "\\U0001F600" in message


# --- messages ---------------------------------------------------------------------------------------------------

def test_an_unquoted_number_yaml_reads_as_text_is_not_told_to_remove_quotes(tmp_path):
    message = only_error(tmp_path, text(hardware=", memory_gib: 1e309", targets="kubernetes: {}"),
                         "hardware.memory_gib")
    assert "remove the quotes" not in message and "1e309" in message and "1.0e+" in message


def test_a_quoted_number_is_still_told_to_remove_the_quotes(tmp_path):
    message = only_error(tmp_path, text(port='"8000"', targets="kubernetes: {}"), "model.port")
    assert "remove the quotes" in message


@pytest.mark.parametrize("again", ["same", "relative"])
def test_a_file_passed_twice_is_read_once_and_named_as_such(tmp_path, monkeypatch, again):
    path = _write(tmp_path, text(targets="kubernetes: {}"))
    monkeypatch.chdir(tmp_path)
    second = path if again == "same" else "./in.yaml"
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = main(["validate", path, second])
    assert code == 0
    line = next(x for x in err.getvalue().splitlines() if "twice" in x)
    assert line.startswith(f"{second}:1:1: warning: this file is given twice on the command line")
    assert "itself" not in err.getvalue() and "collide" not in err.getvalue()


def test_minimal_spec_still_validates():
    """The fixture other tests build on stays valid (the suite's spec_dict)."""
    from compiler.spec import Spec

    Spec.model_validate(spec_dict())
