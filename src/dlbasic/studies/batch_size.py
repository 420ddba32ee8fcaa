"""Claim `batch-size`: small batches generalize better; large batches overfit (and the sharpness of minima).

Keskar, Mudigere, Nocedal, Smelyanskiy & Tang, "On large-batch training for deep learning: generalization
gap and sharp minima", ICLR 2017 (arXiv 1609.04836), train the same networks with a small batch (256) and
a large one (10 % of the training set) until both fit the training set (their table 2: near 100 % training
accuracy for both), and find that the large batch tests worse and sits in a sharper minimum. At equal epochs
the large batch makes far fewer updates and is simply under-trained (Hoffer et al., arXiv 1705.08741), and
the learning rate must grow with the batch (Goyal et al., arXiv 1706.02677). CLAIMS.md v0.3 therefore judges
Keskar's protocol, at *matched training loss*, each batch size at its own tuned learning rate, in two parts:
the small batch tests better (accuracy, margin 0.005) AND the large batch's minimum is sharper (the top
Hessian eigenvalue of the training loss, as a ratio: margin 10 %). The note's "flat minima generalize worse"
is the opposite of Keskar's claim; what the units show about it is reported beside.

The protocol here:

* each run stops when the cross entropy over the whole training split (eval mode), checked every 2048
  training examples, first reaches TARGET_LOSS (near zero: training accuracy about 100 %), or after STEP_CAP
  optimizer steps, the same cap for both batch sizes (a cap in epochs would give the large batch 22 times
  fewer updates to get there);
* the learning rate of each batch size is chosen on a tuning seed (the profile's first seed + 1000) from a
  half-decade grid by the best validation accuracy among the runs that reached the target (test data takes
  no part); the large batch's grid sits one half-decade higher (square-root scaling, Hoffer et al.; Malladi
  et al., arXiv 2205.10287, for Adam: sqrt(360 / 16) = 4.7, about 1.3 half-decades), the grids overlapping in
  two rates;
* then, on paired seeds (each seed its own split, test split included, initialization and data order, shared
  by both batch sizes), test accuracy and, at the final weights on 1000 training images, the top Hessian
  eigenvalue (power iteration; its magnitude, so it is positive wherever it is defined) and Keskar's
  epsilon-sharpness (reported) (`dlbasic.evaluation.sharpness`).

Scaled down from Keskar's F1 (MNIST, a fully connected network, Adam): 5,000 MNIST digits at 28x28 (or
``--data``; 3,600 for training), an MLP 784-128-128-10, Adam, batch 16 (0.44 % of the training set, as 256 is
of MNIST's 60,000) and 360 (10 %); seeds in looks of 5 and 10. The sizes follow the cost budget: at 784-256-256
and loss checks every 1024 examples, a first look took about 125 s of one thread; the grids start at Adam's
default for the small batch because the rates below it took 10-16 s per run to reach the target. A run whose
sharpness is not finite (a run that diverged) leaves the sharpness part undecided rather than failing the
judgement. Every judged run must reach the target (checked exactly): on Fashion-MNIST the small batch reached
it in none of 5 runs within 10,000 steps, which compared the arms at unmatched losses, so such a lab now reports
the protocol's check as failed instead of a verdict.

Runs: the tuning grid of each batch size on the tuning seed (stage 1), then each batch size at its chosen rate
on each seed of a look.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch

from dlbasic.callbacks import Callback
from dlbasic.evaluation.sharpness import epsilon_sharpness, model_loss_fn, top_hessian_eigenvalue
from dlbasic.lab.registry import register_study
from dlbasic.lab.study import (
    CONTRADICTED,
    FAILED,
    INCONCLUSIVE,
    SUPPORTED,
    Measurements,
    Run,
    Study,
    Verdict,
    not_run,
    pm,
)
from dlbasic.lab.verdicts import ACCURACY, RATIO, check, looks, part, verdict
from dlbasic.studies.learning_rate import looks_done, next_seed_runs, tuning_seed
from dlbasic.training.run import load_data

DATA = "mnist5k"  # the source its runs train on, unless the lab names one (--data)

SMALL = 16  # 0.44 % of 3,600 training images, as Keskar's 256 is of 60,000
LARGE_FRACTION = 0.10  # Keskar's large batch: 10 % of the training set
HIDDEN = [128, 128]
LRS = {"small": (3.162e-4, 1e-3, 3.162e-3), "large": (1e-3, 3.162e-3, 1e-2)}  # half-decades around Adam's 1e-3
TARGET_LOSS = 0.01  # both arms fit the training set (Keskar et al.: near 100 % training accuracy)
STEP_CAP = 10_000  # optimizer steps, for both batch sizes
CHECK_EXAMPLES = 2048  # the training loss is checked every this many examples
SHARPNESS_IMAGES = 1000
SCHEDULE = looks(5)


class StopAtTrainLoss(Callback):
    """Stops training once the mean loss over the whole training set (eval mode) is at most `target`,
    checked every `every` optimizer steps and at the end; also at `max_steps` and when the loss is not
    finite (a diverged run does not reach the target). `loss` and `step` record the last check."""

    def __init__(self, target: float, every: int, max_steps: int | None = None):
        self.target, self.every, self.max_steps = target, max(1, every), max_steps
        self.loss, self.step, self.reached = math.inf, 0, False

    def check(self, trainer) -> None:
        """Measure the loss over the whole training set now; stop training if it reached `target` or is not finite."""
        self.loss, self.step = float(trainer.evaluate(trainer.train_data)["loss"]), trainer.global_step
        trainer.model.train()
        if self.loss <= self.target:
            self.reached = trainer.stop_training = True
        elif not math.isfinite(self.loss):
            trainer.stop_training = True

    def on_batch_end(self, trainer, logs) -> None:
        """Check every `every` steps; stop at `max_steps`."""
        at_cap = self.max_steps is not None and trainer.global_step >= self.max_steps
        if trainer.global_step % self.every == 0 or at_cap:
            self.check(trainer)
        if at_cap:
            trainer.stop_training = True

    def on_fit_end(self, trainer) -> None:
        """Check once more unless the last step was just checked."""
        if self.step != trainer.global_step:
            self.check(trainer)


def choose_lr(runs: list[dict]) -> int:
    """Index of the chosen run: the best validation accuracy among runs that reached the target loss (ties:
    fewer steps); if none did, the lowest final training loss."""
    reached = [i for i, r in enumerate(runs) if r["reached"]]
    if reached:
        return max(reached, key=lambda i: (runs[i]["val_accuracy"], -runs[i]["steps"]))
    return min(range(len(runs)), key=lambda i: runs[i]["train_loss"])


def large_batch(n: int) -> int:
    """Keskar's large batch for `n` training images: 10 % of them."""
    return max(1, round(LARGE_FRACTION * n))


