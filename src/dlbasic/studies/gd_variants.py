r"""Claim `gd-variants`: SGD uses one sample per step, mini-batch some, batch gradient descent all (and the
mini-batch is the one mainly used).

The claim is a definition: one optimizer step of SGD reads 1 example, of mini-batch gradient descent B, of
batch gradient descent all N (CLAIMS.md v0.3: structural). It is checked exactly, by counting the examples the
network reads in each training step of a real run (a forward pre-hook in training mode), never by a t-test.
Why the mini-batch is the one mainly used is what Bottou, Curtis & Nocedal, "Optimization methods for
large-scale machine learning" (SIAM Review 2018, §3.3, §4) and Shallue et al., "Measuring the effects of data
parallelism on neural network training" (JMLR 2019) measure: per example seen, stochastic steps make far more
progress than a full-batch step; per second, a mini-batch uses the hardware that one example leaves idle. Those
curves, the training loss against the examples read and against the seconds spent, are reported, not judged:
the arms differ in steps by construction (N / B and N times), so a verdict on them would be granted by design.

Scaled down: plain SGD on the MLP 64-64-10 on the 8x8 digits (or ``--data``), batch 1, 32 and the full
training set, each for the same number of epochs (equal examples) on the profile's first seed. Batch 32 trains
at learning-rate's lr* (its grid on the tuning seed: the same runs); the others by the linear rule from it
(Goyal et al. 2017; Smith & Le 2018: SGD's noise scale is lr N / B, so lr / B fixed keeps batch 32's noise),
lr* B / 32, capped at lr* since plain SGD's lr* already sits at the edge of stability: batch 1 at lr* / 32,
the full batch at lr*. (A first run used the square-root rule, lr* / sqrt(32) for batch 1: that rate left
batch 1 at a training loss of 1.28 after 3 epochs, worse than batch 32's 0.135, a curve that showed a
mistuned rate rather than SGD; the checks do not depend on the rate. The budget is one epoch: three epochs of
batch 1 took 4.4 s of one thread, over the study's budget.)

Runs: learning-rate's grid (shared); then one run per batch size, which counts the examples of each step and
probes the training-set loss (eval mode) and the training seconds (probes excluded) at 16 points.
"""

from __future__ import annotations

import math
import time
from typing import Any

import matplotlib.pyplot as plt

from dlbasic.callbacks import Callback
from dlbasic.lab.registry import register_study
from dlbasic.lab.study import Measurements, Run, Study, Verdict, fmt, not_run
from dlbasic.lab.verdicts import check, verdict
from dlbasic.studies.learning_rate import BATCH, DATA, grid_best, grid_runs, sgd_config, train_size

EPOCHS = 1  # equal examples: every arm reads the training set this many times (one pass: Bottou et al.'s figure)
POINTS = 16  # loss probes per run (besides the initialization)
ARMS = ("1", str(BATCH), "full")
STEPS_READ = "dlbasic.studies.gd_variants:steps_read"
COST = {"1": 1.5, str(BATCH): 0.05, "full": 0.02}  # seconds of one run (one thread, quick profile, the digits)


