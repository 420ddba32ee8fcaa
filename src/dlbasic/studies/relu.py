r"""Claim `relu`: ReLU trains more easily; sigmoid and tanh gradients vanish away from 0.

The experiment scaled down: Krizhevsky, Sutskever & Hinton, "ImageNet Classification with Deep
Convolutional Neural Networks" (NeurIPS 2012), figure 1: a four-layer convolutional network (three
convolutions and a linear classifier, cuda-convnet's CIFAR-10 net) with ReLUs reaches 25 % training
error on CIFAR-10 six times faster than the same network with tanh; "the learning rates for each
network were chosen independently to make training as fast as possible. No regularization of any kind
was employed." Glorot & Bengio 2010 (https://proceedings.mlr.press/v9/glorot10a.html) show sigmoid's
saturation and vanishing gradients in deeper nets.

Scaling. The same shape on the 8x8 digits (or ``--data``): `tiny_cnn` with three 3x3 convolutions
(32, 32, 64 channels, each followed by a 2x2 max pool) and a linear classifier, no normalization, no
dropout, no weight decay; plain SGD with momentum 0.9 (as in the paper), batch 32. Every layer is
initialized :math:`W \sim N(0, g^2/\mathrm{fan\_in})`, b = 0, with the activation's own gain g
(`torch.nn.init.calculate_gain`: √2 for ReLU, 5/3 for tanh, 1 for sigmoid), so a badly scaled init does
not decide. Each activation's learning rate is chosen from a half-decade grid on a separate tuning seed:
the rate whose validation error first reaches the target (Krizhevsky chose each rate "to make training as
fast as possible"; choosing on the validation split of other runs means the runs that choose a rate are
not the runs that judge it). The target is 5 % training error instead of 25 %: Krizhevsky's 25 % is about
the error of a good shallow model on CIFAR-10 in 2012; a linear classifier on the 8x8 digits errs on about
4-5 %. Training error is measured as in the paper's curves, on the mini-batches as they are trained (a
window of the last 10 batches, each counted before its update), which costs nothing; the step budget is
about three times what ReLU and tanh need, and a run that never reaches the target counts as one step past
it (censored, which can only shrink a measured speed-up). The comparison is on log2 of the steps, since
the paper's effect is a ratio (six times faster).
"""

from __future__ import annotations

import math
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlbasic.callbacks import Callback
from dlbasic.lab.registry import register_study
from dlbasic.lab.stats import decide
from dlbasic.lab.study import CONTRADICTED, INCONCLUSIVE, SUPPORTED, Measurements, Run, Study, Verdict

DATA = "digits"  # the source its runs train on, unless the lab names one (--data)

ACTS = ("relu", "tanh", "sigmoid")
CHANNELS = (32, 32, 64)  # three 3x3 convolutions, then the linear classifier: four layers with weights
LRS = (0.01, 0.03, 0.1, 0.3)  # SGD learning rates tried per activation (half-decades)
BATCH, MOMENTUM = 32, 0.9
TARGET = 0.05  # training error to reach
WINDOW = 10  # mini-batches in the running training error (320 images)
EVERY = 5  # steps between two measurements of the validation error (tuning)
STEPS = 200  # step budget of every run (quick profile): about 3x what ReLU and tanh need
UNITS = 2  # independent paired runs per profile seed (own split, initialization and data order)
TUNING_SEED = 999  # plus 1000 x the first profile seed: the run that chooses each activation's rate
VANISHED = 0.01  # first-layer gradient norm below 1 % of the last layer's: reported as vanishing
# seconds of one run (one thread, quick profile): a tuning run, a judged run per activation, the gradient norms
COST = {"tune": 0.7, "relu": 0.3, "tanh": 0.3, "sigmoid": 0.7, "grads": 0.05}


def layers(model: nn.Module) -> list[nn.Module]:
    """The layers with weights (convolutions and linear), input side first."""
    return [m for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]


