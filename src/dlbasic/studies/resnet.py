"""Claim `resnet`: skip connections let deeper networks train better.

The note says deep networks suffer from over-fitting. He, Zhang, Ren & Sun 2016 (https://arxiv.org/abs/1512.03385)
show something else, the *degradation* problem: a deeper plain network has a higher *training* error than a
shallower one (Figure 1), an optimization difficulty, not over-fitting; with identity shortcuts the deep net
trains to a lower error (Figure 4, Table 2). Section 4.2 and Figure 6 show it on CIFAR-10 with nets of 6n + 2
layers (a 3x3 stem, three stages of n two-convolution blocks at 16-32-64 channels, identity shortcuts with
zero-padded channels, "option A"): plain-20 against plain-56 and ResNet-20 against ResNet-56, SGD with momentum
0.9, weight decay 1e-4, batch 128, learning rate 0.1 divided by 10 at 32k and 48k of 64k iterations.

Scaled down: the same nets at half the width (8-16-32 channels) and depths 8 and 32 (n = 1 and 5; the paper's
depth ratio is 56/20 = 2.8, ours 4, since a shallow net must be cheap and a deep one deep enough to degrade), on
28x28 MNIST-5k digits (or --data), with a stride-2 stem so the stages run at 14x14, 7x7 and 4x4 (the cost of one
deep run is what one CPU thread allows). Per seed three nets, each seed a unit with its own split,
initialization and data order: plain-8, plain-32 and ResNet-32. The paper's schedule, 4 epochs long (about 230
steps at batch 64 instead of 64k at 128, with the rate scaled to the batch as Goyal et al. 2017 do, 0.1 x 64/128):
SGD, momentum 0.9, weight decay 1e-4, rate 0.05 divided by 10 at 50 % and 75 % of the steps, so the last quarter
runs at 1/100 of it and the curves flatten before the end (a first design, 5 epochs at batch 128, cost about
twice the study's time budget, measured before any verdict). The training error is read at the end on the whole
training split in eval mode (the model as trained, not a running average over changing weights). Two decisive
comparisons (CLAIMS.md v0.3): degradation, plain-8 trains to a lower error than plain-32, and ResNet-32 trains
to a lower error than plain-32, each by more than half a point. Over-fitting, the note's explanation, is
measured beside: if the deeper plain net over-fit, its training error would be the lower and its test minus
training error the larger; the report gives both for each net.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from dlbasic.callbacks import Callback
from dlbasic.lab.registry import register_study
from dlbasic.lab.study import Measurements, Run, Study, Verdict, pm, seeds_of_every_arm
from dlbasic.lab.verdicts import ACCURACY, looks, part, verdict
from dlbasic.models._layers import conv_norm_act
from dlbasic.models.resnet import BasicBlock

DATA = "mnist5k"  # the source its runs train on, unless the lab names one (--data)

NETS = {"plain-8": (1, "none"), "plain-32": (5, "none"), "resnet-32": (5, "A")}  # blocks per stage, shortcut
WIDTHS = (8, 16, 32)  # He et al.'s CIFAR widths 16-32-64, halved
EPOCHS, BATCH, LR, MOMENTUM, WEIGHT_DECAY = 4, 64, 0.05, 0.9, 1e-4  # He et al.'s rate 0.1 at batch 128, scaled
MILESTONES = (0.5, 0.75)  # fractions of the run at which the learning rate is divided by 10 (He et al. 2016)
SCHEDULE = looks(3)  # paired seeds at each look
COST = {"plain-8": 4.0, "plain-32": 14.0, "resnet-32": 14.0}  # seconds of one training run (one thread, quick)


def cifar_net(n: int, shortcut: str, in_channels: int, num_classes: int, widths=WIDTHS) -> nn.Sequential:
    """He et al.'s CIFAR network of 6n + 2 layers: 3x3 stem (stride 2 here), three stages of n basic blocks
    (the first of stages 2 and 3 strides 2), global average pool, linear; `shortcut` "A" (identity, zero-padded
    channels) or "none" (plain). Convolutions He-initialized (fan-out), norms at unit scale."""
    layers: list[nn.Module] = [conv_norm_act(in_channels, widths[0], 3, 2, 1)]
    c = widths[0]
    for i, w in enumerate(widths):
        for j in range(n):
            layers.append(BasicBlock(c, w, 2 if i > 0 and j == 0 else 1, shortcut))
            c = w
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, num_classes)]
    net = nn.Sequential(*layers)
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
    return net


def depth(net: nn.Module) -> int:
    """Layers with weights on the longest path: convolutions (not 1x1 projections) and linear layers."""
    return sum(
        isinstance(m, nn.Linear) or (isinstance(m, nn.Conv2d) and m.kernel_size != (1, 1)) for m in net.modules()
    )


def step_lr(base: float, fraction: float, milestones: tuple[float, ...] = MILESTONES, gamma: float = 0.1) -> float:
    """The learning rate at `fraction` of the run: `base` times `gamma` for every milestone passed."""
    return base * gamma ** sum(fraction >= m for m in milestones)


class StepSchedule(Callback):
    """He et al.'s schedule: sets every parameter group's learning rate to `step_lr` before each step."""

    def __init__(self, base: float):
        self.base = base

    def on_batch_start(self, trainer) -> None:
        """Set the learning rate of this step from the fraction of the run done."""
        lr = step_lr(self.base, trainer.global_step / (trainer.epochs * trainer.steps_per_epoch))
        for group in trainer.optimizer.param_groups:
            group["lr"] = lr


def still_improving(curves: list[list[float]]) -> float:
    """How much the training error still fell over the last quarter of the run, mean over runs: the error of the
    epoch that ends the third quarter minus the last epoch's (> 0: still falling)."""
    drops = [c[max(0, round(0.75 * len(c)) - 1)] - c[-1] for c in curves]
    return float(np.mean(drops))


