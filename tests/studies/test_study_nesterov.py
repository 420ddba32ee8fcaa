"""nesterov: the tuning runs, then the quadratic and MNIST at the tuned rates on staged seeds; the overshoot
and the quadratic's runs."""

from __future__ import annotations

import json
import math

import matplotlib.pyplot as plt
import pytest
import torch

from dlbasic.lab.context import LabContext, make_profile
from dlbasic.studies import get_study
from dlbasic.studies import nesterov as nag


@pytest.fixture
def ctx() -> LabContext:
    yield LabContext(make_profile("quick"))
    plt.close("all")


def quad(steps: int, over: float, best: int = 2) -> dict:
    """A quadratic run: `steps` and `over` at rate index `best`, worse elsewhere."""
    n = len(nag.QUAD_LRS)
    return {
        "steps": [steps if i == best else steps + 100 for i in range(n)],
        "overshoot": [over] * n,
        "final": [1e-8] * n,
        "paths": [[1.0, 0.5]] * n,
    }


def mnist(hit: int | None, over: float = 0.1) -> dict:
    return {"threshold": 0.115, "losses": [2.3, 0.1], "hit": hit, "diverged": False, "overshoot": over}


def tuning() -> dict:
    """Tuning results: the quadratic best at index 2, MNIST best at 0.001 for both methods."""
    out = {f"tune quadratic {n}": quad(300, 0.5) for n in nag.NAMES}
    out.update(
        {f"tune mnist {n} lr {lr:g}": mnist(100 if lr == 0.001 else None) for n in nag.NAMES for lr in nag.MNIST_LRS}
    )
    return out


def run_all(results: dict, runs, steps: dict[str, list[int]], over: dict[str, list[float]]) -> None:
    for r in runs:
        name, seed = r.args["optimizer"], r.args["seed"]
        value = (
            quad(steps[name][seed], over[name][seed])
            if r.fn == nag.QUAD
            else mnist(steps[name][seed], over[name][seed])
        )
        results[r.name] = value


def test_plan_tunes_then_runs_the_first_look_at_the_tuned_rates(ctx):
    study = get_study("nesterov")
    first = study.plan(ctx, {})
    assert [r.name for r in first] == [f"tune quadratic {n}" for n in nag.NAMES] + [
        f"tune mnist {n} lr {lr:g}" for n in nag.NAMES for lr in nag.MNIST_LRS
    ]
    assert first[0].args == {"optimizer": "nesterov", "seed": 1000} and not first[0].trains
    assert first[2].args == {"optimizer": "nesterov", "lr": 1e-4, "seed": 1000, "stop_at_threshold": True}
    look = study.plan(ctx, tuning())
    assert [r.name for r in look] == [
        f"{p} {n} seed {s}" for s in (0, 1, 2) for n in nag.NAMES for p in ("quadratic", "mnist")
    ]
    assert look[1].args == {"optimizer": "nesterov", "lr": 0.001, "seed": 0} and look[1].cost == nag.MNIST_COST


FAST, SLOW = [100, 110, 105, 100, 95, 104], [300, 320, 310, 290, 305, 300]
LOW, HIGH = [0.1, 0.12, 0.11, 0.1, 0.09, 0.1], [1.0, 1.1, 0.9, 1.0, 1.2, 1.0]


@pytest.mark.parametrize("mnist_nag, more", [(FAST, False), ([100, 400, 150, 90, 300, 120], True)])
def test_seeds_are_added_only_while_undecided(ctx, mnist_nag, more):
    study = get_study("nesterov")
    results = tuning()
    steps = {"nesterov": FAST, "momentum": SLOW}
    run_all(results, study.plan(ctx, results), steps, {"nesterov": LOW, "momentum": HIGH})
    # the MNIST runs' steps differ from the quadratic's only through `mnist_nag`
    for s in (0, 1, 2):
        results[f"mnist nesterov seed {s}"]["hit"] = mnist_nag[s]
    nxt = study.plan(ctx, results)
    assert sorted({r.args["seed"] for r in nxt}) == ([3, 4, 5] if more else [])


