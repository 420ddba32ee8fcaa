"""Claim `batch-size`: small batches generalize better; large batches overfit (and the sharpness of minima).

Keskar, Mudigere, Nocedal, Smelyanskiy & Tang, "On large-batch training for deep learning: generalization
gap and sharp minima", ICLR 2017 (arXiv 1609.04836), train the same networks with a small batch (256) and
a large one (10 % of the data) until both fit the training set (their table 2: near 100 % training
accuracy for both), and find the large batch tests worse and sits in a sharper minimum. At equal epochs
the large batch makes far fewer updates and is simply under-trained (Hoffer et al., arXiv 1705.08741);
Goyal et al. (arXiv 1706.02677) show the learning rate must grow with the batch. Hence the comparison here
is at *matched training loss*, each batch size with its own tuned learning rate:

* each run stops when the cross entropy over the whole training set (eval mode), checked every 512
  training examples, first reaches TARGET_LOSS, or after STEP_CAP optimizer steps, the same cap for
  both batch sizes (a cap in epochs would give the large batch 32 times fewer updates to get there);
* the learning rate of each batch size is chosen per seed from a half-decade grid by the best validation
  accuracy among the runs that reached the target (test data takes no part); the large batch's grid sits
  one half-decade higher, the square-root scaling of Hoffer et al. (arXiv 1705.08741) and, for Adam,
  Malladi et al. (arXiv 2205.10287): sqrt(512 / 16) = 5.7, about 1.5 half-decades, the grids overlapping
  in two rates;
* then test accuracy, and at the final weights the top Hessian eigenvalue and Keskar's epsilon-sharpness
  of the training loss (`dlbasic.evaluation.sharpness`).

Scaled down: a one-hidden-layer MLP (64 units) on the 8x8 digits, Adam, batches 16 and 512 (512 is 40 %
of the training split), 3 starts per seed (the first is the tuning run; the others re-run the chosen rates
with other seeds, hence other splits, initializations and orders), so 9 paired units. The lab computes each
training to the target as one run (`train_to_target`): the tuning runs first, then the other starts at the
chosen rates.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch

from dlbasic.callbacks import Callback
from dlbasic.evaluation.sharpness import epsilon_sharpness, model_loss_fn, top_hessian_eigenvalue
from dlbasic.lab.registry import register_study
from dlbasic.lab.stats import decide
from dlbasic.lab.study import Measurements, Run, Study, Verdict, pm
from dlbasic.training.run import load_data

DATA = "digits"  # the source its runs train on, unless the lab names one (--data)

BATCHES = {"small": 16, "large": 512}
LRS = {"small": (3e-3, 1e-2, 3e-2), "large": (1e-2, 3e-2, 1e-1)}  # half-decades; sqrt scaling shifts the large one up
TARGET_LOSS = 0.02  # both arms fit the training set (Keskar et al.: near 100 % training accuracy)
STEP_CAP = 2000  # optimizer steps, for both batch sizes
CHECK_EXAMPLES = 512  # the training loss is checked every this many examples (every step of the large batch)
STARTS = 3
SHARPNESS_IMAGES = 1000


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


def train_to_target(ctx, seed: int, batch: int, lr: float) -> dict:
    """One run to the target training loss with `seed`, `batch` and `lr`, and its measurements."""
    cap = ctx.profile.epochs(STEP_CAP)  # scales like a training length
    cfg = ctx.config(
        data=ctx.data(DATA),
        model="mlp",
        model_options={"hidden": [64]},
        optimizer="adam",
        lr=lr,
        batch_size=batch,
        seed=seed,
    )
    cfg.epochs = math.ceil(cap / math.ceil(len(load_data(cfg).train) / batch))  # the callback stops at the cap
    stop = StopAtTrainLoss(TARGET_LOSS, math.ceil(CHECK_EXAMPLES / batch), cap)
    s = ctx.train(cfg, callbacks=[stop])
    model = ctx.model(cfg, s)
    train = load_data(cfg).train
    x, y = train.normalize(train.images), train.labels
    with torch.no_grad():
        train_acc = float((model(x).argmax(1) == y).float().mean())
    loss_fn = model_loss_fn(model, x[:SHARPNESS_IMAGES], y[:SHARPNESS_IMAGES])
    params = list(model.parameters())
    return {
        "lr": lr,
        "reached": stop.reached,
        "steps": stop.step,
        "train_loss": stop.loss,
        "train_accuracy": train_acc,
        "val_accuracy": s["val_accuracy"],
        "test_accuracy": s["test_accuracy"],
        "hessian_top": top_hessian_eigenvalue(loss_fn, params, iters=50, tol=1e-4, seed=seed)[0],
        "eps_sharpness": epsilon_sharpness(loss_fn, params, 1e-3, seed=seed),
    }


def restored(run: dict) -> dict:
    """A run's value with the non-finite numbers that a saved run keeps as None back as NaN."""
    return {k: math.nan if v is None else v for k, v in run.items()}


