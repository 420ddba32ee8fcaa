"""R-CNN: region warping, cached proposals, region labels, SVM + regressor fitting; the training loop."""

import pytest
import torch

from dlbasic.detection.config import DetectionConfig
from dlbasic.detection.data.splits import load_split
from dlbasic.detection.models.rcnn import RCNN, SelectiveSearchProposals, warp_regions
from dlbasic.detection.models.registry import DETECTORS, build_detector
from dlbasic.detection.train import fit


def test_warp_of_a_linear_ramp_samples_the_box_at_bin_centres():
    ramp = (torch.arange(32.0) + 0.5).expand(1, 1, 32, 32).clone()  # pixel i holds its centre x = i + 0.5
    box = torch.tensor([[4.0, 2.0, 20.0, 30.0]])
    out = warp_regions(ramp, [box], 8, context=2.0)  # crop [2, 0, 22, 32], 20 pixels wide, 8 bins
    expected = 2.0 + (torch.arange(8.0) + 0.5) * 20 / 8  # bilinear is exact on a linear function
    torch.testing.assert_close(out[0, 0, 3], expected)


def test_proposals_are_cached_and_inside_the_image():
    image = torch.zeros(1, 32, 32)
    image[0, 4:14, 6:12] = 1.0
    image[0, 20:30, 18:28] = 0.7
    proposer = SelectiveSearchProposals("single", 50, upscale=2.0)
    a = proposer(image[None])[0]
    assert proposer([image])[0] is a  # same content: the cached tensor
    assert len(a) >= 1 and (a >= 0).all() and (a <= 32).all() and (a[:, 2:] > a[:, :2]).all()


def test_region_labels_use_iou_thresholds():
    model = RCNN(3)
    t = {"boxes": torch.tensor([[0.0, 0.0, 10.0, 10.0]]), "labels": torch.tensor([1])}
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 4.0], [30.0, 30.0, 40.0, 40.0]])
    assert model.region_labels(boxes, t, fg=0.5, bg=0.3).tolist() == [2, -1, 0]
    empty = {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)}
    assert model.region_labels(boxes, empty).tolist() == [0, 0, 0]


def test_rcnn_fits_svms_with_hard_negative_mining_and_detects():
    g = torch.Generator().manual_seed(0)
    images = torch.zeros(6, 1, 32, 32)
    targets = []
    for k in range(6):  # bright squares (class 0) or dim bars (class 1) on black
        x0 = int(torch.randint(0, 16, (1,), generator=g))
        if k % 2 == 0:
            images[k, 0, 8:20, x0 : x0 + 12] = 1.0
            targets.append({"boxes": torch.tensor([[float(x0), 8.0, x0 + 12.0, 20.0]]), "labels": torch.tensor([0])})
        else:
            images[k, 0, 4:28, x0 : x0 + 6] = 0.5
            targets.append({"boxes": torch.tensor([[float(x0), 4.0, x0 + 6.0, 28.0]]), "labels": torch.tensor([1])})
    model = RCNN(2, proposals=SelectiveSearchProposals("single", 50), generator=g)
    with pytest.raises(RuntimeError, match="not fitted"):
        model.eval()(images[:1])
    stats = model.fit_svms(images, targets)
    assert stats["positives"] == 6 and bool(model.fitted) and model.svm_weight.abs().sum() > 0
    dets = model(images)
    assert len(dets) == 6 and all((d["scores"] >= 0).all() and (d["scores"] <= 1).all() for d in dets)


@pytest.mark.parametrize("name", DETECTORS)
def test_every_detector_trains_a_step_and_evaluates(name):
    split = load_split("scenes", train_limit=4, test_limit=2)
    cfg = DetectionConfig(model=name, epochs=1, batch_size=4, proposals="single", max_proposals=50)
    model = build_detector(name, 10, 1, SelectiveSearchProposals("single", 50))
    history = fit(model, split.train_images, split.train_targets, cfg)
    assert all(torch.isfinite(torch.tensor(h["loss"])) for h in history if "loss" in h)
    dets = model(split.test_images)
    assert len(dets) == 2 and all(d["boxes"].shape[1:] == (4,) for d in dets)


@pytest.mark.slow
@pytest.mark.parametrize("name", DETECTORS)
def test_kangaroo_voc_runs_end_to_end(name, shared_data, tmp_path):
    from dlbasic.detection.train import train_detector

    cfg = DetectionConfig(
        model=name,
        data=f"voc:{shared_data / 'kangaroo'}",
        image_size=96,
        epochs=2,
        train_limit=24,
        test_limit=8,
        proposals="single",
        max_proposals=100,
    )
    result = train_detector(cfg, run_dir=tmp_path)
    assert 0.0 <= result["map_50"] <= 1.0 and (tmp_path / "checkpoint.pt").is_file()
