"""Claim `noise`: random noise on the inputs or the weights during training makes the model robust.

The experiment scaled down: Bishop, "Training with Noise is Equivalent to Tikhonov Regularization" (Neural
Computation 7, 1995) trains with Gaussian input noise of one level and asks how the trained function
behaves away from it; Graves, "Practical Variational Inference for Neural Networks" (NIPS 2011) does the same
with Gaussian weight noise. Robustness is judged at test noise levels *different* from the training level
(half, 1.5, 2 and 3 times it), averaged over those levels as robustness benchmarks average over severities
(Hendrycks & Dietterich, "Benchmarking Neural Network Robustness to Common Corruptions", ICLR 2019), so a
model that only learned the one noise level it saw does not pass; the accuracy on clean test images, the
price of the noise, is reported with its own paired test. (A first version averaged two levels, half and
double: the plain model's accuracy at double the input noise scatters from 0.39 to 0.60 between seeds and
decided that average alone; four severities, as the cited benchmark's five, spread that weight.)

The decisive comparisons (CLAIMS.md v0.3), one per kind of noise, each paired by seed with margin 0.005:
robust accuracy of the input-noise-trained model against the plain one under input noise, and of the
weight-noise-trained model against the plain one under weight noise. The claim ("inputs or weights") is
supported when both are. Clean accuracy is reported, not judged.

Scaling: an MLP on 1,000 MNIST digits (or --data) for 15 epochs. The plain model's own robustness varies a
lot between seeds (its accuracy at twice the training input noise ranges from 0.39 to 0.60), so the seeds
come in looks of 6 and 12. The three trainings of a seed (plain, input noise, weight noise) share split,
subset, initialization and data order, and every model of a seed is tested with the same noise draws.

Runs: one per way of training and seed (the training, then its accuracy curves under input and weight
noise).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from torch import nn

from dlbasic.data import ImageDataset
from dlbasic.lab.registry import register_study
from dlbasic.lab.study import Measurements, Run, Study, Verdict, mean_std, unit_seeds
from dlbasic.lab.verdicts import ACCURACY, looks, part, verdict
from dlbasic.training.run import load_data

DATA = "mnist5k"  # the source its runs train on, unless the lab names one (--data)

EPOCHS, SUBSET = 15, 1000
SCHEDULE = looks(6)  # paired seeds at each look
TRAIN_SIGMA = {"input": 0.3, "weight": 0.03}  # Gaussian noise while training: pixels in [0, 1], every weight
CURVE = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0)  # test noise levels as multiples of the training level
JUDGED = (0.5, 1.5, 2.0, 3.0)  # every noisy level but the training one: robustness away from what training saw
DRAWS = 3  # noise draws averaged per test condition
TRAININGS = {
    "plain": {},
    "input noise": {"input_noise": TRAIN_SIGMA["input"]},
    "weight noise": {"weight_noise": TRAIN_SIGMA["weight"]},
}
KINDS = {"input": ("noisy_inputs", "input noise"), "weight": ("noisy_weights", "weight noise")}
CURVES = "dlbasic.studies.noise:noise_curves"
COSTS = {"plain": 0.7, "input noise": 1.0, "weight noise": 1.0}  # seconds of a run (one thread, quick profile)


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


def run_name(training: str, seed: int) -> str:
    """The name of the run that trains `training` (a key of TRAININGS) with `seed`."""
    return f"{training} seed {seed}"


def noise_curves(ctx, options: dict, seed: int) -> dict[str, dict[str, float]]:
    """Train the MLP with `options` (the noise settings) and `seed`; its test accuracy at each CURVE level of
    input noise and of weight noise: {"inputs": {level: accuracy}, "weights": {level: accuracy}}."""
    cfg = ctx.config(
        model="mlp",
        data=ctx.data(DATA),
        epochs=ctx.profile.epochs(EPOCHS),
        seed=seed,
        train_subset=ctx.profile.size(SUBSET),
        **options,
    )
    s = ctx.train(cfg)
    model, test = ctx.model(cfg, s), load_data(cfg).test
    keys = [f"{m:g}" for m in CURVE]
    inputs = {k: noisy_input_accuracy(model, test, m * TRAIN_SIGMA["input"], 1000 + seed) for m, k in zip(CURVE, keys)}
    weights = {
        k: noisy_weight_accuracy(model, test, m * TRAIN_SIGMA["weight"], 2000 + seed) for m, k in zip(CURVE, keys)
    }
    return {"inputs": inputs, "weights": weights}


def robust_accuracy(curve: dict[str, list[float]], levels: tuple[float, ...] = JUDGED) -> list[float]:
    """Per seed, the mean accuracy over the test noise `levels` (multiples of the training level)."""
    rows = [curve[f"{m:g}"] for m in levels]
    return [sum(values) / len(values) for values in zip(*rows)]


@register_study
class Noise(Study):
    """Claim `noise`: Random noise on inputs or weights makes the model robust."""

    id = "noise"
    trains_on = DATA
    section = "Regularization"
    claim = "Random noise on inputs or weights makes the model robust."
    note = "입력 데이터나 weights에 random noise를 집어 넣음."
    literature = (
        "Bishop, 'Training with Noise is Equivalent to Tikhonov Regularization' (1995); Graves, "
        "'Practical Variational Inference for Neural Networks' (NIPS 2011) for weight noise; Goodfellow et "
        "al., Deep Learning, section 7.5."
    )
    method = (
        f"An MLP (784-256-128-10, Adam) is trained on {SUBSET} MNIST images (or --data) for {EPOCHS} epochs "
        f"plainly, with Gaussian input noise (sigma {TRAIN_SIGMA['input']} in [0, 1] pixel units) and with "
        f"Gaussian weight noise (sigma {TRAIN_SIGMA['weight']}, gradients taken at the noisy weights), the "
        "three sharing each seed's split, subset, initialization and data order. Each model is tested on its "
        f"seed's test split with pixel noise and with noise on all its parameters, at {CURVE} times the "
        f"training sigma ({DRAWS} draws each, the same draws for every model of a seed)."
    )
    form = "difference"
    schedule = SCHEDULE
    rule = (
        f"Robust accuracy = mean test accuracy at {' and '.join(f'{m:g}' for m in JUDGED)} times the training "
        "sigma (levels the training did not see). Difference, two parts, paired by seed, margin 0.005 each: "
        "input-noise training vs plain under input noise, and weight-noise training vs plain under weight "
        "noise; a part is supported if the interval of the difference lies above +0.005, contradicted if it "
        "lies below -0.005 or inside +-0.005 (equivalent). Supported when both parts are, contradicted when "
        f"either is. Seeds in looks of {' then '.join(map(str, SCHEDULE))}, with the O'Brien-Fleming boundary "
        "of the staged interval. Clean test accuracy is reported, not judged (the claim is robustness)."
    )

    def seed_runs(self, ctx, seeds) -> list[Run]:
        """One run per way of training and seed: the training and its accuracy under noise."""
        return [
            Run(run_name(name, seed), CURVES, {"options": options, "seed": seed}, COSTS[name])
            for name, options in TRAININGS.items()
            for seed in seeds
        ]

    def collect(self, ctx, results) -> Measurements:
        """The accuracy curves by way of training (one value per seed in `results` at each level), and the
        figure."""
        seeds = [s for s in unit_seeds(ctx, SCHEDULE[-1]) if all(run_name(t, s) in results for t in TRAININGS)]
        keys = [f"{m:g}" for m in CURVE]
        inputs, weights = (
            {name: {k: [results[run_name(name, seed)][part][k] for seed in seeds] for k in keys} for name in TRAININGS}
            for part in ("inputs", "weights")
        )
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
        for ax, table, kind in ((axes[0], inputs, "input"), (axes[1], weights, "weight")):
            for name in TRAININGS:
                ax.plot(
                    [m * TRAIN_SIGMA[kind] for m in CURVE],
                    [mean_std(v)[0] for v in table[name].values()],
                    marker="o",
                    label=f"trained: {name}",
                )
            ax.axvline(TRAIN_SIGMA[kind], color="black", ls=":", lw=1, label="training sigma")
            for m in JUDGED:
                ax.axvline(m * TRAIN_SIGMA[kind], color="gray", ls="--", lw=0.8)
            ax.set_xlabel(
                f"test noise sigma on {'pixels' if kind == 'input' else 'every weight'} (dashed: judged levels)"
            )
            ax.set_ylabel("test accuracy")
            ax.legend(fontsize=8)
            ax.grid(alpha=0.3)
        fig.tight_layout()
        return Measurements(
            {"train_sigma": TRAIN_SIGMA, "noisy_inputs": inputs, "noisy_weights": weights},
            [
                (
                    "Test accuracy under input noise (left) and weight noise (right) for each way of training "
                    "(mean over seeds)",
                    fig,
                )
            ],
            seeds,
        )

    def judge(self, m) -> Verdict:
        """The verdict by `rule`, computed from the numbers `collect` returned."""
        parts, keys = [], []
        mean = lambda v: mean_std(v)[0]  # noqa: E731
        for kind, (table, trained) in KINDS.items():
            t = m[table]
            noisy, plain = robust_accuracy(t[trained]), robust_accuracy(t["plain"])
            parts.append(
                part(
                    f"accuracy under {kind} noise, {trained} training vs plain",
                    noisy,
                    plain,
                    form="difference",
                    margin=ACCURACY,
                    schedule=self.schedule,
                )
            )
            keys.append(
                f"{kind} noise at {'/'.join(f'{x:g}' for x in JUDGED)}x training sigma: {mean(noisy):.3f} "
                f"({trained} training) vs {mean(plain):.3f} (plain, diff {parts[-1].comparison.mean:+.3f}); clean "
                f"{mean(t[trained]['0']):.3f} vs {mean(t['plain']['0']):.3f}"
            )
        key = "; ".join(keys) + f" ({parts[0].comparison.n} seeds)"
        return verdict(
            parts,
            key,
            {
                "supported": "both kinds of noise training made the model more robust, by more than half a point, "
                "at noise levels other than the training one",
                "contradicted": "a kind of noise training did not make the model more robust by half a point at "
                "noise levels other than the training one",
            },
        )