def finite_or_none(x: float) -> float | None:
    """`x`, or None when it is not finite (what a saved run keeps)."""
    return x if math.isfinite(x) else None


def sharpness(model, x, y, seed: int) -> dict[str, float | None]:
    """At the final weights: |top Hessian eigenvalue| of the training loss (power iteration, 100 products at
    most) and Keskar's epsilon-sharpness (eps 1e-3); None where the loss is not finite."""
    loss_fn = model_loss_fn(model, x, y)
    with torch.no_grad():
        if not math.isfinite(float(loss_fn())):
            return {"hessian_top": None, "eps_sharpness": None}
    params = list(model.parameters())
    top = abs(top_hessian_eigenvalue(loss_fn, params, iters=100, tol=1e-4, seed=seed)[0])
    return {
        "hessian_top": finite_or_none(top),
        "eps_sharpness": finite_or_none(epsilon_sharpness(loss_fn, params, 1e-3, seed=seed)),
    }


def train_to_target(ctx, seed: int, arm: str, lr: float) -> dict:
    """One run of batch size `arm` ("small" or "large") to the target training loss, and its measurements."""
    cfg = ctx.config(
        data=ctx.data(DATA), model="mlp", model_options={"hidden": HIDDEN}, optimizer="adam", lr=lr, seed=seed
    )
    train = load_data(cfg).train
    batch = SMALL if arm == "small" else large_batch(len(train))
    cap = ctx.profile.epochs(STEP_CAP)  # scales like a training length
    cfg.batch_size = batch
    cfg.epochs = math.ceil(cap / math.ceil(len(train) / batch))  # the callback stops at the cap
    stop = StopAtTrainLoss(TARGET_LOSS, math.ceil(CHECK_EXAMPLES / batch), cap)
    s = ctx.train(cfg.validate(), callbacks=[stop])
    model = ctx.model(cfg, s)
    x, y = train.normalize(train.images), train.labels
    with torch.no_grad():
        train_acc = float((model(x).argmax(1) == y).float().mean())
    return {
        "batch": batch,
        "lr": lr,
        "reached": stop.reached,
        "steps": stop.step,
        "train_loss": finite_or_none(stop.loss),
        "train_accuracy": train_acc,
        "val_accuracy": s["val_accuracy"],
        "test_accuracy": s["test_accuracy"],
        **sharpness(model, x[:SHARPNESS_IMAGES], y[:SHARPNESS_IMAGES], seed),
    }


