"""Manifest YAML -> plain data (dicts, lists, scalars), remembering where every key and value sits.

PyYAML's composer gives nodes with marks (libyaml's ``CSafeLoader`` where PyYAML was built with it,
else the pure-Python ``SafeLoader``: both give the same lines and columns). Building the values
ourselves keeps each one's line and column for error messages and refuses tags a manifest has no
use for. The records it fills are yamldoc.py's, which the checks import without PyYAML.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from s3lync.manifest.yamldoc import DocPath, Document, Fatal, Loc, Parsed, Pos, line_col, quote

# libyaml is ~10x faster than the pure-Python reader; both give the same marks.
INSTALLED_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
LOADER = INSTALLED_LOADER  # what parse uses (tests of the fallback set SafeLoader)

# YAML tags of the nodes we accept; anything else (!Ref, !!python/..., !!set) is refused.
_STR_TAG = "tag:yaml.org,2002:str"
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_NULL_TAG = "tag:yaml.org,2002:null"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
# Aliases can expand a small file into a huge tree ("billion laughs"); a real manifest is far below these.
_MAX_NODES = 100_000
_MAX_DEPTH = 64


def _loc(node: Node) -> Loc:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _short_tag(tag: str) -> str:
    return tag.replace("tag:yaml.org,2002:", "!!")


class _Builder(Document):
    """Turns a composed YAML node tree into dicts/lists/scalars, recording positions and problems."""

    def __init__(self) -> None:
        super().__init__()
        self._constructor = SafeConstructor()
        self._count = 0
        self._active: set[int] = set()  # ids of collection nodes being built, to catch alias cycles

    def build(self, node: Node, path: DocPath, key_loc: Loc | None) -> Any:
        self._count += 1
        loc = _loc(node)
        if self._count > _MAX_NODES or len(path) > _MAX_DEPTH:
            raise Fatal(loc, "document is too large or nested too deeply (alias expansion?)")
        self.positions[path] = Pos(key_loc or loc, loc)
        if isinstance(node, ScalarNode):
            return self._scalar(node, path, loc)
        if id(node) in self._active:
            self.problem(loc, path, "recursive YAML alias", bad=True)
            return None
        if node.tag not in (_MAP_TAG, _SEQ_TAG):
            self.problem(loc, path, f"unsupported YAML tag {quote(_short_tag(node.tag))}", bad=True)
            return None
        self._active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                return [self.build(item, (*path, i), None) for i, item in enumerate(node.value)]
            assert isinstance(node, MappingNode)
            return self._mapping(node, path)
        finally:
            self._active.discard(id(node))

    def _scalar(self, node: ScalarNode, path: DocPath, loc: Loc) -> Any:
        # Timestamps stay text: no field wants a date, and editors (YAML 1.2) read them as strings.
        if node.tag in (_STR_TAG, _TIMESTAMP_TAG):
            return node.value
        try:
            return self._constructor.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as exc:
            message = f"cannot read {quote(node.value)}: {exc.problem}"
            if node.tag not in self._constructor.yaml_constructors:
                message = f"unsupported YAML tag {quote(_short_tag(node.tag))}"
            self.problem(loc, path, message, bad=True)
        except (yaml.YAMLError, ValueError, OverflowError) as exc:
            self.problem(loc, path, f"cannot read {quote(node.value)}: {exc}", bad=True)
        return None

    def _pairs(self, node: MappingNode, path: DocPath) -> list[tuple[Node, Node, bool]]:
        """Key/value node pairs with ``<<`` merges flattened; explicit pairs first, as YAML requires."""
        self._count += len(node.value)
        if self._count > _MAX_NODES:
            raise Fatal(_loc(node), "document is too large (alias expansion?)")
        explicit: list[tuple[Node, Node, bool]] = []
        merged: list[tuple[Node, Node, bool]] = []
        for key_node, value_node in node.value:
            if key_node.tag != _MERGE_TAG:
                explicit.append((key_node, value_node, True))
                continue
            sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
            for source in sources:
                if id(source) in self._active:
                    self.problem(_loc(source), path, "recursive YAML alias")
                    continue
                if not isinstance(source, MappingNode):
                    self.problem(_loc(source), path, "'<<' must merge a mapping (or list of them)")
                    continue
                self._active.add(id(source))
                try:
                    merged.extend((k, v, False) for k, v, _ in self._pairs(source, path))
                finally:
                    self._active.discard(id(source))
        return explicit + merged

    def _mapping(self, node: MappingNode, path: DocPath) -> dict[str, Any]:
        result: dict[str, Any] = {}
        key_lines: dict[str, int] = {}
        for key_node, value_node, explicit in self._pairs(node, path):
            key_loc = _loc(key_node)
            if not (isinstance(key_node, ScalarNode) and key_node.tag == _STR_TAG):
                if isinstance(key_node, ScalarNode):
                    kind = key_node.tag.rsplit(":", 1)[-1]
                    message = (
                        f"key {quote(key_node.value)} is read as {kind}, not a string; quote it"
                    )
                else:
                    message = "a key must be a string, not a list or mapping"
                self.problem(key_loc, path, message)
                continue
            key = key_node.value
            if key in result:
                if explicit:  # a merged key is meant to be overridden; a repeated one is a mistake
                    message = f"duplicate key {quote(key)} (first on line {key_lines[key]})"
                    self.problem(key_loc, (*path, key), message)
                continue
            key_lines[key] = key_loc[0]
            result[key] = self.build(value_node, (*path, key), key_loc)
        return result


class _PureSafeLoader(yaml.SafeLoader):
    """PyYAML's pure-Python SafeLoader, reading an empty scalar tagged ``!`` (``a: !``) as the
    empty string, as libyaml does, not as null: a manifest means the same with or without libyaml."""

    def compose_scalar_node(self, anchor: Any) -> ScalarNode:
        """The next scalar as a node; an empty one tagged ``!`` is a string."""
        event: Any = self.peek_event()  # type: ignore[no-untyped-call]
        if getattr(event, "tag", None) != "!" or event.value:
            node: ScalarNode = super().compose_scalar_node(anchor)
            return node
        self.get_event()  # type: ignore[no-untyped-call]
        node = ScalarNode(
            _STR_TAG, event.value, event.start_mark, event.end_mark, style=event.style
        )
        if anchor is not None:
            self.anchors[anchor] = node
        return node


def _compose(text: str, loader: type[yaml.SafeLoader]) -> Node | None:
    if loader is yaml.SafeLoader:
        loader = _PureSafeLoader
    try:
        return yaml.compose(text, Loader=loader)
    except UnicodeEncodeError as exc:
        # libyaml reads UTF-8, which a lone surrogate (possible only in text handed to the library,
        # never in a file read as UTF-8) cannot be encoded to.
        char = f"#x{ord(text[exc.start]):04x}"
        message = f"invalid YAML: unacceptable character {char}: a lone surrogate"
        raise Fatal(line_col(text, exc.start), message) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        detail = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.problem:
            detail = f"{exc.problem} ({exc.context})"
        raise Fatal(where, f"invalid YAML: {detail}") from None
    except yaml.reader.ReaderError as exc:
        index = exc.position
        if not issubclass(loader, _PureSafeLoader):
            # libyaml counts the offset in bytes of the UTF-8 it was given, not in characters.
            index = len(text.encode("utf-8")[: exc.position].decode("utf-8", "ignore"))
        char = f"#x{exc.character:04x}" if isinstance(exc.character, int) else repr(exc.character)
        message = f"invalid YAML: unacceptable character {char}: control characters are not allowed"
        raise Fatal(line_col(text, index), message) from None
    except yaml.YAMLError as exc:
        raise Fatal((1, 1), f"invalid YAML: {exc}") from None
    except RecursionError:
        raise Fatal((1, 1), "invalid YAML: nested too deeply") from None


def parse(text: str, loader: type[yaml.SafeLoader] | None = None) -> Parsed:
    """Compose ``text`` (safe tags only) into plain data plus where everything sits."""
    node = _compose(text, loader or LOADER)
    if node is None or (isinstance(node, ScalarNode) and node.tag == _NULL_TAG):
        raise Fatal((1, 1), "<root>: file is empty; expected `version: 1` and `mappings:`")
    if not isinstance(node, MappingNode):
        kind = "a list" if isinstance(node, SequenceNode) else f"the value {quote(node.value)}"
        message = f"<root>: top level must be a mapping with `version` and `mappings`, not {kind}"
        raise Fatal(_loc(node), message)
    if node.tag != _MAP_TAG:
        raise Fatal(_loc(node), f"<root>: unsupported YAML tag {quote(_short_tag(node.tag))}")
    builder = _Builder()
    return builder.build(node, (), None), builder
