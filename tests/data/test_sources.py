import gzip
import pickle
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from dlbasic.data import list_sources, load, stratified_split, stratified_subset
from dlbasic.data.idx import read_idx
from dlbasic.errors import UserError


def test_list_sources_has_the_documented_names():
    assert {"mnist5k", "digits", "idx", "cifar10", "folder", "scenes", "voc", "coco", "yolo"} <= set(list_sources())


def test_mnist5k_splits_are_disjoint_stratified_and_deterministic():
    parts = {s: load("mnist5k", s) for s in ("train", "val", "test")}
    assert [len(parts[s]) for s in ("train", "val", "test")] == [3600, 400, 1000]
    for d in parts.values():
        assert d.images.dtype == torch.float32 and d.images.shape[1:] == (1, 28, 28)
        assert d.images.min() >= 0.0 and d.images.max() <= 1.0
        assert torch.equal(torch.bincount(d.labels), torch.full((10,), len(d) // 10))
    # disjoint: no image of the test split appears in train
    flat = {s: d.images.flatten(1) for s, d in parts.items()}
    assert torch.cdist(flat["test"][:200], flat["train"]).min() > 0
    again = load("mnist5k", "test", seed=0)
    assert torch.equal(again.images, parts["test"].images)
    other = load("mnist5k", "test", seed=1)
    assert not torch.equal(other.labels, parts["test"].labels) or not torch.equal(other.images, again.images)


def test_normalization_statistics_come_from_the_train_split():
    train, test = load("digits", "train"), load("digits", "test")
    assert torch.allclose(test.mean, train.images.mean(dim=(0, 2, 3)), atol=1e-6)
    assert torch.allclose(test.std, train.images.transpose(0, 1).flatten(1).std(1), atol=1e-5)
    assert not torch.allclose(test.mean, test.images.mean(dim=(0, 2, 3)), atol=1e-6)
    z = train.normalize(train.images)
    assert abs(z.mean().item()) < 1e-4 and abs(z.std().item() - 1) < 1e-3


def test_stratified_split_takes_the_fraction_of_every_class():
    labels = torch.tensor([0] * 50 + [1] * 30 + [2] * 20)
    rest, part = stratified_split(labels, 0.2, seed=3)
    assert torch.bincount(labels[part]).tolist() == [10, 6, 4]
    assert sorted(torch.cat([rest, part]).tolist()) == list(range(100))


def test_stratified_subset_is_exact_and_proportional():
    labels = torch.tensor([0] * 50 + [1] * 30 + [2] * 20)
    for n in (1, 7, 33, 99, 100):
        keep = stratified_subset(labels, n, seed=0)
        assert keep.numel() == n and keep.unique().numel() == n
        expected = torch.tensor([50, 30, 20]) * n / 100
        assert (torch.bincount(labels[keep], minlength=3) - expected).abs().max() <= 1


def test_image_size_resizes():
    d = load("digits", "val", image_size=16)
    assert d.images.shape[-2:] == (16, 16) and d.image_size == 16


def test_unknown_source_suggests():
    with pytest.raises(UserError, match="did you mean 'mnist5k'"):
        load("mnist5", "train")


def write_idx(path, array: np.ndarray, code: int = 0x08, gz: bool = True, cut: int = 0):
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    raw = (header + array.astype(">u1").tobytes())[: -cut or None]
    path.write_bytes(gzip.compress(raw) if gz else raw)


@pytest.mark.parametrize("gz", [True, False])
def test_idx_reads_train_and_t10k(tmp_path, gz):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 40), ("t10k", 20)):
        suffix = ".gz" if gz else ""
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte{suffix}", rng.integers(0, 256, (n, 6, 6)), gz=gz)
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte{suffix}", np.arange(n) % 4, gz=gz)
    arr = read_idx(tmp_path / f"train-images-idx3-ubyte{'.gz' if gz else ''}")
    test = load(f"idx:{tmp_path}", "test")
    assert len(test) == 20 and test.images.shape[1:] == (1, 6, 6)
    assert test.info["test"] == "official test set"
    train, val = load(f"idx:{tmp_path}", "train"), load(f"idx:{tmp_path}", "val")
    assert len(train) + len(val) == 40
    pixels = (torch.cat([train.images, val.images]) * 255).round().long()
    assert pixels.sum().item() == arr.astype(np.int64).sum()


