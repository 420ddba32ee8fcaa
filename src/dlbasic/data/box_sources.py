"""The sources whose labels are boxes (`voc:DIR`, `coco:FILE`, `yolo:DIR`): their spec grammar and their entries
in the source registry.

They are listed with the other sources (`list_sources()`), and `load()` refuses them for classification
(`use it with dlbasic detect`); `dlbasic.detection.data` finds their files and reads them (`sources.load_detection`,
one module per format). This module knows only their names and how a spec names a path and its options.
"""

from __future__ import annotations

import re
from pathlib import Path

from dlbasic.data.sources import RawSource, require_path, sources
from dlbasic.errors import check

EXAMPLES = {"voc": "data/VOC2007", "coco": "data/coco/annotations/instances_val2017.json", "yolo": "data/coco128"}
OPTIONS = {"voc": (), "coco": ("images",), "yolo": ()}  # the options each format's spec takes
BOX_FORMATS = tuple(OPTIONS)


def parse_detection_spec(spec: str) -> tuple[str, Path, dict[str, str]]:
    """'coco:ann.json,images=DIR' -> ('coco', Path('ann.json'), {'images': 'DIR'}); `UserError` for unknown
    options. A comma followed by no `key=` stays part of the path."""
    kind, sep, arg = spec.partition(":")
    check(kind in OPTIONS, f"unknown detection data spec {spec!r}", "write voc:DIR, coco:FILE.json, yolo:DIR or scenes")
    parts = require_path(kind, arg if sep else None, "file" if kind == "coco" else "folder", EXAMPLES[kind]).split(",")
    options: dict[str, str] = {}
    while len(parts) > 1 and re.fullmatch(r"[a-z_]+=.*", parts[-1]):
        key, _, value = parts.pop().partition("=")
        options[key] = value
    unknown = sorted(set(options) - set(OPTIONS[kind]))
    check(
        not unknown,
        f"{kind}: has no option {', '.join(unknown)}",
        f"options: {', '.join(OPTIONS[kind])}" if OPTIONS[kind] else f"{kind}: takes a folder and no options",
    )
    return kind, Path(",".join(parts)).expanduser(), options


# ---- the registry entries (classification refuses them) ----


def _box_source(kind: str):
    def reader(arg: str | None) -> RawSource:
        _, path, _ = parse_detection_spec(f"{kind}:{arg if arg is not None else ''}")
        check(path.exists(), f"no such {'file or folder' if kind == 'coco' else 'folder'}: {path}")
        return RawSource({}, [])

    reader.__doc__ = f"`{kind}:` detection data; read with `dlbasic.detection.data.sources.load_detection`."
    return reader


for _kind in BOX_FORMATS:
    sources.add(_kind, _box_source(_kind))
