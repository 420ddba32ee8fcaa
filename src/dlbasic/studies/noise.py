"""Claim `noise`: random noise on the inputs or the weights during training makes the model robust."""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from torch import nn

from dlbasic.data import ImageDataset
from dlbasic.studies.base import CONTRADICTED, INCONCLUSIVE, SUPPORTED, Measurements, Study, Verdict, compare, pm
from dlbasic.studies.registry import register_study
from dlbasic.training.run import load_data

EPOCHS, SUBSET = 15, 1000
TRAIN_INPUT_SIGMA, TRAIN_WEIGHT_SIGMA = 0.3, 0.03
INPUT_SIGMAS = (0.0, 0.2, 0.4, 0.6)  # test-time Gaussian noise on pixels in [0, 1]
WEIGHT_SIGMAS = (0.0, 0.02, 0.04, 0.08)  # test-time Gaussian noise added to every parameter
JUDGED_INPUT, JUDGED_WEIGHT = "0.4", "0.04"
DRAWS = 3  # noise draws averaged per test condition
TRAININGS = {
    "plain": {},
    "input noise": {"input_noise": TRAIN_INPUT_SIGMA},
    "weight noise": {"weight_noise": TRAIN_WEIGHT_SIGMA},
}


@torch.no_grad()
def noisy_input_accuracy(model: nn.Module, data: ImageDataset, sigma: float, seed: int) -> float:
    """Accuracy on test images plus N(0, sigma^2) pixel noise (clipped to [0, 1]), mean over DRAWS draws."""
    g = torch.Generator().manual_seed(seed)
    accs = []
    for _ in range(DRAWS):
        x = (data.images + sigma * torch.randn(data.images.shape, generator=g)).clamp(0, 1)
        accs.append(float((model(data.normalize(x)).argmax(1) == data.labels).double().mean()))
    return sum(accs) / len(accs)


@torch.no_grad()
def noisy_weight_accuracy(model: nn.Module, data: ImageDataset, sigma: float, seed: int) -> float:
    """Accuracy with N(0, sigma^2) added to every parameter, mean over DRAWS draws (the model is restored)."""
    g = torch.Generator().manual_seed(seed)
    clean = [p.detach().clone() for p in model.parameters()]
    x = data.normalize(data.images)
    accs = []
    for _ in range(DRAWS):
        for p, c in zip(model.parameters(), clean):
            p.copy_(c + sigma * torch.randn(c.shape, generator=g))
        accs.append(float((model(x).argmax(1) == data.labels).double().mean()))
    for p, c in zip(model.parameters(), clean):
        p.copy_(c)
    return sum(accs) / len(accs)


@register_study
class Noise(Study):
    id = "noise"
    section = "Regularization"
    claim = "Random noise on inputs or weights makes the model robust."
    note = "입력 데이터나 weights에 random noise를 집어 넣음."
    literature = (
        "Bishop, 'Training with Noise is Equivalent to Tikhonov Regularization' (1995); Graves, "
        "'Practical Variational Inference for Neural Networks' (NIPS 2011) for weight noise; Goodfellow et "
        "al., Deep Learning, section 7.5."
    )
    method = (
        f"An MLP (784-256-128-10, Adam) is trained on {SUBSET} MNIST images for {EPOCHS} epochs plainly, with "
        f"Gaussian input noise (sigma {TRAIN_INPUT_SIGMA} in [0, 1] pixel units) and with Gaussian weight "
        f"noise (sigma {TRAIN_WEIGHT_SIGMA}, gradients taken at the noisy weights), for each seed. Each model "
        f"is tested on the 1000 test images with pixel noise sigma in {INPUT_SIGMAS} and with noise sigma in "
        f"{WEIGHT_SIGMAS} added to all its parameters ({DRAWS} draws each)."
    )
    rule = (
        f"Two comparisons with the lab's two-sample rule: input-noise training vs plain on test inputs with "
        f"pixel noise {JUDGED_INPUT}, and weight-noise training vs plain with weight noise {JUDGED_WEIGHT}. "
        "Supported if both favour noise training beyond the larger seed std; contradicted if either favours "
        "plain training beyond it; inconclusive otherwise."
    )

    def measure(self, ctx) -> Measurements:
        inputs = {name: {f"{s:g}": [] for s in INPUT_SIGMAS} for name in TRAININGS}
        weights = {name: {f"{s:g}": [] for s in WEIGHT_SIGMAS} for name in TRAININGS}
        for name, options in TRAININGS.items():
            for seed in ctx.seeds:
                cfg = ctx.config(
                    model="mlp",
                    epochs=ctx.profile.epochs(EPOCHS),
                    seed=seed,
                    train_subset=ctx.profile.size(SUBSET),
                    **options,
                )
                s = ctx.train(cfg)
                model, test = ctx.model(cfg, s), load_data(cfg).test
                for sigma in INPUT_SIGMAS:
                    inputs[name][f"{sigma:g}"].append(noisy_input_accuracy(model, test, sigma, 1000 + seed))
                for sigma in WEIGHT_SIGMAS:
                    weights[name][f"{sigma:g}"].append(noisy_weight_accuracy(model, test, sigma, 2000 + seed))
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
        for ax, table, sigmas, xlabel in (
            (axes[0], inputs, INPUT_SIGMAS, "noise sigma on test pixels"),
            (axes[1], weights, WEIGHT_SIGMAS, "noise sigma on every weight"),
        ):
            for name in TRAININGS:
                means = [sum(v) / len(v) for v in table[name].values()]
                ax.plot(sigmas, means, marker="o", label=f"trained: {name}")
            ax.set_xlabel(xlabel)
            ax.set_ylabel("test accuracy")
            ax.legend(fontsize=8)
            ax.grid(alpha=0.3)
        fig.tight_layout()
        return Measurements(
            {"noisy_inputs": inputs, "noisy_weights": weights},
            [
                (
                    "Test accuracy under input noise (left) and weight noise (right) for each way of training "
                    "(mean over seeds)",
                    fig,
                )
            ],
            list(ctx.seeds),
        )

    def judge(self, m) -> Verdict:
        inp, wts = m["noisy_inputs"], m["noisy_weights"]
        by_input = compare(inp["input noise"][JUDGED_INPUT], inp["plain"][JUDGED_INPUT])
        by_weight = compare(wts["weight noise"][JUDGED_WEIGHT], wts["plain"][JUDGED_WEIGHT])
        key = (
            f"pixel noise {JUDGED_INPUT}: {pm(inp['input noise'][JUDGED_INPUT])} (input-noise training) vs "
            f"{pm(inp['plain'][JUDGED_INPUT])} (plain); weight noise {JUDGED_WEIGHT}: "
            f"{pm(wts['weight noise'][JUDGED_WEIGHT])} vs {pm(wts['plain'][JUDGED_WEIGHT])}"
        )
        if CONTRADICTED in (by_input, by_weight):
            return Verdict(
                CONTRADICTED,
                key,
                f"noise training made the model less robust (inputs: {by_input}, weights: {by_weight})",
            )
        if by_input == by_weight == SUPPORTED:
            return Verdict(SUPPORTED, key, "both kinds of noise training made the model more robust to that noise")
        return Verdict(INCONCLUSIVE, key, f"inputs: {by_input}, weights: {by_weight}; not both beyond seed noise")
