"""Writing and comparing output directories: staged, then swapped in whole, never half-written."""

from __future__ import annotations

import filecmp
import os
import pathlib
import shutil
import tempfile


def staging_dir(outdir: str) -> str:
    """A fresh directory beside `outdir` (same filesystem, so the final rename is atomic)."""
    parent = pathlib.Path(outdir).resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    return tempfile.mkdtemp(prefix=f".{pathlib.Path(outdir).name}.new-", dir=parent)


def replace_dir(staged: str, outdir: str) -> None:
    """Move `staged` to `outdir`, replacing an existing `outdir` whole."""
    out = pathlib.Path(outdir)
    if not out.exists():
        os.rename(staged, out)
        return
    if not out.is_dir():
        raise NotADirectoryError(f"{outdir} exists and is not a directory")
    backup = pathlib.Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.resolve().parent))
    os.rename(out, backup / out.name)
    try:
        os.rename(staged, out)
    except OSError:
        os.rename(backup / out.name, out)
        raise
    finally:
        shutil.rmtree(backup, ignore_errors=True)


def files(root: str) -> dict[str, pathlib.Path]:
    base = pathlib.Path(root)
    return {p.relative_to(base).as_posix(): p for p in sorted(base.rglob("*")) if p.is_file()} if base.is_dir() else {}


def differences(expected_root: str, actual_root: str) -> list[str]:
    """Relative paths that are missing, extra or different in `actual_root`."""
    expected, actual = files(expected_root), files(actual_root)
    out = [f"missing: {p}" for p in expected if p not in actual]
    out += [f"extra: {p}" for p in actual if p not in expected]
    out += [f"differs: {p}" for p in expected if p in actual and not filecmp.cmp(expected[p], actual[p], shallow=False)]
    return sorted(out)
