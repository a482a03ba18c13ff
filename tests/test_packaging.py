"""The built wheel carries every module and data file of the compiler and its targets: a package left out of
pyproject.toml installs fine in editable mode and breaks only for users who `pip install` the project."""

from __future__ import annotations

import subprocess
import sys
import zipfile

from tests.conftest import ROOT


def test_the_wheel_holds_every_file_of_compiler_and_targets(tmp_path):
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
                           capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    (wheel,) = tmp_path.glob("infc-*.whl")
    shipped = {name for name in zipfile.ZipFile(wheel).namelist() if not name.startswith("infc-")}
    tracked = subprocess.run(["git", "ls-files", "compiler", "targets"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    assert tracked and set(tracked) == shipped
