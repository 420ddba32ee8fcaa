r"""Claim `bias-variance`: bias and variance trade off as capacity grows; both are hard to reduce at once.

Geman, Bienenstock & Doursat, "Neural networks and the bias/variance dilemma", Neural Computation 1992,
decompose the expected squared loss of a learned predictor f_{S,θ} (training set S, initialization and
data order θ) at a test point with target y:

.. math::

    E_{S,θ}\|f - y\|^2 = \underbrace{\|\bar f - y\|^2}_{\text{bias}^2}
      + \underbrace{E_{S,θ}\|f - \bar f\|^2}_{\text{variance}},\qquad \bar f = E_{S,θ} f,

and the classical picture is a trade-off: more capacity lowers the bias and raises the variance.
Neal et al., "A modern take on the bias-variance tradeoff in neural networks" (arXiv 1810.08591), measure
both over the width of one-hidden-layer networks (widths 1 to 10^4 on MNIST) and split the variance by the
law of total variance,

.. math::

    \text{Var}_{S,θ}(f) = \underbrace{E_S \text{Var}_θ(f \mid S)}_{\text{initialization}}
      + \underbrace{\text{Var}_S E_θ(f \mid S)}_{\text{sampling}},

finding that the variance rises for the narrowest nets and then *falls* with width while the bias falls:
past a small width, wider networks reduce both at once.

Estimation (`variance_split`): S training sets x I initializations per width give predictions f_{s,i}
(class-probability vectors); with within-set means m_s and the grand mean \bar f,
init = mean_s 1/(I-1) sum_i \|f_{s,i} - m_s\|^2 and sampling = 1/(S-1) sum_s \|m_s - \bar f\|^2 - init / I
are unbiased, and bias^2 = \|\bar f - y\|^2 - (1/(S-1) sum_s \|m_s - \bar f\|^2) / S removes the estimation noise
of \bar f; then bias^2 + init + sampling equals the mean squared loss exactly. Everything is per test image
(summed over the K classes) and averaged over the test split.

Scaled down: widths 16-1024 (x4 steps) of one-hidden-layer MLPs, S = 4 *disjoint* training sets of 300
images of the 8x8 digits per seed (the previous version drew overlapping sets, which shrinks the sampling
variance), I = 2 initializations each, 20 epochs of Adam. The narrowest net judged has 16 units: a net
narrower than the number of classes is a bottleneck that cannot represent the K logits (the previous
version's width-1 endpoint was degenerate). The claim is judged at its two ends, narrowest against widest,
on the log scale: bias^2 falls by more than 10 % AND the variance rises by more than 10 %; the middle widths
and the variance's two parts are reported. A unit is one paired seed: its own test split, training sets
and initializations; the lab computes one run per (seed, width) (`width_run`), in stages of 8, 16, then 32 seeds.
"""

from __future__ import annotations

from dataclasses import replace

import matplotlib.pyplot as plt
import numpy as np
import torch

from dlbasic.data import load
from dlbasic.evaluation._fit import fit, load_pool, predict_proba, with_own_stats
from dlbasic.lab.registry import register_study
from dlbasic.lab.study import Measurements, Run, Study, Verdict, mean_std, pm
from dlbasic.lab.verdicts import RATIO, looks, part, verdict

DATA = "digits"  # the source its runs train on, unless the lab names one (--data)

WIDTHS = (16, 64, 256, 1024)
SAMPLES, INITS = 4, 2  # disjoint training sets per seed, initializations per training set
TRAIN = 300  # images per training set
SCHEDULE = looks(8)
PARTS = ("loss", "bias2", "variance", "variance_init", "variance_sampling")


