"""User text reaches Terraform as literal text: `compiler.tfvalues.literal` escapes template sequences, checked against
the real terraform's reading of the escaped strings (no CDK runtime needed)."""

from __future__ import annotations

import json
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.tfvalues import Expr, literal, render
from tests.conftest import terraform

# Text made mostly of the characters that matter to Terraform templates.
TEXT = st.lists(st.sampled_from([*"${}%~ab\\\"\n", "${", "%{", "$${", "%%{", "é"]), max_size=20).map("".join)


@settings(max_examples=5, deadline=None, derandomize=True)
@given(st.lists(TEXT, min_size=1, max_size=60))
def test_terraform_reads_escaped_text_back_as_written(tmp_path_factory, texts):
    binary = terraform()
    work = tmp_path_factory.mktemp("literal")
    outputs = {f"o{i}": {"value": literal(text)} for i, text in enumerate(texts)}
    (work / "main.tf.json").write_text(json.dumps({"output": outputs}))
    env = {"TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1", "TF_CLI_CONFIG_FILE": str(work / "none.tfrc"),
           "PATH": "/usr/bin:/bin"}
    apply = subprocess.run([binary, "apply", "-auto-approve", "-input=false", "-no-color"], cwd=work,
                           capture_output=True, text=True, env=env, timeout=120)
    assert apply.returncode == 0, apply.stderr
    shown = subprocess.run([binary, "output", "-json"], cwd=work, capture_output=True, text=True, env=env,
                           timeout=60, check=True)
    read = json.loads(shown.stdout)
    assert [read[f"o{i}"]["value"] for i in range(len(texts))] == texts


@pytest.mark.parametrize("value, expected", [
    ("plain", "plain"),
    ("a ${b} %{c}", "a $${b} %%{c}"),
    ("$${already}", "$$${already}"),  # Terraform reads this back as the user's own `$${already}`
    ("${TfToken[TOKEN.12]}/${x}", "$${TfToken[TOKEN.12]}/$${x}"),  # no text is a reference, CDK's markers neither
    (Expr("each.key"), "${each.key}"),
    ({"k${x}": ["${y}", 3, None]}, {"k$${x}": ["$${y}", 3]}),  # None is an unset value: left out
])
def test_render_escapes_text_but_not_expressions(value, expected):
    assert render(value) == expected
