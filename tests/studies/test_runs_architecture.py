"""The resnet, relu, vgg-3x3 and detection-speed studies as runs: what `plan` declares stage by stage, and
that `collect` turns the runs' values into the numbers `judge` reads (the values as a saved run holds them:
plain JSON, NaN as None)."""

import math

import pytest
import torch
from fakes.detection import _CONV, _TOTAL, _TRAINED, _UNTRAINED
from fakes.detection import N as TEST_IMAGES

from dlbasic.lab import LabContext, Measurements, make_profile
from dlbasic.studies import SUPPORTED, detection_speed, get_study, relu, resnet, vgg_3x3

MAX_COST = 12.0  # seconds: no run may be longer than about this in the quick profile


@pytest.fixture
def ctx():
    return LabContext(make_profile("quick"))


def names(runs):
    return [r.name for r in runs]


def collected(study_id, ctx, results, keys):
    m = get_study(study_id).collect(ctx, results)
    assert isinstance(m, Measurements) and list(m.numbers) == keys and m.figures and m.seeds
    return m.numbers


# ---- resnet ----------------------------------------------------------------------------------------


def test_resnet_plans_one_run_per_net_and_unit(ctx):
    study = get_study("resnet")
    runs = study.plan(ctx, {})
    units = [0, 1, 1000, 1001, 2000, 2001]
    assert names(runs) == [f"{net}-unit{u}" for net in resnet.NETS for u in units]
    assert all(r.fn == "dlbasic.studies.resnet:train_net" and r.trains and r.cost <= MAX_COST for r in runs)
    assert runs[7].args == {"net": "resnet34", "unit": 1}
    assert study.plan(ctx, {r.name: {} for r in runs}) == []


def _descending(final: float, epochs: int = 10) -> list[float]:
    """A training-error curve that falls to `final` and is flat over the last quarter."""
    return [max(final, 0.9 - 0.15 * e) for e in range(epochs)]


def test_resnet_collects_the_numbers_judge_reads(ctx):
    plain = [0.57, 0.40, 0.38, 0.25, 0.45, 0.5]
    res = [0.015, 0.012, 0.015, 0.016, 0.02, 0.01]
    results = {}
    for net, errors in (("plain34", plain), ("resnet34", res)):
        for u, e in zip([0, 1, 1000, 1001, 2000, 2001], errors):
            results[f"{net}-unit{u}"] = {"curve": _descending(e), "test_error": e + 0.03, "params": 1000}
    keys = ["epochs", "units", "train_error", "test_error", "train_error_curve", "still_improving"]
    numbers = collected("resnet", ctx, results, [*keys, "falling_at_full_rate", "params"])
    assert numbers["train_error"]["plain34"] == plain and numbers["still_improving"]["plain34"] == 0.0
    assert get_study("resnet").judge(numbers).verdict == SUPPORTED


# ---- relu ------------------------------------------------------------------------------------------


def _tuning(reaches: dict[str, float]) -> dict:
    """Tuning results where each activation's validation error reaches the target only at rate `reaches[act]`."""
    results = {}
    for act in relu.ACTS:
        for lr in relu.LRS:
            errors = [0.5, 0.2, 0.04] if lr == reaches[act] else [0.5, None, 0.3]
            results[f"tune-{act}-lr{lr:g}"] = {"errors": errors}
    for s in (0, 1, 2):
        results[f"grads-seed{s}"] = {
            "relu": [0.2, 0.5, 1, 1.2],
            "tanh": [0.3, 0.5, 1, 1.5],
            "sigmoid": [1e-3, 0.1, 1, 1],
        }
    return results


def test_relu_plans_tuning_then_the_judged_runs_at_the_chosen_rates(ctx):
    study = get_study("relu")
    first = study.plan(ctx, {})
    assert names(first) == [f"tune-{a}-lr{lr:g}" for a in relu.ACTS for lr in relu.LRS] + [
        "grads-seed0",
        "grads-seed1",
        "grads-seed2",
    ]
    assert first[0].args == {"act": "relu", "lr": 0.01, "seed": 999}
    assert first[-1].fn == "dlbasic.studies.relu:grads_at_init" and first[-1].args == {"seed": 2}
    assert all(r.cost <= MAX_COST for r in first)
    results = _tuning({"relu": 0.03, "tanh": 0.1, "sigmoid": 0.3})
    second = study.plan(ctx, results)
    assert len(second) == 6 * len(relu.ACTS) and second[0].name == "relu-unit0"
    assert {r.name: r.args["lr"] for r in second if r.name.endswith("unit1001")} == {
        "relu-unit1001": 0.03,
        "tanh-unit1001": 0.1,
        "sigmoid-unit1001": 0.3,
    }
    assert second[4].args == {"act": "tanh", "lr": 0.1, "seed": 1}
    assert all(r.fn == "dlbasic.studies.relu:to_target" and r.cost <= MAX_COST for r in second)
    assert study.plan(ctx, {**results, **{r.name: {} for r in second}}) == []