def variance_split(probs: np.ndarray, onehot: np.ndarray) -> dict[str, float]:
    """Squared-loss decomposition of predictions `probs` [S, I, M, K] (S training sets, I initializations,
    M test points, K outputs) against targets `onehot` [M, K]: loss = bias2 + variance_init +
    variance_sampling exactly (see the module docstring); all per test point, summed over K."""
    probs, onehot = np.asarray(probs, dtype=np.float64), np.asarray(onehot, dtype=np.float64)
    s, i = probs.shape[:2]
    if s < 2 or i < 2:
        raise ValueError(f"need at least 2 training sets and 2 initializations, got {s} and {i}")
    within = probs.mean(1)  # [S, M, K] m_s
    main = within.mean(0)  # [M, K] f-bar
    init = float((((probs - within[:, None]) ** 2).sum(-1).sum(1) / (i - 1)).mean())
    between = float((((within - main) ** 2).sum(-1).sum(0) / (s - 1)).mean())
    sampling = between - init / i
    bias2 = float(((main - onehot) ** 2).sum(-1).mean()) - between / s
    loss = float(((probs - onehot) ** 2).sum(-1).mean())
    return {
        "loss": loss,
        "bias2": bias2,
        "variance": init + sampling,
        "variance_init": init,
        "variance_sampling": sampling,
    }