def test_collect_reads_the_tuned_rates_column_and_the_runs(ctx):
    study = get_study("nesterov")
    results = tuning()
    run_all(
        results, study.plan(ctx, results), {"nesterov": FAST, "momentum": SLOW}, {"nesterov": LOW, "momentum": HIGH}
    )
    # momentum on MNIST near the cap, seed 2 never reached (read as the cap + 1): 5.3-5.7 times Nesterov's
    # steps, close enough for the first look's boundary to decide
    for s, hit in enumerate([560, 590, None]):
        results[f"mnist momentum seed {s}"]["hit"] = hit
    m = study.collect(ctx, results).numbers
    assert m["seeds"] == [0, 1, 2] and m["quadratic"]["nesterov"]["lr"] == nag.QUAD_LRS[2]
    assert m["quadratic"]["nesterov"]["steps"] == FAST[:3] and m["quadratic"]["momentum"]["overshoot"] == HIGH[:3]
    assert m["mnist"]["momentum"]["steps"] == [560, 590, nag.MNIST_CAP + 1] and m["mnist"]["nesterov"]["lr"] == 0.001
    v = study.judge(json.loads(json.dumps(m)))
    assert v.verdict == "supported" and len(v.comparisons) == 4


def numbers(q_steps, q_over, m_steps, m_over) -> dict:
    def arm(steps, over):
        return {"lr": 0.1, "steps": steps, "overshoot": over}

    return {
        "quadratic": {"nesterov": arm(q_steps[0], q_over[0]), "momentum": arm(q_steps[1], q_over[1])},
        "mnist": {"nesterov": arm(m_steps[0], m_over[0]), "momentum": arm(m_steps[1], m_over[1])},
    }


@pytest.mark.parametrize(
    "m_steps, expected",
    [
        ((FAST[:3], SLOW[:3]), "supported"),
        ((SLOW[:3], FAST[:3]), "contradicted"),
        (([101, 111, 104], FAST[:3]), "contradicted"),  # equal within 10 %
        (([100, 400, 90], [150, 200, 300]), "inconclusive"),
    ],
)
def test_judge_needs_all_four_parts(m_steps, expected):
    m = numbers((FAST[:3], SLOW[:3]), (LOW[:3], HIGH[:3]), m_steps, (LOW[:3], HIGH[:3]))
    assert get_study("nesterov").judge(m).verdict == expected


def test_overshoot_is_the_total_rise_and_never_zero():
    assert nag.overshoot([2.0, 1.0, 1.5, 0.5, 0.7]) == pytest.approx((0.5 + 0.2) / 2.0)
    assert nag.overshoot([2.0, 1.0, 0.5]) == nag.FLOOR
    assert nag.first_hit([3.0, 2.0, 0.1, 0.05], 0.1, every=5) == 10 and nag.first_hit([3.0], 0.1) is None


def test_quadratic_run_matches_a_single_heavy_ball_trajectory(ctx):
    r = nag.quadratic_run(ctx, "momentum", 7)
    lam = torch.logspace(0, -math.log10(nag.KAPPA), nag.DIM, dtype=torch.float64)
    x = torch.randn(nag.DIM, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    i, lr = 3, nag.QUAD_LRS[3]
    v, f0, path = torch.zeros_like(x), float((lam * x**2).sum() / 2), []
    for _ in range(nag.QUAD_CAP + 1):
        path.append(float((lam * x**2).sum() / 2) / f0)
        v = nag.MU * v + lam * x
        x = x - lr * v
    hit = nag.first_hit(path, nag.QUAD_THRESHOLD)
    assert r["steps"][i] == hit and r["overshoot"][i] == pytest.approx(nag.overshoot(path), rel=1e-9)
    assert all(math.isfinite(o) for o in r["overshoot"])  # heavy ball is stable for lr < 2 (1 + mu) = 3.98
