"""Data: real image sources as in-memory tensors with deterministic splits.

>>> from dlbasic.data import load
>>> train = load("mnist5k", "train")   # doctest: +SKIP
"""

from dlbasic.data.dataset import ImageDataset, channel_stats, normalize, stratified_split, stratified_subset
from dlbasic.data.scenes import SceneSet, load_scenes
from dlbasic.data.sources import list_sources, load, parse_spec, sources

__all__ = [
    "ImageDataset",
    "SceneSet",
    "channel_stats",
    "list_sources",
    "load",
    "load_scenes",
    "normalize",
    "parse_spec",
    "sources",
    "stratified_split",
    "stratified_subset",
]
