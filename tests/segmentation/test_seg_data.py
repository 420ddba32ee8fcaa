"""segfolder: pairs by stem, sub-folder names, id/palette/RGB/binary masks, ignore index; scenes masks."""

import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from dlbasic.cli import main
from dlbasic.data import load_scenes
from dlbasic.errors import UserError
from dlbasic.segmentation.data import load_segmentation, read_segfolder

pytestmark = pytest.mark.filterwarnings("ignore:.*have no mask in:UserWarning")  # write_pairs adds no_mask.png


def write_pairs(root, images="images", masks="masks", n=10, kind="ids", seed=0):
    rng = np.random.default_rng(seed)
    (root / images).mkdir(parents=True)
    (root / masks).mkdir(parents=True)
    truth = []
    for i in range(n):
        ids = rng.integers(0, 3, (12, 16))
        ids[0, 0] = 255  # one void pixel
        Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)).save(root / images / f"s{i}.png")
        if kind == "ids":
            Image.fromarray(ids.astype(np.uint8), "L").save(root / masks / f"s{i}.png")
        elif kind == "palette":
            im = Image.fromarray(ids.astype(np.uint8), "P")
            im.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0] + [224, 224, 192] * 253)
            im.save(root / masks / f"s{i}.png")
        elif kind == "rgb":
            colors = {0: (0, 0, 0), 1: (200, 10, 10), 2: (10, 200, 10), 255: (255, 255, 255)}
            rgb = np.array([[colors[v] for v in row] for row in ids], dtype=np.uint8)
            Image.fromarray(rgb, "RGB").save(root / masks / f"s{i}.png")
        truth.append(ids)
    Image.fromarray(np.zeros((12, 16, 3), np.uint8)).save(root / images / "no_mask.png")  # skipped: no pair
    return truth


def all_masks(spec):
    parts = [load_segmentation(f"segfolder:{spec}", s) for s in ("train", "val", "test")]
    return parts, sum(len(p) for p in parts)


def test_id_masks_pair_by_stem_and_keep_the_void_index(tmp_path):
    truth = write_pairs(tmp_path)
    pools, classes, ignore, _ = read_segfolder(str(tmp_path))
    x, y = pools["train"]
    assert x.shape == (10, 3, 12, 16) and y.shape == (10, 12, 16) and classes == ["0", "1", "2"] and ignore == 255
    order = sorted(range(10), key=lambda i: (len(f"s{i}"), f"s{i}"))
    np.testing.assert_array_equal(y.numpy(), np.stack([truth[i] for i in order]))
    parts, total = all_masks(str(tmp_path))
    assert total == 10 and len(parts[1]) == 1 and len(parts[2]) == 2  # 10% val, 20% test
    assert parts[0].labels.dtype == torch.uint8 and parts[0].info["ignore_index"] == 255  # stored as decoded
    images, masks = parts[0].batch(slice(0, 2))  # converted per batch
    assert images.dtype == torch.float32 and masks.dtype == torch.long


def test_palette_masks_are_read_as_their_indices(tmp_path):
    truth = write_pairs(tmp_path, "image", "label", kind="palette")
    ((_, y),) = read_segfolder(str(tmp_path))[0].values()
    assert set(torch.unique(y).tolist()) == {0, 1, 2, 255}
    assert int((y == 255).sum()) == 10 and len(truth) == 10


def test_rgb_masks_map_each_colour_to_a_class(tmp_path):
    write_pairs(tmp_path, kind="rgb")
    pools, classes, _, _ = read_segfolder(f"{tmp_path},mode=rgb")
    y = pools["train"][1]
    assert len(classes) == 4  # black, green, red, white, in colour-code order
    assert sorted(torch.unique(y).tolist()) == [0, 1, 2, 3]


