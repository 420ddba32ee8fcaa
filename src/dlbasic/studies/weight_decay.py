"""Claim `weight-decay`: a norm penalty keeps the parameters small and the function smooth.

The experiment scaled down: Krogh & Hertz, "A Simple Weight Decay Can Improve Generalization" (NIPS 1991),
and Goodfellow et al., *Deep Learning*, §7.1: train the same network with the loss plus lambda/2 ||w||^2
and compare the learned function with the unpenalized one. Smoothness is measured as in Novak et al.,
"Sensitivity and Generalization in Neural Networks" (ICLR 2018): the Frobenius norm of the input-output
Jacobian at test inputs. The decisive comparison (CLAIMS.md v0.3) is that norm with the penalty against
without, on the log scale with the 10 % margin: log J(0) - log J(lambda) > log 1.1. The judged strength,
lambda = 1e-2, is fixed in advance as the middle of the grid: strong enough to act in the 20 epochs (a
weaker 1e-3 moved the Jacobian by 8 % in an earlier lab of this study, less than the smallest change a
practitioner would act on), weak enough not to cost test accuracy, which is reported beside so that a
smoother but underfitted function would show. ||w|| and the other strengths (1e-3, 1e-1) are reported, not
judged: a penalty on ||w|| shrinks ||w|| by construction.

Scaling: an MLP on 500 MNIST digits (or --data) for 20 epochs. Pairing: every lambda of a seed shares
split, subset, initialization, data order and the Jacobian's random probe, so only the penalty differs
within a pair. Runs: one per lambda and seed (a training and its measurements); seeds in looks of 3 and 6.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import torch
from torch import Tensor, nn

from dlbasic.lab.registry import register_study
from dlbasic.lab.study import Measurements, Run, Study, Verdict, mean_std, unit_seeds
from dlbasic.lab.verdicts import RATIO, looks, part, verdict
from dlbasic.training.run import load_data

DATA = "mnist5k"  # the source its runs train on, unless the lab names one (--data)

STRENGTHS = (0.0, 1e-3, 1e-2, 1e-1)  # lambda of the penalty lambda/2 ||w||^2; the curve reported
JUDGED, BASE = "0.01", "0"  # the decisive comparison: lambda = 1e-2 against no penalty
EPOCHS, SUBSET, PROBES = 20, 500, 500
SCHEDULE = looks(3)  # paired seeds at each look
MEASURE = "dlbasic.studies.weight_decay:penalized_model"
COST = 0.5  # seconds of one run (one thread, quick profile)


def weight_norm(state: dict[str, Tensor]) -> float:
    """||w||_2 over every weight matrix and kernel (biases and norm parameters left out, as the penalty does)."""
    return sum(float(v.double().pow(2).sum()) for k, v in state.items() if k.endswith("weight") and v.dim() > 1) ** 0.5


def jacobian_norm(model: nn.Module, x: Tensor, seed: int = 0) -> float:
    """Root mean square over inputs of ||d logits / d x||_F, estimated with one Gaussian probe per input.

    For v ~ N(0, I), E ||J^T v||^2 = ||J||_F^2 (Hutchinson); one backward pass of (f(x) . v) gives J^T v for
    every input at once. A smaller Jacobian means logits that change less when the input moves: a smoother
    function (Novak et al., "Sensitivity and Generalization in Neural Networks", https://arxiv.org/abs/1802.08760).
    """
    x = x.clone().requires_grad_(True)
    out = model(x)  # (B, K)
    v = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed))
    (grad,) = torch.autograd.grad((out * v).sum(), x)  # (B, C, H, W): J^T v per input
    return float(grad.flatten(1).pow(2).sum(1).mean().sqrt())


def run_name(strength: float, seed: int) -> str:
    """The name of the run that trains with penalty `strength` and `seed`."""
    return f"lambda{strength:g}-seed{seed}"


def penalized_model(ctx, strength: float, seed: int) -> dict[str, float]:
    """Train the MLP with the L2 penalty `strength` and `seed`; its weight norm, Jacobian norm and test accuracy."""
    cfg = ctx.config(
        model="mlp",
        data=ctx.data(DATA),
        epochs=ctx.profile.epochs(EPOCHS),
        seed=seed,
        train_subset=ctx.profile.size(SUBSET),
        weight_decay=strength,
        penalty="l2" if strength else "none",
    )
    s = ctx.train(cfg)
    test = load_data(cfg).test
    return {
        "weight_norm": weight_norm(s["state_dict"]),
        "jacobian_norm": jacobian_norm(ctx.model(cfg, s), test.normalize(test.images[:PROBES]), seed),
        "test_accuracy": s["test_accuracy"],
    }


@register_study
class WeightDecay(Study):
    """Claim `weight-decay`: A norm penalty keeps parameters small and the function smooth."""

    id = "weight-decay"
    trains_on = DATA
    section = "Regularization"
    claim = "A norm penalty keeps parameters small and the function smooth."
    note = "parameter들이 너무 커지지 않도록. 최대한 부드러운 함수(?)를 만들자."
    literature = (
        "Krogh & Hertz, 'A Simple Weight Decay Can Improve Generalization' (NIPS 1991); Goodfellow et al., "
        "Deep Learning, section 7.1. With Adam, an L2 term in the loss is not the same as decoupled weight "
        "decay (Loshchilov & Hutter, AdamW, https://arxiv.org/abs/1711.05101); this study uses the "
        "explicit penalty, as the note describes it."
    )
    form = "difference"
    schedule = SCHEDULE
    method = (
        f"An MLP (784-256-128-10, Adam) is trained on {SUBSET} MNIST images (or --data) for {EPOCHS} epochs "
        f"with the loss plus lambda/2 ||w||^2 for lambda in {STRENGTHS}, for each seed (all lambdas of a seed "
        "share split, subset, initialization and data order). Measured: the input-output Jacobian norm "
        f"||d logits / d x||_F on {PROBES} test images (how fast the function changes with its input: "
        "smoothness; one Gaussian probe per image, the same for every lambda of a seed), the weight norm ||w|| "
        "and test accuracy."
    )
    rule = (
        f"Difference, one part: the Jacobian norm at lambda = {JUDGED} against lambda = 0, paired by seed on the "
        "log scale (d = log J(0) - log J(lambda)), margin log 1.1 (10 %): supported if the interval of d lies "
        "above the margin, contradicted if it lies below -log 1.1 or inside +-log 1.1 (equivalent). Seeds "
        f"in looks of {' then '.join(map(str, SCHEDULE))}, with the O'Brien-Fleming boundary of the staged "
        "interval. ||w||, the other strengths and test accuracy are reported, not judged."
    )

    def seed_runs(self, ctx, seeds) -> list[Run]:
        """One run per lambda and seed: the training and its three measurements."""
        return [
            Run(run_name(lam, seed), MEASURE, {"strength": lam, "seed": seed}, COST)
            for lam in STRENGTHS
            for seed in seeds
        ]

    def collect(self, ctx, results) -> Measurements:
        """The measurements by name and lambda (one per seed in `results`), and the figure."""
        seeds = done_seeds(ctx, results)
        keys = [f"{lam:g}" for lam in STRENGTHS]
        names = ("weight_norm", "jacobian_norm", "test_accuracy")
        out = {
            name: {key: [results[run_name(lam, seed)][name] for seed in seeds] for lam, key in zip(STRENGTHS, keys)}
            for name in names
        }
        fig, axes = plt.subplots(1, 3, figsize=(10, 3.2))
        xs = list(range(len(keys)))
        for ax, (name, label) in zip(
            axes,
            (
                ("weight_norm", "weight norm ||w||"),
                ("jacobian_norm", "Jacobian norm (roughness)"),
                ("test_accuracy", "test accuracy"),
            ),
        ):
            stats = [mean_std(out[name][k]) for k in keys]
            ax.errorbar(xs, [m for m, _ in stats], yerr=[s for _, s in stats], marker="o", capsize=3)
            ax.set_xticks(xs, keys)
            ax.set_xlabel("penalty strength lambda")
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
        fig.tight_layout()
        return Measurements(
            out,
            [
                (
                    "Weight norm, Jacobian norm and test accuracy against the L2 penalty strength "
                    "(mean ± std over seeds)",
                    fig,
                )
            ],
            seeds,
        )

    def judge(self, m) -> Verdict:
        """The verdict by `rule`, computed from the numbers `collect` returned."""
        jac, w, acc = m["jacobian_norm"], m["weight_norm"], m["test_accuracy"]
        p = part(
            f"input Jacobian norm, lambda {JUDGED} vs 0",
            jac[JUDGED],
            jac[BASE],
            form="difference",
            margin=RATIO,
            log=True,
            lower_is_better=True,
            schedule=self.schedule,
        )
        mean = lambda v: mean_std(v)[0]  # noqa: E731
        key = (
            f"lambda {JUDGED} vs 0: Jacobian {mean(jac[JUDGED]):.2f} vs {mean(jac[BASE]):.2f} "
            f"(x{math.exp(-p.comparison.mean):.2f}, {p.comparison.n} seeds); reported: ||w|| {mean(w[JUDGED]):.2f} "
            f"vs {mean(w[BASE]):.2f}, test accuracy {mean(acc[JUDGED]):.3f} vs {mean(acc[BASE]):.3f}; Jacobian by "
            "lambda " + ", ".join(f"{k}: {mean(v):.2f}" for k, v in jac.items())
        )
        return verdict(
            [p],
            key,
            {
                "supported": "the penalty made the function smoother: its input Jacobian is smaller by more than 10 %",
                "contradicted": "the penalty did not make the input Jacobian smaller by 10 % or more",
            },
        )


def done_seeds(ctx, results) -> list[int]:
    """The paired seeds whose every lambda has a result, in order."""
    seeds = unit_seeds(ctx, SCHEDULE[-1])
    return [s for s in seeds if all(run_name(lam, s) in results for lam in STRENGTHS)]
