"""The measuring helpers of the optimizer studies (learning-rate, gd-variants, momentum, nesterov, adagrad,
adadelta, rmsprop-adam), against literal references (torch.optim, single trajectories, loops, formulas)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dlbasic.lab.stats import decide
from dlbasic.optim import create_optimizer
from dlbasic.optim.landscapes import get_landscape, trajectory
from dlbasic.studies import CONTRADICTED, INCONCLUSIVE, SUPPORTED
from dlbasic.studies import learning_rate as lr_study
from dlbasic.studies.adagrad import conjunction, effective_steps, rare_and_frequent
from dlbasic.studies.learning_rate import half_decades, outward, tune_lr
from dlbasic.studies.momentum import combine, landscape_steps, random_starts, steps_to
from dlbasic.studies.rmsprop_adam import GRID, good_width, held_out_accuracy, summarize, walk


def test_steps_to_threshold() -> None:
    assert steps_to([5.0, 3.0, 1.0, 0.5, 2.0], 1.0) == 2
    assert steps_to([5.0, math.nan, math.inf, 0.1], 1.0) == 3
    assert steps_to([5.0, 3.0], 1.0) is None


def test_half_decades_and_outward_order() -> None:
    assert half_decades(-2, 1) == (0.1, 0.3162, 1.0, 3.162)
    assert outward((0.01, 0.1, 1.0, 10.0), 0.1) == [0.1, 1.0, 0.01, 10.0]
    assert outward((0.01, 0.1, 1.0), 5.0) == [1.0, 0.1, 0.01]  # nearest in log scale, then down


def test_random_starts_lie_in_the_box_and_follow_the_seed() -> None:
    (x0, x1), (y0, y1) = get_landscape("rosenbrock").bounds
    s = random_starts("rosenbrock", 50, 3)
    assert s.shape == (50, 2) and s.dtype == torch.float64
    assert (s[:, 0] >= x0).all() and (s[:, 0] <= x1).all() and (s[:, 1] >= y0).all() and (s[:, 1] <= y1).all()
    torch.testing.assert_close(s, random_starts("rosenbrock", 50, 3))
    assert not torch.equal(s, random_starts("rosenbrock", 50, 4))


def _flips_loop(path: torch.Tensor, minimum: torch.Tensor, until: int) -> int:
    signs = torch.sign(path - minimum)
    return sum(int(((signs[t] * signs[t - 1]) < 0).sum()) for t in range(1, until + 1))


@pytest.mark.parametrize(
    "name, land, threshold",
    [("sgd", "quadratic", 0.1), ("momentum", "quadratic", 1e-3), ("nesterov", "rosenbrock", 0.1)],
)
def test_landscape_steps_match_single_trajectories(name: str, land: str, threshold: float) -> None:
    """Every (lr, start) cell of the vectorized run equals the run of that start alone, step for step."""
    starts = random_starts(land, 3, 0)
    lrs = (1e-3, 1e-2)
    cap = 200
    r = landscape_steps(name, land, starts, lrs, threshold, cap)
    minimum = torch.tensor(get_landscape(land).minima[0], dtype=torch.float64)
    reached = set()
    for i, lr in enumerate(lrs):
        for j, s in enumerate(starts):
            path, losses = trajectory(name, land, tuple(s.tolist()), steps=cap, lr=lr)
            hit = steps_to(losses.tolist(), threshold)
            assert int(r["steps"][i, j]) == (cap + 1 if hit is None else hit)
            assert int(r["flips"][i, j]) == _flips_loop(path, minimum, cap if hit is None else hit)
            reached.add(hit is not None)
    assert r["trace"].shape[0] == len(lrs)
    assert reached == {True, False} or name == "nesterov"  # both branches are checked


def test_combine_counts_problems_both_ways() -> None:
    assert combine([SUPPORTED, SUPPORTED, INCONCLUSIVE, INCONCLUSIVE]) == SUPPORTED
    assert combine([SUPPORTED, INCONCLUSIVE, INCONCLUSIVE, INCONCLUSIVE]) == INCONCLUSIVE
    assert combine([SUPPORTED, SUPPORTED, SUPPORTED, CONTRADICTED]) == INCONCLUSIVE
    assert combine([CONTRADICTED, CONTRADICTED, INCONCLUSIVE, INCONCLUSIVE]) == CONTRADICTED
    assert combine([INCONCLUSIVE] * 4) == INCONCLUSIVE


def test_conjunction_needs_every_part() -> None:
    sup, con = decide([2, 3, 4], [0, 0.5, 1]), decide([0, 0.5, 1], [2, 3, 4])
    inc = decide([1, 2, 0], [1, 1, 1])
    assert (sup.verdict, con.verdict, inc.verdict) == (SUPPORTED, CONTRADICTED, INCONCLUSIVE)
    assert conjunction({"a": sup, "b": sup}) == SUPPORTED
    assert conjunction({"a": sup, "b": inc}) == INCONCLUSIVE
    assert conjunction({"a": sup, "b": con}) == CONTRADICTED


def test_tune_lr_prunes_exactly_and_skips_diverged(monkeypatch) -> None:
    hits = {0.1: 50, 1.0: 30, 0.01: None}
    calls = []

    def fake(ctx, cfg, max_steps, *, every=1, threshold=None, size=None):
        calls.append((cfg, max_steps, every))
        hit = hits[cfg] if threshold is not None else None
        final = {0.1: 0.5, 1.0: math.inf if threshold is None else 0.1, 0.01: 0.7}[cfg]
        return {
            "hit": hit if hit is not None and hit <= max_steps else None,
            "diverged": not math.isfinite(final),
            "final": final,
            "losses": [2.3, final],
            "steps": [0, max_steps],
        }

    monkeypatch.setattr(lr_study, "probe_run", fake)
    best, records = tune_lr(None, lambda lr: lr, (0.01, 0.1, 1.0), 100, threshold=0.2, start=0.1, every=4)
    assert best == 1.0 and list(records) == ["0.01", "0.1", "1"]
    assert [(c, cap) for c, cap, _ in calls] == [(0.1, 100), (1.0, 50), (0.01, 30)]  # each capped at the best so far
    calls.clear()
    best, _ = tune_lr(None, lambda lr: lr, (0.01, 0.1, 1.0), 100)  # final-loss mode: lr 1 diverged
    assert best == 0.1 and all(cap == 100 and every == 100 for _, cap, every in calls)


def test_good_width_matches_dense_interpolation() -> None:
    rng = np.random.default_rng(0)
    x = np.arange(11) / 2
    for _ in range(20):
        a = rng.uniform(0.5, 1.0, size=11)
        dense = np.linspace(0, 5, 200001)
        expected = (np.interp(dense, x, a) >= 0.8).mean() * 5
        assert good_width(x, a, 0.8) == pytest.approx(expected, abs=1e-3)
    assert good_width([0, 0.5, 1], [None, 0.9, 0.5], 0.8) == pytest.approx(0.5 * 0.1 / 0.4)


def test_walk_finds_every_good_cell_of_a_one_peak_curve() -> None:
    curve = [0.1, 0.1, 0.3, 0.7, 0.9, 0.95, 0.97, 0.93, 0.6, 0.2, 0.1]
    for start in (0, 3, 6, 9):
        seen: dict[int, float] = {}
        walk(lambda i, seen=seen: seen.setdefault(i, curve[i]), len(curve), start, lambda: 0.9)
        if max(seen.values()) < 0.9:  # the study then runs the whole grid
            seen = dict(enumerate(curve))
        full = good_width(np.arange(11) / 2, curve, 0.9)
        assert good_width(np.arange(11) / 2, [seen.get(i) for i in range(11)], 0.9) == pytest.approx(full)
        assert len(seen) < len(curve) or start == 0
    flat: dict[int, float] = {}
    walk(lambda i: flat.setdefault(i, curve[i]), len(curve), 0, lambda: 0.9)
    assert sorted(flat) == [0, 1]  # a flat stretch at chance stops the walk: the study's fallback covers it


def test_summarize_scores_width_and_default_against_the_seeds_best() -> None:
    keys = [f"{x:g}" for x in GRID]
    flat = {k: [0.5, 0.5] for k in keys}
    adam = {**flat, "0.001": [0.9, 0.8], "0.003162": [0.9, 0.8]}
    sgd = {**flat, "0.1": [0.85, 0.8], "0.3162": [None, 0.4]}
    out = summarize({"adam": adam, "sgd": sgd}, 2)
    assert out["adam"]["default"] == [1.0, 1.0]
    assert out["sgd"]["default"] == [pytest.approx(0.85 / 0.9), 1.0]
    level = 0.98 * 0.9
    assert out["adam"]["width"][0] == pytest.approx(0.5 + 2 * 0.5 * (0.9 - level) / 0.4, rel=1e-4)  # grid at 4 digits
    assert out["sgd"]["width"][0] == 0.0


def test_held_out_accuracy_weights_by_split_size() -> None:
    s = {"val_accuracy": 0.9, "val_images": 100, "test_accuracy": 0.6, "test_images": 200}
    assert held_out_accuracy(s) == pytest.approx(0.7)


def test_rare_and_frequent_are_the_outer_quarters_of_active_inputs() -> None:
    activity = torch.tensor([0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 0.9])  # quartiles at 0.2 and 0.6
    rare, frequent = rare_and_frequent(activity)
    active = activity[activity > 0]
    assert active[rare].tolist() == pytest.approx([0.05, 0.1, 0.2])
    assert active[frequent].tolist() == pytest.approx([0.6, 0.8, 0.9])


@pytest.mark.parametrize(
    "name, cls, kw",
    [
        ("adagrad", torch.optim.Adagrad, {"lr": 0.01}),
        ("rmsprop", torch.optim.RMSprop, {"lr": 1e-3}),
        ("adadelta", torch.optim.Adadelta, {"lr": 1.0}),
    ],
)
def test_effective_step_is_the_step_torch_takes(name: str, cls, kw: dict) -> None:
    """After a warm-up, the next update of a parameter equals effective_step * (its gradient transform)."""
    torch.manual_seed(0)
    w = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    ref = w.detach().clone().requires_grad_(True)
    ours, theirs = create_optimizer(name, [w], **kw), cls([ref], **kw)
    for _ in range(3):
        g = torch.randn(5, 4, dtype=torch.float64)
        for p, opt in ((w, ours), (ref, theirs)):
            p.grad = g.clone()
            opt.step()
    g = torch.randn(5, 4, dtype=torch.float64)
    before = ref.detach().clone()
    ref.grad = g.clone()
    theirs.step()
    w.grad = g.clone()
    ours.step()
    state = theirs.state[ref]  # after the step, as the study's callback reads it
    if name == "adagrad":  # the step just taken was exactly effective_step * g
        expected = 0.01 / (state["sum"].sqrt() + 1e-10)
        torch.testing.assert_close(before - ref.detach(), expected * g, rtol=1e-10, atol=1e-14)
    elif name == "rmsprop":
        expected = 1e-3 / (state["square_avg"].sqrt() + 1e-8)
        torch.testing.assert_close(before - ref.detach(), expected * g, rtol=1e-10, atol=1e-14)
    else:  # Zeiler's RMS[dx] lags one step: the numerator already holds the update just made
        expected = (state["acc_delta"] + 1e-6).sqrt() / (state["square_avg"] + 1e-6).sqrt()
    torch.testing.assert_close(effective_steps(ours, w), expected, rtol=1e-10, atol=1e-14)