def test_named_sub_folders_and_size_option(tmp_path):
    write_pairs(tmp_path, "data/raw", "data/gt")
    with pytest.raises(UserError, match="no image/mask sub-folders"):
        read_segfolder(str(tmp_path))
    pools, _, _, _ = read_segfolder(f"{tmp_path},images=data/raw,masks=data/gt,size=8")
    x, y = pools["train"]
    assert x.shape == (10, 3, 8, 8) and y.shape == (10, 8, 8)
    assert set(torch.unique(y).tolist()) <= {0, 1, 2, 255}  # nearest resize keeps ids


def test_camvid_style_split_folders(tmp_path):
    for split, n in (("train", 6), ("val", 2), ("test", 3)):
        sub = tmp_path / "cv"
        write_pairs(sub, split, f"{split}annot", n=n)
    parts = {s: load_segmentation(f"segfolder:{tmp_path / 'cv'}", s) for s in ("train", "val", "test")}
    assert [len(parts[s]) for s in ("train", "val", "test")] == [6, 2, 3]
    assert parts["test"].info["test"] == "DIR/test"


def test_binary_masks_and_invert(tmp_path):
    (tmp_path / "image").mkdir()
    (tmp_path / "label").mkdir()
    m = np.zeros((8, 8), np.uint8)
    m[:, :3] = 255
    for i in range(5):
        Image.fromarray(np.full((8, 8), 100, np.uint8)).save(tmp_path / "image" / f"{i}.png")
        Image.fromarray(m).save(tmp_path / "label" / f"{i}.png")
    y = read_segfolder(str(tmp_path))[0]["train"][1]
    assert y.unique().tolist() == [0, 1] and y[:, :, :3].eq(1).all()
    y_inv = read_segfolder(f"{tmp_path},invert=1")[0]["train"][1]
    assert torch.equal(y_inv, 1 - y)


def test_bad_options_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="no such folder"):
        load_segmentation(f"segfolder:{tmp_path / 'nope'}")
    with pytest.raises(UserError, match="bad segfolder option"):
        load_segmentation(f"segfolder:{tmp_path},colour=1")
    with pytest.raises(UserError, match="not a segmentation source"):
        load_segmentation("mnist5k")


def test_scenes_masks_are_digit_plus_one():
    d = load_segmentation("scenes:canvas=64,digits=1-2,count=40", "train")
    raw = load_scenes("scenes:canvas=64,digits=1-2,count=40", "train")
    assert len(d) == 40 and d.classes[0] == "background" and d.num_classes == 11
    assert torch.equal(d.labels, raw.masks)
    for mask, target in zip(d.labels[:10], raw.targets[:10]):
        assert set(torch.unique(mask).tolist()) - {0} <= {int(c) + 1 for c in target["labels"]}


def test_isbi_membrane_is_binary_with_membrane_dark(shared_data):
    root = shared_data / "isbi2012-membrane"
    if not root.is_dir():
        pytest.skip("isbi2012-membrane is not present")
    d = load_segmentation(f"segfolder:{root},invert=1,size=64", "train")
    assert d.num_classes == 2 and d.images.shape[1:] == (1, 64, 64)
    fg = d.labels == 1
    assert 0.1 < fg.float().mean() < 0.4  # membranes are the thin minority
    assert d.images[:, 0][fg].mean() < d.images[:, 0][~fg].mean()  # and dark in electron microscopy


def test_images_without_a_mask_are_skipped_with_a_warning_naming_them(tmp_path):
    write_pairs(tmp_path, n=3)
    with pytest.warns(UserWarning, match=r"1 image\(s\) have no mask in .*masks, skipped: no_mask\.png"):
        pools, _, _, _ = read_segfolder(str(tmp_path))
    assert len(pools["train"][0]) == 3


