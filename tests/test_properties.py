"""Property tests: generated valid specs compile (and synthesize) for every target; damaged ones fail cleanly.

The strategies live in fuzz/specgen.py, shared with fuzz/fuzz_cli.py, which runs the same properties for 10,000+
cases. Here the example counts are small and the runs derandomized, so CI is quick and reproducible.
"""

from __future__ import annotations

import contextlib
import io
import json
import pathlib
import re
import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler.cli import main
from compiler.driver import compile_files
from compiler.errors import CompileError
from fuzz.specgen import TARGETS, damaged, dump, specs, variant_specs
from tests import terraform_strings


def ci(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@contextlib.contextmanager
def spec_file(data: bytes):
    with tempfile.TemporaryDirectory(prefix="infc-prop-") as tmp:
        path = pathlib.Path(tmp) / "spec.yaml"
        path.write_bytes(data)
        yield path


def cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


@ci(300)
@given(specs())
def test_valid_specs_validate_and_lower_for_every_target_they_name(doc):
    with spec_file(dump(doc)) as path:
        try:
            compiled, warnings = compile_files([str(path)])
        except CompileError as exc:
            raise AssertionError("\n".join(d.render() for d in exc.diagnostics) + "\n" + dump(doc).decode()) from None
    assert all(d.severity == "warning" and d.loc and d.loc.file == str(path) and d.loc.line >= 1 for d in warnings)
    (one,) = compiled
    service = one.service
    assert [t.name for t in service.targets] == list(doc["targets"])
    assert service.name == doc["metadata"]["name"]
    assert service.min_replicas == doc.get("replicas", {}).get("min", 1)
    assert service.min_replicas <= service.max_replicas
    listeners = doc.get("load_balancer", {}).get("listeners", [{"port": 80, "protocol": "http"}])
    assert [x.port for x in service.load_balancer.listeners] == [x["port"] for x in listeners]
    for target in service.targets:
        assert (target.machine is None) == (target.name == "kubernetes")


@ci(20)
@given(specs(targets=TARGETS))
def test_valid_specs_synthesize_well_formed_terraform_for_every_target(doc):
    with spec_file(dump(doc)) as path:
        out = path.parent / "out"
        code, _, err = cli("synth", str(path), "--out", str(out))
        assert code == 0, err + dump(doc).decode()
        assert all(": warning: " in line for line in err.splitlines()), err
        name = doc["metadata"]["name"]
        manifest = json.loads((out / "manifest.json").read_text())
        assert sorted(manifest["stacks"]) == sorted(f"{name}-{t}" for t in TARGETS)
        for target in TARGETS:
            text = (out / "stacks" / f"{name}-{target}" / "cdk.tf.json").read_text()
            stack = json.loads(text)
            assert not _has_null(stack), target
            assert stack["terraform"]["required_providers"], target
            assert sum(len(v) for v in stack.get("resource", {}).values()) >= 1, target
            assert terraform_strings.problems(stack) == [], target


@ci(3)
@given(damaged().filter(lambda data: validates(data)))
def test_damaged_specs_that_validate_also_synthesize(data):
    """Whatever validate accepts, synth writes: no exit 3 after exit 0 (fuzz/fuzz_cli.py does this at scale)."""
    check_synth(data)


def validates(data: bytes) -> bool:
    with spec_file(data) as path:
        return cli("validate", str(path))[0] == 0


def check_synth(data: bytes) -> None:
    """`synth` of a spec that validates: exit 0, and every stack well-formed JSON whose strings are literal text
    except infc's own references (tests/terraform_strings.py)."""
    with spec_file(data) as path:
        out = path.parent / "out"
        code, _, err = cli("synth", str(path), "--out", str(out))
        assert code == 0, err + data.decode(errors="replace")
        stacks = sorted((out / "stacks").glob("*/cdk.tf.json"))
        assert stacks
        for stack in stacks:
            document = json.loads(stack.read_text(encoding="utf-8"))
            assert not _has_null(document) and document["terraform"], stack
            assert terraform_strings.problems(document) == [], stack


def test_every_string_of_every_example_is_literal_or_infcs_own_reference(synth_for):
    """Every target's stacks of every example: each live `${...}` is a reference infc wrote, never user text."""
    found = {}
    for target in TARGETS:
        for stack in sorted((synth_for(target) / "stacks").glob("*/cdk.tf.json")):
            found[stack.parent.name] = terraform_strings.problems(json.loads(stack.read_text(encoding="utf-8")))
    assert found and all(problems == [] for problems in found.values()), found


def _has_null(value) -> bool:
    if value is None:
        return True
    if isinstance(value, dict):
        return any(_has_null(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_null(v) for v in value)
    return False


@ci(300)
@given(damaged(), st.sampled_from(["text", "json"]))
def test_damaged_specs_exit_2_with_located_errors_or_0(data, fmt):
    with spec_file(data) as path:
        code, _, err = cli("validate", "--format", fmt, str(path))
        if fmt == "text":
            check_cli_result(str(path), code, err)
        else:  # the same places as a JSON list
            assert code in (0, 2), (code, err)
            found = json.loads(err)
            assert all(d["file"] == str(path) and d["line"] >= 1 and d["column"] >= 1 for d in found), err
            assert (code == 2) == any(d["severity"] == "error" for d in found), (code, err)


def check_cli_result(file: str, code: int, err: str) -> None:
    """Exit 2 with at least one error, or 0 with none; every stderr line `FILE:LINE:COL: error|warning: ...`."""
    assert "Traceback" not in err and "internal error" not in err, err
    assert code in (0, 2), (code, err)
    line = re.compile(rf"^{re.escape(file)}:[1-9]\d*:[1-9]\d*: (error|warning): \S.*$")
    lines = err.splitlines()
    assert all(line.match(x) for x in lines), err
    assert (code == 2) == any(": error: " in x for x in lines), (code, err)


MARK = "infc_marker"


def test_user_strings_reach_terraform_as_literals_not_templates(tmp_path):
    """Terraform JSON string values are templates: a user's `${x}` must be written `$${x}`, `%{x}` as `%%{x}`."""
    doc = {"apiVersion": "infc/v1", "kind": "InferenceService", "metadata": {"name": "literal"},
           "model": {"name": f"m ${{{MARK}}}", "image": "vllm/vllm-openai:v1",
                     "args": [f"--a=${{{MARK}}}", f"%{{{MARK}}}"], "env": {"A": f"${{{MARK}}} %{{{MARK}}}"}},
           "hardware": {"accelerator": "none"},
           "targets": {"aws": {"region": "us-east-1"}, "azure": {"location": "eastus"},
                       "gcp": {"project": "acme-ml", "region": "us-central1"}, "kubernetes": {},
                       "azureml": {"location": "eastus", "image": "acme/model:1"},
                       "gke": {"project": "acme-ml", "region": "us-central1"}}}
    spec = tmp_path / "spec.yaml"
    spec.write_bytes(dump(doc))
    code, _, err = cli("synth", str(spec), "--out", str(tmp_path / "out"))
    assert code == 0, err
    raw = re.compile(rf"(?<![$%])[$%]\{{{MARK}")
    stacks = sorted((tmp_path / "out" / "stacks").glob("*/cdk.tf.json"))
    assert len(stacks) == 6 and {p.parent.name for p in stacks if raw.search(p.read_text())} == set()
    assert all(terraform_strings.problems(json.loads(p.read_text())) == [] for p in stacks)


@ci(100)
@given(variant_specs())
def test_specs_with_variants_validate_and_lower_each_variant(doc):
    """Variants on the targets that split by weight: no error, and each variant lowered with its weight and its own
    image, arguments and replicas (or the shared ones)."""
    with spec_file(dump(doc)) as path:
        try:
            compiled, _ = compile_files([str(path)])
        except CompileError as exc:
            raise AssertionError("\n".join(d.render() for d in exc.diagnostics) + "\n" + dump(doc).decode()) from None
    (one,) = compiled
    drawn = doc["variants"]
    assert [(v.name, v.weight) for v in one.service.variants] == [(v["name"], v["weight"]) for v in drawn]
    for variant, lowered in zip(drawn, one.service.variants):
        own = lowered.service
        assert own.image == variant.get("image", doc["model"]["image"])
        if "args" in variant:
            assert list(own.args) == variant["args"]
        assert own.min_replicas == variant.get("replicas", doc.get("replicas", {})).get("min", 1)
        assert [t.name for t in own.targets] == list(doc["targets"])


@ci(5)
@given(variant_specs())
def test_specs_with_variants_synthesize_the_weights_exactly(doc):
    weights = [v["weight"] for v in doc["variants"]]
    with spec_file(dump(doc)) as path:
        out = path.parent / "out"
        code, _, err = cli("synth", str(path), "--out", str(out))
        assert code == 0, err + dump(doc).decode()
        name = doc["metadata"]["name"]
        for target in doc["targets"]:
            stack = json.loads((out / "stacks" / f"{name}-{target}" / "cdk.tf.json").read_text())
            assert terraform_strings.problems(stack) == [], target
            resources = stack["resource"]
            if target == "aws":
                for listener in resources["aws_lb_listener"].values():
                    action = listener["default_action"][0]
                    if action["type"] == "forward":
                        assert [g["weight"] for g in action["forward"]["target_group"]] == weights
            elif target == "gcp":
                url_map = resources.get("google_compute_url_map", resources.get("google_compute_region_url_map"))
                weighted = url_map["url_map"]["default_route_action"]["weighted_backend_services"]
                assert [w["weight"] for w in weighted] == weights
            else:
                [traffic] = resources["azapi_update_resource"].values()
                assert traffic["body"]["properties"]["traffic"] == {v["name"]: v["weight"] for v in doc["variants"]}
