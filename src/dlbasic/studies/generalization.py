"""Claim `generalization`: too little capacity underfits; too much makes test fall behind training."""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch

from dlbasic.studies.base import CONTRADICTED, INCONCLUSIVE, SUPPORTED, Measurements, Study, Verdict, mean_std
from dlbasic.studies.registry import register_study
from dlbasic.training.run import load_data

WIDTHS = (2, 8, 32, 128, 512)


@torch.no_grad()
def accuracy(model: torch.nn.Module, data) -> float:
    """Accuracy of `model` (eval mode) on an ImageDataset, normalized with its train statistics."""
    return float((model(data.normalize(data.images)).argmax(1) == data.labels).float().mean())


@register_study
class Generalization(Study):
    id = "generalization"
    section = "Important Concepts"
    claim = ("Underfitting: too little learning; overfitting: test performance falls behind training "
             "performance.")
    note = ("접한 적 없는 데이터에 대해서도 잘 동작함. Underfitting : 모델이 학습이 덜 된 경우. "
            "Overfitting : 학습 데이터에 비해 테스트 데이터에서 성능이 떨어짐.")
    method = (f"One-hidden-layer MLPs of widths {', '.join(map(str, WIDTHS))} train with Adam (lr 1e-2) for 40 epochs "
              "on 300 digits images (8x8), for each seed. Training accuracy is measured on the 300 training images "
              "after training (eval mode), test accuracy on the 359 test images; the generalization gap is their "
              "difference. The widest network's train and validation loss per epoch show the epoch view.")
    rule = ("Supported if (a) the narrowest network's training accuracy is below the widest's by more than the "
            "larger seed std (too little capacity: it underfits) and (b) the widest network's test accuracy falls "
            "behind its training accuracy by more than max(0.02, 3 x the seed std of that gap) (overfitting); "
            "contradicted if the widest network's gap is below its seed std (no overfitting at the largest "
            "capacity); inconclusive otherwise. The gap at every width is reported too: it need not grow "
            "monotonically with width.")

    def measure(self, ctx) -> Measurements:
        train_acc: dict[str, list[float]] = {}
        test_acc: dict[str, list[float]] = {}
        curves: dict[str, list[float]] = {}
        for w in WIDTHS:
            key = str(w)
            train_acc[key], test_acc[key] = [], []
            for seed in ctx.seeds:
                cfg = ctx.config(data="digits", model="mlp", model_options={"hidden": [w]}, optimizer="adam", lr=1e-2,
                                 epochs=ctx.profile.epochs(40), batch_size=32, seed=seed,
                                 train_subset=ctx.profile.size(300))
                s = ctx.train(cfg)
                train_acc[key].append(accuracy(ctx.model(cfg, s), load_data(cfg).train))  # the subset, eval mode
                test_acc[key].append(s["test_accuracy"])
                if w == WIDTHS[-1] and seed == ctx.seeds[0]:
                    curves = {"train_loss": [h["train_loss"] for h in s["history"]],
                              "val_loss": [h["val_loss"] for h in s["history"]]}
        gap = {k: [a - b for a, b in zip(train_acc[k], test_acc[k])] for k in train_acc}
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
        for name, values, style in (("train", train_acc, "o-"), ("test", test_acc, "s-")):
            m = [mean_std(values[str(w)]) for w in WIDTHS]
            ax1.errorbar(WIDTHS, [a for a, _ in m], yerr=[b for _, b in m], fmt=style, capsize=3, label=name)
        ax1.set_xscale("log", base=2)
        ax1.set_xlabel("hidden units (capacity)")
        ax1.set_ylabel("accuracy")
        ax1.set_title("capacity: underfitting (left) to overfitting (right)")
        ax1.legend()
        ax1.grid(alpha=0.3)
        epochs = range(1, len(curves["train_loss"]) + 1)
        ax2.plot(epochs, curves["train_loss"], label="train loss")
        ax2.plot(epochs, curves["val_loss"], label="validation loss")
        ax2.set_xlabel("epoch")
        ax2.set_ylabel("cross-entropy loss")
        ax2.set_title(f"width {WIDTHS[-1]}: loss per epoch")
        ax2.legend()
        ax2.grid(alpha=0.3)
        fig.tight_layout()
        return Measurements({"widths": list(WIDTHS), "train_accuracy": train_acc, "test_accuracy": test_acc,
                             "gap": gap, "widest_curves": curves},
                            [("Train and test accuracy against capacity, and the widest network's loss curves", fig)],
                            list(ctx.seeds))

    def judge(self, m) -> Verdict:
        keys = sorted(m["train_accuracy"], key=int)
        small, large = keys[0], keys[-1]
        (tr_s, sd_ts), (tr_l, sd_tl) = mean_std(m["train_accuracy"][small]), mean_std(m["train_accuracy"][large])
        gap_l, sd_gl = mean_std(m["gap"][large])
        underfits = tr_l - tr_s > max(sd_ts, sd_tl)
        key = f"width {small}: train {tr_s:.3f}; width {large}: train {tr_l:.3f}, train - test gap {gap_l:.3f}"
        if underfits and gap_l > max(0.02, 3 * sd_gl):
            return Verdict(SUPPORTED, key, "the narrow net underfits (low training accuracy) and the wide net's test "
                                           "accuracy falls clearly behind its training accuracy")
        if gap_l < sd_gl:
            return Verdict(CONTRADICTED, key, "the widest net's test accuracy does not fall behind its training "
                                              "accuracy beyond seed noise")
        return Verdict(INCONCLUSIVE, key, "the underfitting or the gap is within the rule's margins")
