"""Each command takes its own kind of checkpoint, data classes are matched by name, outputs need --overwrite."""

import json
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from dlbasic.cli import main
from dlbasic.data import load
from dlbasic.training import load_checkpoint
from dlbasic.training.restore import checkpoint_kind

SEG = "scenes:canvas=64,digits=1-2,count=24"
ONE = ["--threads", "1", "--no-progress"]


def _coco(root: Path, name: str, classes: list[str], boxes: list[list[tuple[list[float], int]]]) -> Path:
    """A COCO file over root/images/<i>.png: `boxes[i]` holds (xyxy, label) pairs, category k is `classes[k]`."""
    anns = [
        {"id": n, "image_id": i, "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]], "category_id": label}
        for n, (i, b, label) in enumerate((i, b, label) for i, image in enumerate(boxes) for b, label in image)
    ]
    path = root / name
    path.write_text(
        json.dumps(
            {
                "images": [{"id": i, "file_name": f"{i}.png"} for i in range(len(boxes))],
                "annotations": anns,
                "categories": [{"id": k, "name": c} for k, c in enumerate(classes)],
            }
        )
    )
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A classifier (digits, mlp), a segmentation model (FCN-8s on small scenes) and an untrained YOLO v1 (COCO)."""
    from dlbasic.detection.data.sources import load_detection

    root = tmp_path_factory.mktemp("kinds")
    assert (
        main(["train", "--data", "digits", "--model", "mlp", "--epochs", "1", *ONE, "--run-dir", str(root / "clf")])
        == 0
    )
    assert (
        main(
            [
                "segment",
                "train",
                "--data",
                SEG,
                "--batch-size",
                "16",
                "--epochs",
                "1",
                *ONE,
                "--run-dir",
                str(root / "seg"),
            ]
        )
        == 0
    )
    coco = root / "coco"
    (coco / "images").mkdir(parents=True)
    scenes = load_detection("scenes:canvas=64,count=40", split="train", limit=10)
    for i, image in enumerate(scenes.images):
        Image.fromarray((image[0].numpy() * 255).astype(np.uint8)).convert("RGB").save(coco / "images" / f"{i}.png")
    truth = [list(zip(t["boxes"].tolist(), t["labels"].tolist())) for t in scenes.targets]
    spec = f"coco:{_coco(coco, 'train.json', list(scenes.classes), truth)}"
    assert (
        main(
            [
                "detect",
                "train",
                "--model",
                "yolo_v1",
                "--data",
                spec,
                "--epochs",
                "0",
                "--threads",
                "1",
                "--run-dir",
                str(root / "det"),
            ]
        )
        == 0
    )
    image = root / "x.png"
    Image.fromarray(np.kron(np.eye(4, dtype=np.uint8) * 255, np.ones((8, 8), np.uint8))).save(image)  # 32x32
    return SimpleNamespace(
        root=root,
        clf=root / "clf" / "best.pt",
        seg=root / "seg" / "best.pt",
        det=root / "det" / "checkpoint.pt",
        image=image,
        coco=coco,
        classes=list(scenes.classes),
    )


def cli(argv: list) -> int:
    return main([str(a) for a in argv])


def refused(capsys, argv: list[str], *needles: str) -> str:
    """Run the CLI; it must exit 2 with one stderr line holding every needle."""
    rc = cli(argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


def output(capsys, argv: list[str]) -> dict:
    """Run the CLI; it must succeed; the JSON object it prints."""
    assert cli(argv) == 0
    out = capsys.readouterr().out
    return json.loads(out[out.index("{") : out.rindex("}") + 1])


def test_checkpoints_record_their_kind(runs):
    assert load_checkpoint(runs.clf)["meta"]["kind"] == "classification"
    assert load_checkpoint(runs.seg)["meta"]["kind"] == "segmentation"
    assert load_checkpoint(runs.root / "seg" / "checkpoint.pt")["meta"]["kind"] == "segmentation"
    assert [checkpoint_kind(load_checkpoint(p)) for p in (runs.clf, runs.seg, runs.det)] == [
        "classification",
        "segmentation",
        "detection",
    ]


WRONG = [
    ("seg", ["eval"], "is a segmentation checkpoint (use 'dlbasic segment eval')"),
    ("seg", ["predict", "IMG"], "is a segmentation checkpoint (use 'dlbasic segment predict')"),
    ("seg", ["heatmap", "--scene", "0", "--out", "OUT.png"], "(use 'dlbasic segment predict')"),
    ("seg", ["detect", "eval"], "(use 'dlbasic segment eval')"),
    ("seg", ["detect", "predict", "--out", "OUT"], "(use 'dlbasic segment predict')"),
    ("det", ["eval"], "is a detection checkpoint (use 'dlbasic detect eval')"),
    ("det", ["predict", "IMG"], "(use 'dlbasic detect predict')"),
    ("det", ["heatmap", "--scene", "0", "--out", "OUT.png"], "(use 'dlbasic detect predict')"),
    ("det", ["segment", "eval"], "(use 'dlbasic detect eval')"),
    ("det", ["segment", "predict", "IMG", "--out", "OUT"], "(use 'dlbasic detect predict')"),
    ("clf", ["segment", "eval"], "is a classification checkpoint (use 'dlbasic eval')"),
    ("clf", ["segment", "predict", "IMG", "--out", "OUT"], "(use 'dlbasic predict')"),
    ("clf", ["detect", "eval"], "(use 'dlbasic eval')"),
    ("clf", ["detect", "predict", "--out", "OUT"], "(use 'dlbasic predict')"),
]


@pytest.mark.parametrize(("kind", "argv", "message"), WRONG, ids=[f"{k}-{' '.join(a[:2])}" for k, a, _ in WRONG])
def test_a_checkpoint_of_another_kind_is_refused(runs, tmp_path, capsys, kind, argv, message):
    path = getattr(runs, kind)
    argv = [a.replace("IMG", str(runs.image)).replace("OUT", str(tmp_path / "out")) for a in argv]
    err = refused(capsys, [*argv, "--checkpoint", path], message)
    assert str(path) in err
    assert not any(tmp_path.iterdir())  # nothing was written


def _without_kind(ckpt: dict) -> dict:
    ckpt = {k: v for k, v in ckpt.items() if k != "kind"}
    if "meta" in ckpt:
        ckpt["meta"] = {k: v for k, v in ckpt["meta"].items() if k != "kind"}
    return ckpt


def test_checkpoints_from_before_kinds_are_recognized(runs, tmp_path, capsys):
    old = {}
    for name in ("clf", "seg", "det"):
        old[name] = tmp_path / f"{name}.pt"
        torch.save(_without_kind(load_checkpoint(getattr(runs, name))), old[name])
        assert checkpoint_kind(load_checkpoint(old[name])) == checkpoint_kind(load_checkpoint(getattr(runs, name)))
    assert output(capsys, ["eval", "--checkpoint", old["clf"], "--out", tmp_path / "c.png"])["accuracy"] > 0.2
    assert 0 <= output(capsys, ["segment", "eval", "--checkpoint", old["seg"]])["pixel_accuracy"] <= 1
    refused(capsys, ["eval", "--checkpoint", old["seg"]], "segmentation checkpoint")
    refused(capsys, ["predict", runs.image, "--checkpoint", old["det"]], "detection checkpoint")
    refused(capsys, ["detect", "eval", "--checkpoint", old["clf"]], "classification checkpoint")


@pytest.mark.parametrize("model", ["rcnn", "sppnet", "fast_rcnn", "faster_rcnn", "yolo_v1"])
def test_every_detectors_checkpoints_from_before_kinds_are_recognized(model):
    """The detectors that existed before `kind`: the Trainer's layout (`meta` holding the run's config) and the
    older one (a top-level `config`, no `meta`), without importing `dlbasic.detection`."""
    assert checkpoint_kind({"model": {}, "meta": {"config": {"model": model}}}) == "detection"
    assert checkpoint_kind({"model": {}, "config": {"model": model}}) == "detection"
    assert checkpoint_kind({"model": {}, "meta": {"config": {"model": "simple_cnn"}}}) == "classification"


def test_incomplete_or_mismatched_checkpoints_are_refused_in_one_line(runs, tmp_path, capsys):
    clf, seg, det = (load_checkpoint(getattr(runs, n)) for n in ("clf", "seg", "det"))

    def save(name: str, ckpt: dict) -> Path:
        torch.save(ckpt, tmp_path / name)
        return tmp_path / name

    no_classes = save("a.pt", {**clf, "meta": {k: v for k, v in clf["meta"].items() if k != "classes"}})
    refused(capsys, ["eval", "--checkpoint", no_classes], "lacks classes")
    refused(
        capsys,
        ["predict", runs.image, "--checkpoint", save("b.pt", {"model": clf["model"]})],
        "has no metadata saying what it holds",
    )
    det_meta = det["meta"]
    no_det_classes = {**det, "meta": {k: v for k, v in det_meta.items() if k != "classes"}}
    refused(capsys, ["detect", "eval", "--checkpoint", save("c.pt", no_det_classes)], "lacks classes")
    bad_meta = save("d.pt", {**clf, "meta": {**clf["meta"], "classes": ["a", "b"]}})
    refused(capsys, ["eval", "--checkpoint", bad_meta], "inconsistent metadata")
    refused(
        capsys, ["eval", "--checkpoint", save("e.pt", {**clf, "meta": {**clf["meta"], "kind": "gan"}})], "kind 'gan'"
    )

    other_shape = save("f.pt", {**clf, "model": {**clf["model"], "net.5.weight": torch.zeros(5, 128)}})
    refused(
        capsys,
        ["eval", "--checkpoint", other_shape],
        "do not fit model 'mlp'",
        "1 of another shape",
        "net.5.weight: [5, 128] in the file, [10, 128] in the model",
    )
    extra = save("g.pt", {**clf, "model": {**clf["model"], "net.9.weight": torch.zeros(1)}})
    refused(capsys, ["predict", runs.image, "--checkpoint", extra], "1 unexpected (e.g. net.9.weight)")
    weights = dict(seg["model"])
    weights.pop(next(iter(weights)))
    refused(capsys, ["segment", "eval", "--checkpoint", save("h.pt", {**seg, "model": weights})], "1 missing")
    fewer = save("i.pt", {**det, "meta": {**det_meta, "classes": det_meta["classes"][:3]}})
    refused(capsys, ["detect", "eval", "--checkpoint", fewer], "do not fit model 'yolo_v1'")
    unknown = {**det, "meta": {**det_meta, "config": {**det_meta["config"], "x": 1}}}
    refused(capsys, ["detect", "eval", "--checkpoint", save("j.pt", unknown)], "unknown settings in its config: x")
    legacy = {"model": det["model"], **{k: v for k, v in det_meta.items() if k != "kind"}}  # before the Trainer
    assert 0 <= output(capsys, ["detect", "eval", "--checkpoint", save("k.pt", legacy)])["map_50"] <= 1


def _digit_folder(root: Path, classes: list[str], data) -> str:
    """DIR/train/<c>/ (three images of each class) and DIR/test/<c>/ (every image of c): 8x8 grayscale PNGs."""
    for i, (image, label) in enumerate(zip(data.images, data.labels.tolist())):
        c = data.classes[label]
        if c in classes:
            png = Image.fromarray((image[0].numpy() * 255).round().astype(np.uint8))
            for part in ("train", "test"):
                (root / part / c).mkdir(parents=True, exist_ok=True)
                if part == "test" or len(list((root / part / c).iterdir())) < 3:
                    png.save(root / part / c / f"{i}.png")
    return f"folder:{root}"


def test_eval_matches_classes_by_name(runs, tmp_path, capsys):
    test = load("digits", "test")
    full = _digit_folder(tmp_path / "full", test.classes, test)
    base = output(capsys, ["eval", "--checkpoint", runs.clf, "--data", full, "--out", tmp_path / "a.png"])
    assert base["images"] == len(test)

    ckpt = load_checkpoint(runs.clf)  # the same classifier with its classes in reverse order
    ckpt["meta"] = {**ckpt["meta"], "classes": ckpt["meta"]["classes"][::-1]}
    ckpt["model"] = {
        **ckpt["model"],
        "net.5.weight": ckpt["model"]["net.5.weight"].flip(0),
        "net.5.bias": ckpt["model"]["net.5.bias"].flip(0),
    }
    torch.save(ckpt, tmp_path / "reversed.pt")
    again = output(
        capsys, ["eval", "--checkpoint", tmp_path / "reversed.pt", "--data", full, "--out", tmp_path / "b.png"]
    )
    assert again["accuracy"] == base["accuracy"] and again["loss"] == pytest.approx(base["loss"], rel=1e-5)
    assert again["per_class_accuracy"] == base["per_class_accuracy"]

    some = _digit_folder(tmp_path / "some", ["3", "7"], test)  # a subset: evaluated by name
    part = output(
        capsys, ["eval", "--checkpoint", tmp_path / "reversed.pt", "--data", some, "--out", tmp_path / "c.png"]
    )
    assert part["per_class_accuracy"] == {c: base["per_class_accuracy"][c] for c in ("7", "3")}

    odd = _digit_folder(tmp_path / "odd", ["3"], test)
    for part in ("train", "test"):
        (tmp_path / "odd" / part / "cat").mkdir()
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "odd" / part / "cat" / "0.png")
    refused(
        capsys,
        ["eval", "--checkpoint", runs.clf, "--data", odd, "--out", tmp_path / "d.png"],
        "does not know: cat",
        "it predicts 0, 1, 2, 3",
    )


def test_segment_eval_matches_classes_by_name(runs, tmp_path, capsys):
    from dlbasic.segmentation.data import load_segmentation
    from dlbasic.segmentation.task import predict_masks
    from dlbasic.training.kinds import model_from_checkpoint

    images = load_segmentation(SEG, "test").images[:5]
    mask = np.zeros((64, 64), np.uint8)
    mask[32:] = 1  # classes named "0" and "1": the checkpoint's digits 0 and 1 (its ids 1 and 2), not background
    for split, index in (("", range(3)), ("test/", range(3, 5))):
        for d in ("images", "masks"):
            (tmp_path / "ids" / split / d).mkdir(parents=True)
        for i in index:
            Image.fromarray((images[i, 0].numpy() * 255).astype(np.uint8)).save(
                tmp_path / "ids" / split / "images" / f"{i}.png"
            )
            Image.fromarray(mask).save(tmp_path / "ids" / split / "masks" / f"{i}.png")
    spec = f"segfolder:{tmp_path / 'ids'}"
    result = output(capsys, ["segment", "eval", "--checkpoint", runs.seg, "--data", spec])
    model, meta = model_from_checkpoint(runs.seg, "segmentation")
    data = load_segmentation(spec, "test")
    pred = predict_masks(model, data.images, torch.tensor(meta["mean"]), torch.tensor(meta["std"]))
    truth = torch.tensor([1, 2])[data.labels.long()]  # masks are stored as uint8
    assert result["images"] == 2 and list(result["iou"]) == meta["classes"]
    assert result["pixel_accuracy"] == pytest.approx((pred == truth).double().mean().item())

    refused(
        capsys,
        ["segment", "eval", "--checkpoint", runs.seg, "--data", f"{spec},classes=12"],
        "does not know: 10, 11",
        "it predicts background, 0, 1",
    )


def test_detect_eval_matches_classes_by_name(runs, capsys):
    """Ground truth = the detector's own boxes gives mAP 1, also when the file lists the classes in reverse order."""
    from dlbasic.detection.data.sources import load_detection
    from dlbasic.detection.train import load_detector, predict

    model, _ = load_detector(runs.det)
    data = load_detection(f"coco:{runs.coco / 'train.json'}")
    found = [list(zip(d["boxes"].tolist(), d["labels"].tolist())) for d in predict(model, torch.stack(data.images))]
    own = _coco(runs.coco, "own.json", runs.classes, found)
    flipped = [[(b, 9 - label) for b, label in image] for image in found]
    reverse = _coco(runs.coco, "reverse.json", runs.classes[::-1], flipped)
    for path in (own, reverse):
        result = output(capsys, ["detect", "eval", "--checkpoint", runs.det, "--data", f"coco:{path}"])
        assert result["map"] == pytest.approx(1.0) and result["map_50"] == pytest.approx(1.0)
    cats = _coco(runs.coco, "cats.json", ["cat", *runs.classes[1:]], found)
    refused(capsys, ["detect", "eval", "--checkpoint", runs.det, "--data", f"coco:{cats}"], "does not know: cat")