def tuning_name(arm: str, lr: float) -> str:
    """The name of the tuning run of batch size `arm` at learning rate `lr`."""
    return f"tune-{arm}-lr{lr:g}"


def seed_name(seed: int, arm: str) -> str:
    """The name of the run of `seed` and batch size `arm` at its chosen rate."""
    return f"seed{seed}-{arm}"


def chosen_lr(results: dict, arm: str) -> float:
    """The learning rate the tuning runs of batch size `arm` chose (`choose_lr`)."""
    runs = [restored(results[tuning_name(arm, lr)]) for lr in LRS[arm]]
    return LRS[arm][choose_lr(runs)]


def restored(run: dict) -> dict:
    """A run's value with the non-finite numbers that a saved run keeps as None back as NaN (inf for losses)."""
    return {k: (math.inf if k == "train_loss" else math.nan) if v is None else v for k, v in run.items()}


KEYS = ("test_accuracy", "train_accuracy", "train_loss", "steps", "hessian_top", "eps_sharpness", "reached")
RUN = "dlbasic.studies.batch_size:train_to_target"
RUN_COST = {"small": 6.0, "large": 2.5}  # seconds of one run per batch size (one thread, quick profile)
TUNING_COST = {"small": 5.0, "large": 4.0}  # the grid's slow rates run longer


