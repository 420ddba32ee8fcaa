"""detection-speed: the work counted per image, AR@k of the trained proposal network against selective search
paired per seed (staged: 3 seeds, then 6), the runs `plan` declares at each stage, and the verdicts."""

import math

import pytest
import torch
from torch import nn

from dlbasic.lab import LabContext, Measurements, make_profile
from dlbasic.studies import detection_speed as ds
from dlbasic.studies import get_study

CURVE = list(ds.CURVE)
CONV = {"rcnn": 2_500_000, "sppnet": 10_000_000, "fast_rcnn": 10_000_000}
FC = {"rcnn": 40_000, "sppnet": 400_000, "fast_rcnn": 300_000}


def work(rcnn_runs=None, yolo_runs=1, yolo_searches=False):
    curve = {
        d: {
            "conv": [CONV[d] * (r if d == "rcnn" else 1) for r in CURVE],
            "fc": [FC[d] * r for r in CURVE],
            "cnn_runs": [r if d == "rcnn" else 1 for r in CURVE],
        }
        for d in ds.SEARCHED
    }
    if rcnn_runs is not None:
        curve["rcnn"]["cnn_runs"] = rcnn_runs
    per_image = {
        "faster_rcnn": {"total": [37e6] * 4, "cnn_runs": [1] * 4},
        "yolo_v1": {"total": [24e6] * 4, "cnn_runs": [yolo_runs] * 4},
    }
    searches = {d: d in ds.SEARCHED for d in ds.DETECTORS} | {"yolo_v1": yolo_searches}
    return {"curve": curve, "per_image": per_image, "searches": searches}


def results(rpn, search, **kw):
    """Stage-1 values of the seeds 0.. with per-seed mean AR `rpn` and `search` (a None scene: no digits)."""
    out = {"work": work(**kw), "search-train": {"boxes": [[[0.0, 0.0, 8.0, 8.0]]] * 2}}
    out["detector-yolo_v1"] = {"map": 0.0, "map_50": 0.01, "seconds_per_image": 0.01}
    out["detector-faster_rcnn"] = {"map": 0.02, "map_50": 0.1, "seconds_per_image": 0.02}
    for s, (a, b) in enumerate(zip(rpn, search)):
        out[f"search-seed{s}"] = {
            "boxes": [[[1.0, 2.0, 9.0, 9.0]]] * 2,
            "proposals": [50, 54],
            "average_recall": [b, b, None],
        }
        out[f"rpn-seed{s}"] = {
            "average_recall": [a, a, None],
            "proposals": [50, 50],
            "objectness_loss": [0.4, 0.01, 0.008],
        }
    return out


@pytest.fixture
def ctx():
    return LabContext(make_profile("quick"))


def names(runs):
    return [r.name for r in runs]


def test_first_look_plans_the_counts_three_seeds_and_the_reported_detectors(ctx):
    study = get_study("detection-speed")
    first = study.plan(ctx, {})
    seeds = [f"{kind}-seed{s}" for s in range(3) for kind in ("search", "rpn")]
    assert names(first) == ["work", "search-train", "detector-faster_rcnn", "detector-yolo_v1", *seeds]
    assert first[1].args == {"seed": 0, "split": "train"} and first[4].args == {"seed": 0, "split": "test"}
    assert first[5].fn == "dlbasic.studies.detection_speed:proposal_network" and first[5].args == {"seed": 0}
    assert first[2].args == {"name": "faster_rcnn"} and not any(r.trains for r in first)
    assert sum(r.cost for r in first) <= 90
    assert study.form == "structural + difference" and study.schedule == (3, 6, 12)  # looks(3)
    assert "Fixed data" in study.method


def test_decided_first_look_adds_only_the_searched_detectors(ctx):
    study = get_study("detection-speed")
    done = results([0.60, 0.62, 0.58], [0.30, 0.29, 0.33])
    second = study.plan(ctx, done)
    assert names(second) == ["detector-rcnn", "detector-sppnet", "detector-fast_rcnn"]
    boxes = {"train": done["search-train"]["boxes"], "test": done["search-seed0"]["boxes"]}
    assert second[0].args == {"name": "rcnn", "boxes": boxes} and not any(r.trains for r in second)
    assert study.plan(ctx, done | {r.name: {"map": 0.1, "map_50": 0.2, "seconds_per_image": 0.5} for r in second}) == []


