"""Claim `batch-size`: small batches generalize better; large batches overfit (and the sharpness of minima)."""

from __future__ import annotations

import matplotlib.pyplot as plt

from dlbasic.evaluation.sharpness import epsilon_sharpness, model_loss_fn, top_hessian_eigenvalue
from dlbasic.studies.base import CONTRADICTED, INCONCLUSIVE, SUPPORTED, Measurements, Study, Verdict, compare, pm
from dlbasic.studies.registry import register_study
from dlbasic.training.run import load_data

BATCHES = {"small": 16, "large": 512}


@register_study
class BatchSize(Study):
    id = "batch-size"
    section = "Practical GD"
    claim = "Small batches are better; large batches overfit."
    note = ("batch-size를 작게 쓰는 편이 좋다. batch-size가 크면 model을 over-fit. "
            "flat minimum이 generalization performace가 떨어진다.")
    literature = ("The note says flat minima generalize worse; the paper it cites (Keskar et al., arXiv 1609.04836) "
                  "reports the opposite: large batches converge to sharp minima, which generalize worse, and small "
                  "batches to flat ones. Hoffer et al. (arXiv 1705.08741) and Goyal et al. (arXiv 1706.02677) show "
                  "much of the large-batch gap comes from fewer updates at equal epochs and closes with a scaled "
                  "learning rate and longer training.")
    method = (f"A one-hidden-layer MLP (64 units) trains on the digits with Adam (lr 1e-3) for 20 epochs at batch "
              f"size {BATCHES['small']} (small) and {BATCHES['large']} (large), per seed: equal epochs, so the small "
              "batch makes ~30x more updates. Measured: test accuracy, train - test accuracy gap, and on 1,000 "
              "training images the top Hessian eigenvalue (power iteration) and Keskar's epsilon-sharpness "
              "(eps = 1e-3, L-BFGS-B, 10 iterations) of the final weights.")
    rule = ("The lab's two-sample rule over seeds on test accuracy: supported if the small batch's exceeds the large "
            "batch's by more than the larger seed std; contradicted if lower by that margin; inconclusive "
            "otherwise. The sharpness of the two minima is reported beside the verdict.")

    def measure(self, ctx) -> Measurements:
        out: dict[str, dict[str, list[float]]] = {k: {"test_accuracy": [], "gap": [], "hessian_top": [],
                                                      "eps_sharpness": [], "train_loss": []} for k in BATCHES}
        curves: dict[str, list[float]] = {}
        for name, batch in BATCHES.items():
            for seed in ctx.seeds:
                cfg = ctx.config(data="digits", model="mlp", model_options={"hidden": [64]}, optimizer="adam",
                                 lr=1e-3, epochs=ctx.profile.epochs(20), batch_size=batch, seed=seed)
                s = ctx.train(cfg)
                model = ctx.model(cfg, s)
                train = load_data(cfg).train
                x, y = train.normalize(train.images[:1000]), train.labels[:1000]
                loss_fn = model_loss_fn(model, x, y)
                params = list(model.parameters())
                out[name]["test_accuracy"].append(s["test_accuracy"])
                out[name]["gap"].append(s["train_accuracy"] - s["test_accuracy"])
                out[name]["hessian_top"].append(top_hessian_eigenvalue(loss_fn, params, iters=50, tol=1e-4,
                                                                       seed=seed)[0])
                out[name]["eps_sharpness"].append(epsilon_sharpness(loss_fn, params, 1e-3, seed=seed))
                out[name]["train_loss"].append(float(loss_fn().detach()))
                if seed == ctx.seeds[0]:
                    curves[name] = [h["val_accuracy"] for h in s["history"]]
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
        for name, batch in BATCHES.items():
            ax1.plot(range(1, len(curves[name]) + 1), curves[name], label=f"batch {batch}")
            ax2.scatter(out[name]["hessian_top"], out[name]["test_accuracy"], label=f"batch {batch}", s=30)
        ax1.set_xlabel("epoch")
        ax1.set_ylabel("validation accuracy")
        ax1.set_title("equal epochs, different numbers of updates")
        ax1.legend()
        ax1.grid(alpha=0.3)
        ax2.set_xscale("log")
        ax2.set_xlabel("top Hessian eigenvalue of the training loss (sharpness)")
        ax2.set_ylabel("test accuracy")
        ax2.set_title("sharpness vs generalization (one dot per seed)")
        ax2.legend()
        ax2.grid(alpha=0.3)
        fig.tight_layout()
        return Measurements({"batch_sizes": dict(BATCHES), **out},
                            [("Small vs large batch: validation accuracy per epoch, and sharpness against test "
                              "accuracy", fig)], list(ctx.seeds))

    def judge(self, m) -> Verdict:
        small, large = m["small"], m["large"]
        outcome = compare(small["test_accuracy"], large["test_accuracy"])
        sharper = compare(large["hessian_top"], small["hessian_top"])  # supported: large batch is sharper
        key = (f"test accuracy small {pm(small['test_accuracy'])} vs large {pm(large['test_accuracy'])}; top Hessian "
               f"eigenvalue small {pm(small['hessian_top'], 2)} vs large {pm(large['hessian_top'], 2)}; "
               f"eps-sharpness small {pm(small['eps_sharpness'], 3)} vs large {pm(large['eps_sharpness'], 3)}; "
               f"train - test gap small {pm(small['gap'])} vs large {pm(large['gap'])}")
        sharp_text = {SUPPORTED: "the large-batch minimum is sharper (as Keskar et al. report)",
                      CONTRADICTED: "the large-batch minimum is flatter",
                      INCONCLUSIVE: "the two minima are about equally sharp"}[sharper]
        reason = {SUPPORTED: "small batches test better beyond seed noise",
                  CONTRADICTED: "large batches test better beyond seed noise",
                  INCONCLUSIVE: "the batch sizes test within seed noise of each other"}[outcome]
        return Verdict(outcome, key, f"{reason}; {sharp_text}")
