"""The resnet study: degradation (plain-8 vs plain-32) and shortcuts (ResNet-32 vs plain-32) on the final
training error (the nets, the schedule, what `plan` declares look by look, what `collect` reads, how `judge`
decides)."""

import itertools

import pytest
import torch
from torch import nn

from dlbasic.lab import LabContext, make_profile
from dlbasic.studies import get_study, resnet
from dlbasic.studies.resnet import NETS, StepSchedule, cifar_net, depth, step_lr, still_improving

STUDY = get_study("resnet")
LOW, HIGH = [0.010, 0.012, 0.009, 0.011, 0.010, 0.013], [0.08, 0.06, 0.07, 0.09, 0.065, 0.075]


@pytest.fixture(scope="module")
def ctx():
    return LabContext(make_profile("quick"))


def test_the_cifar_nets_have_6n_plus_2_layers_and_only_the_residual_one_has_shortcuts():
    nets = {name: cifar_net(n, shortcut, 1, 10) for name, (n, shortcut) in NETS.items()}
    assert {name: depth(net) for name, net in nets.items()} == {"plain-8": 8, "plain-32": 32, "resnet-32": 32}
    params = {name: sum(p.numel() for p in net.parameters()) for name, net in nets.items()}
    assert params["plain-32"] == params["resnet-32"]  # option A shortcuts add no parameters
    for net in nets.values():
        assert net(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    assert cifar_net(1, "A", 3, 10)(torch.zeros(2, 3, 32, 32)).shape == (2, 10)  # any --data size
    blocks = [m for m in nets["resnet-32"].modules() if hasattr(m, "shortcut")]
    assert len(blocks) == 15 and all(b.shortcut is not None for b in blocks)
    assert all(m.shortcut is None for m in nets["plain-32"].modules() if hasattr(m, "shortcut"))


def test_he_step_schedule_and_the_last_quarter():
    assert [step_lr(0.1, f) for f in (0, 0.49, 0.5, 0.74, 0.75, 0.99)] == pytest.approx(
        [0.1, 0.1, 0.01, 0.01, 0.001, 0.001]
    )

    class _Stepping:
        epochs, steps_per_epoch, global_step = 10, 4, 30
        optimizer = torch.optim.SGD(nn.Linear(1, 1).parameters(), lr=1.0)

    StepSchedule(0.1).on_batch_start(_Stepping)
    assert _Stepping.optimizer.param_groups[0]["lr"] == pytest.approx(0.001)
    curves = [[0.9, 0.5, 0.4, 0.3, 0.3, 0.29, 0.28, 0.2], [0.9, 0.5, 0.4, 0.3, 0.3, 0.3, 0.3, 0.3]]
    assert still_improving(curves) == pytest.approx((0.29 - 0.2 + 0.0) / 2)  # epoch 6 ends the third quarter


def run_value(train: float) -> dict:
    return {
        "curve": [0.5, 0.2, train + 0.01, train],
        "train_error": train,
        "test_error": train + 0.02,
        "params": 1,
        "depth": 8,
    }


def results_for(errors: dict[str, list], first: int = 0) -> dict:
    return {f"{net}-seed{first + i}": run_value(e) for net, v in errors.items() for i, e in enumerate(v)}


DEGRADES = {"plain-8": LOW[:3], "plain-32": HIGH[:3], "resnet-32": LOW[:3]}


def test_plan_declares_the_first_look_then_more_seeds_only_while_undecided(ctx):
    runs = STUDY.plan(ctx, {})
    assert [r.name for r in runs] == [f"{net}-seed{s}" for s in range(3) for net in NETS]
    assert all(r.fn == "dlbasic.studies.resnet:train_net" and r.trains and r.cost > 0 for r in runs)
    assert runs[5].args == {"net": "resnet-32", "seed": 1}
    assert STUDY.plan(ctx, results_for(DEGRADES)) == []
    noisy = {"plain-8": [0.01, 0.09, 0.01], "plain-32": [0.08, 0.01, 0.07], "resnet-32": LOW[:3]}  # seed s: s mod 3
    done = results_for(noisy)
    for before, n in itertools.pairwise(STUDY.schedule):  # undecided: each later look adds its seeds
        more = STUDY.plan(ctx, done)
        assert [r.name for r in more] == [f"{net}-seed{s}" for s in range(before, n) for net in NETS]
        done |= results_for({net: [v[s % 3] for s in range(before, n)] for net, v in noisy.items()}, first=before)
    assert STUDY.plan(ctx, done) == []  # the last look


def test_collect_puts_the_runs_into_the_numbers_judge_reads(ctx):
    m = STUDY.collect(ctx, results_for(DEGRADES))
    n = m.numbers
    assert n["seeds"] == [0, 1, 2] and m.seeds == [0, 1, 2] and m.figures
    assert n["train_error"] == DEGRADES and n["test_error"]["plain-32"] == pytest.approx([e + 0.02 for e in HIGH[:3]])
    assert n["gap"]["plain-32"] == pytest.approx(0.02) and n["still_improving"]["plain-8"] == pytest.approx(0.01)
    v = STUDY.judge(n)
    assert v.verdict == "supported" and [c["seeds"] for c in v.comparisons] == [3, 3]


def numbers(errors: dict[str, list]) -> dict:
    return {"train_error": errors, "gap": dict.fromkeys(NETS, 0.01)}


def test_judge_gives_each_verdict():
    assert STUDY.judge(numbers(DEGRADES)).verdict == "supported"
    no_degradation = STUDY.judge(numbers({"plain-8": HIGH[:3], "plain-32": LOW[:3], "resnet-32": LOW[:3]}))
    assert no_degradation.verdict == "contradicted"  # the deeper plain net trains better: no degradation
    same = [0.0101, 0.0119, 0.0091]
    shortcuts_useless = STUDY.judge(numbers({"plain-8": LOW[:3], "plain-32": HIGH[:3], "resnet-32": HIGH[:3]}))
    assert shortcuts_useless.verdict == "contradicted"
    equal_depths = STUDY.judge(numbers({"plain-8": LOW[:3], "plain-32": same, "resnet-32": LOW[:3]}))
    assert equal_depths.verdict == "contradicted" and equal_depths.comparisons[0]["outcome"] == "equivalent"
    noisy = STUDY.judge(numbers({"plain-8": [0.01, 0.09, 0.01], "plain-32": [0.08, 0.01, 0.07], "resnet-32": LOW[:3]}))
    assert noisy.verdict == "inconclusive" and noisy.more == 6
    assert STUDY.form == "difference" and STUDY.schedule == resnet.SCHEDULE and "0.005" in STUDY.rule