def test_outputs_are_not_replaced_without_overwrite(runs, tmp_path, capsys):
    out = tmp_path / "c.png"
    out.write_bytes(b"mine")
    # checked before the checkpoint is even read
    refused(
        capsys,
        ["eval", "--checkpoint", tmp_path / "missing.pt", "--out", out],
        f"{out} already exists",
        "pass --overwrite",
    )
    assert out.read_bytes() == b"mine"
    output(capsys, ["eval", "--checkpoint", runs.clf, "--out", out, "--overwrite"])
    assert out.read_bytes() != b"mine"
    refused(capsys, ["eval", "--checkpoint", runs.clf, "--out", tmp_path], "is a folder, not a file")
    refused(capsys, ["eval", "--checkpoint", runs.clf, "--out", tmp_path / "no" / "c.png"], "does not exist")
    for _ in range(2):  # the default plot next to the checkpoint is replaced freely
        output(capsys, ["eval", "--checkpoint", runs.clf, "--split", "val"])
    assert (runs.clf.parent / "confusion-val.png").is_file()

    heat = tmp_path / "heat.png"
    heat.write_bytes(b"mine")
    refused(capsys, ["heatmap", "--checkpoint", runs.clf, "--image", runs.image, "--out", heat], "already exists")
    assert cli(["heatmap", "--checkpoint", runs.clf, "--image", runs.image, "--out", heat, "--overwrite"]) == 0
    assert heat.read_bytes() != b"mine"

    overlays = tmp_path / "o.png"
    overlays.write_bytes(b"mine")
    refused(
        capsys,
        ["segment", "eval", "--checkpoint", runs.seg, "--overlays", overlays],
        "already exists",
        "choose another --overlays",
    )
    output(capsys, ["segment", "eval", "--checkpoint", runs.seg, "--overlays", overlays, "--overwrite"])
    assert overlays.read_bytes() != b"mine"

    for argv in (
        ["segment", "predict", runs.image, "--checkpoint", runs.seg],
        ["detect", "predict", "--checkpoint", runs.det, "--limit", "1"],
    ):
        folder = tmp_path / argv[0]
        assert cli([*argv, "--out", folder]) == 0
        made = sorted(p.name for p in folder.iterdir())
        refused(capsys, [*argv, "--out", folder], "output folder", "already exists", "pass --overwrite")
        assert cli([*argv, "--out", folder, "--overwrite"]) == 0
        assert sorted(p.name for p in folder.iterdir()) == made
        (folder / "notes.txt").write_text("mine")
        (folder / ".dlbasic").unlink()
        refused(capsys, [*argv, "--out", folder, "--overwrite"], "holds files dlbasic did not write")
        assert (folder / "notes.txt").read_text() == "mine"
    capsys.readouterr()


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a user that permissions apply to")
def test_a_read_only_output_folder_is_refused_before_work(runs, tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        refused(capsys, ["eval", "--checkpoint", runs.clf, "--out", locked / "c.png"], "permission denied")
        refused(capsys, ["detect", "predict", "--checkpoint", runs.det, "--out", locked / "p"], "permission denied")
    finally:
        locked.chmod(0o700)