def gain_init(model: nn.Module, act: str, seed: int) -> None:
    """W ~ N(0, gain^2 / fan_in), b = 0 for every conv and linear layer (He for ReLU, LeCun-style for tanh/sigmoid);
    fan_in = in_channels x kernel area for a convolution."""
    g = torch.Generator().manual_seed(seed)
    gain = nn.init.calculate_gain(act)
    with torch.no_grad():
        for m in layers(model):
            fan_in = m.weight[0].numel()
            m.weight.copy_(torch.randn(m.weight.shape, generator=g) * gain / math.sqrt(fan_in))
            if m.bias is not None:
                m.bias.zero_()


class GainInit(Callback):
    """Applies `gain_init` when training starts."""

    def __init__(self, act: str, seed: int):
        self.act, self.seed = act, seed

    def on_fit_start(self, trainer) -> None:
        """Re-initialize the model's weights with `gain_init` for `act`."""
        gain_init(trainer.model, self.act, self.seed)


class RunningError(Callback):
    """The training error as Krizhevsky et al. plot it: the error of the mini-batches, each counted before its own
    update, here over a window of the last `window` batches; `errors[t - 1]` is the window's error after step t
    (NaN before `window` steps). Stops once it is <= `stop_at` (None: never) or after `steps` steps."""

    def __init__(self, steps: int, window: int = WINDOW, stop_at: float | None = None):
        self.steps, self.window, self.stop_at = steps, window, stop_at
        self.errors: list[float] = []
        self._batches: list[tuple[float, float]] = []  # (wrong, count) of each step
        self._seen = (0.0, 0.0)  # (correct, count) summed by the trainer so far this epoch

    def on_batch_end(self, trainer, logs: dict[str, float]) -> None:
        """Append the error of the last `window` batches; stop at `stop_at` or after `steps` steps."""
        correct, count = float(trainer.sums.get("correct", 0.0)), float(trainer.sums["count"])
        if count < self._seen[1]:  # a new epoch: the trainer's sums start again
            self._seen = (0.0, 0.0)
        n = count - self._seen[1]
        self._batches.append((n - (correct - self._seen[0]), n))
        self._seen = (correct, count)
        recent = self._batches[-self.window :]
        wrong, total = sum(w for w, _ in recent), sum(c for _, c in recent)
        self.errors.append(wrong / total if len(recent) == self.window and total else math.nan)
        reached = self.stop_at is not None and self.errors[-1] <= self.stop_at
        if reached or trainer.global_step >= self.steps:
            trainer.stop_training = True


class ValidationError(Callback):
    """Every `every` steps the error of the current weights on the validation split; stops once it is
    <= `stop_at` or after `steps` steps."""

    def __init__(self, steps: int, stop_at: float, every: int = EVERY):
        self.steps, self.stop_at, self.every = steps, stop_at, every
        self.steps_seen: list[int] = []
        self.errors: list[float] = []

    def on_batch_end(self, trainer, logs: dict[str, float]) -> None:
        """Every `every` steps record the validation error; stop at `stop_at` or after `steps` steps."""
        if trainer.global_step % self.every == 0:
            self.steps_seen.append(trainer.global_step)
            self.errors.append(1 - trainer.evaluate(trainer.val_data)["accuracy"])
            trainer.model.train()
            if self.errors[-1] <= self.stop_at:
                trainer.stop_training = True
        if trainer.global_step >= self.steps:
            trainer.stop_training = True


def steps_to(errors: list[float], target: float, every: int = 1, first: int = 1) -> int:
    """The step of the first error <= `target` in a curve measured every `every` steps from step `first`;
    one measurement past the end (censored) if none is."""
    hit = next((i for i, e in enumerate(errors) if e <= target), len(errors))
    return first + hit * every


def tuning_score(errors: list[float], target: float) -> tuple[int, float]:
    """How a tuning run ranks (lower is better): measurements until the validation error reaches `target`,
    then the mean validation error over the run (the tie-break when no rate reaches it); NaN counts as 1."""
    clean = [e if math.isfinite(e) else 1.0 for e in errors]
    return steps_to(clean, target), float(np.mean(clean)) if clean else 1.0


def best_lr(scores: dict[str, Any]) -> str:
    """The learning rate (a key of `scores`) with the lowest score; ties go to the smaller rate."""
    return min(scores, key=lambda lr: (scores[lr], float(lr)))


