"""Claim `relu`: ReLU trains more easily; sigmoid and tanh gradients vanish away from 0.

Krizhevsky et al. 2012 (AlexNet) report a 4-layer CNN with ReLUs reaching 25 % CIFAR-10 training
error six times faster than with tanh; Glorot & Bengio 2010
(https://proceedings.mlr.press/v9/glorot10a.html) show sigmoid's saturation and vanishing
gradients in deep nets. Here a deep narrow MLP (10 hidden layers of 32 units) on the digits is
initialized for each activation with its recommended gain (N(0, gain^2 / fan_in), gain from
`torch.nn.init.calculate_gain`: sqrt(2) for ReLU, 5/3 for tanh, 1 for sigmoid), so the activation's
derivative, not a badly scaled init, decides. Measured: the weight-gradient norm of every layer at
initialization, and the epochs plain SGD needs to reach a target validation accuracy.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

from dlbasic.callbacks import Callback
from dlbasic.studies.base import CONTRADICTED, INCONCLUSIVE, SUPPORTED, Measurements, Study, Verdict, compare, mean_std
from dlbasic.studies.registry import register_study

ACTS = ("relu", "tanh", "sigmoid")
DEPTH, WIDTH = 10, 32  # hidden layers and their units
LR, BATCH, TARGET = 0.05, 32, 0.9  # plain SGD learning rate, batch size, target validation accuracy
VANISHED = 0.01  # first-layer gradient norm below 1 % of the last layer's: reported as vanishing (not in the rule)


def gain_init(model: nn.Module, act: str, seed: int) -> None:
    """W ~ N(0, gain^2 / fan_in), b = 0 for every linear layer (He for ReLU, LeCun-style for tanh/sigmoid)."""
    g = torch.Generator().manual_seed(seed)
    gain = nn.init.calculate_gain(act)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Linear):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * gain / math.sqrt(m.in_features))
                m.bias.zero_()


class GainInit(Callback):
    """Applies `gain_init` when training starts."""

    def __init__(self, act: str, seed: int):
        self.act, self.seed = act, seed

    def on_fit_start(self, trainer) -> None:
        gain_init(trainer.model, self.act, self.seed)


def grad_norms_at_init(act: str, seed: int, batch: int = 256) -> list[float]:
    """||dL/dW_l|| for every linear layer (input side first) on one batch of normalized training digits."""
    from dlbasic.data import load
    from dlbasic.models import create_model

    data = load("digits", "train", seed=seed)
    x, y = data.normalize(data.images[:batch]), data.labels[:batch]  # (B, 1, 8, 8), (B,)
    model = create_model("mlp", data.num_classes, data.in_channels, data.image_size, hidden=[WIDTH] * DEPTH, act=act)
    gain_init(model, act, seed)
    F.cross_entropy(model(x), y).backward()
    return [m.weight.grad.norm().item() for m in model.modules() if isinstance(m, nn.Linear)]


def epochs_to(history: list[dict], target: float) -> int:
    """First epoch (1-based) whose validation accuracy reaches `target`; len(history) + 1 if none does."""
    return next((i + 1 for i, h in enumerate(history) if h["val_accuracy"] >= target), len(history) + 1)


@register_study
class Relu(Study):
    id = "relu"
    section = "AlexNet"
    claim = "ReLU trains more easily; sigmoid/tanh gradients vanish away from 0."
    note = ("ReLU 사용. linear model의 좋은 성질을 갖고 있다. 학습이 용이. sigmoid, tanh는 0에서 멀어질수록 기울기가 "
            "거의 없음. - gradien vanishing 발생.")
    method = (f"An MLP with {DEPTH} hidden layers of {WIDTH} units on the digits (8x8), one network per activation "
              "(ReLU, tanh, sigmoid), each initialized N(0, gain^2/fan_in) with its activation's gain. At init: the "
              "gradient norm of every layer's weights on one batch of 256 images. Training: plain SGD, lr "
              f"{LR}, batch {BATCH}, per seed; epochs until the validation accuracy first reaches {TARGET} "
              "(a run that never does counts as epochs + 1).")
    rule = ("Epochs to the target, compared pairwise with the lab's rule (mean difference beyond the larger seed "
            "std): supported if ReLU is faster than both tanh and sigmoid; contradicted if tanh or sigmoid is "
            "faster than ReLU; inconclusive otherwise.")

    def measure(self, ctx) -> Measurements:
        epochs = ctx.profile.epochs(10)
        to_target: dict[str, list[int]] = {}
        final: dict[str, list[float]] = {}
        curves: dict[str, list[list[float]]] = {}
        grads: dict[str, list[list[float]]] = {}
        for act in ACTS:
            to_target[act], final[act], curves[act], grads[act] = [], [], [], []
            for seed in ctx.seeds:
                cfg = ctx.config(data="digits", model="mlp", model_options={"hidden": [WIDTH] * DEPTH, "act": act},
                                 optimizer="sgd", lr=LR, epochs=epochs, batch_size=BATCH, seed=seed)
                s = ctx.train(cfg, callbacks=[GainInit(act, seed)])
                to_target[act].append(epochs_to(s["history"], TARGET))
                final[act].append(s["val_accuracy"])
                curves[act].append([h["val_accuracy"] for h in s["history"]])
                grads[act].append(grad_norms_at_init(act, seed))
        numbers = {"epochs": epochs, "target": TARGET, "epochs_to_target": to_target, "final_val_accuracy": final,
                   "grad_norms_at_init": grads,
                   "first_over_last_layer": {a: [g[0] / g[-1] for g in grads[a]] for a in ACTS}}
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
        for i, act in enumerate(ACTS):
            layers = range(1, len(grads[act][0]) + 1)
            mean_grads = [sum(g[j] for g in grads[act]) / len(grads[act]) for j in range(len(layers))]
            axes[0].plot(layers, mean_grads, "-o", ms=3, color=f"C{i}", label=act)
            mean_curve = [sum(c[e] for c in curves[act]) / len(curves[act]) for e in range(epochs)]
            axes[1].plot(range(1, epochs + 1), mean_curve, "-o", ms=3, color=f"C{i}", label=act)
        axes[0].set_yscale("log")
        axes[0].set_xlabel("layer (1 = next to the input)")
        axes[0].set_ylabel("weight-gradient norm at init")
        axes[1].axhline(TARGET, color="grey", ls="--", lw=0.8, label="target")
        axes[1].set_xlabel("epoch")
        axes[1].set_ylabel("validation accuracy (mean of seeds)")
        for ax in axes:
            ax.legend(fontsize=8)
            ax.grid(alpha=0.3)
        fig.tight_layout()
        return Measurements(numbers, [(f"A {DEPTH}-layer MLP: gradients per layer at initialization (left) and "
                                       "validation accuracy while training with SGD (right)", fig)], list(ctx.seeds))

    def judge(self, m) -> Verdict:
        t = m["epochs_to_target"]
        vs = {a: compare(t["relu"], t[a], higher_is_better=False) for a in ("tanh", "sigmoid")}
        ratio = {a: mean_std(v)[0] for a, v in m["first_over_last_layer"].items()}
        key = ", ".join(f"{a} {mean_std(t[a])[0]:.1f}" for a in ACTS) + \
            f" epochs to {m['target']} (> {m['epochs']}: never); first/last-layer gradient " + \
            ", ".join(f"{a} {ratio[a]:.2g}" for a in ACTS)
        vanish = [a for a in ACTS if ratio[a] < VANISHED]
        aside = f"; at init the gradients vanish towards the input for {', '.join(vanish) or 'none of them'}"
        if all(v == SUPPORTED for v in vs.values()):
            return Verdict(SUPPORTED, key, "ReLU reaches the target faster than both saturating activations" + aside)
        if CONTRADICTED in vs.values():
            faster = [a for a, v in vs.items() if v == CONTRADICTED]
            return Verdict(CONTRADICTED, key, f"{' and '.join(faster)} reached the target faster than ReLU" + aside)
        return Verdict(INCONCLUSIVE, key, "ReLU is not faster than every other activation beyond seed noise" + aside)