def width_run(ctx, seed: int, width: int) -> dict:
    """Width `width` for `seed`: the seed's training sets, each trained from every initialization, and the
    decomposition of their test predictions (`variance_split`), with the number of classes."""
    cfg = ctx.config(
        data=ctx.data(DATA),
        model="mlp",
        model_options={"hidden": [width]},
        optimizer="adam",
        lr=1e-2,
        epochs=ctx.profile.epochs(20),
        batch_size=50,
        seed=seed,
    )
    pool = load_pool(cfg)
    test = load(cfg.data, "test", **cfg.split_options())
    onehot = torch.nn.functional.one_hot(test.labels, test.num_classes).numpy()
    order = torch.randperm(len(pool), generator=torch.Generator().manual_seed(seed))
    n = min(ctx.profile.size(TRAIN), len(pool) // SAMPLES)
    sets = [with_own_stats(pool.subset(order[s * n : (s + 1) * n])) for s in range(SAMPLES)]  # disjoint
    probs = np.stack(
        [
            np.stack(
                [
                    predict_proba(fit(replace(cfg, seed=1000 * seed + INITS * s + i), data), test).numpy()
                    for i in range(INITS)
                ]
            )
            for s, data in enumerate(sets)
        ]
    )  # [S, I, M, K]
    return {"classes": test.num_classes, **variance_split(probs, onehot)}


WIDTH_RUN = "dlbasic.studies.bias_variance:width_run"
WIDTH_COST = {16: 0.7, 64: 0.7, 256: 0.85, 1024: 1.35}  # seconds per width (one thread, quick profile)


@register_study
class BiasVariance(Study):
    """Claim `bias-variance`: Bias (offset from the target) and variance (spread of results) trade off; both are hard to
    reduce at once.
    """

    id = "bias-variance"
    trains_on = DATA
    form = "difference"
    schedule = SCHEDULE
    section = "Important Concepts"
    claim = "Bias (offset from the target) and variance (spread of results) trade off; both are hard to reduce at once."
    note = (
        "Bias : target에서 벗어난 정도. Variance : 학습 결과가 분산된 정도. trade off 관계에 있음. 둘 다 줄이기 힘들다."
    )
    literature = (
        "The U-shaped trade-off is the classical picture (Geman et al. 1992). For neural networks, Neal et "
        "al. (arXiv 1810.08591) and Yang et al. (arXiv 2002.11328) measure variance that rises and then "
        "falls, or only falls, with width: wider networks can reduce bias and variance at once."
    )
    method = (
        f"One-hidden-layer MLPs of widths {', '.join(map(str, WIDTHS))} on the `--data` source (default: 8x8 "
        f"digits): per paired seed, {SAMPLES} disjoint training sets of {TRAIN} images drawn from the train+val "
        f"pool, each trained from {INITS} initializations (Adam, lr 1e-2, 20 epochs, batch 50), for every width. "
        "On the seed's own test split: the squared-loss decomposition of the predicted probability vectors "
        "against the one-hot labels (Geman et al. 1992) into bias^2 and variance, the variance split into its "
        "initialization/data-order part and its sampling part (Neal et al. 2018), with unbiased estimators "
        "whose sum is the measured loss. The middle widths and the two parts are reported."
    )
    rule = (
        f"Two paired comparisons over seeds (difference form, verdicts.part, log scale, margin ln 1.1; seeds "
        f"{' then '.join(map(str, SCHEDULE))}, O'Brien-Fleming boundary), narrowest ({WIDTHS[0]}) against widest "
        f"({WIDTHS[-1]}) net: bias^2 falls (ln bias^2 narrow - ln bias^2 wide > ln 1.1) AND the variance rises "
        "(ln var wide - ln var narrow > ln 1.1). Supported (a trade-off) when both are; contradicted when "
        "either is contradicted (e.g. the variance falls, or stays within 10 %: both reduced at once); else "
        "inconclusive."
    )

    def seed_runs(self, ctx, seeds) -> list[Run]:
        """One run per (seed, width): its training sets x initializations and their decomposition."""
        return [
            Run(f"seed{seed}-width{w}", WIDTH_RUN, {"seed": seed, "width": w}, WIDTH_COST[w])
            for seed in seeds
            for w in WIDTHS
        ]

    def collect(self, ctx, results) -> Measurements:
        """The numbers of `method` from the (seed, width) runs (in seed order), and the figure."""
        seeds = sorted({int(k.split("-")[0].removeprefix("seed")) for k in results})
        out = {k: {str(w): [results[f"seed{s}-width{w}"][k] for s in seeds] for w in WIDTHS} for k in PARTS}
        classes = results[f"seed{seeds[0]}-width{WIDTHS[0]}"]["classes"]
        numbers = {
            "widths": list(WIDTHS),
            "classes": classes,
            "samples": SAMPLES,
            "inits": INITS,
            "seeds": seeds,
            **out,
        }
        caption = (
            f"Squared-loss bias^2 and variance (initialization and sampling parts) against width, {SAMPLES} "
            f"disjoint training sets x {INITS} initializations per width and seed"
        )
        return Measurements(numbers, [(caption, _figure(numbers))], seeds)

    def judge(self, m) -> Verdict:
        """The verdict by `rule`, computed from the numbers `collect` returned."""
        lo, hi = str(m["widths"][0]), str(m["widths"][-1])
        floor = lambda v: [max(x, 1e-12) for x in v]  # noqa: E731  (an unbiased estimate can dip below 0)
        parts = [
            part(
                f"bias^2, width {lo} vs {hi} (falls)",
                floor(m["bias2"][lo]),
                floor(m["bias2"][hi]),
                form="difference",
                margin=RATIO,
                log=True,
                schedule=self.schedule,
            ),
            part(
                f"variance, width {hi} vs {lo} (rises)",
                floor(m["variance"][hi]),
                floor(m["variance"][lo]),
                form="difference",
                margin=RATIO,
                log=True,
                schedule=self.schedule,
            ),
        ]
        key = (
            f"widths {lo} -> {hi}: bias^2 {pm(m['bias2'][lo], 4)} -> {pm(m['bias2'][hi], 4)}, variance "
            f"{pm(m['variance'][lo], 4)} -> {pm(m['variance'][hi], 4)} (initialization part "
            f"{mean_std(m['variance_init'][lo])[0]:.4f} -> {mean_std(m['variance_init'][hi])[0]:.4f}, sampling part "
            f"{mean_std(m['variance_sampling'][lo])[0]:.4f} -> {mean_std(m['variance_sampling'][hi])[0]:.4f})"
        )
        reasons = {"supported": "capacity buys lower bias^2 at the price of higher variance"}
        return verdict(parts, key, reasons)


def _figure(m):
    widths = m["widths"]
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    labels = {
        "loss": "expected squared loss",
        "bias2": "bias²",
        "variance": "variance",
        "variance_init": "variance: initialization",
        "variance_sampling": "variance: sampling",
    }
    for k, style in (
        ("loss", "k-"),
        ("bias2", "o-"),
        ("variance", "s-"),
        ("variance_init", "^--"),
        ("variance_sampling", "v--"),
    ):
        s = [mean_std(m[k][str(w)]) for w in widths]
        ax.errorbar(widths, [a for a, _ in s], yerr=[b for _, b in s], fmt=style, capsize=3, label=labels[k])
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("hidden units (capacity)")
    ax.set_ylabel("per test image")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
