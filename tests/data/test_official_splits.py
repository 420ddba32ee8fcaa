"""Official splits are kept (a folder's train/val/test), and `eval --data` scores a folder of one's own whole."""

import json

import numpy as np
import pytest
from PIL import Image

from dlbasic.cli import main
from dlbasic.data import load


def write_classes(root, counts: dict[str, int], seed: int = 0):
    rng = np.random.default_rng(seed)
    for name, n in counts.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            value = 40 if name == "cat" else 200
            Image.fromarray(np.clip(rng.normal(value, 20, (8, 8)), 0, 255).astype(np.uint8)).save(
                root / name / f"{name}{i}.png"
            )


@pytest.fixture(autouse=True)
def data_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("DLBASIC_CACHE", str(tmp_path_factory.mktemp("cache")))


def test_a_folders_train_val_test_are_its_splits(tmp_path):
    write_classes(tmp_path / "train", {"cat": 10, "dog": 10})
    write_classes(tmp_path / "valid", {"cat": 3, "dog": 2}, seed=1)
    write_classes(tmp_path / "test", {"cat": 4, "dog": 4}, seed=2)
    spec = f"folder:{tmp_path}"
    train, val, test = (load(spec, s, image_size=8) for s in ("train", "val", "test"))
    assert (len(train), len(val), len(test)) == (20, 5, 8)  # nothing held out of train
    assert val.info["val"] == "official validation set" and test.info["test"] == "official test set"
    single = tmp_path / "flat"
    write_classes(single, {"cat": 10, "dog": 10})
    assert "stratified" in load(f"folder:{single}", "val", image_size=8).info["val"]


def test_eval_on_a_folder_of_ones_own_scores_all_of_it(tmp_path, capsys):
    write_classes(tmp_path / "data", {"cat": 20, "dog": 20})
    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--data",
                f"folder:{tmp_path / 'data'}",
                "--image-size",
                "8",
                "--model",
                "mlp",
                "--epochs",
                "1",
                "--threads",
                "1",
                "--no-progress",
                "--run-dir",
                str(run),
            ]
        )
        == 0
    )
    write_classes(tmp_path / "mine", {"dog": 7}, seed=3)  # one class, by name: dog is the model's class 1
    capsys.readouterr()
    assert main(["eval", "--checkpoint", str(run / "best.pt"), "--data", f"folder:{tmp_path / 'mine'}"]) == 2
    assert "only the class 'dog' has images" in capsys.readouterr().err  # a folder source needs two classes
    write_classes(tmp_path / "mine", {"cat": 5}, seed=4)
    assert main(["eval", "--checkpoint", str(run / "best.pt"), "--data", f"folder:{tmp_path / 'mine'}"]) == 0
    out = capsys.readouterr().out
    result = json.loads(out[: out.rindex("}") + 1])
    assert result["images"] == 12 and result["split"] == "all"
    assert f"scored 12 images of folder:{tmp_path / 'mine'} (all of them)" in out
    assert main(["eval", "--checkpoint", str(run / "best.pt")]) == 0  # its own data: the held-out test split
    out = capsys.readouterr().out
    assert json.loads(out[: out.rindex("}") + 1])["split"] == "test" and "its test split" in out
