"""segfolder pairs are decoded once into the cache of decoded folders: uint8 images and masks mapped from `.npy`
files, masks resized with nearest neighbour once per size, decoded again when a file changes."""

import os
import warnings

import numpy as np
import torch
from PIL import Image

from dlbasic.segmentation import data as segdata
from dlbasic.segmentation.data import load_segmentation


def write(root, n=6, size=(20, 24)):
    rng = np.random.default_rng(0)
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    masks = []
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(root / "images" / f"s{i}.png")
        ids = rng.integers(0, 3, size).astype(np.uint8)
        Image.fromarray(ids, "L").save(root / "masks" / f"s{i}.png")
        masks.append(ids)
    Image.fromarray(np.zeros((*size, 3), np.uint8)).save(root / "images" / "lonely.png")  # no mask: warned
    return masks


def load(spec, split="train"):
    segdata._read_segfolder.cache_clear()  # as a new process would
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = load_segmentation(spec, split, test_fraction=0.0, val_fraction=0.0)
    return data, [str(w.message) for w in caught]


def test_decoded_once_then_mapped(tmp_path, data_cache):
    truth = write(tmp_path / "set")
    spec = f"segfolder:{tmp_path / 'set'},size=8"
    first, said = load(spec)
    assert first.pixels.dtype == torch.uint8 and first.labels.dtype == torch.uint8
    assert len(list(data_cache.glob("segfolder-*.json"))) == 1
    second, said_again = load(spec)
    assert said == said_again and any("lonely.png" in text for text in said)  # said on every load
    assert torch.equal(first.pixels, second.pixels) and torch.equal(first.labels, second.labels)
    assert torch.equal(first.mean, second.mean) and torch.equal(first.std, second.std)
    assert [m.numpy().tolist() for m in second.full_labels] == [t.tolist() for t in truth]  # own resolution
    x, y = second.batch(slice(0, 6))
    want = torch.nn.functional.interpolate(torch.from_numpy(np.stack(truth))[:, None].float(), size=(8, 8))
    assert torch.equal(y, want[:, 0].long())  # nearest
    assert torch.equal(x, second.pixels.float() / 255)
    pixels = second.pixels.float() / 255  # the statistics are the stored pixels' own
    assert torch.allclose(second.mean, pixels.mean((0, 2, 3)), atol=1e-6)
    # a changed mask is decoded again
    changed = truth[0].copy()
    changed[:] = 2
    Image.fromarray(changed, "L").save(tmp_path / "set" / "masks" / "s0.png")
    os.utime(tmp_path / "set" / "masks" / "s0.png", ns=(1, 1))
    third, _ = load(spec)
    assert (third.full_labels[0] == 2).all() and not torch.equal(third.labels, second.labels)
    assert len(list(data_cache.glob("segfolder-*.json"))) == 1 and len(list(data_cache.glob("segfolder-*.npy"))) == 4
