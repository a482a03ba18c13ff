"""Writing a plan into the output directory: one writer at a time, all files or none, and a killed run undone.

A write takes `DIR/.infc-lock` (flock: a second synth into DIR waits), rolls back what a killed run left in
`DIR/.infc-txn`, then stages every new file there, hard-links the files it will replace or delete into a backup,
writes a journal, and only then renames the staged files into place and writes the marker (the commit point). Every
file is replaced by a rename, so a reader sees the old or the new file, never a partial one. If the run dies before
the marker is written, the next run restores the backups: the previous complete output comes back.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import pathlib
import shutil
import signal
import sys
import time
from collections.abc import Iterator

from compiler.errors import CompileError, Diagnostic
from compiler.output import LOCK, MARKER, TXN, Plan, display

JOURNAL = "journal.json"


class Interrupted(BaseException):
    """SIGTERM or SIGHUP while writing: unwind like Ctrl-C, so the transaction rolls back."""


def environment_error(exc: OSError, what: str) -> CompileError:
    """A failure of the machine, not of infc (disk full, permissions, a name too long): exit 2 with the path."""
    where = display(exc.filename) if exc.filename else what
    return CompileError([Diagnostic(f"cannot write {where}: {exc.strerror or exc}; nothing was changed")])


@contextlib.contextmanager
def signals_interrupt() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into an exception for the duration, so that `finally` blocks clean up."""

    def raise_(signum, frame):
        raise Interrupted(signum)

    previous = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        try:
            previous[sig] = signal.signal(sig, raise_)
        except ValueError:  # not the main thread: leave signals alone
            pass
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def writing(out: pathlib.Path) -> Iterator[pathlib.Path]:
    """Hold `out`'s lock with a clean transaction directory; yields `out/.infc-txn` (for staging and CDK's work).
    Directories this call created are removed again when the block fails."""
    created = _make_dirs(out)
    ok = False
    try:
        with _locked(out):
            recover(out)
            txn = out / TXN
            txn.mkdir()
            try:
                yield txn
                ok = True
            finally:
                if ok:
                    shutil.rmtree(txn, ignore_errors=True)
                else:  # an error or a signal part-way: put the previous output back
                    recover(out)
    finally:
        if not ok:
            for directory in reversed(created):
                with contextlib.suppress(OSError):
                    for leftover in (LOCK,):
                        (directory / leftover).unlink(missing_ok=True)
                    directory.rmdir()


def _make_dirs(out: pathlib.Path) -> list[pathlib.Path]:
    missing = [p for p in (*reversed(out.parents), out) if not p.exists()]
    made = []
    try:
        for path in missing:
            path.mkdir()
            made.append(path)
    except OSError:
        for path in reversed(made):
            path.rmdir()
        raise
    return made


@contextlib.contextmanager
def _locked(out: pathlib.Path) -> Iterator[None]:
    fd = os.open(out / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"infc: waiting for another infc synth writing {display(out)} to finish", file=sys.stderr)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def recover(out: pathlib.Path) -> bool:
    """Undo a write that was killed before its commit point; True if there was one. Call with the lock held."""
    txn = out / TXN
    if not txn.exists():
        return False
    journal = txn / JOURNAL
    if journal.is_file():
        data = json.loads(journal.read_text(encoding="utf-8"))
        marker = out / MARKER
        committed = marker.is_file() and _digest(marker.read_bytes()) == data["marker"]
        if not committed:
            _roll_back(out, txn / "backup", data)
    _remove_tree(txn)
    return True


def _remove_tree(path: pathlib.Path, attempts: int = 100) -> None:
    """rmtree that outlasts a writer: when a signal interrupts synth, CDK Terrain's Node process may still be writing
    its work files under `path` for a moment, and a directory that gains a file while rmtree empties it fails with
    ENOTEMPTY. Retried for up to ~5 s."""
    for attempt in range(attempts):
        try:
            shutil.rmtree(path)
            return
        except FileNotFoundError:
            return
        except OSError as exc:
            if exc.errno != errno.ENOTEMPTY or attempt == attempts - 1:
                raise
            time.sleep(0.05)


def _roll_back(out: pathlib.Path, backup: pathlib.Path, data: dict) -> None:
    for rel in data["created"]:
        (out / rel).unlink(missing_ok=True)
    for rel in data["replaced"] + data["deleted"]:
        saved = backup / rel
        if saved.exists():
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            os.replace(saved, out / rel)
    for rel in reversed(data["made_dirs"]):
        with contextlib.suppress(OSError):
            (out / rel).rmdir()


def _digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def apply(out: pathlib.Path, txn: pathlib.Path, planned: Plan) -> list[str]:
    """Write `planned` into `out` (lock held, `txn` empty but for CDK's work). Returns the files that changed."""
    staged, backup = txn / "staged", txn / "backup"
    changed = {rel: content for rel, content in planned.files.items()
               if not ((out / rel).is_file() and (out / rel).read_bytes() == content)}
    changed.setdefault(MARKER, planned.files[MARKER])  # always written last: the commit point
    for rel, content in changed.items():
        try:
            _write(staged / rel, content)
        except OSError as exc:  # name the file the user knows, not its staging copy
            raise OSError(exc.errno, exc.strerror, str(out / rel)) from None
    replaced = sorted(rel for rel in changed if (out / rel).exists())
    deleted = [rel for rel in planned.delete if (out / rel).exists()]
    for rel in replaced + deleted:
        (backup / rel).parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(out / rel, backup / rel)
        except OSError:  # a file system without hard links
            shutil.copy2(out / rel, backup / rel)
    made_dirs = sorted({p.relative_to(out).as_posix() for rel in changed for p in (out / rel).parents
                        if p != out and out in p.parents and not p.exists()}, key=len)
    data = {"marker": _digest(changed[MARKER]), "created": sorted(set(changed) - set(replaced)),
            "replaced": replaced, "deleted": deleted, "made_dirs": made_dirs}
    _write(txn / JOURNAL, json.dumps(data, indent=2, sort_keys=True).encode())
    for rel in made_dirs:
        (out / rel).mkdir(exist_ok=True)
    for rel in deleted:
        (out / rel).unlink()
        with contextlib.suppress(OSError):  # an emptied stack directory goes too; one with other files stays
            (out / rel).parent.rmdir()
    for rel in sorted(changed, key=lambda r: r == MARKER):  # the marker last: the commit point
        os.replace(staged / rel, out / rel)
    _fsync_dir(out)
    return sorted(rel for rel in changed if rel != MARKER) + deleted


def _write(path: pathlib.Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(content)
        fh.flush()
        os.fsync(fh.fileno())


def _fsync_dir(path: pathlib.Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.EBADF):
            raise
    finally:
        os.close(fd)
