"""compiler/api.py, each entry point: a file, YAML text and a dict compile to the Terraform JSON `infc synth` writes;
errors carry located diagnostics; add_service puts one service into the user's own CDK Terrain stack."""

from __future__ import annotations

import json
import pathlib

import pytest
import yaml

from compiler import api, provider_check
from compiler.errors import CompileError
from tests.conftest import ROOT

LLAMA = ROOT / "examples" / "llama-70b-a100.yaml"


def _without_metadata(document: dict) -> dict:
    """Resources and data sources without CDK Terrain's `//` metadata, which names the stack's construct path."""
    return {kind: {t: {n: {k: v for k, v in a.items() if k != "//"} for n, a in named.items()}
                   for t, named in document.get(kind, {}).items()} for kind in ("resource", "data")}


@pytest.fixture(scope="module")
def from_file():
    return api.synthesize(LLAMA, ["aws", "kubernetes"])


def test_a_file_compiles_to_what_synth_writes(from_file, synth_for):
    written = json.loads((synth_for("aws") / "stacks" / "llama70b-aws" / "cdk.tf.json").read_text())
    assert from_file.stacks["llama70b-aws"] == written
    assert list(from_file.stacks) == ["llama70b-aws", "llama70b-kubernetes"]
    assert {w.loc.file for w in from_file.warnings} == {str(LLAMA)}


def test_yaml_text_and_a_dict_compile_to_the_same_stacks(from_file):
    text = LLAMA.read_text(encoding="utf-8")
    assert api.synthesize(text, ["aws", "kubernetes"]).stacks == from_file.stacks
    assert api.synthesize(yaml.safe_load(text), ["aws", "kubernetes"]).stacks == from_file.stacks


def test_a_dict_value_that_yaml_would_misread_stays_text():
    """'on' and '1e3' are strings in the dict: written to YAML quoted, they arrive as the same strings."""
    data = yaml.safe_load(LLAMA.read_text())
    data["model"]["env"] = {"FLAG": "on", "SCALE": "1e3"}
    compiled, _ = api.compile_spec(data, ["kubernetes"])
    assert dict(compiled[0].service.env) == {"FLAG": "on", "SCALE": "1e3"}


def test_errors_are_a_compile_error_with_located_diagnostics():
    data = yaml.safe_load(LLAMA.read_text())
    data["replicas"]["min"] = 9
    with pytest.raises(CompileError) as caught:
        api.synthesize(data, ["aws"])
    [error] = caught.value.diagnostics
    assert error.path == ("replicas", "min") and error.loc.file == "<dict>"
    assert error.message == "replicas.min (9) must not exceed replicas.max (3)"
    with pytest.raises(CompileError) as caught:
        api.compile_spec("apiVersion: infc/v1\nkind: [", name="inline.yaml")
    assert caught.value.diagnostics[0].render().startswith("inline.yaml:2:")


def test_anything_else_is_refused():
    with pytest.raises(TypeError, match="pathlib.Path, YAML text"):
        api.compile_spec(b"bytes")


def test_add_service_puts_one_service_into_the_users_own_stack(tmp_path, from_file):
    from compiler.cdk import use_wheel_node

    use_wheel_node()
    import cdktn

    app = cdktn.App(outdir=str(tmp_path))
    stack = cdktn.TerraformStack(app, "platform")
    cdktn.TerraformOutput(stack, "owner", value="ml-platform")
    warnings = api.add_service(stack, LLAMA, "aws")
    app.synth()
    document = json.loads((tmp_path / "stacks" / "platform" / "cdk.tf.json").read_text())
    assert _without_metadata(document) == _without_metadata(from_file.stacks["llama70b-aws"])
    assert document["output"]["owner"]["value"] == "ml-platform" and "endpoint" in document["output"]
    assert document["provider"]["aws"] == from_file.stacks["llama70b-aws"]["provider"]["aws"]
    # infc sets no backend: the stack keeps CDK Terrain's own default for it (a local terraform.<stack>.tfstate).
    assert document["terraform"]["backend"]["local"]["path"].endswith("terraform.platform.tfstate")
    assert provider_check.check_document(document) == []
    assert warnings == []


def test_add_service_can_leave_the_providers_to_the_user(tmp_path):
    from compiler.cdk import use_wheel_node

    use_wheel_node()
    import cdktn

    from compiler.cdk import _classes

    app = cdktn.App(outdir=str(tmp_path))
    stack = cdktn.TerraformStack(app, "platform")
    # The user's own provider (CDK Terrain refuses resources whose provider no construct declares).
    _classes().Provider(stack, "kubernetes", "hashicorp/kubernetes", ">= 3.0.0", {"config_context": "prod"})
    warnings = api.add_service(stack, pathlib.Path(ROOT / "examples" / "two-services.yaml"), "kubernetes",
                               service="guard", providers=False)
    app.synth()
    document = json.loads((tmp_path / "stacks" / "platform" / "cdk.tf.json").read_text())
    assert document["provider"] == {"kubernetes": [{"config_context": "prod"}]}
    assert document["resource"]["kubernetes_deployment_v1"]["deployment"]["metadata"]["name"] == "guard"
    assert [w.message.split(":")[0] for w in warnings] == ["kubernetes"]
    with pytest.raises(ValueError, match="services with a targets.kubernetes section: chat, guard"):
        api.add_service(stack, ROOT / "examples" / "two-services.yaml", "kubernetes")


def test_add_service_takes_its_names_in_the_users_stack(tmp_path):
    """infc's resources go in as one element; their names are still construct ids of the stack, so a resource of
    the user's with the same name is refused (CDK Terrain would otherwise merge the two into one resource)."""
    from compiler.cdk import _classes

    cdktn = _classes().cdktn
    app = cdktn.App(outdir=str(tmp_path))
    stack = cdktn.TerraformStack(app, "platform")
    api.add_service(stack, LLAMA, "aws")
    with pytest.raises(Exception, match="already a Construct with name 'load_balancer'"):
        cdktn.TerraformOutput(stack, "load_balancer", value="mine")
    with pytest.raises(Exception, match="already a Construct with name"):
        api.add_service(stack, LLAMA, "aws")
