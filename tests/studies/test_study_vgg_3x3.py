"""The vgg-3x3 study: exact checks of fields and weights, and a staged non-inferiority comparison of the two
equal-field networks' held-out accuracy (what `plan` declares look by look, what `collect` reads, how `judge`
decides)."""

import itertools
import math

import pytest
import torch
from torch import nn

from dlbasic.lab import LabContext, make_profile
from dlbasic.studies import get_study, vgg_3x3
from dlbasic.studies.vgg_3x3 import KINDS, equal_field_net, fields_and_weights, stack, weights

STUDY = get_study("vgg-3x3")
SAME = [0.975, 0.970, 0.980, 0.972, 0.974, 0.976, 0.971, 0.978]


@pytest.fixture(scope="module")
def ctx():
    return LabContext(make_profile("quick"))


@pytest.fixture(scope="module")
def fields(ctx):
    return fields_and_weights(ctx)


def test_stacks_weights_and_equal_field_nets_at_any_input():
    for c in (8, 64):
        assert weights(stack(2, c)) == 18 * c * c and weights(stack(0, c, 5)) == 25 * c * c
        assert weights(stack(3, c)) == 27 * c * c and weights(stack(0, c, 7)) == 49 * c * c
    for kind in KINDS:
        assert equal_field_net(kind, 1, 10)(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
        assert equal_field_net(kind, 3, 10)(torch.zeros(2, 3, 32, 32)).shape == (2, 10)  # any --data size
    sizes = {kind: sum(p.numel() for p in equal_field_net(kind, 1, 10).parameters()) for kind in KINDS}
    assert sizes["3x3"] < sizes["5x5"]


def test_equal_field_nets_are_he_initialized():
    torch.manual_seed(0)
    net = equal_field_net("3x3", 1, 10, width=64)
    conv = [m for m in net.modules() if isinstance(m, nn.Conv2d)][1]  # 64 -> 64, 3x3: fan_in 576
    assert abs(conv.weight.std().item() - math.sqrt(2 / 576)) < 0.003
    assert conv.bias.abs().max().item() == 0


def run_value(acc: float, params: int) -> dict:
    return {
        "held_out_accuracy": acc,
        "test_accuracy": acc,
        "train_accuracy": 0.99,
        "held_out_images": 1400,
        "params": params,
    }


def results_for(fields, acc3: list, acc5: list) -> dict:
    results = {"fields": fields}
    for s, (a3, a5) in enumerate(zip(acc3, acc5)):
        results[f"3x3-seed{s}"] = run_value(a3, 10890)
        results[f"5x5-seed{s}"] = run_value(a5, 14442)
    return results


def test_plan_declares_the_fields_and_the_first_look_then_more_seeds_only_while_undecided(ctx, fields):
    runs = STUDY.plan(ctx, {})
    assert [r.name for r in runs] == ["fields"] + [f"{k}-seed{s}" for s in range(4) for k in KINDS]
    assert not runs[0].trains and all(r.trains and r.cost > 0 for r in runs[1:])
    assert runs[-1].fn == "dlbasic.studies.vgg_3x3:train_equal_field" and runs[-1].args == {"kind": "5x5", "seed": 3}
    decided = results_for(fields, SAME[:4], [a - 0.001 for a in SAME[:4]])  # 3x3 a little better: non-inferior
    assert STUDY.plan(ctx, decided) == []

    def noisy(n: int) -> dict:
        """n seeds: 3x3 at 0.975, 0.955, 0.980, 0.960 over and over, 5x5 at SAME's."""
        acc3 = [0.975, 0.955, 0.980, 0.960]
        return results_for(fields, [acc3[s % 4] for s in range(n)], [SAME[s % len(SAME)] for s in range(n)])

    for before, n in itertools.pairwise(STUDY.schedule):  # undecided: each later look adds its seeds
        more = STUDY.plan(ctx, noisy(before))
        assert [r.name for r in more] == [f"{k}-seed{s}" for s in range(before, n) for k in KINDS]
    assert STUDY.plan(ctx, noisy(STUDY.schedule[-1])) == []  # the last look decides or stops


def test_collect_puts_the_runs_into_the_numbers_judge_reads(ctx, fields):
    acc5 = [a - 0.001 for a in SAME[:4]]
    m = STUDY.collect(ctx, results_for(fields, SAME[:4], acc5))
    n = m.numbers
    assert n["seeds"] == [0, 1, 2, 3] and m.seeds == [0, 1, 2, 3] and m.figures
    assert n["held_out_accuracy"] == {"3x3": SAME[:4], "5x5": acc5}
    assert n["net_params"] == {"3x3": 10890, "5x5": 14442} and n["held_out_images"] == 1400
    assert n["cases"][0]["fields"] == dict.fromkeys(
        ("stack_formula", "single_formula", "stack_summary", "single_summary"), 5
    )
    v = STUDY.judge(n)
    assert v.verdict == "supported" and len(v.checks) == 5 and all(c["holds"] for c in v.checks)
    assert v.comparisons[0]["form"] == "non-inferiority" and v.comparisons[0]["seeds"] == 4


def numbers(fields, acc3, acc5, params=(10890, 14442)) -> dict:
    return {"cases": fields, "held_out_accuracy": {"3x3": acc3, "5x5": acc5}, "net_params": dict(zip(KINDS, params))}


def test_judge_gives_each_verdict(fields):
    assert STUDY.judge(numbers(fields, SAME[:4], [a - 0.001 for a in SAME[:4]])).verdict == "supported"
    worse = STUDY.judge(numbers(fields, [a - 0.03 for a in SAME[:4]], SAME[:4]))
    assert worse.verdict == "contradicted" and worse.comparisons[0]["outcome"] == "B better"
    noisy = STUDY.judge(numbers(fields, [0.975, 0.955, 0.980, 0.960], SAME[:4]))
    assert noisy.verdict == "inconclusive" and noisy.more == 8
    wrong_field = [{**fields[0], "fields": {**fields[0]["fields"], "stack_summary": 7}}, fields[1]]
    assert STUDY.judge(numbers(wrong_field, SAME[:4], SAME[:4])).verdict == "failed"
    assert STUDY.judge(numbers(fields, SAME[:4], SAME[:4], params=(15000, 14442))).verdict == "failed"


def test_the_rule_names_the_margin_and_the_schedule():
    assert STUDY.form == "structural + non-inferiority" and STUDY.schedule == vgg_3x3.SCHEDULE
    assert "0.005" in STUDY.rule and "O'Brien-Fleming" in STUDY.rule