def train_net(ctx, net: str, seed: int) -> dict:
    """Train `net` (a key of `NETS`) on seed `seed`'s split with He et al.'s schedule: the running training error
    per epoch, the final training error (eval mode, whole training split), test error and parameter count."""
    from dlbasic.training.run import load_data

    cfg = ctx.config(data=ctx.data(DATA), seed=seed, epochs=ctx.profile.epochs(EPOCHS), batch_size=BATCH)
    data = load_data(cfg)
    torch.manual_seed(seed)
    n, shortcut = NETS[net]
    model = cifar_net(n, shortcut, data.train.in_channels, data.train.num_classes)
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    trainer = ctx.fit_model(cfg, data, model, opt, callbacks=[StepSchedule(LR)])
    return {
        "curve": [1 - h["train_accuracy"] for h in trainer.history],
        "train_error": 1 - trainer.evaluate(data.train)["accuracy"],
        "test_error": 1 - trainer.evaluate(data.test)["accuracy"],
        "params": sum(p.numel() for p in model.parameters()),
        "depth": depth(model),
    }


@register_study
class ResNetStudy(Study):
    """Claim `resnet`: Skip connections let deeper networks train better."""

    id = "resnet"
    trains_on = DATA
    section = "ResNet"
    claim = "Skip connections let deeper networks train better."
    note = (
        "문제: 파라미터 수가 많아지면 생기는 문제 - over-fit. "
        "레이어 수가 적은 모델이 에러의 satuation 값이 더 작다. "
        "skip connection: 차이만 학습하길 원함. 깊은 레이어로 더 좋은 성능을 낼 수 있게 됨."
    )
    literature = (
        "The note blames over-fitting. He et al. (arXiv 1512.03385) show a degradation problem instead: "
        "the deeper plain network has the higher *training* error (Figure 1), which over-fitting cannot "
        "explain; shortcuts remove it, and the deeper residual net trains to a lower error."
    )
    form = "difference"
    schedule = SCHEDULE
    method = (
        "He et al. 2016 section 4.2 scaled down: their CIFAR nets (3x3 stem, three stages of n two-convolution "
        f"blocks, batch norm) at {'-'.join(map(str, WIDTHS))} channels, with a stride-2 stem, on the `--data` "
        "source (default: 28x28 MNIST-5k): plain-8 and plain-32 (no shortcuts, n = 1 and 5) and ResNet-32 "
        "(identity shortcuts, zero-padded channels). Each seed a unit with its own split, initialization and "
        f"data order, shared by the three nets. SGD, momentum {MOMENTUM}, weight decay {WEIGHT_DECAY:g}, batch "
        f"{BATCH}, {EPOCHS} epochs, learning rate {LR} divided by 10 at 50 % and 75 % of the steps (the paper's "
        "schedule). Training error at the end on the whole training split (eval mode); test error beside."
    )
    rule = (
        f"Two parts, each a paired comparison of the final training error per seed, margin {ACCURACY} (half a "
        "point), lower is better: degradation, plain-8 vs plain-32 (supported if plain-8's is lower by more "
        "than the margin), and ResNet-32 vs plain-32 (supported if ResNet-32's is lower by more than the "
        "margin). Supported when both parts are, contradicted when either is the other way or equivalent; "
        f"seeds in looks of {' then '.join(map(str, SCHEDULE))} with the O'Brien-Fleming boundary. Reported, "
        "not judged: each net's test minus training error (over-fitting would show there) and how much the "
        "training error still fell over the last quarter."
    )

    def seed_runs(self, ctx, seeds) -> list[Run]:
        """One training run per net and seed."""
        return [
            Run(f"{net}-seed{s}", f"{__name__}:train_net", {"net": net, "seed": s}, COST[net])
            for s in seeds
            for net in NETS
        ]

    def collect(self, ctx, results: dict) -> Measurements:
        """The numbers and figure `method` describes, from the runs of `plan`."""
        seeds = seeds_of_every_arm(results, tuple(NETS))
        runs = {net: [results[f"{net}-seed{s}"] for s in seeds] for net in NETS}
        curves = {net: [r["curve"] for r in rs] for net, rs in runs.items()}
        train = {net: [r["train_error"] for r in rs] for net, rs in runs.items()}
        test = {net: [r["test_error"] for r in rs] for net, rs in runs.items()}
        numbers = {
            "epochs": ctx.profile.epochs(EPOCHS),
            "seeds": seeds,
            "train_error": train,
            "test_error": test,
            "gap": {net: float(np.mean(np.subtract(test[net], train[net]))) for net in NETS},
            "train_error_curve": curves,
            "still_improving": {net: still_improving(c) for net, c in curves.items()},
            "params": {net: rs[0]["params"] for net, rs in runs.items()},
            "depth": {net: rs[0]["depth"] for net, rs in runs.items()},
        }
        caption = (
            "Plain (dashed) and residual (solid) nets on the same schedule: running training error per epoch "
            "(left; the rate falls 10x at 50 % and 75 %), final training and test error (right)"
        )
        return Measurements(numbers, [(caption, _figure(numbers))], seeds)

    def judge(self, m) -> Verdict:
        """The verdict by `rule`, computed from the numbers `collect` returned."""
        tr, gap = m["train_error"], m["gap"]
        kw = {"form": "difference", "margin": ACCURACY, "lower_is_better": True, "schedule": self.schedule}
        parts = [
            part("training error, plain-8 vs plain-32 (degradation)", tr["plain-8"], tr["plain-32"], **kw),
            part("training error, resnet-32 vs plain-32", tr["resnet-32"], tr["plain-32"], **kw),
        ]
        key = (
            "final training error "
            + ", ".join(f"{net} {pm(tr[net])}" for net in NETS)
            + "; test minus training error (where over-fitting, the note's explanation, would show) "
            + ", ".join(f"{net} {gap[net]:+.3f}" for net in NETS)
        )
        return verdict(parts, key)


def _figure(m: dict):
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for i, net in enumerate(NETS):
        c = np.array(m["train_error_curve"][net])
        style = "--" if net.startswith("plain") else "-"
        axes[0].plot(range(1, c.shape[1] + 1), c.mean(0), style, color=f"C{i}", label=net)
    for f in MILESTONES:
        axes[0].axvline(f * m["epochs"], color="grey", lw=0.6, ls=":")
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("running training error (mean of seeds)")
    axes[0].legend(fontsize=8)
    x = np.arange(len(NETS))
    for off, what, label in ((-0.2, "train_error", "training error"), (0.2, "test_error", "test error")):
        v = [m[what][n] for n in NETS]
        axes[1].bar(x + off, [np.mean(a) for a in v], 0.4, label=label)
        for i, a in enumerate(v):
            axes[1].scatter(np.full(len(a), i + off), a, color="k", s=8, zorder=3)
    axes[1].set_xticks(x, list(NETS))
    axes[1].set_ylabel("error (bars: mean; dots: seeds)")
    axes[1].legend(fontsize=8)
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
