"""Claim `bias-variance`: bias and variance trade off as capacity grows; both are hard to reduce at once."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

from dlbasic.data import load
from dlbasic.evaluation._fit import fit, load_pool, predict_proba, split_options, with_own_stats
from dlbasic.evaluation.bias_variance import squared_loss_decomposition, zero_one_decomposition
from dlbasic.evaluation.bootstrap import bootstrap_indices
from dlbasic.studies.base import CONTRADICTED, INCONCLUSIVE, SUPPORTED, Measurements, Study, Verdict, mean_std
from dlbasic.studies.registry import register_study

WIDTHS = (1, 4, 16, 256)
ROUNDS = 6


@register_study
class BiasVariance(Study):
    id = "bias-variance"
    section = "Important Concepts"
    claim = "Bias (offset from the target) and variance (spread of results) trade off; both are hard to reduce at once."
    note = ("Bias : target에서 벗어난 정도. Variance : 학습 결과가 분산된 정도. trade off 관계에 있음. "
            "둘 다 줄이기 힘들다.")
    literature = ("The U-shaped trade-off is the classical picture (Geman et al. 1992). For neural networks, Neal et "
                  "al. (arXiv 1810.08591) and Yang et al. (arXiv 2002.11328) measure variance that rises and then "
                  "falls, or only falls, with width: wider networks can reduce bias and variance at once.")
    method = (f"One-hidden-layer MLPs of widths {', '.join(map(str, WIDTHS))} are trained {ROUNDS} times each, on "
              "bootstrap samples of 400 digits images (Adam, lr 1e-2, 30 epochs), per seed. On the 359 test images: "
              "Domingos' 0-1 decomposition (bias = error of the majority vote, variance = mean disagreement with "
              "it, as mlxtend) and the squared-loss decomposition of the predicted probability vectors against the "
              "one-hot labels (bias^2 + variance = expected loss, exactly).")
    rule = ("With the narrowest and widest networks compared by the lab's two-sample rule (difference beyond the "
            "larger seed std): supported if the 0-1 bias falls and the variance rises with width (a trade-off); "
            "contradicted if both fall (both reduced at once); inconclusive otherwise.")

    def measure(self, ctx) -> Measurements:
        out: dict[str, dict[str, list[float]]] = {k: {str(w): [] for w in WIDTHS}
                                                  for k in ("bias", "variance", "loss", "bias2_sq", "variance_sq")}
        for seed in ctx.seeds:
            cfg = ctx.config(data="digits", model="mlp", optimizer="adam", lr=1e-2, epochs=ctx.profile.epochs(30),
                             batch_size=50, seed=seed, train_subset=ctx.profile.size(400))
            pool = load_pool(cfg)
            test = load(cfg.data, "test", **split_options(cfg))
            onehot = torch.nn.functional.one_hot(test.labels, test.num_classes).numpy().reshape(-1)
            draws = bootstrap_indices(len(pool), ROUNDS, seed)
            for w in WIDTHS:
                cfg.model_options = {"hidden": [w]}
                probs = np.stack([predict_proba(fit(cfg, with_own_stats(pool.subset(torch.from_numpy(d)))), test)
                                  .numpy() for d in draws])  # (R, N, K)
                d01 = zero_one_decomposition(probs.argmax(2), test.labels.numpy())
                dsq = squared_loss_decomposition(probs.reshape(ROUNDS, -1), onehot)
                for k, v in (("bias", d01["bias"]), ("variance", d01["variance"]), ("loss", d01["expected_loss"]),
                             ("bias2_sq", dsq["bias2"]), ("variance_sq", dsq["variance"])):
                    out[k][str(w)].append(v)
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
        for ax, names, title in ((axes[0], ("loss", "bias", "variance"), "0-1 loss (Domingos)"),
                                 (axes[1], ("bias2_sq", "variance_sq"), "squared loss of probabilities")):
            for name in names:
                m = [mean_std(out[name][str(w)]) for w in WIDTHS]
                ax.errorbar(WIDTHS, [a for a, _ in m], yerr=[b for _, b in m], marker="o", capsize=3,
                            label={"loss": "expected 0-1 loss", "bias2_sq": "bias²", "variance_sq": "variance"}
                            .get(name, name))
            ax.set_xscale("log", base=2)
            ax.set_xlabel("hidden units (capacity)")
            ax.set_title(title)
            ax.legend()
            ax.grid(alpha=0.3)
        axes[0].set_ylabel("per test image")
        fig.tight_layout()
        return Measurements({"widths": list(WIDTHS), "rounds": ROUNDS, **out},
                            [(f"Bias and variance against width over {ROUNDS} bootstrap-trained networks", fig)],
                            list(ctx.seeds))

    def judge(self, m) -> Verdict:
        keys = sorted(m["bias"], key=int)
        small, large = keys[0], keys[-1]
        bias_falls = compare_lower(m["bias"][large], m["bias"][small])
        var_rises = compare_lower(m["variance"][small], m["variance"][large])
        var_falls = compare_lower(m["variance"][large], m["variance"][small])
        b = [mean_std(m["bias"][k])[0] for k in (small, large)]
        v = [mean_std(m["variance"][k])[0] for k in (small, large)]
        key = f"width {small} -> {large}: bias {b[0]:.3f} -> {b[1]:.3f}, variance {v[0]:.3f} -> {v[1]:.3f}"
        if bias_falls and var_rises:
            return Verdict(SUPPORTED, key, "capacity buys lower bias at the price of higher variance")
        if bias_falls and var_falls:
            return Verdict(CONTRADICTED, key, "the wider network has both lower bias and lower variance")
        return Verdict(INCONCLUSIVE, key, "the changes are within seed noise or go no clear way")


def compare_lower(a: list[float], b: list[float]) -> bool:
    """mean(a) < mean(b) by more than the larger seed std."""
    (ma, sa), (mb, sb) = mean_std(a), mean_std(b)
    return mb - ma > max(sa, sb)
