"""Claim `weight-decay`: a norm penalty keeps the parameters small and the function smooth.

The experiment scaled down: Krogh & Hertz, "A Simple Weight Decay Can Improve Generalization" (NIPS 1991),
and Goodfellow et al., *Deep Learning*, §7.1: train the same network with the loss plus lambda/2 ||w||^2
for several lambda and compare the learned weights. Smoothness is measured as in Novak et al., "Sensitivity
and Generalization in Neural Networks" (ICLR 2018): the Frobenius norm of the input-output Jacobian at test
inputs. Scaling: an MLP on 500 MNIST digits for 20 epochs, one run per profile seed and lambda (the norms
move by many seed spreads, so three pairs are enough); every lambda of a seed shares its split, subset,
initialization and data order, so only the penalty differs within a pair. Runs: one per lambda and seed (a
training and its measurements), all in one stage.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from torch import Tensor, nn

from dlbasic.lab.registry import register_study
from dlbasic.lab.stats import decide
from dlbasic.lab.study import CONTRADICTED, INCONCLUSIVE, SUPPORTED, Measurements, Run, Study, Verdict, mean_std
from dlbasic.training.run import load_data

DATA = "mnist5k"  # the source its runs train on, unless the lab names one (--data)

STRENGTHS = (0.0, 1e-3, 1e-2, 1e-1)
EPOCHS, SUBSET, PROBES = 20, 500, 500
UNITS = 1  # the profile seeds alone: the norms differ by 12 or more seed spreads (d_z), far beyond what 3 need
METRICS = {"weight_norm": "||w||", "jacobian_norm": "Jacobian"}
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


def unit_seeds(ctx) -> list[int]:
    """The training seeds: `UNITS` per profile seed."""
    return [s * UNITS + j for s in ctx.seeds for j in range(UNITS)]


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
    method = (
        f"An MLP (784-256-128-10, Adam) is trained on {SUBSET} MNIST images (or --data) for {EPOCHS} epochs "
        f"with the loss plus lambda/2 ||w||^2 for lambda in {STRENGTHS}, for each seed (all lambdas of a seed "
        "share split, subset, initialization and data order). Measured: the weight "
        f"norm ||w||, the input-output Jacobian norm ||d logits / d x||_F on {PROBES} test images (how fast "
        "the function changes with its input: smoothness) and test accuracy."
    )
    rule = (
        "For each lambda > 0 and each of the two norms, a paired t-test over the seeds against lambda = 0 "
        "(dlbasic.lab.stats.decide, lower is better, margin 0, two-sided 5 %): six decisions. Supported "
        "if all six are supported; contradicted if any is contradicted; inconclusive otherwise. Test "
        "accuracy is reported, not judged (the note does not claim it)."
    )

    def plan(self, ctx, results) -> list[Run]:
        """One run per lambda and seed: the training and its three measurements."""
        if results:
            return []
        return [
            Run(run_name(lam, seed), MEASURE, {"strength": lam, "seed": seed}, COST)
            for lam in STRENGTHS
            for seed in unit_seeds(ctx)
        ]

    def collect(self, ctx, results) -> Measurements:
        """The measurements by name and lambda (one per seed), and the figure."""
        seeds = unit_seeds(ctx)
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
        """The verdict by `rule`, computed from the numbers `measure` returned."""
        base = "0"
        strengths = sorted((k for k in m["weight_norm"] if k != base), key=float)
        decisions = {
            (name, k): decide(m[name][k], m[name][base], lower_is_better=True) for name in METRICS for k in strengths
        }
        verdicts = [d.verdict for d in decisions.values()]
        mean = lambda v: mean_std(v)[0]  # noqa: E731
        strongest = strengths[-1]
        acc = {k: mean(v) for k, v in m["test_accuracy"].items()}
        best = max(acc, key=lambda k: acc[k])
        key = (
            f"lambda {strongest} vs 0: ||w|| {mean(m['weight_norm'][strongest]):.2f} vs "
            f"{mean(m['weight_norm'][base]):.2f}, Jacobian {mean(m['jacobian_norm'][strongest]):.2f} vs "
            f"{mean(m['jacobian_norm'][base]):.2f}; weakest lambda {strengths[0]}: ||w|| "
            f"{mean(m['weight_norm'][strengths[0]]):.2f}, Jacobian {mean(m['jacobian_norm'][strengths[0]]):.2f}; "
            f"best test accuracy {acc[best]:.3f} at lambda {best} (none: {acc[base]:.3f})"
        )
        test = "; ".join(
            f"{label} lambda {k}: {decisions[name, k]}" for name, label in METRICS.items() for k in strengths
        )
        if CONTRADICTED in verdicts:
            which = [f"{METRICS[n]} at lambda {k}" for (n, k), d in decisions.items() if d.verdict == CONTRADICTED]
            return Verdict(CONTRADICTED, key, f"a penalty made the norm larger: {', '.join(which)}", test)
        if all(v == SUPPORTED for v in verdicts):
            return Verdict(
                SUPPORTED,
                key,
                "every penalty strength shrank both the weights and the Jacobian in the paired comparison",
                test,
            )
        open_ = [
            f"{METRICS[n]} at lambda {k} ({d.reason})" for (n, k), d in decisions.items() if d.verdict == INCONCLUSIVE
        ]
        return Verdict(INCONCLUSIVE, key, f"not decided: {'; '.join(open_)}", test)