@register_study
class BatchSize(Study):
    """Claim `batch-size`: Small batches are better; large batches overfit."""

    id = "batch-size"
    trains_on = DATA
    section = "Practical GD"
    claim = "Small batches are better; large batches overfit."
    note = (
        "batch-size를 작게 쓰는 편이 좋다. batch-size가 크면 model을 over-fit. "
        "flat minimum이 generalization performace가 떨어진다."
    )
    literature = (
        "The note says flat minima generalize worse; the paper it cites (Keskar et al., arXiv 1609.04836) "
        "reports the opposite: large batches converge to sharp minima, which generalize worse, and small "
        "batches to flat ones (on MNIST's fully connected F1 the test gap was small, 98.03 % vs 97.81 %). Hoffer "
        "et al. (arXiv 1705.08741) and Goyal et al. (arXiv 1706.02677) show much of the large-batch gap comes "
        "from fewer updates at equal epochs and closes with a scaled learning rate and longer training."
    )
    form = "difference"
    schedule = SCHEDULE
    method = (
        f"Keskar et al.'s protocol on the `--data` source (default: 5,000 MNIST digits, 28x28): an MLP "
        f"784-{'-'.join(map(str, HIDDEN))}-10, Adam, batch {SMALL} (small) and 10 % of the training split "
        f"(large). Every run stops when the cross entropy over the whole training split (eval mode, checked "
        f"every {CHECK_EXAMPLES} examples) reaches {TARGET_LOSS} (matched, near-zero training loss), or after "
        f"{STEP_CAP} optimizer steps. Each batch size's learning rate is chosen on a tuning seed (first seed + "
        f"1000) from {', '.join(f'{x:g}' for x in LRS['small'])} (small) or "
        f"{', '.join(f'{x:g}' for x in LRS['large'])} (large: square-root scaling puts it a half-decade higher) "
        "by the best validation accuracy among the runs that reached the target. Then both batch sizes train on "
        "each paired seed (its own split, test split included, initialization and order). Measured: test "
        f"accuracy, and on {SHARPNESS_IMAGES} training images the magnitude of the top Hessian eigenvalue of "
        "the training loss (power iteration) and Keskar's epsilon-sharpness (eps 1e-3; reported)."
    )
    rule = (
        "Difference, two parts, each a paired interval over seeds in looks of "
        f"{'/'.join(map(str, SCHEDULE))} with the O'Brien-Fleming boundary: (1) test accuracy, small minus large, "
        "margin 0.005; (2) the top Hessian eigenvalue, large over small, as a ratio (log scale), margin 10 %. "
        "Supported if the small batch tests better AND the large batch's minimum is sharper; contradicted if "
        "either part is contradicted (the other arm better, or equivalent within the margin); inconclusive "
        "otherwise. Every run must reach the target loss (the protocol's matched loss): if one does not, the "
        "verdict is 'failed', not a comparison. The note's 'flat minima generalize worse' is reported against "
        "what the units show."
    )

    def plan(self, ctx, results) -> list[Run]:
        """Stage 1: the tuning runs of each batch size; then each batch size at its chosen rate on each seed of
        the next look."""
        tune = tuning_seed(ctx)
        tuning = [
            Run(tuning_name(arm, lr), RUN, {"seed": tune, "arm": arm, "lr": lr}, TUNING_COST[arm])
            for arm in LRS
            for lr in LRS[arm]
        ]
        if todo := not_run(tuning, results):
            return todo
        return next_seed_runs(self, ctx, results, lambda seeds: self.arm_runs(results, seeds))

    @staticmethod
    def arm_runs(results, seeds) -> list[Run]:
        """Both batch sizes at their chosen rates on each of `seeds`."""
        return [
            Run(seed_name(seed, arm), RUN, {"seed": seed, "arm": arm, "lr": chosen_lr(results, arm)}, RUN_COST[arm])
            for seed in seeds
            for arm in LRS
        ]

    def collect(self, ctx, results) -> Measurements:
        """The numbers of `method` from the seeds of the last complete look, and the figure."""
        seeds = looks_done(ctx, self.schedule, lambda s: all(seed_name(s, a) in results for a in LRS))
        out = {arm: {k: [] for k in KEYS} for arm in LRS}
        for seed in seeds:
            for arm in LRS:
                r = results[seed_name(seed, arm)]  # None where not finite: JSON numbers
                for k in KEYS:
                    out[arm][k].append(r[k])
        tuning = {arm: [restored(results[tuning_name(arm, lr)]) for lr in LRS[arm]] for arm in LRS}
        numbers = {
            "seeds": seeds,
            "batch_sizes": {arm: tuning[arm][0]["batch"] for arm in LRS},
            "target_loss": TARGET_LOSS,
            "step_cap": STEP_CAP,
            "lr": {arm: chosen_lr(results, arm) for arm in LRS},
            **out,
            "tuning": {
                arm: [{k: r[k] for k in ("lr", "reached", "steps", "val_accuracy", "train_loss")} for r in runs]
                for arm, runs in tuning.items()
            },
        }
        caption = (
            "Small vs large batch at matched training loss: test accuracy against the top Hessian eigenvalue "
            "(one dot per seed), and the steps each took"
        )
        return Measurements(numbers, [(caption, _figure(numbers))], seeds)

    def judge(self, m) -> Verdict:
        """The verdict by `rule`, computed from the numbers `collect` returned."""
        small, large = m["small"], m["large"]
        acc = part(
            "test accuracy, small vs large batch",
            small["test_accuracy"],
            large["test_accuracy"],
            form="difference",
            margin=ACCURACY,
            schedule=self.schedule,
        )
        h_small, h_large = (np.asarray(a["hessian_top"], dtype=float) for a in (small, large))
        measured = bool(np.all(np.isfinite(h_small) & (h_small > 0) & np.isfinite(h_large) & (h_large > 0)))
        parts = [acc]
        if measured:
            parts.append(
                part(
                    "top Hessian eigenvalue, large vs small batch",
                    h_large,
                    h_small,
                    form="difference",
                    margin=RATIO,
                    log=True,
                    schedule=self.schedule,
                )
            )
        key = self.key_number(m, measured)
        reached = {arm: m[arm]["reached"] for arm in ("small", "large")}
        matched = check(
            f"every run reached training loss <= {m['target_loss']} (matched loss): "
            + ", ".join(f"{arm} {sum(r)}/{len(r)}" for arm, r in reached.items()),
            all(all(r) for r in reached.values()),
        )
        v = verdict(parts, key, reasons=self.reasons(parts, measured), checks=[matched])
        if not matched["holds"]:
            return v  # failed: the arms were not compared at matched training loss
        if not measured and v.verdict == SUPPORTED:  # the sharpness part is undecided: not every part holds
            v.verdict, v.reason = INCONCLUSIVE, self.reasons(parts, measured)[INCONCLUSIVE]
        return v

    @staticmethod
    def key_number(m, measured: bool) -> str:
        """Test accuracy, sharpness, steps and the note's claim against what the units show."""
        small, large = m["small"], m["large"]
        gap = float(np.mean(np.subtract(small["test_accuracy"], large["test_accuracy"])))
        text = (
            f"at training loss <= {m['target_loss']} (n = {len(small['test_accuracy'])} seeds): test accuracy "
            f"small {pm(small['test_accuracy'])} vs large {pm(large['test_accuracy'])}; top Hessian eigenvalue "
            f"small {_pm(small['hessian_top'], 2)} vs large {_pm(large['hessian_top'], 2)}; eps-sharpness small "
            f"{_pm(small['eps_sharpness'])} vs large {_pm(large['eps_sharpness'])}; steps small "
            f"{np.mean(small['steps']):.0f} vs large {np.mean(large['steps']):.0f}; reached the target in "
            f"{sum(small['reached'])}/{len(small['reached'])} and {sum(large['reached'])}/{len(large['reached'])}"
        )
        if not measured:
            return text + "; the sharpness of some runs is not finite (diverged)"
        ratio = float(np.exp(np.mean(np.log(large["hessian_top"]) - np.log(small["hessian_top"]))))
        sharper = "large" if ratio > 1 else "small"
        worse = (sharper == "large") == (gap > 0)
        times = max(ratio, 1 / ratio)
        note = (
            f"; the note's 'flat minima generalize worse': the {sharper} batch's minimum is {times:.2g}x "
            f"sharper and tests {'worse' if worse else 'better'} by {abs(gap) * 100:.2g} points: "
            + (
                "the sharper minimum generalizes worse, as Keskar et al. say of sharp minima, against the note"
                if worse
                else "the flatter minimum generalizes worse, as the note says, against Keskar et al."
            )
        )
        return text + note

    @staticmethod
    def reasons(parts, measured: bool) -> dict[str, str]:
        """The sentence of each verdict, naming each part's outcome."""
        outcomes = "; ".join(f"{p.label}: {p.outcome}" for p in parts)
        return {
            SUPPORTED: "at matched training loss the small batch tests better and the large batch's minimum is "
            f"sharper, as Keskar et al. report ({outcomes})",
            CONTRADICTED: f"at matched training loss a part of Keskar et al.'s claim does not hold ({outcomes})",
            FAILED: "not every run reached the target training loss before the step cap, so the arms were not "
            "compared at matched loss (Keskar et al.'s protocol): no verdict",
            INCONCLUSIVE: f"not every part is decided ({outcomes}"
            + ("" if measured else "; the sharpness of some runs is not finite")
            + ")",
        }


def _pm(values, digits: int = 3) -> str:
    """`pm` of the finite values (a diverged run's sharpness is None)."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return pm(finite, digits) if finite else "none"


def _figure(m):
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    for arm, batch in m["batch_sizes"].items():
        sharp, loss = ([math.nan if v is None else v for v in m[arm][k]] for k in ("hessian_top", "train_loss"))
        ax1.scatter(sharp, m[arm]["test_accuracy"], label=f"batch {batch}", s=30)
        ax2.scatter(m[arm]["steps"], loss, label=f"batch {batch}", s=30)
    ax1.set_xscale("log")
    ax1.set_xlabel("top Hessian eigenvalue of the training loss (sharpness)")
    ax1.set_ylabel("test accuracy")
    ax1.set_title("sharpness vs generalization (one dot per seed)")
    ax2.axhline(m["target_loss"], color="grey", ls="--", label="target training loss")
    ax2.set_xscale("log")
    ax2.set_xlabel("optimizer steps to the target")
    ax2.set_ylabel("training loss at the stop")
    ax2.set_title("matched training loss")
    for ax in (ax1, ax2):
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
