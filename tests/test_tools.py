"""The external-tool helpers of tests/conftest.py: where the provider mirror is looked for, and skip vs. failure."""

from __future__ import annotations

import pathlib

import pytest

from tests import conftest


def test_an_explicit_mirror_directory_is_the_only_one_searched(monkeypatch, tmp_path):
    monkeypatch.setenv("INFC_TF_PLUGIN_DIR", str(tmp_path))
    assert conftest.mirror_directories() == [tmp_path]


def test_implied_mirror_directories_follow_terraform_on_linux(monkeypatch, tmp_path):
    """https://developer.hashicorp.com/terraform/cli/config/config-file#implied-local-mirror-directories: the user's
    ~/.terraform.d/plugins, then terraform/plugins in each XDG data directory (defaults when unset)."""
    monkeypatch.delenv("INFC_TF_PLUGIN_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.delenv("XDG_DATA_DIRS", raising=False)
    assert conftest.mirror_directories() == [
        tmp_path / ".terraform.d/plugins", tmp_path / ".local/share/terraform/plugins",
        pathlib.Path("/usr/local/share/terraform/plugins"), pathlib.Path("/usr/share/terraform/plugins"),
        pathlib.Path("/opt/tf-plugins")]
    monkeypatch.setenv("XDG_DATA_HOME", "/data/home")
    monkeypatch.setenv("XDG_DATA_DIRS", "/a:/b")
    assert conftest.mirror_directories()[1:4] == [pathlib.Path(p) for p in (
        "/data/home/terraform/plugins", "/a/terraform/plugins", "/b/terraform/plugins")]


def test_the_first_directory_holding_the_provider_is_chosen(monkeypatch, tmp_path):
    monkeypatch.delenv("INFC_TF_PLUGIN_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_DATA_DIRS", str(tmp_path / "empty"))
    (tmp_path / "home/.terraform.d/plugins/registry.terraform.io/hashicorp/google").mkdir(parents=True)
    (tmp_path / "data/terraform/plugins/registry.terraform.io/hashicorp/aws").mkdir(parents=True)
    assert conftest.provider_mirror("hashicorp/aws") == tmp_path / "data/terraform/plugins"
    assert conftest.provider_mirror("hashicorp/google") == tmp_path / "home/.terraform.d/plugins"


@pytest.mark.parametrize("required, outcome", [(False, pytest.skip.Exception), (True, pytest.fail.Exception)])
def test_a_missing_tool_skips_unless_ci_requires_it(monkeypatch, tmp_path, required, outcome):
    monkeypatch.setattr(conftest, "REQUIRE_TOOLS", required)
    monkeypatch.setenv("INFC_TF_PLUGIN_DIR", str(tmp_path))  # holds no provider
    with pytest.raises(outcome, match=f"no hashicorp/aws provider mirror in {tmp_path}"):
        conftest.provider_mirror("hashicorp/aws")
    assert conftest.require("found", "unused") == "found"