class ExamplesPerStep(Callback):
    """Counts the examples the model reads in each optimizer step (forward passes in training mode) and probes
    the training-set loss, the examples so far and the training seconds (probes excluded) `points` times."""

    def __init__(self, total_steps: int, points: int):
        self.every = max(1, total_steps // points)
        self.reads: list[int] = []
        self.curve: dict[str, list[float]] = {"examples": [], "seconds": [], "loss": []}
        self._now = 0

    def on_fit_start(self, trainer) -> None:
        """Hook the model's forward; probe the initialization."""

        def count(module, args):
            if module.training:
                self._now += args[0].shape[0]

        self._hook = trainer.model.register_forward_pre_hook(count)
        self._seconds, self._examples = 0.0, 0
        self._probe(trainer)

    def on_batch_start(self, trainer) -> None:
        """Start the step's clock and count."""
        self._now, self._start = 0, time.perf_counter()

    def on_batch_end(self, trainer, logs: dict[str, float]) -> None:
        """Close the step: its examples and seconds; probe every `every` steps."""
        self._seconds += time.perf_counter() - self._start
        self.reads.append(self._now)
        self._examples += self._now
        if trainer.global_step % self.every == 0:
            self._probe(trainer)

    def on_fit_end(self, trainer) -> None:
        """Probe the final weights (unless just probed) and unhook."""
        if self.curve["examples"][-1] != self._examples:
            self._probe(trainer)
        self._hook.remove()

    def _probe(self, trainer) -> None:
        loss = float(trainer.evaluate(trainer.train_data)["loss"])
        trainer.model.train()
        for key, value in (("examples", self._examples), ("seconds", self._seconds), ("loss", loss)):
            self.curve[key].append(value)


def run_lengths(values: list[int]) -> list[list[int]]:
    """[[value, times], ...] of consecutive equal values: the reads of thousands of steps in a few pairs."""
    out: list[list[int]] = []
    for v in values:
        if out and out[-1][0] == v:
            out[-1][1] += 1
        else:
            out.append([v, 1])
    return out


def steps_read(ctx, batch: int | str, lr: float, seed: int, epochs: int) -> dict[str, Any]:
    """Plain SGD (`sgd_config`) at `batch` for `epochs` epochs: the examples each step read (run lengths) and
    the loss curve against the examples and the training seconds."""
    cfg = sgd_config(ctx, lr, seed, batch)
    cfg.epochs = epochs
    n = train_size(ctx, cfg)
    per_epoch = 1 if batch == "full" else math.ceil(n / int(batch))
    counter = ExamplesPerStep(epochs * per_epoch, POINTS)
    ctx.train(cfg, callbacks=[counter])
    return {"train_images": n, "reads": run_lengths(counter.reads), "curve": counter.curve}


def expected_reads(arm: str, n: int, epochs: int) -> list[list[int]]:
    """The run lengths of the reads the definition gives: 1 per step, B per step (the last step of an epoch
    the n mod B left over), n per step."""
    if arm == "full":
        return [[n, epochs]]
    b = int(arm)
    steps, last = divmod(n, b)
    epoch = [[b, steps]] + ([[last, 1]] if last else [])
    out: list[list[int]] = []
    for _ in range(epochs):
        for v, k in epoch:
            if out and out[-1][0] == v:
                out[-1][1] += k
            else:
                out.append([v, k])
    return out


def arm_lr(arm: str, best: float, n: int) -> float:
    """The arm's rate: lr* B / 32, capped at lr* (the linear rule from batch 32's tuned rate)."""
    b = n if arm == "full" else int(arm)
    return best * min(1.0, b / BATCH)


@register_study
class GDVariants(Study):
    """Claim `gd-variants`: SGD uses one sample, mini-batch some, batch GD all."""

    id = "gd-variants"
    trains_on = DATA
    section = "Practical Gradient Descent Methods"
    claim = "SGD uses one sample, mini-batch some, batch GD all."
    note = (
        "Stochastic gradient descent (SGD): 하나의 sample로 gradient를 계산하여 업데이트. Mini-batch gradient "
        "descent: 일부분의 sample들로 gradient 계산. (주로 사용) Batch gradient descent: 전체 데이터를 사용하여 "
        "gradient 계산."
    )
    literature = (
        "Bottou, Curtis & Nocedal (SIAM Review 2018): per example, stochastic steps make more progress than "
        "a full-batch step; Shallue et al. (JMLR 2019): with the lr tuned per batch size, steps to a result "
        "fall almost in proportion to a small batch size, so per step a mini-batch beats one sample. "
        "Wall-clock comparisons depend on the machine and its load; the examples each step reads do not."
    )
    form = "structural"
    method = (
        f"Plain SGD trains an MLP 64-64-10 on the 8x8 digits (or --data) with batch 1, {BATCH} and the full "
        f"training set, each for {EPOCHS} epochs (equal examples) on the profile's first seed. A forward hook "
        "counts the examples the network reads in each optimizer step (training mode). Batch 32 trains at "
        "learning-rate's lr* (its half-decade grid on the tuning seed), the others at lr* B / 32 (the linear "
        f"rule) capped at lr*. Reported beside: the training-set loss at {POINTS} points against the examples "
        "read and against the training seconds (machine-dependent)."
    )
    rule = (
        "Structural, exact: every step of batch 1 reads 1 example; every step of batch 32 reads 32, the last of "
        "each epoch the N mod 32 left over; every step of the full batch reads all N training images; each arm "
        "reads N examples per epoch. Checked, never put through a t-test; the loss curves are reported, not "
        "judged (the arms differ in steps by construction)."
    )

    def plan(self, ctx, results: dict[str, Any]) -> list[Run]:
        """learning-rate's grid on the tuning seed; once it is run, one run per batch size at its rate."""
        if todo := not_run(grid_runs(ctx), results):
            return todo
        n = train_size(ctx, sgd_config(ctx, 0.1, ctx.seeds[0]))
        best = grid_best(results)
        runs = [
            Run(
                f"batch {arm}",
                STEPS_READ,
                {"batch": arm if arm == "full" else int(arm), "lr": arm_lr(arm, best, n), "seed": ctx.seeds[0]}
                | {"epochs": ctx.profile.epochs(EPOCHS)},
                COST[arm],
            )
            for arm in ARMS
        ]
        return not_run(runs, results)

    def collect(self, ctx, results: dict[str, Any]) -> Measurements:
        """The reads, the expected reads and the curves of each batch size."""
        epochs = ctx.profile.epochs(EPOCHS)
        best = grid_best(results)
        arms = {}
        for arm in ARMS:
            r = results[f"batch {arm}"]
            n = r["train_images"]
            arms[arm] = {
                "lr": arm_lr(arm, best, n),
                "reads": r["reads"],
                "expected_reads": expected_reads(arm, n, epochs),
                "steps": sum(k for _, k in r["reads"]),
                "examples": sum(v * k for v, k in r["reads"]),
                "curve": r["curve"],
            }
        numbers = {"train_images": n, "epochs": epochs, "seed": ctx.seeds[0], "lr_star": best, "arms": arms}
        caption = "Training loss against the examples read (left) and the training seconds (right), reported"
        return Measurements(numbers, [(caption, _figure(numbers))], [ctx.seeds[0]])

    def judge(self, m) -> Verdict:
        """The exact checks of `rule`; the curves go in the key number."""
        n, epochs, arms = m["train_images"], m["epochs"], m["arms"]
        label = {"1": "batch 1: every step reads 1 example", str(BATCH): f"batch {BATCH}: every step reads {BATCH}"}
        label["full"] = f"full batch: every step reads all {n} training images"
        checks = [check(label[a] + f" ({_shown(arms[a]['reads'])})", _same(arms[a])) for a in ARMS]
        checks.append(
            check(
                f"each arm reads {n} examples per epoch ({epochs} epochs: {epochs * n})",
                all(arms[a]["examples"] == epochs * n for a in ARMS),
            )
        )
        final = {a: arms[a]["curve"]["loss"][-1] for a in ARMS}
        seconds = {a: arms[a]["curve"]["seconds"][-1] for a in ARMS}
        key = f"after {epochs} epochs ({epochs * n} examples each): " + "; ".join(
            f"batch {a}: {arms[a]['steps']} steps, training loss {fmt(final[a])}, {seconds[a]:.2f} s" for a in ARMS
        )
        return verdict([], key, checks=checks)


def _same(arm: dict[str, Any]) -> bool:
    return [list(x) for x in arm["reads"]] == [list(x) for x in arm["expected_reads"]]


def _shown(reads: list[list[int]]) -> str:
    """'32 x 40, 15 x 1, ...': the first run lengths of the reads."""
    text = ", ".join(f"{v} x {k}" for v, k in reads[:4])
    return text + (f", ... ({len(reads)} runs)" if len(reads) > 4 else "")


def _figure(m: dict[str, Any]):
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for arm, v in m["arms"].items():
        c = v["curve"]
        label = f"batch {arm} (lr {fmt(v['lr'])}, {v['steps']} steps)"
        axes[0].plot(c["examples"], c["loss"], "o-", ms=3, label=label)
        axes[1].plot(c["seconds"], c["loss"], "o-", ms=3, label=label)
    axes[0].set(xlabel="examples read", ylabel="training loss", yscale="log", title="equal examples")
    axes[1].set(xlabel="training seconds (this machine)", ylabel="training loss", yscale="log", title="wall clock")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
