"""Bad classification inputs end in one `UserError` line or a warning that names the file, never a traceback."""

import warnings

import numpy as np
import pytest
from PIL import Image

from dlbasic.cli import main
from dlbasic.data import load
from dlbasic.data.images import UNREADABLE, decode
from dlbasic.errors import UserError


def write_class(folder, n=3, value=100, size=(6, 6)):
    folder.mkdir(parents=True)
    for i in range(n):
        Image.fromarray(np.full((*size, 3), value, np.uint8)).save(folder / f"{i}.png")


@pytest.mark.parametrize("spec", ["folder:", "folder: ", "folder", "idx:", "cifar10:", "voc:", "coco:", "yolo:"])
def test_empty_spec_asks_for_a_path_with_an_example(spec):
    what = "file" if spec.startswith("coco") else "folder"
    name = spec.partition(":")[0]
    with pytest.raises(UserError, match=f"the {name} source needs a {what} after '{name}:'") as caught:
        load(spec, "train")
    assert f"e.g. {name}:" in str(caught.value)


def test_empty_folder_spec_on_the_command_line(capsys):
    assert main(["train", "--data", "folder:", "--epochs", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [err] and "Traceback" not in err
    assert err.startswith("dlbasic train: error: the folder source needs a folder") and "e.g. folder:" in err


def test_single_class_folder_is_refused(tmp_path):
    write_class(tmp_path / "cat")
    (tmp_path / "dog").mkdir()  # a second class without images does not count
    with pytest.raises(UserError, match="only the class 'cat' has images, so there is nothing to classify"):
        load(f"folder:{tmp_path}", "train")


def test_single_class_train_folder_is_refused(tmp_path):
    write_class(tmp_path / "train" / "cat")
    write_class(tmp_path / "test" / "cat")
    with pytest.raises(UserError, match="nothing to classify"):
        load(f"folder:{tmp_path}", "test")


def test_images_over_the_pil_pixel_limit_are_skipped_with_a_warning(tmp_path, monkeypatch):
    write_class(tmp_path / "cat", size=(4, 4))
    write_class(tmp_path / "dog", size=(4, 4), value=200)
    Image.fromarray(np.zeros((11, 11, 3), np.uint8)).save(tmp_path / "cat" / "warned.png")  # 121 px: PIL warns
    Image.fromarray(np.zeros((30, 30, 3), np.uint8)).save(tmp_path / "dog" / "refused.png")  # 900 px: PIL raises
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train = load(f"folder:{tmp_path}", "train", val_fraction=0.0, test_fraction=0.0, image_size=4)
    assert len(train) == 6 and train.classes == ["cat", "dog"]
    messages = [str(w.message) for w in caught]
    for name in ("warned.png", "refused.png"):
        assert [m for m in messages if name in m and "exceeds limit" in m], messages
    assert Image.MAX_IMAGE_PIXELS == 100  # the limit is left as it was


def test_decode_refuses_every_kind_of_bad_file(tmp_path, monkeypatch):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("not an image")
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 150)
    for name in ("empty.png", "text.png", "big.png"):
        with pytest.raises(UNREADABLE):
            decode(tmp_path / name, "L", 8)
