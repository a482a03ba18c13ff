"""One scratch directory per infc process under the system temp directory; a later run removes a killed run's.

Temporary files of a synth (CDK Terrain's work directory, the jsii runtime it unpacks) all go into
`$TMPDIR/infc-run-<pid>-XXXX`, removed at exit. A run killed with SIGKILL cannot clean up, so every run first removes
the scratch directories of processes that no longer exist.
"""

from __future__ import annotations

import atexit
import functools
import os
import pathlib
import shutil
import tempfile

PREFIX = "infc-run-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale(base: pathlib.Path) -> list[pathlib.Path]:
    """Scratch directories in `base` of this user's processes that have ended; returns what was removed."""
    removed = []
    for path in base.glob(f"{PREFIX}*"):
        pid = path.name[len(PREFIX):].split("-", 1)[0]
        try:
            owner = path.lstat().st_uid
        except OSError:
            continue
        if pid.isdigit() and owner == os.getuid() and path.is_dir() and not path.is_symlink() and not _alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


@functools.cache
def directory() -> pathlib.Path:
    """This process's scratch directory, made the default of `tempfile` for the rest of the process."""
    base = pathlib.Path(tempfile.gettempdir())
    remove_stale(base)
    path = pathlib.Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=base))
    atexit.register(shutil.rmtree, path, True)
    tempfile.tempdir = str(path)
    return path