def test_undecided_first_look_adds_three_seeds(ctx):
    study = get_study("detection-speed")
    done = results([0.40, 0.30, 0.45], [0.36, 0.38, 0.35])
    second = study.plan(ctx, done)
    more = [f"{kind}-seed{s}" for s in range(3, 6) for kind in ("search", "rpn")]
    assert names(second) == ["detector-rcnn", "detector-sppnet", "detector-fast_rcnn", *more]
    assert sum(r.cost for r in second) <= 2 * sum(r.cost for r in study.plan(ctx, {}))
    partial = {k: v for k, v in done.items() if k != "rpn-seed2"}  # a first look not yet complete
    assert "rpn-seed2" in names(study.plan(ctx, partial)) and "rpn-seed3" not in names(study.plan(ctx, partial))


def test_collects_the_numbers_judge_reads(ctx):
    m = get_study("detection-speed").collect(ctx, results([0.60, 0.62, 0.58], [0.30, 0.29, 0.33]))
    assert isinstance(m, Measurements) and m.figures and m.seeds == [0, 1, 2]
    n = m.numbers
    assert n["average_recall"] == {"rpn": [0.60, 0.62, 0.58], "selective_search": [0.30, 0.29, 0.33]}  # NaN skipped
    assert n["seconds_per_image"] == {"faster_rcnn": 0.02, "yolo_v1": 0.01} and n["objectness_loss"][0][-1] == 0.008
    v = get_study("detection-speed").judge(n)
    assert v.verdict == "supported" and all(c["holds"] for c in v.checks) and len(v.checks) == 4
    assert v.comparisons[0]["outcome"] == "A better" and v.comparisons[0]["scale"] == "log ratio"
    assert "AR@10 proposal network 0.600 vs selective search 0.307" in v.key_number


@pytest.mark.parametrize(
    "rpn, search, expected",
    [
        ([0.60, 0.62, 0.58], [0.30, 0.29, 0.33], "supported"),
        ([0.27, 0.29, 0.26], [0.65, 0.68, 0.64], "contradicted"),  # the search recalls more
        ([0.500, 0.501, 0.502], [0.501, 0.500, 0.503], "contradicted"),  # equivalent within 10 %
        ([0.40, 0.30, 0.45], [0.36, 0.38, 0.35], "inconclusive"),
    ],
)
def test_average_recall_decides_the_difference(ctx, rpn, search, expected):
    v = get_study("detection-speed").judge(get_study("detection-speed").collect(ctx, results(rpn, search)).numbers)
    assert v.verdict == expected and (v.more == 6) == (expected == "inconclusive")


@pytest.mark.parametrize(
    "kw, failing",
    [
        ({"rcnn_runs": [1] * len(CURVE)}, 0),  # R-CNN would run its CNN once
        ({"yolo_runs": 2}, 3),
        ({"yolo_searches": True}, 3),
    ],
)
def test_a_broken_count_fails_the_claim(ctx, kw, failing):
    numbers = get_study("detection-speed").collect(ctx, results([0.6, 0.62, 0.58], [0.3, 0.29, 0.33], **kw)).numbers
    v = get_study("detection-speed").judge(numbers)
    assert v.verdict == "failed" and failing in [i for i, c in enumerate(v.checks) if not c["holds"]]


# ---- the counting and recall helpers --------------------------------------------------------------


class _PerRegion(nn.Module):
    """A toy per-region detector: the same conv runs on every region crop; `proposals` gives the crops' count."""

    def __init__(self):
        super().__init__()
        self.cnn = nn.Conv2d(1, 2, 3)
        self.fc = nn.Linear(2 * 3 * 3, 4)
        self.proposals = lambda images: [torch.zeros(3, 4) for _ in images]

    def forward(self, images):
        n = sum(len(p) for p in self.proposals(images))
        crops = images[:, :, :5, :5].repeat(n, 1, 1, 1)  # one 5x5 crop per region
        return self.fc(self.cnn(crops).flatten(1))


