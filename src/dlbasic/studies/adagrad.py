r"""Claim `adagrad`: rarely-changed parameters get larger updates; when G_t grows large, updates stop.

The experiment it scales down: Duchi, Hazan & Singer, "Adaptive subgradient methods" (JMLR 2011): the
per-coordinate step lr / sqrt(G_t), G_t the running *sum* of squared gradients, gives coordinates that rarely
receive gradient (sparse, rarely active features) larger steps, and shrinks every step as G_t grows; Tieleman
& Hinton's RMSprop (lecture 6e, 2012) replaces the sum by a moving average, whose steps do not shrink for
good, which makes it the control here. Both read the effective per-weight step from the optimizer's state.

Scaled down: an MLP 64-64-10 on the 8x8 digits (or ``--data``), batch 32, 30 epochs, each optimizer at its
default lr, the same seeds (split, initialization, data order) for both. Rare and frequent inputs are the
least and the most active quarter of the input features that are ever active (active: non-zero in an
image); on the digits the rare quarter is active in few images.

Runs: one per (optimizer, seed), `tracked` (adadelta declares its Adagrad runs alike and shares them).
"""

from __future__ import annotations

import json
import math

import matplotlib.pyplot as plt
import torch

from dlbasic.callbacks import Callback
from dlbasic.lab.registry import register_study
from dlbasic.lab.stats import decide
from dlbasic.lab.study import CONTRADICTED, INCONCLUSIVE, SUPPORTED, Measurements, Run, Study, Verdict, pm

DATA = "digits"  # the source its runs train on, unless the lab names one (--data)

EPOCHS = 30


def effective_steps(optimizer: torch.optim.Optimizer, param: torch.Tensor) -> torch.Tensor:
    """The per-element step size the optimizer's state implies for `param` (same shape as `param`).

    Adagrad: lr / (sqrt(G_t) + eps); RMSprop: lr / (sqrt(E[g^2]_t) + eps);
    Adadelta: lr sqrt(E[dx^2] + eps) / sqrt(E[g^2] + eps) (Zeiler 2012, eq. 14, times torch's lr); read after a
    step, E[dx^2] already holds that step's update (the paper's one-step lag).
    """
    group = next(g for g in optimizer.param_groups if any(p is param for p in g["params"]))
    state, lr, eps = optimizer.state[param], group["lr"], group["eps"]
    if "sum" in state:
        return lr / (state["sum"].sqrt() + eps)
    if "acc_delta" in state:
        return lr * (state["acc_delta"] + eps).sqrt() / (state["square_avg"] + eps).sqrt()
    return lr / (state["square_avg"].sqrt() + eps)


class EffectiveStep(Callback):
    """Records, after every epoch, the median effective step size over the first layer's weights.

    Only weights of input pixels that are non-zero in some training image are counted (the others never
    get a gradient); on `on_fit_end` it keeps the per-pixel median of the last epoch in `per_pixel`.
    """

    def __init__(self, active: torch.Tensor):
        self.active = active  # (pixels,) bool
        self.medians: list[float] = []
        self.per_pixel: list[float] = []

    def _first(self, trainer) -> torch.Tensor:
        weight = next(p for p in trainer.model.parameters() if p.dim() == 2)  # (hidden, pixels)
        return effective_steps(trainer.optimizer, weight)[:, self.active]  # (hidden, active pixels)

    def on_epoch_end(self, trainer, epoch: int, logs: dict[str, float]) -> None:
        """Record the median effective step size of the first layer's active weights."""
        self.medians.append(float(self._first(trainer).median()))

    def on_fit_end(self, trainer) -> None:
        """Keep each active input pixel's median effective step size (over hidden units) in `per_pixel`."""
        self.per_pixel = self._first(trainer).median(dim=0).values.tolist()


def input_activity(ctx, seed: int) -> torch.Tensor:
    """Share of training images in which each input feature (pixel x channel) is non-zero: Tensor[features]."""
    from dlbasic.training.run import load_data

    train = load_data(ctx.config(data=ctx.data(DATA), seed=seed)).train
    return (train.images.flatten(1) > 0).float().mean(0)