def grad_norms_at_init(model: nn.Module, act: str, x: torch.Tensor, y: torch.Tensor, seed: int) -> list[float]:
    """||dL/dW_l|| of every layer with weights (input side first) at `gain_init`, on one batch (x normalized)."""
    gain_init(model, act, seed)
    model.zero_grad()
    F.cross_entropy(model(x), y).backward()
    return [m.weight.grad.norm().item() for m in layers(model)]


def geo_mean(values: list[float]) -> float:
    """The geometric mean of positive `values`."""
    return float(2 ** np.mean(np.log2(values)))


def units(ctx) -> list[int]:
    """The paired units' seeds: `UNITS` per profile seed."""
    return [1000 * s + u for s in ctx.seeds for u in range(UNITS)]


def train_probed(ctx, act: str, lr: float, seed: int, probe: Callback) -> None:
    """Train the `act` network with `gain_init` at rate `lr` on `seed` until `probe` stops it."""
    budget = ctx.profile.epochs(STEPS)
    # epochs: an upper bound (every epoch has at least one step); the probe stops the run
    cfg = ctx.config(
        data=ctx.data(DATA),
        model="tiny_cnn",
        seed=seed,
        optimizer="sgd",
        lr=lr,
        momentum=MOMENTUM,
        batch_size=BATCH,
        epochs=budget,
        model_options={"channels": list(CHANNELS), "hidden": 0, "act": act},
    )
    ctx.train(cfg, callbacks=[GainInit(act, seed), probe])


def tune(ctx, act: str, lr: float, seed: int) -> dict:
    """A tuning run: the validation error every `EVERY` steps until it reaches `TARGET`."""
    probe = ValidationError(ctx.profile.epochs(STEPS), TARGET)
    train_probed(ctx, act, lr, seed, probe)
    return {"errors": probe.errors}


def to_target(ctx, act: str, lr: float, seed: int) -> dict:
    """A judged run: the running training error after every step until it reaches `TARGET`."""
    probe = RunningError(ctx.profile.epochs(STEPS), stop_at=TARGET)
    train_probed(ctx, act, lr, seed, probe)
    return {"errors": probe.errors}


def grads_at_init(ctx, seed: int) -> dict[str, list[float]]:
    """Per activation, `grad_norms_at_init` on the first 256 training images of `seed`'s split."""
    from dlbasic.models import create_model
    from dlbasic.training.run import load_data

    split = load_data(ctx.config(data=ctx.data(DATA), seed=seed)).train
    x, y = split.normalize(split.batch(slice(0, 256))[0]), split.labels[:256]
    grads = {}
    for act in ACTS:
        model = create_model(
            "tiny_cnn",
            split.num_classes,
            split.in_channels,
            split.image_size,
            channels=list(CHANNELS),
            hidden=0,
            act=act,
        )
        grads[act] = grad_norms_at_init(model, act, x, y, seed)
    return grads


def curve(result: dict) -> list[float]:
    """A run's error curve, NaN where the saved run holds None (JSON has no NaN)."""
    return [math.nan if e is None else e for e in result["errors"]]


def tuning_scores(results: dict, act: str) -> dict[str, tuple[int, float]]:
    """`tuning_score` of each rate's tuning run for `act`, by the rate as a string."""
    return {str(lr): tuning_score(curve(results[f"tune-{act}-lr{lr:g}"]), TARGET) for lr in LRS}


def chosen_lrs(results: dict) -> dict[str, float]:
    """Each activation's rate, chosen by `best_lr` from its tuning runs."""
    return {act: float(best_lr(tuning_scores(results, act))) for act in ACTS}


