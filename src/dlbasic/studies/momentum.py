"""Claim `momentum`: momentum reaches the minimum faster by reusing the past gradient direction."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt

from dlbasic.optim.race import grid_trajectories
from dlbasic.studies.base import CONTRADICTED, INCONCLUSIVE, SUPPORTED, Measurements, Study, Verdict, compare, pm
from dlbasic.studies.registry import register_study

LANDSCAPE_LRS = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2)
THRESHOLDS = {"quadratic": 1e-4, "rosenbrock": 1e-2}  # loss to reach
MAX_STEPS = 2000
DIGITS_LRS = (0.01, 0.03, 0.1, 0.3)
DIGITS_TARGET, DIGITS_EPOCHS, STEPS_PER_EPOCH = 0.25, 12, 41  # 1295 digits / batch 32 -> 41 steps


def steps_to(losses: list[float], threshold: float) -> int | None:
    """The first step whose loss is at or below `threshold`; None if never."""
    return next((i for i, x in enumerate(losses) if math.isfinite(x) and x <= threshold), None)


def ratio_verdict(a: float, b: float, tolerance: float = 0.1) -> str:
    """Deterministic runs: a beats b (fewer steps) if a < (1 - tol) b; loses if a > (1 + tol) b."""
    if a < (1 - tolerance) * b:
        return SUPPORTED
    if a > (1 + tolerance) * b:
        return CONTRADICTED
    return INCONCLUSIVE


@register_study
class MomentumStudy(Study):
    id = "momentum"
    section = "Momentum"
    claim = "Momentum reaches the minimum faster by reusing past gradient direction."
    note = "좀 더 빨리 minimum을 찾기 위함. 이전의 gradient 방향도 활용."
    literature = ("Polyak (1964), heavy ball; Sutskever et al., ICML 2013: on an ill-conditioned quadratic (condition "
                  "number k) tuned momentum needs about sqrt(k) times fewer steps than tuned gradient descent; on "
                  "noisy mini-batch gradients the gain shrinks, since momentum with lr eta acts roughly like SGD with "
                  "lr eta / (1 - beta).")
    method = (f"Plain SGD and SGD with momentum 0.9 (torch's form v = mu v + g), each at its best learning rate of a "
              f"grid, count the steps to a loss threshold: on the ill-conditioned quadratic (x^2 + 100 y^2)/2 to "
              f"{THRESHOLDS['quadratic']:g} and on Rosenbrock to {THRESHOLDS['rosenbrock']:g} from the landscape's "
              f"start (lr grid {', '.join(map(str, LANDSCAPE_LRS))}; at most {MAX_STEPS} steps; not reaching counts "
              f"as {MAX_STEPS + 1}), and on the 8x8 digits (MLP 64-64-10, batch 32, {DIGITS_EPOCHS} epochs, lr grid "
              f"{', '.join(map(str, DIGITS_LRS))}, best lr by mean over seeds) the optimizer steps until the "
              f"validation loss first reaches {DIGITS_TARGET} (checked every epoch; not reaching counts as "
              f"{(DIGITS_EPOCHS + 1) * STEPS_PER_EPOCH}).")
    rule = ("Per problem: on the landscapes (deterministic) momentum wins if it needs fewer than 0.9 x SGD's steps and "
            "loses above 1.1 x; on digits the lab's compare rule (difference beyond the larger seed std). Supported "
            "if momentum wins on all three problems; contradicted if it loses on any; inconclusive otherwise.")

    def measure(self, ctx) -> Measurements:
        numbers: dict = {"landscapes": {}, "digits": {}}
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
        for ax, (land, threshold) in zip(axes[:2], THRESHOLDS.items(), strict=True):
            numbers["landscapes"][land] = {}
            for name in ("sgd", "momentum"):
                _, losses = grid_trajectories(name, land, LANDSCAPE_LRS, steps=MAX_STEPS)
                counts = [steps_to(row, threshold) for row in losses.tolist()]
                counts = [MAX_STEPS + 1 if c is None else c for c in counts]
                best = min(range(len(LANDSCAPE_LRS)), key=lambda i: counts[i])
                numbers["landscapes"][land][name] = {"steps": counts[best], "lr": LANDSCAPE_LRS[best]}
                ax.plot([max(x, 1e-12) if math.isfinite(x) else math.nan for x in losses[best].tolist()],
                        label=f"{name} (lr {LANDSCAPE_LRS[best]:g}): {counts[best]} steps")
            ax.axhline(threshold, color="grey", ls="--", lw=1, label="threshold")
            ax.set(yscale="log", xlabel="step", ylabel="loss", title=land)
            ax.legend(fontsize=7)
        ax = axes[2]
        for name in ("sgd", "momentum"):
            per_lr = {}
            for lr in DIGITS_LRS:
                per_lr[lr] = []
                for seed in ctx.seeds:
                    s = ctx.train(ctx.config(data="digits", model="mlp", model_options={"hidden": [64]},
                                             optimizer=name, lr=lr, batch_size=32, seed=seed,
                                             epochs=ctx.profile.epochs(DIGITS_EPOCHS)))
                    curve = [h["val_loss"] for h in s["history"]]
                    epoch = steps_to([math.inf, *curve], DIGITS_TARGET)
                    per_lr[lr].append(((len(curve) + 1) if epoch is None else epoch) * STEPS_PER_EPOCH)
                    if lr == DIGITS_LRS[-1] and seed == ctx.seeds[0]:
                        ax.plot(range(1, len(curve) + 1), curve, label=f"{name}, lr {lr:g}, seed {seed}")
            best = min(DIGITS_LRS, key=lambda lr: sum(per_lr[lr]))
            numbers["digits"][name] = {"steps": per_lr[best], "lr": best,
                                       "steps_per_lr": {f"{k:g}": v for k, v in per_lr.items()}}
        ax.axhline(DIGITS_TARGET, color="grey", ls="--", lw=1, label="target")
        ax.set(yscale="log", xlabel="epoch", ylabel="validation loss", title="digits MLP")
        ax.legend(fontsize=7)
        fig.suptitle("SGD vs momentum at their best learning rates: loss against step")
        fig.tight_layout()
        return Measurements(numbers, [("Loss against step, SGD vs momentum (each at its best grid lr)", fig)],
                            list(ctx.seeds))

    def judge(self, m) -> Verdict:
        parts = {land: ratio_verdict(v["momentum"]["steps"], v["sgd"]["steps"]) for land, v in m["landscapes"].items()}
        d = m["digits"]
        parts["digits"] = compare(d["momentum"]["steps"], d["sgd"]["steps"], higher_is_better=False)
        key = "; ".join([f"{land}: {v['momentum']['steps']} vs {v['sgd']['steps']} steps"
                         for land, v in m["landscapes"].items()]
                        + [f"digits: {pm(d['momentum']['steps'], 0)} vs {pm(d['sgd']['steps'], 0)} steps"]) \
            + " (momentum vs SGD)"
        verdicts = list(parts.values())
        if CONTRADICTED in verdicts:
            return Verdict(CONTRADICTED, key, "momentum needed more steps than SGD on "
                           + ", ".join(k for k, v in parts.items() if v == CONTRADICTED))
        if all(v == SUPPORTED for v in verdicts):
            return Verdict(SUPPORTED, key, "momentum reached the threshold in fewer steps on every problem")
        return Verdict(INCONCLUSIVE, key, "no clear difference on "
                       + ", ".join(k for k, v in parts.items() if v == INCONCLUSIVE))