def test_a_mask_of_another_size_names_the_file(tmp_path, capsys):
    write_pairs(tmp_path / "d", n=4)
    Image.fromarray(np.zeros((6, 8), np.uint8), "L").save(tmp_path / "d" / "masks" / "s2.png")
    with pytest.raises(UserError, match=r"masks/s2\.png: the mask is 8x6 but its image s2\.png is 16x12"):
        read_segfolder(str(tmp_path / "d"))
    code = main(
        [
            "segment",
            "train",
            "--data",
            f"segfolder:{tmp_path / 'd'}",
            "--epochs",
            "1",
            "--run-dir",
            str(tmp_path / "run"),
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and "Traceback" not in err and err.splitlines()[-1].startswith("dlbasic segment: error: ")
    assert [line for line in err.splitlines() if "error" in line] == [err.splitlines()[-1]]
    assert "s2.png: the mask is 8x6" in err


def test_empty_folders_are_one_line(tmp_path):
    with pytest.raises(UserError, match="no image/mask sub-folders found in"):
        read_segfolder(str(tmp_path))
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    with pytest.raises(UserError, match=r"no images in .*images \(expected PNG/JPEG files"):
        read_segfolder(str(tmp_path))
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "images" / "a.png")
    with pytest.raises(UserError, match=r"no masks in .*masks"):
        read_segfolder(str(tmp_path))


@pytest.mark.parametrize("spec", ["segfolder:", "segfolder", "segfolder: "])
def test_empty_spec_asks_for_a_folder(spec):
    with pytest.raises(UserError, match=r"the segfolder source needs a folder after 'segfolder:' \(e\.g\. segfolder:"):
        load_segmentation(spec)


def test_unreadable_and_oversized_pairs_are_skipped_with_a_warning(tmp_path, monkeypatch):
    write_pairs(tmp_path, n=4)
    Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(tmp_path / "images" / "s1.png")
    Image.fromarray(np.zeros((30, 40), np.uint8)).save(tmp_path / "masks" / "s1.png")
    (tmp_path / "masks" / "s3.png").write_bytes(b"")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)  # 1200 px: over twice the limit
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pools, classes, _, _ = read_segfolder(str(tmp_path))
    messages = [str(w.message) for w in caught]
    assert any("s1.png" in m and "exceeds limit" in m for m in messages), messages
    assert any("unreadable mask" in m and "s3.png" in m for m in messages), messages
    assert pools["train"][0].shape == (2, 3, 12, 16) and classes == ["0", "1", "2"]
    (tmp_path / "masks" / "s0.png").write_bytes(b"")
    (tmp_path / "masks" / "s2.png").write_bytes(b"")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(UserError, match="no readable image/mask pairs"):
            read_segfolder(f"{tmp_path},threshold=127")


def test_a_class_names_file_names_the_classes_and_declares_void(tmp_path):
    """CamVid-style: ids 0..2 with names, the last one 'Unlabelled' (void), plus the 255 void pixels."""
    truth = np.stack(write_pairs(tmp_path))
    (tmp_path / "classes.txt").write_text("sky\nroad\nUnlabelled\n")
    pools, classes, ignore, _ = read_segfolder(str(tmp_path))
    y = pools["train"][1]
    assert classes == ["sky", "road"] and ignore == 255
    order = sorted(range(10), key=lambda i: (len(f"s{i}"), f"s{i}"))
    want = np.where(truth[order] == 2, 255, truth[order])  # the void class joins the void pixels
    np.testing.assert_array_equal(y.numpy(), want)
    assert load_segmentation(f"segfolder:{tmp_path}", "train").num_classes == 2


def test_ids_beyond_the_named_classes_are_void_with_a_warning(tmp_path):
    truth = np.stack(write_pairs(tmp_path))
    (tmp_path / "names.txt").write_text("background\nthing\n")
    with pytest.warns(UserWarning, match=r"pixels of ids 2\.\.2, beyond the 2 named classes"):
        pools, classes, _, _ = read_segfolder(f"{tmp_path},names=names.txt")
    assert classes == ["background", "thing"]
    assert int((pools["train"][1] == 255).sum()) == int(((truth == 2) | (truth == 255)).sum())


def test_a_bad_names_file_is_one_error(tmp_path):
    write_pairs(tmp_path)
    (tmp_path / "classes.txt").write_text("sky\n\nroad\n")
    with pytest.raises(UserError, match="one class per line"):
        read_segfolder(str(tmp_path))