@register_study
class Relu(Study):
    """Claim `relu`: ReLU trains more easily; sigmoid/tanh gradients vanish away from 0."""

    id = "relu"
    trains_on = DATA
    section = "AlexNet"
    claim = "ReLU trains more easily; sigmoid/tanh gradients vanish away from 0."
    note = (
        "ReLU 사용. linear model의 좋은 성질을 갖고 있다. 학습이 용이. sigmoid, tanh는 0에서 멀어질수록 기울기가 "
        "거의 없음. - gradien vanishing 발생."
    )
    MARGIN = math.log2(1.25)  # in doublings of the steps: a speed-up under 25 % is not "trains more easily"
    method = (
        "Krizhevsky et al. 2012, figure 1, scaled down: a four-layer CNN (`tiny_cnn`: 3x3 convolutions with "
        f"{', '.join(map(str, CHANNELS))} channels, each with a 2x2 max pool, then a linear classifier; no "
        "normalization or regularization) on the `--data` source (default: 8x8 digits), one network per "
        "activation (ReLU, tanh, sigmoid), every layer initialized N(0, gain^2/fan_in) with the activation's "
        f"gain. SGD, momentum {MOMENTUM}, batch {BATCH}, at most {STEPS} steps. Each activation's learning rate "
        f"is chosen from {', '.join(map(str, LRS))} on one tuning run per rate (a separate seed): the rate whose "
        f"validation error, measured every {EVERY} steps, first reaches {TARGET:.0%} (ties: the lower mean "
        f"validation error over the run). Then, per profile seed, {UNITS} paired units (own split, "
        "initialization and data order, shared by the three activations): steps until the running training "
        f"error (the last {WINDOW} mini-batches, each counted before its update) first reaches {TARGET:.0%}; a "
        f"run that never does counts as {STEPS} + 1. Beside: the gradient norm of every layer's weights at "
        "initialization on one batch of 256 training images."
    )
    rule = (
        "Paired t-tests over the units (stats.decide, two-sided 5 %) on log2 of the steps to the target, "
        "margin log2(1.25): ReLU against tanh and ReLU against sigmoid. Supported if ReLU is faster than both; "
        "contradicted if tanh or sigmoid is faster than ReLU; inconclusive otherwise. Gradient norms at "
        "initialization are reported, not judged."
    )

    def plan(self, ctx, results: dict) -> list[Run]:
        """Stage 1: one tuning run per (activation, rate) and the gradient norms at initialization per seed;
        stage 2, given the rates chosen: one run per (activation, unit)."""
        tuning_seed = 1000 * ctx.seeds[0] + TUNING_SEED
        runs = [
            Run(f"tune-{act}-lr{lr:g}", f"{__name__}:tune", {"act": act, "lr": lr, "seed": tuning_seed}, COST["tune"])
            for act in ACTS
            for lr in LRS
        ]
        runs += [Run(f"grads-seed{s}", f"{__name__}:grads_at_init", {"seed": s}, COST["grads"]) for s in ctx.seeds]
        if all(r.name in results for r in runs):
            chosen = chosen_lrs(results)
            runs += [
                Run(f"{act}-unit{u}", f"{__name__}:to_target", {"act": act, "lr": chosen[act], "seed": u}, COST[act])
                for u in units(ctx)
                for act in ACTS
            ]
        return [r for r in runs if r.name not in results]

    def collect(self, ctx, results: dict) -> Measurements:
        """The numbers and figure `method` describes, from the runs of `plan`."""
        chosen = chosen_lrs(results)
        tuning = {act: {str(lr): [EVERY * n, e] for lr, (n, e) in tuning_scores(results, act).items()} for act in ACTS}
        curves = {act: [curve(results[f"{act}-unit{u}"]) for u in units(ctx)] for act in ACTS}
        grads = {act: [results[f"grads-seed{s}"][act] for s in ctx.seeds] for act in ACTS}
        numbers = {
            "target": TARGET,
            "budget_steps": ctx.profile.epochs(STEPS),
            "window": WINDOW,
            "units": UNITS,
            "lrs": list(LRS),
            "tuning_seed": 1000 * ctx.seeds[0] + TUNING_SEED,
            "tuning": tuning,
            "chosen_lr": chosen,
            "steps_to_target": {act: [steps_to(c, TARGET) for c in curves[act]] for act in ACTS},
            "grad_norms_at_init": grads,
            "first_over_last_layer": {a: [g[0] / g[-1] for g in grads[a]] for a in ACTS},
        }
        return Measurements(
            numbers,
            [
                (
                    f"Left: running training error (mean of units; each activation at its chosen "
                    f"rate) until it reaches {TARGET:.0%}. Middle: steps to the target per unit "
                    "(dashed: the budget). Right: weight-gradient norm per layer at initialization",
                    _figure(numbers, curves),
                )
            ],
            list(ctx.seeds),
        )

    def judge(self, m) -> Verdict:
        """The verdict by `rule`, computed from the numbers `measure` returned."""
        t = m["steps_to_target"]
        log = {a: np.log2(t[a]).tolist() for a in ACTS}
        vs = {a: decide(log["relu"], log[a], lower_is_better=True, margin=self.MARGIN) for a in ("tanh", "sigmoid")}
        censored = m["budget_steps"] + 1
        lr = m.get("chosen_lr", {})

        def steps(a: str) -> str:
            never = sum(v >= censored for v in t[a])
            return (
                f"{a} {geo_mean(t[a]):.0f}"
                + (f" (lr {lr[a]:g})" if a in lr else "")
                + (f" [{never}/{len(t[a])} never]" if never else "")
            )

        ratio = {a: geo_mean(v) for a, v in m["first_over_last_layer"].items()}
        key = (
            f"steps to {m['target']:.0%} training error (geometric mean over units; budget {m['budget_steps']}): "
            + ", ".join(steps(a) for a in ACTS)
            + "; first/last-layer gradient at init "
            + ", ".join(f"{a} {ratio[a]:.2g}" for a in ACTS)
        )
        vanish = [a for a in ACTS if ratio[a] < VANISHED]
        aside = f"; at init the gradients vanish towards the input for {', '.join(vanish) or 'none of them'}"
        test = "; ".join(f"relu vs {a} (log2 steps): {d}" for a, d in vs.items())
        verdicts = {a: d.verdict for a, d in vs.items()}
        if all(v == SUPPORTED for v in verdicts.values()):
            return Verdict(
                SUPPORTED, key, "ReLU reaches the target faster than both saturating activations" + aside, test
            )
        if CONTRADICTED in verdicts.values():
            faster = [a for a, v in verdicts.items() if v == CONTRADICTED]
            return Verdict(
                CONTRADICTED, key, f"{' and '.join(faster)} reached the target faster than ReLU" + aside, test
            )
        open_ = [f"{a} ({vs[a].reason})" for a, v in verdicts.items() if v != SUPPORTED]
        return Verdict(INCONCLUSIVE, key, f"ReLU is not shown faster than {'; '.join(open_)}" + aside, test)


