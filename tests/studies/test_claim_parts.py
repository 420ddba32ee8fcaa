"""A claim's verdict from its parts and checks (dlbasic.lab.verdicts), and a staged study's seeds by look."""

import math

import pytest
from staging import plan_stages

from dlbasic.lab.context import LabContext, make_profile
from dlbasic.lab.study import Measurements, Run, Study
from dlbasic.lab.verdicts import ACCURACY, RATIO, check, next_look, part, verdict

HIGH = [0.93, 0.94, 0.95]
LOW = [0.90, 0.90, 0.91]


def test_difference_sameness_and_non_inferiority_read_one_interval_differently():
    better = part("a vs b", HIGH, LOW, form="difference", margin=ACCURACY)
    assert (better.outcome, better.verdict) == ("A better", "supported")
    assert part("a vs b", HIGH, LOW, form="sameness", margin=ACCURACY).verdict == "contradicted"
    worse = part("b vs a", LOW, HIGH, form="non-inferiority", margin=ACCURACY)
    assert (worse.outcome, worse.verdict) == ("B better", "contradicted")
    same = part("a vs a", [0.9, 0.91, 0.92], [0.9005, 0.9102, 0.9198], form="sameness", margin=ACCURACY)
    assert (same.outcome, same.verdict) == ("equivalent", "supported")
    assert part("a vs a", [0.9, 0.91, 0.92], [0.9005, 0.9102, 0.9198], form="difference", margin=ACCURACY).verdict == (
        "contradicted"
    )


def test_ratios_are_compared_on_the_log_scale_and_lower_can_be_better():
    steps_a, steps_b = [100, 110, 105], [200, 190, 210]  # A needs about half the steps
    p = part("steps", steps_a, steps_b, form="difference", margin=RATIO, log=True, lower_is_better=True)
    assert p.scale == "log ratio" and p.outcome == "A better"
    assert p.comparison.mean == pytest.approx(sum(math.log(b / a) for a, b in zip(steps_a, steps_b)) / 3)
    with pytest.raises(ValueError, match="positive"):
        part("steps", [0, 1, 2], [1, 2, 3], form="difference", margin=RATIO, log=True)


def test_a_claim_of_several_parts_and_its_checks():
    yes = part("p1", HIGH, LOW, form="difference", margin=ACCURACY)
    no = part("p2", LOW, HIGH, form="difference", margin=ACCURACY)
    open_ = part("p3", [0.9, 0.95, 0.9], [0.91, 0.9, 0.92], form="difference", margin=ACCURACY, schedule=(3, 6))
    assert verdict([yes, yes], "k").verdict == "supported"
    assert verdict([yes, no], "k").verdict == "contradicted"
    v = verdict([yes, open_], "k")
    assert v.verdict == "inconclusive" and v.more == 6
    assert verdict([no, open_], "k").more is None  # decided: one part is contradicted
    assert verdict([], "k", checks=[check("shape", True)]).verdict == "checked"
    assert verdict([], "k", checks=[check("shape", False)]).verdict == "failed"
    assert verdict([yes], "k", checks=[check("count", False)]).verdict == "failed"
    d = v.comparisons[1]
    assert d["schedule"] == [3, 6] and d["look"] == 1 and d["in_margins"]["mean"] == pytest.approx(d["mean"] / ACCURACY)
    assert next_look([open_]) == 6
    with pytest.raises(ValueError):
        verdict([], "k")


class Staged(Study):
    """A staged study whose arms differ by a fixed 1-point gain with seed noise: decided at the first look when
    the noise is small, at the second when it is large."""

    id, section, claim, note, method, rule = "staged", "s", "c", "n", "m", "r"
    schedule = (3, 6)

    def __init__(self, noise):
        self.noise = noise

    def seed_runs(self, ctx, seeds):
        return [
            Run(f"{arm} seed {s}", "tests.studies.test_claim_parts:value", {"arm": arm, "seed": s})
            for s in seeds
            for arm in ("a", "b")
        ]

    def collect(self, ctx, results):
        seeds = sorted({int(name.split()[-1]) for name in results})
        values = {arm: [results[f"{arm} seed {s}"] for s in seeds] for arm in ("a", "b")}
        return Measurements({"a": [v + self.noise * (-1) ** s for s, v in zip(seeds, values["a"])], "b": values["b"]})

    def judge(self, m):
        return verdict([part("a vs b", m["a"], m["b"], form="difference", margin=ACCURACY, schedule=self.schedule)], "")


def value(ctx, arm, seed):
    return 0.91 + 0.0001 * seed if arm == "a" else 0.90


def _plan_until_done(study, ctx):
    stages, results = plan_stages(study, ctx, lambda r: r.call(ctx))
    return [len(s) for s in stages], study.judge(study.collect(ctx, results).numbers)


def test_a_staged_study_adds_seeds_only_while_undecided():
    ctx = LabContext(make_profile("quick", seed=100))
    looks, v = _plan_until_done(Staged(noise=0.0), ctx)
    assert looks == [6] and v.verdict == "supported" and v.comparisons[0]["seeds"] == 3
    looks, v = _plan_until_done(Staged(noise=0.012), ctx)
    assert looks == [6, 6] and v.comparisons[0]["seeds"] == 6 and v.comparisons[0]["look"] == 2
