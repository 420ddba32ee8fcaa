"""JSON and YAML from files, parsed within bounds: how deep values nest and how far YAML aliases expand.

A dataset or config file nested 100,000 deep, or a YAML "billion laughs" document (aliases of aliases,
a few hundred bytes that stand for billions of values), is refused with one `UserError` naming the file,
before anything walks the values. The bounds are far above what real files need: COCO annotations nest
five deep, a dataset YAML or a run's config.yaml three or four, and they hold thousands of values.

`loads_json` and `load_yaml` are drop-in replacements for `json.loads` and `yaml.safe_load`: syntax errors
still raise `ValueError` and `yaml.YAMLError`, for the caller to word.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from dlbasic.errors import UserError

MAX_DEPTH = 100  # lists and mappings inside one another
MAX_YAML_VALUES = 1_000_000  # values of a YAML document with every alias expanded to what it stands for

_KEEP = b'"[]{}'
_DROP = bytes(b for b in range(256) if b not in _KEEP)
_CHUNK = 1 << 22


def _too_deep(where: str | Path) -> UserError:
    return UserError(
        f"{where}: values nested more than {MAX_DEPTH} deep",
        "dataset and config files nest a few levels; this one is damaged or crafted",
    )


def json_depth(text: str | bytes) -> int:
    """How deep the arrays and objects of a JSON text nest (brackets inside strings do not count).

    Linear in the text, and at C speed: escapes and everything but quotes and brackets are dropped; the depth is
    the running maximum of the +1/-1 steps of the brackets outside strings (after an even number of quotes).
    """
    data = _utf8(text)
    if b"\\" in data:  # an escaped backslash, then an escaped quote, are not string ends
        data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    kept = data.translate(None, _DROP).replace(b"{", b"[").replace(b"}", b"]")
    import numpy as np

    chars = np.frombuffer(kept, np.uint8)
    quotes = depth = top = 0
    for start in range(0, len(chars), _CHUNK):
        part = chars[start : start + _CHUNK]
        is_quote = part == ord('"')
        outside = (np.cumsum(is_quote, dtype=np.int64) + quotes) % 2 == 0  # a closing quote counts as inside
        steps = np.where(outside, (part == ord("[")).astype(np.int64) - (part == ord("]")), 0)
        run = np.cumsum(steps) + depth
        quotes, depth = quotes + int(is_quote.sum()), int(run[-1])
        top = max(top, int(run.max()))
    return top


def _utf8(text: str | bytes) -> bytes:
    """The text as UTF-8 bytes (JSON files may be UTF-16 or UTF-32); undecodable bytes are left for json.loads."""
    if isinstance(text, str):
        return text.encode("utf-8", "surrogatepass")
    data = bytes(text)
    encoding = json.detect_encoding(data)
    if encoding not in ("utf-8", "utf-8-sig"):
        try:
            return data.decode(encoding).encode("utf-8", "surrogatepass")
        except UnicodeError:
            pass
    return data


def loads_json(text: str | bytes, where: str | Path) -> Any:
    """`json.loads(text)`, refusing (`UserError` naming `where`) values nested more than `MAX_DEPTH` deep."""
    opened = text.count("[") + text.count("{") if isinstance(text, str) else text.count(b"[") + text.count(b"{")
    if opened > MAX_DEPTH and json_depth(text) > MAX_DEPTH:  # fewer brackets cannot nest deeper
        raise _too_deep(where)
    try:
        return json.loads(text)
    except RecursionError:
        raise _too_deep(where) from None


class _Refused(Exception):
    pass


class BoundedLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` that refuses a document nested more than `MAX_DEPTH` deep, an alias of a node that
    contains it, and a document of more than `MAX_YAML_VALUES` values once its aliases are expanded."""

    def __init__(self, stream: Any):
        super().__init__(stream)
        self._depth = 0
        self._measures: dict[yaml.Node, tuple[int, int]] = {}  # node -> (values, nesting) it stands for

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        """Compose one node as `yaml.SafeLoader` does, refusing it past the depth, self-alias and value limits."""
        alias = self.check_event(yaml.AliasEvent)
        if alias:
            node = self.anchors.get(self.peek_event().anchor)
            if node is not None and node not in self._measures:
                raise _Refused(f"the alias *{self.peek_event().anchor} refers to a value that contains it")
        elif self._depth > MAX_DEPTH:  # before composing deeper: the composer recurses
            raise _Refused(f"values nested more than {MAX_DEPTH} deep")
        self._depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if not alias:
            if isinstance(node, yaml.SequenceNode):
                children = node.value
            elif isinstance(node, yaml.MappingNode):
                children = [n for pair in node.value for n in pair]
            else:
                children = []
            measures = [self._measures[c] for c in children]
            depth = 0 if isinstance(node, yaml.ScalarNode) else 1 + max((m[1] for m in measures), default=0)
            self._measures[node] = (1 + sum(m[0] for m in measures), depth)
        values, depth = self._measures[node]
        if self._depth + depth > MAX_DEPTH:
            raise _Refused(f"values nested more than {MAX_DEPTH} deep")
        if values > MAX_YAML_VALUES:
            raise _Refused(f"more than {MAX_YAML_VALUES:,} values once its aliases are expanded")
        return node


def load_yaml(text: str | bytes, where: str | Path) -> Any:
    """`yaml.safe_load(text)` within bounds (`BoundedLoader`); a `UserError` naming `where` beyond them."""
    loader = BoundedLoader(text)
    try:
        return loader.get_single_data()
    except _Refused as e:
        raise UserError(f"{where}: {e}", "dataset and config files are a few levels of plain values") from None
    except RecursionError:
        raise _too_deep(where) from None
    finally:
        loader.dispose()


__all__ = ["MAX_DEPTH", "MAX_YAML_VALUES", "BoundedLoader", "json_depth", "load_yaml", "loads_json"]
