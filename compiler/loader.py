"""YAML loading that keeps file:line:col for every key and value, and refuses hostile input early."""

from __future__ import annotations

import dataclasses
import os
import re
import select
import stat
import sys
from typing import Any

import yaml

from compiler.errors import CompileError, Diagnostic, Loc, Path
from compiler.values import Yaml11, reading, text_problem

MAX_FILE_BYTES = 1 << 20  # a spec is a few KiB; a MiB is already absurd
MAX_NODES = 20_000  # nodes after alias expansion, per document: bounds billion-laughs files
MAX_FILE_NODES = 20_000  # nodes and documents as written, per file: bounds parse time and memory before building
MAX_DEPTH = 64

_MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclasses.dataclass
class Document:
    """One YAML document as plain Python data, with where each part of it was written."""

    file: str
    data: Any
    start: Loc
    values: dict[Path, Loc]  # path -> where the value starts
    keys: dict[Path, Loc]  # path -> where the mapping key naming it starts
    plain: frozenset[Path] = frozenset()  # paths of scalars written without quotes (for messages about quoting)

    def locate(self, path: Path, *, key: bool = False) -> Loc:
        """The place of `path`, or of the nearest enclosing part that was written."""
        path = tuple(path)
        while path:
            found = (self.keys.get(path) if key else None) or self.values.get(path)
            if found:
                return found
            path = path[:-1]
        return self.start


def _loc(file: str, node: yaml.Node) -> Loc:
    return Loc(file, node.start_mark.line + 1, node.start_mark.column + 1)


class _Builder:
    """Turns a composed node tree into Python data, recording positions and counting expansion."""

    def __init__(self, file: str, root: yaml.Node):
        self.file = file
        self.root = _loc(file, root)
        self.values: dict[Path, Loc] = {}
        self.keys: dict[Path, Loc] = {}
        self.errors: list[Diagnostic] = []
        self.plain: set[Path] = set()
        self.nodes = 0
        self.scalars = yaml.constructor.SafeConstructor()

    def _count(self) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise CompileError([Diagnostic(
                f"document expands to more than {MAX_NODES} nodes through aliases; refused (a spec is far smaller)",
                self.root)])

    def build(self, node: yaml.Node, path: Path) -> Any:
        self._count()
        if len(path) > MAX_DEPTH:
            raise CompileError([Diagnostic(f"nesting deeper than {MAX_DEPTH} levels", _loc(self.file, node))])
        self.values.setdefault(path, _loc(self.file, node))
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, path + (i,)) for i, item in enumerate(node.value)]
        if node.style is None:
            self.plain.add(path)
        try:
            value = self.scalars.construct_object(node)
        except yaml.constructor.ConstructorError as exc:
            self.errors.append(Diagnostic(f"cannot read value: {exc.problem}", _loc(self.file, node)))
        except ValueError as exc:  # int() past Python's digit limit, a date like 2024-02-30
            problem = "a number with too many digits" if "digits" in str(exc) else str(exc)
            self.errors.append(Diagnostic(f"cannot read value: {problem}", _loc(self.file, node)))
        except (TypeError, AttributeError):  # an explicit tag on a value it does not fit: `!!timestamp abc`
            self.errors.append(Diagnostic(f"cannot read value: {node.value[:40]!r} is not a valid "
                                          f"{node.tag.rsplit(':', 1)[-1]}", _loc(self.file, node)))
        else:
            half = _SURROGATE.search(value) if isinstance(value, str) else None
            if half is None:
                return reading(value, node.value)
            # "\ud83d" escapes one half of a UTF-16 pair: not a character, and no output file could hold it.
            self.errors.append(Diagnostic(
                f"cannot read value: \\u{ord(half.group()):04x} is half of a UTF-16 surrogate pair, not a character "
                "(write the character itself, or an escape of its code point such as \\U0001F600)",
                _loc(self.file, node)))
        return None

    def _pairs(self, node: yaml.MappingNode) -> list[tuple[yaml.Node, yaml.Node]]:
        """Key/value node pairs with `<<` merge keys applied; explicit keys win over merged ones."""
        explicit, merged = [], []
        for key, value in node.value:
            self._count()  # merged mappings are walked again for every reference: count them like aliases
            if key.tag != _MERGE_TAG:
                explicit.append((key, value))
                continue
            sources = value.value if isinstance(value, yaml.SequenceNode) else [value]
            for src in sources:
                if not isinstance(src, yaml.MappingNode):
                    self.errors.append(Diagnostic("a merge key (<<) needs a mapping or a list of mappings",
                                                  _loc(self.file, src)))
                    continue
                merged.extend(self._pairs(src))
        names = {k.value for k, _ in explicit if isinstance(k, yaml.ScalarNode)}
        seen = set()
        kept = []
        for key, value in merged:
            if key.value not in names and key.value not in seen:
                seen.add(key.value)
                kept.append((key, value))
        return explicit + kept

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict:
        out: dict = {}
        first_seen: dict[str, Loc] = {}
        for key_node, value_node in self._pairs(node):
            self.nodes += 1
            key = self.build(key_node, path + ("<key>",)) if isinstance(key_node, yaml.ScalarNode) else None
            where = _loc(self.file, key_node)
            if not isinstance(key, str):
                self.errors.append(Diagnostic(_key_problem(key_node, key), where))
                continue
            if key in first_seen:
                self.errors.append(Diagnostic(
                    f"duplicate key '{key}' (first defined at line {first_seen[key].line})", where))
                continue
            first_seen[key] = where
            self.keys[path + (key,)] = where
            out[key] = self.build(value_node, path + (key,))
        self.values.pop(path + ("<key>",), None)
        self.plain.discard(path + ("<key>",))
        return out


