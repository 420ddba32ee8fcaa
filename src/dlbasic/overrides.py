"""KEY=VALUE text from the command line, typed by the field it sets: the one parser of every such option.

`--model-option act=tanh`, `cv --vary lr=1e-3,1e-2`, `compare --vary optimizer=sgd,adam`,
`tune --search lr=log:1e-4:1e-1` and the options inside data specs (`segfolder:DIR,size=64`,
`scenes:canvas=96,digits=1-4`) all read their values here:

>>> scalar("1e-3"), scalar("3"), scalar("none"), scalar("[64, 32]"), scalar("adam")
(0.001, 3, None, [64, 32], 'adam')
>>> assignment("hidden=[64,32]")
('hidden', [64, 32])
>>> choices("batch-size=32,full,[1, 2]")
('batch_size', [32, 'full', [1, 2]])

YAML reads lists and mappings, but numbers are read by Python's rules: YAML 1.1 (PyYAML) takes `1e-3`
for a string. Values typed for a dataclass field are checked against its annotation by `coerce`.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Iterable
from typing import Any

import yaml

from dlbasic.errors import UserError, check, did_you_mean

_INT = re.compile(r"[-+]?\d+")
_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|[-+]?(inf|nan)", re.IGNORECASE)
_WORDS = {"true": True, "false": False, "none": None, "null": None, "~": None}


def yaml_problem(e: Exception) -> str:
    """A YAML parser error in one line: what is wrong and where."""
    problem, mark = getattr(e, "problem", None), getattr(e, "problem_mark", None)
    if problem and mark is not None:
        return f"{problem} at line {mark.line + 1}, column {mark.column + 1}"
    return " ".join(str(e).split())


def _numbers(value: Any) -> Any:
    """Strings inside YAML lists and mappings that are numbers by Python's rules, as numbers."""
    if isinstance(value, list):
        return [_numbers(v) for v in value]
    if isinstance(value, dict):
        return {k: _numbers(v) for k, v in value.items()}
    return scalar(value) if isinstance(value, str) else value


def scalar(text: str) -> Any:
    """One value as typed: int, float (`1e-3`, `inf`), true/false, none/null, a YAML `[list]` or `{mapping}`,
    else the text itself. Raises ValueError when a list or mapping is not valid YAML."""
    s = text.strip()
    if _INT.fullmatch(s):
        return int(s)
    if _FLOAT.fullmatch(s):
        return float(s)
    if s.lower() in _WORDS:
        return _WORDS[s.lower()]
    if s[:1] and s[0] in "[{":
        try:
            return _numbers(yaml.safe_load(s))
        except yaml.YAMLError as e:
            raise ValueError(f"{s!r} is not valid YAML ({yaml_problem(e)})") from None
    return s


def split_top_level(text: str, sep: str = ",") -> list[str]:
    """`text` split at `sep` outside brackets: 'a,[1,2],b' -> ['a', '[1,2]', 'b']."""
    parts, depth, start = [], 0, 0
    for i, c in enumerate(text):
        depth += c in "[{"
        depth -= c in "]}"
        if c == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    return [*parts, text[start:]]


def _key(text: str, form: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    key = key.strip().replace("-", "_")
    check(bool(sep) and bool(key) and bool(value.strip()), f"expected {form}, got {text!r}")
    return key, value


def assignment(text: str) -> tuple[str, Any]:
    """'KEY=VALUE' -> (key, typed value); dashes in the key become underscores."""
    key, value = _key(text, "KEY=VALUE")
    try:
        return key, scalar(value)
    except ValueError as e:
        raise UserError(f"{text}: {e}") from None


def choices(text: str) -> tuple[str, list[Any]]:
    """'KEY=V1,V2,...' -> (key, [typed values]); commas inside brackets belong to a list value."""
    key, values = _key(text, "KEY=V1,V2,...")
    try:
        return key, [scalar(v) for v in split_top_level(values) if v.strip()]
    except ValueError as e:
        raise UserError(f"{text}: {e}") from None


def argument(parse):
    """`parse` as an argparse `type=`: its UserError becomes argparse's one-line error for the option."""
    import argparse
    import functools

    @functools.wraps(parse)
    def typed(text: str) -> Any:
        try:
            return parse(text)
        except UserError as e:
            raise argparse.ArgumentTypeError(e.message) from None

    return typed


def coerce(name: str, value: Any, hint: Any) -> Any:
    """`value` checked against the type annotation `hint` of field `name` (ints become floats where floats
    are expected; a number becomes its text where only text is expected); UserError if it does not fit."""
    options = (
        typing.get_args(hint)
        if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union
        else (hint,)
    )
    for option in options:
        origin = typing.get_origin(option) or option
        if option is type(None) and value is None:
            return None
        if origin is float and isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if origin is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if origin is bool and isinstance(value, bool):
            return value
        if origin in (str, dict, list) and isinstance(value, origin):
            return value
    if str in options and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise UserError(f"{name!r} has value {value!r}, which is not a {_type_name(hint)}")


def _type_name(hint: Any) -> str:
    return str(hint).replace("typing.", "").replace("<class '", "").replace("'>", "")


def _range(name: str, text: str, hint: Any) -> tuple:
    """'A-B' (or 'A') -> (A, B) for a field annotated tuple[T, T]."""
    kind = typing.get_args(hint)[0]
    lo, _, hi = text.strip().partition("-")
    try:
        return kind(lo), kind(hi or lo)
    except ValueError:
        raise UserError(f"{name}={text} is not a range such as 1-4") from None


def options(items: Iterable[str], cls: type, what: str) -> dict[str, Any]:
    """Options of a data spec ('size=64', 'digits=1-4', ...) as a dict of values typed for the dataclass
    `cls`; unknown names and values of the wrong type are one UserError each, naming `what`."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or key not in names:
            raise UserError(f"bad {what} option {item!r}", did_you_mean(key, names) or "options: " + ", ".join(names))
        hint = hints[key]
        if typing.get_origin(hint) is tuple:
            out[key] = _range(key, text, hint)
            continue
        value = text.strip() if hint is str else scalar(text)
        if hint is bool and value in (0, 1):  # invert=1
            value = bool(value)
        try:
            out[key] = coerce(key, value, hint)
        except UserError:
            raise UserError(f"bad value in {what} option {item!r}: expected {_type_name(hint)}") from None
    return out
