"""augmentation: the label-preserving set follows the data, what `plan` declares and stages, that `collect`
reads the runs' values, and that `judge` gives each verdict (test accuracy, margin 0.005)."""

import pytest
from staging import added_seeds, plan_stages

from dlbasic.lab.context import LabContext, make_profile
from dlbasic.studies import augmentation, get_study
from dlbasic.studies.augmentation import AFFINE, CONDITIONS, SCHEDULE, flip_preserves_labels, preserving

CTX = LabContext(make_profile("quick"))
FASHION = LabContext(make_profile("quick", data="idx:/usr/share/datasets/fashion-mnist"))


def test_flips_preserve_labels_of_clothes_and_photographs_not_of_digits():
    assert not flip_preserves_labels("mnist5k") and not flip_preserves_labels("idx:../data/mnist")
    assert flip_preserves_labels("subset:3600+1000:idx:/usr/share/datasets/fashion-mnist")
    assert flip_preserves_labels("cifar10:/data/cifar")
    assert preserving("mnist5k") == AFFINE and preserving("idx:/x/Fashion-MNIST") == AFFINE + ",flip"


def args_of(ctx):
    return {r.name: r.args for r in get_study("augmentation").plan(ctx, {})}


def test_plan_declares_one_run_per_condition_and_seed_with_the_datas_preserving_set():
    runs = get_study("augmentation").plan(CTX, {})
    assert len(runs) == len(CONDITIONS) * SCHEDULE[0] and all(r.cost > 0 for r in runs)
    digits, clothes = args_of(CTX), args_of(FASHION)
    assert digits["label-preserving seed 1"] == {"augment": AFFINE, "subset": 500, "seed": 1}
    assert clothes["label-preserving seed 1"]["augment"] == AFFINE + ",flip"
    assert digits["flip seed 0"]["augment"] == "flip" and digits["twice the real data seed 2"]["subset"] == 1000
    assert digits["none seed 4"] == {"augment": "", "subset": 500, "seed": 4}


def fake(gain, spread=0.0):
    def value(augment, subset, seed):
        base = 0.87 + 0.002 * seed + (0.02 if subset > 500 else 0.0)
        return base + (gain + spread * (-1) ** seed if augment == AFFINE else 0.0)

    return value


def staged(value):
    study = get_study("augmentation")
    stages, results = plan_stages(study, CTX, lambda r: value(**r.args))
    return [len(s) for s in stages], study.collect(CTX, results).numbers


def test_collect_reads_the_runs_and_stages_seeds_only_while_undecided():
    looks, numbers = staged(fake(0.04))
    assert looks == [len(CONDITIONS) * SCHEDULE[0]]
    assert numbers["test_accuracy"]["label-preserving"] == pytest.approx([0.91 + 0.002 * s for s in range(5)])
    assert numbers["label_preserving"] == AFFINE
    assert get_study("augmentation").judge(numbers).verdict == "supported"
    looks, numbers = staged(fake(0.01, spread=0.015))  # undecided until the last look, which ends the plan
    assert looks == [len(CONDITIONS) * n for n in added_seeds(SCHEDULE)]
    assert len(numbers["test_accuracy"]["none"]) == SCHEDULE[-1]


@pytest.mark.parametrize(
    ("diffs", "verdict"),
    [
        ([0.04, 0.035, 0.045, 0.03, 0.04], "supported"),
        ([0.001, -0.001, 0.0, 0.001, -0.001], "contradicted"),  # equivalent
        ([-0.05, -0.04, -0.055, -0.045, -0.05], "contradicted"),  # augmentation hurts
        ([0.05, -0.03, 0.04, -0.02, 0.01], "inconclusive"),
    ],
)
def test_judge_compares_test_accuracy_with_a_half_point_margin(diffs, verdict):
    none = [0.87, 0.875, 0.88, 0.86, 0.865]
    acc = {label: none for label in CONDITIONS} | {"label-preserving": [a + d for a, d in zip(none, diffs)]}
    v = augmentation.Augmentation().judge({"test_accuracy": acc, "label_preserving": AFFINE})
    assert v.verdict == verdict and v.comparisons[0]["margin"] == 0.005
    assert AFFINE in v.key_number