_SURROGATE = re.compile("[\ud800-\udfff]")


def _key_problem(node: yaml.Node, key: object) -> str:
    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
        return f"mapping keys must be strings, got {'a mapping' if isinstance(node, yaml.MappingNode) else 'a list'}"
    if isinstance(key, Yaml11):
        return f"mapping keys must be strings: {text_problem(key)}"
    if key is None and node.value:  # `~: x`, `null: x`
        return f"mapping keys must be strings: YAML reads {node.value} as null; quote it: \"{node.value}\""
    return f"mapping keys must be strings, got {node.value or 'an empty key'}"


_WIDE_BOMS = ((b"\x00\x00\xfe\xff", "UTF-32"), (b"\xff\xfe\x00\x00", "UTF-32"), (b"\xfe\xff", "UTF-16"),
              (b"\xff\xfe", "UTF-16"))


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses a file with more than MAX_FILE_NODES nodes and documents while composing it, before
    a huge file costs its full parse time and memory."""

    def __init__(self, stream, file: str):
        super().__init__(stream)
        self.file, self.composed, self.depth = file, 0, 0

    def _refuse(self, message: str) -> CompileError:
        mark = self.peek_event().start_mark
        return CompileError([Diagnostic(message, Loc(self.file, mark.line + 1, mark.column + 1))])

    def _count(self) -> None:
        self.composed += 1
        if self.composed > MAX_FILE_NODES:
            raise self._refuse(f"file has more than {MAX_FILE_NODES} YAML nodes and documents; refused (a spec is "
                               "far smaller)")

    def compose_document(self):
        self._count()
        return super().compose_document()

    def compose_node(self, parent, index):
        self._count()
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH + 1:  # the composer recurses per level: stop long before Python's limit
                raise self._refuse(f"nesting deeper than {MAX_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _compose_all(file: str, text: str) -> list[yaml.Node | None]:
    loader = _Loader(text, file)
    try:
        roots = []
        while loader.check_node():
            roots.append(loader.get_node())
        return roots
    finally:
        loader.dispose()


def _decode(file: str, raw: bytes) -> str:
    if len(raw) > MAX_FILE_BYTES:
        raise CompileError([Diagnostic(
            f"file is larger than {MAX_FILE_BYTES} bytes; a spec is a few KiB, so it is refused", Loc(file, 1, 1))])
    for bom, encoding in _WIDE_BOMS:
        if raw.startswith(bom):
            raise CompileError([Diagnostic(f"file is {encoding} (it starts with a {encoding} byte order mark); "
                                           "save it as UTF-8", Loc(file, 1, 1))])
    if b"\x00" in raw:
        offset = raw.index(b"\x00")
        line = raw.count(b"\n", 0, offset) + 1
        raise CompileError([Diagnostic("file contains NUL bytes; is it a binary file?",
                                       Loc(file, line, offset - raw.rfind(b"\n", 0, offset)))])
    raw = raw.removeprefix(b"\xef\xbb\xbf")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - raw.rfind(b"\n", 0, exc.start)
        raise CompileError([Diagnostic(f"file is not valid UTF-8 (byte 0x{raw[exc.start]:02x})",
                                       Loc(file, line, col))]) from None


def load_text(file: str, raw: bytes) -> list[Document]:
    """Every non-empty document of one file. Raises CompileError with all problems found."""
    text = _decode(file, raw)
    try:
        roots = _compose_all(file, text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Loc(file, mark.line + 1, mark.column + 1) if mark else Loc(file, 1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        if exc.problem and exc.context and exc.context_mark and exc.context_mark is not mark:
            problem += (f" ({exc.context} that starts at line {exc.context_mark.line + 1}, "
                        f"column {exc.context_mark.column + 1})")
        raise CompileError([Diagnostic(f"invalid YAML: {problem}", where)]) from None
    except yaml.reader.ReaderError as exc:  # a control character: no mark, only a position in the text
        line = text.count("\n", 0, exc.position) + 1
        col = exc.position - text.rfind("\n", 0, exc.position)
        raise CompileError([Diagnostic(f"invalid YAML: unacceptable character #x{exc.character:04x}: {exc.reason}",
                                       Loc(file, line, col))]) from None
    except yaml.YAMLError as exc:
        raise CompileError([Diagnostic(f"invalid YAML: {exc}", Loc(file, 1, 1))]) from None
    except RecursionError:
        raise CompileError([Diagnostic(f"nesting deeper than {MAX_DEPTH} levels", Loc(file, 1, 1))]) from None

    docs, errors = [], []
    for root in roots:
        if root is None or (isinstance(root, yaml.ScalarNode) and root.tag == "tag:yaml.org,2002:null"):
            continue
        builder = _Builder(file, root)
        data = builder.build(root, ())
        errors.extend(builder.errors)
        if not isinstance(data, dict):
            errors.append(Diagnostic(
                "a spec document must be a mapping with apiVersion, kind, metadata, model, hardware, targets",
                _loc(file, root)))
            continue
        docs.append(Document(file, data, _loc(file, root), builder.values, builder.keys, frozenset(builder.plain)))
    if errors:
        raise CompileError(errors)
    if not docs:
        raise CompileError([Diagnostic("empty spec: the file holds no YAML document", Loc(file, 1, 1))])
    return docs


STDIN = "-"  # the command-line convention for standard input
STDIN_NAME = "<stdin>"
PIPE_WAIT_S = 10  # how long a named pipe may stay without a writer before it is refused


def display_name(file: str) -> str:
    """How diagnostics name `file`: `<stdin>` for `-`; bytes that are not UTF-8 as \\xNN, not lone surrogates."""
    if file == STDIN:
        return STDIN_NAME
    return os.fsencode(file).decode("utf-8", "backslashreplace")


def read_input(file: str) -> bytes:
    """The bytes of a spec file, of standard input (`-`) or of a named pipe (process substitution), at most one
    byte over the size limit. A pipe that no writer opens within PIPE_WAIT_S is refused instead of blocking."""
    if file == STDIN:
        return sys.stdin.buffer.read(MAX_FILE_BYTES + 1)
    if stat.S_ISFIFO(os.stat(file).st_mode):
        fd = os.open(file, os.O_RDONLY | os.O_NONBLOCK)
        try:
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            if not poller.poll(PIPE_WAIT_S * 1000):
                raise TimeoutError(f"named pipe: nothing was written to it within {PIPE_WAIT_S} s")
            os.set_blocking(fd, True)
            chunks, size = [], 0
            while size <= MAX_FILE_BYTES and (chunk := os.read(fd, 1 << 16)):
                chunks.append(chunk)
                size += len(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)
    with open(file, "rb") as fh:
        return fh.read(MAX_FILE_BYTES + 1)


def load_file(file: str) -> list[Document]:
    name = display_name(file)
    try:
        raw = read_input(file)
    except TimeoutError as exc:
        raise CompileError([Diagnostic(f"cannot read file: {exc}", Loc(name, 1, 1))]) from None
    except OSError as exc:
        raise CompileError([Diagnostic(f"cannot read file: {exc.strerror or exc}", Loc(name, 1, 1))]) from None
    return load_text(name, raw)