def test_relu_collects_the_numbers_judge_reads(ctx):
    results = _tuning({"relu": 0.03, "tanh": 0.1, "sigmoid": 0.3})
    reached = {"relu": 70, "tanh": 190, "sigmoid": None}  # the step the running error reaches 5 %; None: never
    for act, step in reached.items():
        curve = [None] * 9 + [0.5] * 191
        errors = [*curve[: step - 1], 0.04] if step else curve
        for u in (0, 1, 1000, 1001, 2000, 2001):
            results[f"{act}-unit{u}"] = {"errors": errors}
    keys = ["target", "budget_steps", "window", "units", "lrs", "tuning_seed", "tuning", "chosen_lr"]
    numbers = collected("relu", ctx, results, [*keys, "steps_to_target", "grad_norms_at_init", "first_over_last_layer"])
    assert numbers["steps_to_target"] == {"relu": [70] * 6, "tanh": [190] * 6, "sigmoid": [201] * 6}
    assert numbers["chosen_lr"] == {"relu": 0.03, "tanh": 0.1, "sigmoid": 0.3}
    never = [20, pytest.approx(0.6)]  # four measurements (censored), NaN counted as 1
    assert numbers["tuning"]["relu"] == {
        "0.01": never,
        "0.03": [15, pytest.approx(0.74 / 3)],
        "0.1": never,
        "0.3": never,
    }
    assert numbers["first_over_last_layer"]["sigmoid"] == [1e-3] * 3
    assert get_study("relu").judge(numbers).verdict == SUPPORTED


# ---- vgg-3x3 ---------------------------------------------------------------------------------------


def test_vgg_plans_the_fields_and_one_run_per_network_and_unit(ctx):
    study = get_study("vgg-3x3")
    runs = study.plan(ctx, {})
    units = [1000 * s + u for s in (0, 1, 2) for u in range(vgg_3x3.UNITS)]
    assert names(runs) == ["fields"] + [f"{kind}-unit{u}" for kind in vgg_3x3.KINDS for u in units]
    assert not runs[0].trains and all(r.trains for r in runs[1:])
    assert runs[-1].fn == "dlbasic.studies.vgg_3x3:train_equal_field" and runs[-1].args == {"kind": "5x5", "seed": 2002}
    assert all(r.cost <= MAX_COST for r in runs)


def test_vgg_collects_the_numbers_judge_reads(ctx):
    results = {"fields": vgg_3x3.fields_and_weights(ctx)}
    acc = {"3x3": [0.975, 0.970, 0.980, 0.972, 0.974, 0.976, 0.971, 0.978, 0.973], "5x5": [0.976, 0.972, 0.978] * 3}
    for kind, values in acc.items():
        for u, a in zip([1000 * s + u for s in (0, 1, 2) for u in range(3)], values):
            results[f"{kind}-unit{u}"] = {
                "held_out_accuracy": a,
                "test_accuracy": a,
                "train_accuracy": 0.99,
                "held_out_images": 502,
                "params": 10000 if kind == "3x3" else 12000,
            }
    keys = ["cases", "epochs", "units", "margin", "held_out_images", "held_out_accuracy", "test_accuracy"]
    numbers = collected("vgg-3x3", ctx, results, [*keys, "train_accuracy", "net_params"])
    assert numbers["held_out_accuracy"] == acc and numbers["net_params"] == {"3x3": 10000, "5x5": 12000}
    assert numbers["cases"][0]["fields"] == dict.fromkeys(
        ("stack_formula", "single_formula", "stack_summary", "single_summary"), 5
    )
    assert get_study("vgg-3x3").judge(numbers).verdict == SUPPORTED


# ---- detection-speed -------------------------------------------------------------------------------

