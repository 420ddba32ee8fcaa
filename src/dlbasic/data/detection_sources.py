"""Detection sets by spec (`voc:DIR`, `coco:FILE`, `yolo:DIR`), listed with the other sources.

They hold boxes rather than one label per image, so `load()` refuses them for classification;
`dlbasic.detection.datasets.load_detection(spec)` reads them.
"""

from __future__ import annotations

from pathlib import Path

from dlbasic.data.sources import RawSource, require_path, sources
from dlbasic.errors import check

EXAMPLES = {"voc": "data/VOC2007", "coco": "data/coco/annotations/instances_val2017.json", "yolo": "data/coco128"}


def _detection_source(kind: str, wants_file: bool):
    def reader(arg: str | None) -> RawSource:
        path = Path(require_path(kind, arg, "file" if wants_file else "folder", EXAMPLES[kind])).expanduser()
        check(path.is_file() if wants_file else path.is_dir(), f"no such {'file' if wants_file else 'folder'}: {path}")
        return RawSource({}, [])

    reader.__doc__ = f"`{kind}:` detection data; read with `dlbasic.detection.datasets.load_detection`."
    return reader


sources.add("voc", _detection_source("voc", wants_file=False))
sources.add("coco", _detection_source("coco", wants_file=True))
sources.add("yolo", _detection_source("yolo", wants_file=False))