def _figure(m: dict, curves: dict[str, list[list[float]]]):
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.5))
    budget = m["budget_steps"]
    for i, act in enumerate(ACTS):
        c = curves[act]
        longest = max(len(x) for x in c)
        # a run stops at the target: it stays there for the mean curve
        padded = np.array([x + [x[-1]] * (longest - len(x)) for x in c], dtype=float)
        axes[0].plot(
            range(1, longest + 1), np.nanmean(padded, 0), color=f"C{i}", label=f"{act} (lr {m['chosen_lr'][act]:g})"
        )
        v = m["steps_to_target"][act]
        axes[1].scatter(np.full(len(v), i) + np.linspace(-0.15, 0.15, len(v)), v, color=f"C{i}", zorder=3)
        axes[1].plot([i - 0.25, i + 0.25], [geo_mean(v)] * 2, color=f"C{i}")
        g = m["grad_norms_at_init"][act]
        axes[2].plot(range(1, len(g[0]) + 1), np.exp(np.log(g).mean(0)), "-o", ms=3, color=f"C{i}", label=act)
    axes[0].axhline(m["target"], color="grey", ls="--", lw=0.8)
    axes[0].set_xlabel("step")
    axes[0].set_ylabel(f"running training error ({m['window']} batches)")
    axes[0].legend(fontsize=8)
    axes[1].axhline(budget, color="grey", ls="--", lw=0.8)
    axes[1].set_xticks(range(len(ACTS)), [f"{a}\nlr {m['chosen_lr'][a]:g}" for a in ACTS])
    axes[1].set_yscale("log")
    axes[1].set_ylabel(f"steps to {m['target']:.0%} training error")
    axes[2].set_yscale("log")
    axes[2].set_xlabel("layer (1 = next to the input)")
    axes[2].set_ylabel("weight-gradient norm at init")
    axes[2].legend(fontsize=8)
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