def test_count_macs_counts_every_region_a_layer_sees():
    model = _PerRegion()
    image = torch.zeros(1, 1, 8, 8)
    one = ds.count_macs(model, image)
    assert one == {"conv": 3 * (2 * 3 * 3) * 1 * 9, "fc": 3 * 4 * 18, "cnn_runs": 3}
    with ds.given_boxes(model, 7):
        seven = ds.count_macs(model, image)
    assert seven == {"conv": 7 * 2 * 3 * 3 * 9, "fc": 7 * 4 * 18, "cnn_runs": 7}
    assert ds.count_macs(model, image) == one  # the proposer is restored


def test_rcnn_work_grows_with_regions_and_fast_rcnn_runs_its_cnn_once():
    image = torch.rand(1, 1, 64, 64)
    counts = {}
    for name in ("rcnn", "fast_rcnn"):
        model = ds.untrained(name)
        for regions in (5, 10):
            with ds.given_boxes(model, regions):
                counts[name, regions] = ds.count_macs(model, image)
    assert counts["rcnn", 10]["conv"] == 2 * counts["rcnn", 5]["conv"]  # the CNN once per region
    assert counts["rcnn", 10]["cnn_runs"] == 10
    assert counts["fast_rcnn", 10]["conv"] == counts["fast_rcnn", 5]["conv"]  # once per image
    assert counts["fast_rcnn", 10]["cnn_runs"] == 1
    assert counts["fast_rcnn", 10]["fc"] == 2 * counts["fast_rcnn", 5]["fc"]  # the head runs per region


def test_average_recall_over_iou_thresholds():
    target = [{"boxes": torch.tensor([[0.0, 0.0, 10.0, 10.0], [20.0, 20.0, 30.0, 30.0]])}]
    exact = [torch.tensor([[0.0, 0.0, 10.0, 10.0], [20.0, 20.0, 30.0, 30.0]])]
    assert ds.average_recall(exact, target, top=10) == [1.0]
    assert ds.average_recall(exact, target, top=1) == [0.5]  # only the first proposal counts
    shifted = [torch.tensor([[0.0, 0.0, 10.0, 12.3]])]  # IoU 0.81 with the first box: 0.5..0.8 hit
    assert ds.average_recall(shifted, target, top=10) == [pytest.approx(7 / 10 / 2)]
    assert math.isnan(ds.average_recall(exact, [{"boxes": torch.zeros(0, 4)}], top=10)[0])


class _CountingSearch:
    """A stand-in selective search: one box per image, its first pixel; counts the images it searched."""

    def __init__(self):
        self.cache, self.searched = True, 0

    def __call__(self, images):
        self.searched += len(images)
        return [torch.tensor([[0.0, 0.0, float(im[0, 0, 0]), 1.0]]) for im in images]


def test_known_search_answers_known_scenes_and_searches_the_others():
    images = [torch.full((1, 4, 4), float(k)) for k in range(3)]
    search = _CountingSearch()
    known = ds.KnownSearch(search, images[:2], [[[1.0, 2.0, 3.0, 4.0]], []])
    boxes = known(images)
    assert boxes[0].tolist() == [[1.0, 2.0, 3.0, 4.0]] and boxes[1].shape == (0, 4)
    assert boxes[2].tolist() == [[0.0, 0.0, 2.0, 1.0]] and search.searched == 1
    known.cache = False  # as seconds_per_image does to time the search: every image is searched
    assert known(images[:1])[0].tolist() == [[0.0, 0.0, 0.0, 1.0]] and search.searched == 2 and not search.cache


def test_train_rpn_trains_the_backbone_and_proposal_network_only():
    images = torch.rand(16, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    targets = [{"boxes": torch.tensor([[10.0, 12.0, 34.0, 38.0]]), "labels": torch.tensor([3])}] * 16
    model = ds.untrained("faster_rcnn")
    head = [p.clone() for p in model.roi_heads.parameters()]
    rpn = [p.clone() for p in model.rpn.parameters()]
    history = ds.train_rpn(model, images, targets, epochs=1, seed=0)
    assert len(history) == 1 and 0 < history[0] < 1
    assert all(torch.equal(a, b) for a, b in zip(head, model.roi_heads.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(rpn, model.rpn.parameters()))