def rare_and_frequent(activity: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Masks over the ever-active features: the least active quarter and the most active quarter."""
    active = activity[activity > 0]
    low, high = torch.quantile(active, 0.25), torch.quantile(active, 0.75)
    return active <= low, active >= high


def tracked_run(ctx, optimizer: str, seed: int, epochs: int) -> dict:
    """Train the MLP 64-64-10 with `optimizer` at its default lr, recording effective step sizes.

    Returns {"medians": per-epoch median first-layer step, "per_feature": last-epoch median step of each
    ever-active input feature, "activity": their activity, "val_accuracy", "train_loss"}; cached beside the
    lab's run cache, so the adagrad and adadelta studies share their Adagrad runs.
    """
    cfg = ctx.config(
        data=ctx.data(DATA),
        model="mlp",
        model_options={"hidden": [64]},
        optimizer=optimizer,
        batch_size=32,
        seed=seed,
        epochs=epochs,
    )
    path = None
    if ctx.root is not None:
        base = ctx.cache_path(cfg)
        path = base.with_name(f"{base.stem}-effective-step.json")
        if path.exists():
            try:
                return json.loads(path.read_text())
            except (OSError, ValueError):
                pass
    activity = input_activity(ctx, seed)
    tracker = EffectiveStep(activity > 0)
    s = ctx.train(cfg, callbacks=[tracker])
    record = {
        "medians": tracker.medians,
        "per_feature": tracker.per_pixel,
        "activity": activity[activity > 0].tolist(),
        "val_accuracy": s["val_accuracy"],
        "train_loss": s["train_loss"],
    }
    if path is not None:  # a unique temporary file and a rename: safe when two worker processes write it
        from dlbasic.training.checkpoint import atomic_write_text

        atomic_write_text(json.dumps(record), path)
    return record


TRACKED = "dlbasic.studies.adagrad:tracked"
TRACKED_COST = 0.8  # seconds of one run (one thread, quick profile)


def tracked(ctx, optimizer: str, seed: int) -> dict:
    """The run of `optimizer` on `seed` for the profile's epochs (`tracked_run`)."""
    return tracked_run(ctx, optimizer, seed, ctx.profile.epochs(EPOCHS))


def tracked_runs(ctx, optimizers: tuple[str, ...]) -> list[Run]:
    """One `tracked` run per optimizer and seed, named "<optimizer> seed <seed>"."""
    return [
        Run(f"{name} seed {seed}", TRACKED, {"optimizer": name, "seed": seed}, TRACKED_COST)
        for name in optimizers
        for seed in ctx.seeds
    ]


def conjunction(decisions: dict) -> str:
    """A claim made of parts: supported if every part is, contradicted if any part is, else inconclusive."""
    verdicts = [d.verdict for d in decisions.values()]
    if CONTRADICTED in verdicts:
        return CONTRADICTED
    return SUPPORTED if all(v == SUPPORTED for v in verdicts) else INCONCLUSIVE


SHRINK_MARGIN = math.log(2)  # the step must shrink at least twice as much as under RMSprop (v0.1's "below 0.5")
RARE_MARGIN = math.log(1.1)  # rare inputs' steps at least 10 % larger


@register_study
class AdagradStudy(Study):
    """Claim `adagrad`: Rarely-changed parameters get larger updates; when G_t grows large, updates stop."""

    id = "adagrad"
    trains_on = DATA
    section = "Adagrad"
    claim = "Rarely-changed parameters get larger updates; when G_t grows large, updates stop."
    note = (
        "파라미터가 지금까지 얼마나 변해왔는가 를 반영. 적게 변한 파라미터는 많이, 많이 변한 파라미터는 적게 "
        "업데이트. Gt가 너무 커지면 업데이트가 되지 않는다."
    )
    literature = (
        "Duchi, Hazan & Singer, JMLR 2011. G_t is the sum of squared gradients, so each parameter's step "
        "lr / sqrt(G_t) can only shrink (about as 1/sqrt(t) for steady gradients): updates slow down but "
        "never stop exactly; the sum of steps still diverges. 'Rarely changed' means rarely receiving "
        "gradient (sparse features), not a small change of the parameter itself."
    )
    method = (
        f"The MLP 64-64-10 trains {EPOCHS} epochs (batch 32) on the 8x8 digits (or --data) with Adagrad (lr "
        "0.01) and, for contrast, RMSprop (lr 0.001), each optimizer's default, on the same seeds (split, "
        "initialization, data order). After every epoch the median effective step size of the first layer's "
        "weights is read from the optimizer state (Adagrad lr/(sqrt(G_t)+eps), RMSprop lr/(sqrt(E[g^2])+eps)); "
        "the shrink ratio is last epoch / first epoch. At the end, Adagrad's mean effective step of the "
        "weights of the least active quarter of the input features (active: non-zero in an image; only "
        "features ever active count) is set against that of the most active quarter."
    )
    rule = (
        "Two paired t-tests (stats.decide) over seeds: (a) log shrink ratio, Adagrad against RMSprop, lower is "
        "better, margin ln 2 (Adagrad's step must shrink at least twice as much); (b) log mean step, rare "
        "against frequent inputs under Adagrad, margin ln 1.1. The claim has both parts: supported if both are "
        "supported, contradicted if either is contradicted, inconclusive otherwise."
    )

    def plan(self, ctx, results: dict) -> list[Run]:
        """Adagrad and RMSprop on each seed."""
        return tracked_runs(ctx, ("adagrad", "rmsprop"))

    def collect(self, ctx, results: dict) -> Measurements:
        """The numbers and the figure, from the runs' effective steps."""
        epochs = ctx.profile.epochs(EPOCHS)
        numbers: dict = {
            "data": ctx.data(DATA),
            "adagrad": {"shrink": [], "rare_step": [], "frequent_step": [], "train_loss": []},
            "rmsprop": {"shrink": [], "train_loss": []},
        }
        fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
        for name in ("adagrad", "rmsprop"):
            for seed in ctx.seeds:
                r = results[f"{name} seed {seed}"]
                numbers[name]["shrink"].append(r["medians"][-1] / r["medians"][0])
                numbers[name]["train_loss"].append(r["train_loss"])
                if seed == ctx.seeds[0]:
                    ax.plot(range(1, epochs + 1), r["medians"], label=f"{name} (seed {seed})")
                if name == "adagrad":
                    steps, activity = torch.tensor(r["per_feature"]), torch.tensor(r["activity"])
                    rare, frequent = rare_and_frequent(activity)
                    numbers[name]["rare_step"].append(float(steps[rare].mean()))
                    numbers[name]["frequent_step"].append(float(steps[frequent].mean()))
                    if seed == ctx.seeds[0]:
                        ax2.scatter(activity.tolist(), steps.tolist(), s=12)
        ax.set(
            yscale="log", xlabel="epoch", ylabel="median effective step size", title="first-layer effective step size"
        )
        ax.legend(fontsize=8)
        ax2.set(
            yscale="log",
            xlabel="share of images where the input is non-zero",
            ylabel="Adagrad effective step (median over units)",
            title="rarely active inputs: larger steps",
        )
        fig.tight_layout()
        return Measurements(
            numbers, [("Adagrad's effective step size shrinks; rare inputs keep larger steps", fig)], list(ctx.seeds)
        )

    def judge(self, m) -> Verdict:
        """The verdict by `rule`, computed from the numbers `measure` returned."""
        a, r = m["adagrad"], m["rmsprop"]
        decisions = {
            "shrink": decide(
                [math.log(x) for x in a["shrink"]],
                [math.log(x) for x in r["shrink"]],
                lower_is_better=True,
                margin=SHRINK_MARGIN,
            ),
            "rare inputs": decide(
                [math.log(x) for x in a["rare_step"]], [math.log(x) for x in a["frequent_step"]], margin=RARE_MARGIN
            ),
        }
        ratio = [x / y for x, y in zip(a["rare_step"], a["frequent_step"], strict=True)]
        key = (
            f"effective step last/first epoch: Adagrad {pm(a['shrink'])} vs RMSprop {pm(r['shrink'])}; rare/"
            f"frequent input step ratio {pm(ratio, 2)}; train loss {pm(a['train_loss'])} vs {pm(r['train_loss'])}"
        )
        verdict = conjunction(decisions)
        parts = ", ".join(f"{k}: {d.verdict}" for k, d in decisions.items())
        reason = {
            SUPPORTED: f"Adagrad's step fell to {sum(a['shrink']) / len(a['shrink']):.2f} of its first-epoch "
            "size, far below RMSprop's, and rarely active inputs kept larger steps",
            CONTRADICTED: f"a part of the claim is contradicted ({parts})",
            INCONCLUSIVE: f"a part of the claim is undecided ({parts})",
        }[verdict]
        return Verdict(verdict, key, reason, "; ".join(f"{k}: {d}" for k, d in decisions.items()))