def test_idx_truncated_and_corrupt_files_are_user_errors(tmp_path):
    write_idx(tmp_path / "cut.idx", np.zeros((5, 4, 4)), gz=False, cut=7)
    with pytest.raises(UserError, match="truncated"):
        read_idx(tmp_path / "cut.idx")
    (tmp_path / "bad.gz").write_bytes(b"\x1f\x8b" + b"garbage" * 10)
    with pytest.raises(UserError, match="gzip"):
        read_idx(tmp_path / "bad.gz")
    (tmp_path / "magic.idx").write_bytes(b"PK\x03\x04rest")
    with pytest.raises(UserError, match="magic"):
        read_idx(tmp_path / "magic.idx")
    with pytest.raises(UserError, match="no train images"):
        load(f"idx:{tmp_path}", "train")


def test_idx_real_mnist_headers(shared_data):
    labels = read_idx(shared_data / "mnist" / "t10k-labels-idx1-ubyte.gz")
    assert labels.shape == (10000,) and np.bincount(labels)[0] == 980  # MNIST test has 980 zeros


def test_cifar10_batches(tmp_path):
    rng = np.random.default_rng(0)
    for name, n in [("data_batch_1", 30), ("data_batch_2", 30), ("test_batch", 20)]:
        batch = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"labels": list(np.arange(n) % 10)}
        with open(tmp_path / name, "wb") as f:
            pickle.dump(batch, f)
    with open(tmp_path / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [f"c{i}".encode() for i in range(10)]}, f)
    test = load(f"cifar10:{tmp_path}", "test")
    assert test.images.shape == (20, 3, 32, 32) and test.classes[3] == "c3"
    with open(tmp_path / "test_batch", "rb") as f:
        raw = pickle.load(f)[b"data"]
    assert torch.equal((test.images[0] * 255).round().to(torch.uint8).flatten(), torch.from_numpy(raw[0]))
    (tmp_path / "data_batch_2").write_bytes(b"not a pickle")
    from dlbasic.data.sources import _raw, _splits

    _raw.cache_clear()
    _splits.cache_clear()
    with pytest.raises(UserError, match="not a readable CIFAR batch"):
        load(f"cifar10:{tmp_path}", "train")


def test_folder_source_with_train_and_test(tmp_path):
    for split, n in (("train", 6), ("test", 2)):
        for cls, value in (("cat", 40), ("dog", 200)):
            (tmp_path / split / cls).mkdir(parents=True)
            for i in range(n):
                Image.fromarray(np.full((10, 14, 3), value, np.uint8)).save(tmp_path / split / cls / f"{i}.png")
    (tmp_path / "train" / "dog" / "broken.png").write_bytes(b"not an image")
    with pytest.warns(UserWarning, match="broken.png"):
        train = load(f"folder:{tmp_path}", "train", val_fraction=0.0, image_size=8)
    assert train.classes == ["cat", "dog"] and train.images.shape == (12, 3, 8, 8)
    test = load(f"folder:{tmp_path}", "test", image_size=8)
    assert len(test) == 4 and torch.allclose(test.images[test.labels == 1], torch.tensor(200 / 255))


def test_missing_folder_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="no such folder"):
        load(f"folder:{tmp_path / 'nope'}", "train")


def test_detection_sources_are_refused_for_classification(shared_data):
    with pytest.raises(UserError, match="not a labelled image classification source"):
        load(f"voc:{shared_data / 'kangaroo'}", "train")