SEARCH = {  # the stage-1 searches: boxes per training and test scene, proposals and their recall per test scene
    "search-train": {"boxes": [[[0.0, 0.0, 8.0, 8.0]]] * 3},
    "search-test": {
        "boxes": [[[0.0, 0.0, 8.0, 8.0], [1.0, 2.0, 9.0, 9.0]]] * TEST_IMAGES,
        "proposals": [8, 12, 5, 20, 9, 11],
        "average_recall": [0.4] * TEST_IMAGES,
    },
}


def test_detection_speed_plans_the_search_then_the_searched_detectors(ctx):
    study = get_study("detection-speed")
    first = study.plan(ctx, {})
    assert names(first) == ["search-train", "search-test", "detector-faster_rcnn", "detector-yolo_v1", "untrained-rpn"]
    assert first[1].fn == "dlbasic.studies.detection_speed:search_scenes" and first[1].args == {"part": "test"}
    assert first[2].fn == "dlbasic.studies.detection_speed:detector" and first[2].args == {"name": "faster_rcnn"}
    assert names(study.plan(ctx, {r.name: {} for r in first if r.name != "search-test"})) == ["search-test"]
    results = {r.name: {} for r in first} | SEARCH
    second = study.plan(ctx, results)
    assert names(second) == ["detector-rcnn", "detector-sppnet", "detector-fast_rcnn"]
    boxes = {"train": SEARCH["search-train"]["boxes"], "test": SEARCH["search-test"]["boxes"]}
    assert second[0].args == {"name": "rcnn", "boxes": boxes}
    assert not any(r.trains for r in first + second) and all(r.cost <= MAX_COST for r in first + second)
    assert study.plan(ctx, results | {r.name: {} for r in second}) == []


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
    known = detection_speed.KnownSearch(search, images[:2], [[[1.0, 2.0, 3.0, 4.0]], []])
    boxes = known(images)
    assert boxes[0].tolist() == [[1.0, 2.0, 3.0, 4.0]] and boxes[1].shape == (0, 4)
    assert boxes[2].tolist() == [[0.0, 0.0, 2.0, 1.0]] and search.searched == 1
    known.cache = False  # as seconds_per_image does to time the search: every image is searched
    assert known(images[:1])[0].tolist() == [[0.0, 0.0, 0.0, 1.0]] and search.searched == 2 and not search.cache


def test_detection_speed_collects_the_numbers_judge_reads(ctx):
    at = detection_speed.CURVE.index(detection_speed.REGIONS)
    results = dict(SEARCH)
    for d in detection_speed.DETECTORS:
        run = {"map": 0.1, "map_50": 0.2, "seconds_per_image": 0.01, "timed_images": 8}
        if d in detection_speed.SEARCHED:
            runs = 2000 if d == "rcnn" else 1
            run["curve"] = {
                k: [v if i == at else 0 for i in range(len(detection_speed.CURVE))]
                for k, v in (("conv", _CONV[d]), ("fc", _TOTAL[d] - _CONV[d]), ("cnn_runs", runs))
            }
        else:
            run["macs"] = {"conv": [_CONV[d]] * TEST_IMAGES, "total": [_TOTAL[d]] * TEST_IMAGES, "cnn_runs": [1] * 6}
        results[f"detector-{d}"] = run
    results["detector-faster_rcnn"] |= {"proposals": [50] * TEST_IMAGES, "average_recall": [*_TRAINED, None]}
    # a seventh scene without digits: its recall is NaN, which a saved run holds as None
    results["untrained-rpn"] = {"average_recall": [*_UNTRAINED, None], "train_images": 96, "test_images": TEST_IMAGES}
    keys = ["regions", "regions_curve", "curve_macs", "macs", "proposals", "average_recall", "seconds_per_image"]
    numbers = collected(
        "detection-speed", ctx, results, [*keys, "map", "map_50", "train_images", "test_images", "timed_images"]
    )
    assert numbers["macs"]["total"]["rcnn"] == [_TOTAL["rcnn"]] * TEST_IMAGES
    assert numbers["macs"]["cnn_runs"]["rcnn"] == [2000] * TEST_IMAGES
    assert numbers["proposals"]["selective_search"] == SEARCH["search-test"]["proposals"]
    assert math.isnan(numbers["average_recall"]["rpn_trained"][-1])
    assert get_study("detection-speed").judge(numbers).verdict == SUPPORTED