def tuning_name(seed: int, name: str, lr: float) -> str:
    """The name of the tuning run of `seed`, batch size `name` and learning rate `lr`."""
    return f"seed{seed}-{name}-lr{lr:g}"


def start_name(seed: int, name: str, k: int) -> str:
    """The name of start `k` (1 to STARTS - 1) of `seed` and batch size `name`, at the chosen learning rate."""
    return f"seed{seed}-{name}-start{k}"


def chosen_lr(results: dict, seed: int, name: str) -> float:
    """The learning rate the tuning runs of `seed` and batch size `name` chose (`choose_lr`)."""
    runs = [restored(results[tuning_name(seed, name, lr)]) for lr in LRS[name]]
    return LRS[name][choose_lr(runs)]


KEYS = ("test_accuracy", "train_accuracy", "train_loss", "steps", "lr", "hessian_top", "eps_sharpness", "reached")
RUN = "dlbasic.studies.batch_size:train_to_target"
RUN_COST = {"small": 0.6, "large": 0.3}  # seconds of one run per batch size (one thread, quick profile)


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
        "batches to flat ones. Hoffer et al. (arXiv 1705.08741) and Goyal et al. (arXiv 1706.02677) show "
        "much of the large-batch gap comes from fewer updates at equal epochs and closes with a scaled "
        "learning rate and longer training."
    )
    MARGIN = 0.005  # half an accuracy point (~2 of 359 test images)
    method = (
        f"A one-hidden-layer MLP (64 units) on the `--data` source (default: 8x8 digits), Adam, batch "
        f"{BATCHES['small']} (small) and {BATCHES['large']} (large). Every run stops when the cross entropy over "
        f"the whole training split (eval mode, checked every {CHECK_EXAMPLES} examples) reaches {TARGET_LOSS} "
        f"(matched training loss), or after {STEP_CAP} optimizer steps. Per seed and batch size the learning "
        f"rate is chosen from {', '.join(map(str, LRS['small']))} (small) or "
        f"{', '.join(map(str, LRS['large']))} (large: square-root scaling puts it a half-decade higher) by the "
        "best validation accuracy among the runs that reached the target; "
        f"{STARTS - 1} more starts per seed re-run the chosen rates with other seeds (other split, "
        "initialization, order). Measured: test accuracy, training accuracy, and on "
        f"{SHARPNESS_IMAGES} training images the top Hessian eigenvalue (power iteration) and Keskar's "
        "epsilon-sharpness (eps 1e-3, L-BFGS-B, 10 iterations) of the final weights."
    )
    rule = (
        "Paired t-test over the units (stats.decide, two-sided 5 %, margin 0.005) on test accuracy at matched "
        "training loss: supported if the small batch tests better; contradicted if the large batch does; "
        "inconclusive otherwise. The sharpness comparison (is the large-batch minimum sharper?) is tested the "
        "same way on the top Hessian eigenvalue and reported, not judged."
    )

    def plan(self, ctx, results) -> list[Run]:
        """Stage 1: the tuning runs, one per (seed, batch size, learning rate); stage 2, once they are all done:
        the other starts of each seed and batch size, at the learning rate its tuning runs chose."""
        runs = [
            Run(tuning_name(seed, name, lr), RUN, {"seed": seed, "batch": batch, "lr": lr}, RUN_COST[name])
            for seed in ctx.seeds
            for name, batch in BATCHES.items()
            for lr in LRS[name]
        ]
        if all(r.name in results for r in runs):
            runs += [
                Run(
                    start_name(seed, name, k),
                    RUN,
                    {"seed": 1000 * seed + k, "batch": batch, "lr": chosen_lr(results, seed, name)},
                    RUN_COST[name],
                )
                for seed in ctx.seeds
                for name, batch in BATCHES.items()
                for k in range(1, STARTS)
            ]
        return [r for r in runs if r.name not in results]

    def collect(self, ctx, results) -> Measurements:
        """The numbers of `method` from the runs of both stages, and the figure."""
        out = {name: {k: [] for k in KEYS} for name in BATCHES}
        tuning = {name: [] for name in BATCHES}
        for seed in ctx.seeds:
            for name in BATCHES:
                runs = [restored(results[tuning_name(seed, name, lr)]) for lr in LRS[name]]
                tuning[name].append(
                    [{k: r[k] for k in ("lr", "reached", "steps", "val_accuracy", "train_loss")} for r in runs]
                )
                units = [runs[choose_lr(runs)]] + [
                    restored(results[start_name(seed, name, k)]) for k in range(1, STARTS)
                ]
                for r in units:
                    for k in KEYS:
                        out[name][k].append(r[k])
        numbers = {
            "batch_sizes": dict(BATCHES),
            "target_loss": TARGET_LOSS,
            "step_cap": STEP_CAP,
            "learning_rates": {k: list(v) for k, v in LRS.items()},
            **out,
            "tuning": tuning,
        }
        return Measurements(
            numbers,
            [
                (
                    "Small vs large batch at matched training loss: test accuracy against the top "
                    "Hessian eigenvalue (one dot per unit), and the steps each took",
                    _figure(numbers),
                )
            ],
            list(ctx.seeds),
        )

    def judge(self, m) -> Verdict:
        """The verdict by `rule`, computed from the numbers `measure` returned."""
        small, large = m["small"], m["large"]
        d = decide(small["test_accuracy"], large["test_accuracy"], margin=self.MARGIN)
        sharp = decide(large["hessian_top"], small["hessian_top"])  # supported: the large batch's minimum is sharper
        key = (
            f"at training loss <= {m['target_loss']}: test accuracy small {pm(small['test_accuracy'])} vs large "
            f"{pm(large['test_accuracy'])}; top Hessian eigenvalue small {pm(small['hessian_top'], 2)} vs large "
            f"{pm(large['hessian_top'], 2)}; eps-sharpness small {pm(small['eps_sharpness'])} vs large "
            f"{pm(large['eps_sharpness'])}; steps small {np.mean(small['steps']):.0f} vs large "
            f"{np.mean(large['steps']):.0f}; reached the target in {sum(small['reached'])}/{len(small['reached'])} "
            f"and {sum(large['reached'])}/{len(large['reached'])} runs"
        )
        sharp_text = {
            "supported": "the large-batch minimum is sharper (as Keskar et al. report)",
            "contradicted": "the large-batch minimum is flatter",
            "inconclusive": "the sharpness of the two minima is not shown to differ",
        }[sharp.verdict]
        reason = {
            "supported": "at matched training loss the small batch tests better",
            "contradicted": "at matched training loss the large batch tests better",
            "inconclusive": "at matched training loss the batch sizes are not shown to differ by the margin",
        }
        return Verdict(
            d.verdict,
            key,
            f"{reason[d.verdict]}; {sharp_text}",
            f"test accuracy: {d}; reported beside, not judged — large sharper (top Hessian eigenvalue): {sharp}",
        )


def _figure(m):
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    for name, batch in m["batch_sizes"].items():
        ax1.scatter(m[name]["hessian_top"], m[name]["test_accuracy"], label=f"batch {batch}", s=30)
        ax2.scatter(m[name]["steps"], m[name]["train_loss"], label=f"batch {batch}", s=30)
    ax1.set_xscale("log")
    ax1.set_xlabel("top Hessian eigenvalue of the training loss (sharpness)")
    ax1.set_ylabel("test accuracy")
    ax1.set_title("sharpness vs generalization (one dot per unit)")
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
