"""Claim `vgg-3x3`: two 3x3 convs see what one 5x5 sees with fewer parameters (and the result is the same).

Simonyan & Zisserman 2015 (https://arxiv.org/abs/1409.1556), section 2.3: a stack of two 3x3 convolutions
(stride 1) has a 5x5 receptive field, three have 7x7; with C channels in and out the stacks cost 2 * 9 C^2 =
18 C^2 and 27 C^2 weights instead of 25 C^2 and 49 C^2, and add non-linearities. Section 4.1 tests it: net B
against a shallower net with each pair of 3x3 convolutions replaced by one 5x5 (the same receptive field),
and the 3x3 net errs less.

The parameter half is exact: the fields are computed twice (the closed-form chain r += (k - 1) j and
`summarize` on real layers) and real `nn.Conv2d` weights are counted. The "same result" half is scaled down
from section 4.1: two equal-field networks on the 8x8 digits (or --data), one with 5x5 blocks, one with each
5x5 replaced by two 3x3, trained with Adam for 8 epochs (training accuracy about 99 %). Every convolution is
He-initialized: PyTorch's default init scales the signal by about 1/sqrt(6) per ReLU layer and so handicaps
the deeper stack (measured: 2.3 points lower test accuracy for the 3x3 net with it, 0.7 with He init), which
VGG avoided by initializing its deep nets from shallower ones. It is a non-inferiority test (Schuirmann 1987,
as in clinical trials): the note says the results are the same, so the 3x3 net must not test worse than the
5x5 net by more than a margin fixed in advance. Accuracy is measured on the unit's validation and test splits
together: nothing is chosen on the validation split here, so both are unseen, and the larger set narrows the
noise of each paired difference (it comes mostly from the images the two nets disagree on).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from dlbasic.lab.registry import register_study
from dlbasic.lab.stats import SMALL_EFFECT, decide
from dlbasic.lab.study import CONTRADICTED, Measurements, Run, Study, Verdict, pm
from dlbasic.nn.conv import receptive_field
from dlbasic.nn.summary import summarize

DATA = "digits"  # the source its runs train on, unless the lab names one (--data)

CASES = ((2, 5), (3, 7))  # (number of 3x3 layers, the single kernel with the same field)
WIDTHS = (16, 64, 256, 512)  # channels in and out for the parameter counts
NET_WIDTH = 16  # channels of the trained networks
EPOCHS, BATCH, LR = 8, 32, 1e-3  # Adam
UNITS = 3  # independent paired units per profile seed (own split, initialization and data order)
KINDS = ("3x3", "5x5")
COST = {"fields": 0.2, "3x3": 1.4, "5x5": 1.2}  # seconds of one run (one thread, quick profile)


def stack(n3: int, c: int, k: int | None = None) -> nn.Sequential:
    """n3 x (3x3 conv + ReLU) at width c, or one k x k conv + ReLU when `k` is given; 'same' padding."""
    if k is not None:
        return nn.Sequential(nn.Conv2d(c, c, k, padding=k // 2), nn.ReLU())
    return nn.Sequential(*[m for _ in range(n3) for m in (nn.Conv2d(c, c, 3, padding=1), nn.ReLU())])


def weights(module: nn.Module) -> int:
    """Convolution weights without biases (the closed forms count kernels)."""
    return sum(m.weight.numel() for m in module.modules() if isinstance(m, nn.Conv2d))


def equal_field_net(kind: str, in_channels: int, num_classes: int, width: int = NET_WIDTH) -> nn.Module:
    """3x3 stem, block, 2x2 max pool, block, 2x2 max pool, 2x2 average pool, linear (VGG's conv-pool stages and
    a linear head on the flattened maps); block = two 3x3 ("3x3") or one 5x5 ("5x5"), each conv He-initialized
    (fan-in, ReLU gain) with zero bias."""

    def block() -> nn.Module:
        return stack(2, width) if kind == "3x3" else stack(0, width, 5)

    net = nn.Sequential(
        nn.Conv2d(in_channels, width, 3, padding=1),
        nn.ReLU(),
        block(),
        nn.MaxPool2d(2),
        block(),
        nn.MaxPool2d(2),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Linear(4 * width, num_classes),
    )
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)
    return net


def train_equal_field(ctx, kind: str, seed: int) -> dict[str, float]:
    """Train `equal_field_net(kind)` on the lab's data (split, initialization and data order from `seed`) through
    the library's Trainer; test and final training accuracy, and size."""
    from dlbasic.training.device import resolve_device
    from dlbasic.training.run import load_data
    from dlbasic.training.trainer import Trainer

    epochs = ctx.profile.epochs(EPOCHS)
    cfg = ctx.config(data=ctx.data(DATA), seed=seed, epochs=epochs, batch_size=BATCH)
    data = load_data(cfg)
    torch.manual_seed(seed)
    model = equal_field_net(kind, data.train.in_channels, data.train.num_classes)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    trainer = Trainer(
        model,
        opt,
        data.train,
        data.val,
        epochs=epochs,
        batch_size=BATCH,
        seed=seed,
        progress=False,
        device=resolve_device(cfg.device),
        precision=cfg.precision,
        channels_last=cfg.channels_last,
        stop_on_divergence=False,
    )
    history = trainer.fit()
    held_out = {split: trainer.evaluate(d) for split, d in (("val", data.val), ("test", data.test))}
    n = {"val": len(data.val), "test": len(data.test)}
    accuracy = sum(held_out[k]["accuracy"] * n[k] for k in n) / sum(n.values())
    return {
        "held_out_accuracy": accuracy,
        "test_accuracy": held_out["test"]["accuracy"],
        "train_accuracy": history[-1]["train_accuracy"],
        "held_out_images": sum(n.values()),
        "params": sum(p.numel() for p in model.parameters()),
    }


def units(ctx) -> list[int]:
    """The paired units' seeds: `UNITS` per profile seed."""
    return [1000 * s + u for s in ctx.seeds for u in range(UNITS)]


def fields_and_weights(ctx) -> list[dict]:
    """Per case of `CASES`: the receptive fields of the stack and the single kernel (closed form and
    `summarize`) and their weights at each of `WIDTHS`."""
    cases = []
    for n3, k in CASES:
        fields = {
            "stack_formula": receptive_field([(3, 1)] * n3)[-1][0],
            "single_formula": k,
            "stack_summary": summarize(stack(n3, 1), 32, 1).receptive_field,
            "single_summary": summarize(stack(0, 1, k), 32, 1).receptive_field,
        }
        params = {str(c): {"stack": weights(stack(n3, c)), "single": weights(stack(0, c, k))} for c in WIDTHS}
        cases.append({"layers": n3, "kernel": k, "fields": fields, "weights": params})
    return cases


@register_study
class Vgg3x3(Study):
    """Claim `vgg-3x3`: Two 3x3 convs see what one 5x5 sees with fewer parameters."""

    id = "vgg-3x3"
    trains_on = DATA
    section = "VGGNet"
    claim = "Two 3x3 convs see what one 5x5 sees with fewer parameters."
    note = "3x3 2개를 사용한 것과 5x5 1개를 사용한 것이 결과가 같으나, parameter의 수가 적어진다."
    MARGIN = 0.01  # one accuracy point: about the binomial standard error of one test split of the digits (359
    # images at ~97 %: 0.9 points), so a smaller loss could not be seen on one split anyway; fixed before any run
    method = (
        "Receptive fields of two (three) stride-1 3x3 convolutions and of one 5x5 (7x7), by the closed-form "
        "chain and by dlbasic.nn.summarize on real layers; their weights at widths 16..512 (C in, C out). "
        f"Then Simonyan & Zisserman's section 4.1 scaled down: two equal-field networks ({NET_WIDTH} channels: "
        "3x3 stem, block, pool, block, pool, linear; block = one 5x5 or two 3x3; He init) on the `--data` "
        f"source (default: 8x8 digits), Adam lr {LR:g}, batch {BATCH}, {EPOCHS} epochs; per profile seed "
        f"{UNITS} paired units (own split, initialization seed and data order, shared by both networks); "
        "held-out accuracy on the unit's validation and test splits together (nothing is chosen on the "
        "validation split, so both are unseen: 502 images on the digits instead of 359)."
    )
    rule = (
        "Contradicted if a 3x3 stack's receptive field differs from its single kernel's or it does not have "
        "fewer weights at every width. Otherwise a non-inferiority test of the held-out accuracies, paired over "
        f"the units (stats.decide, two-sided 5 %, i.e. 2.5 % one-sided, on d = acc(3x3) - acc(5x5) + {MARGIN}): "
        f"supported if the 95 % CI of acc(3x3) - acc(5x5) lies above -{MARGIN} (the 3x3 net is not worse by "
        f"more than the margin); contradicted if it lies below -{MARGIN} (worse by more than the margin: not "
        "the same result); inconclusive otherwise."
    )

    def plan(self, ctx, results: dict) -> list[Run]:
        """The receptive fields and weights (one run), and one training run per (network, unit)."""
        runs = [Run("fields", f"{__name__}:fields_and_weights", {}, COST["fields"], trains=False)]
        runs += [
            Run(f"{kind}-unit{u}", f"{__name__}:train_equal_field", {"kind": kind, "seed": u}, COST[kind])
            for kind in KINDS
            for u in units(ctx)
        ]
        return [r for r in runs if r.name not in results]

    def collect(self, ctx, results: dict) -> Measurements:
        """The numbers and figure `method` describes, from the runs of `plan`."""
        runs = {kind: [results[f"{kind}-unit{u}"] for u in units(ctx)] for kind in KINDS}
        numbers = {
            "cases": results["fields"],
            "epochs": ctx.profile.epochs(EPOCHS),
            "units": UNITS,
            "margin": self.MARGIN,
            "held_out_images": runs["3x3"][0]["held_out_images"],
            "held_out_accuracy": {kind: [r["held_out_accuracy"] for r in rs] for kind, rs in runs.items()},
            "test_accuracy": {kind: [r["test_accuracy"] for r in rs] for kind, rs in runs.items()},
            "train_accuracy": {kind: [r["train_accuracy"] for r in rs] for kind, rs in runs.items()},
            "net_params": {kind: rs[0]["params"] for kind, rs in runs.items()},
        }
        return Measurements(
            numbers,
            [
                (
                    "Left: weights of a 3x3 stack and the single kernel with the same field. "
                    "Right: held-out accuracy of the 3x3-stack net minus the 5x5 net per unit, and "
                    "the non-inferiority margin",
                    _figure(numbers),
                )
            ],
            list(ctx.seeds),
        )

    def judge(self, m) -> Verdict:
        """The verdict by `rule`, computed from the numbers `measure` returned."""
        same_field = all(len(set(c["fields"].values())) == 1 for c in m["cases"])
        fewer = all(w["stack"] < w["single"] for c in m["cases"] for w in c["weights"].values())
        acc = m["held_out_accuracy"]
        ratios = ", ".join(
            f"{c['layers']}x3x3 vs {c['kernel']}x{c['kernel']}: {c['layers'] * 9}/{c['kernel'] ** 2} of the weights"
            for c in m["cases"]
        )
        diff = np.subtract(acc["3x3"], acc["5x5"])
        key = (
            f"{ratios}; held-out accuracy 3x3 {pm(acc['3x3'])} vs 5x5 {pm(acc['5x5'])} "
            f"(difference {diff.mean():+.4f}, margin -{self.MARGIN})"
        )
        if not (same_field and fewer):
            return Verdict(CONTRADICTED, key, "a stack's receptive field differs or it is not smaller")
        # non-inferiority: shifting the 3x3 arm by the margin turns "CI above -margin" into decide's "CI above 0"
        d = decide(np.add(acc["3x3"], self.MARGIN), acc["5x5"])
        test = (
            f"non-inferiority, d = acc(3x3) - acc(5x5) + {self.MARGIN} (so the CI below is shifted by "
            f"+{self.MARGIN}): {d}"
        )
        lo, hi = d.ci[0] - self.MARGIN, d.ci[1] - self.MARGIN  # the CI of acc(3x3) - acc(5x5) itself
        why = (
            f"the mean difference {diff.mean():+.4f} sits at the margin -{self.MARGIN}"
            if abs(d.effect_size) < SMALL_EFFECT
            else f"under-powered: the CI is {hi - lo:.4f} wide, too wide to clear -{self.MARGIN} with {d.n} units"
        )
        reasons = {
            "supported": "same receptive field, fewer parameters, and the 3x3 network tests no worse than the "
            f"5x5 one by more than {self.MARGIN} (95 % CI of the difference {lo:+.4f} to "
            f"{hi:+.4f})",
            "contradicted": "same receptive field and fewer parameters, but the 3x3 network tests worse than "
            f"the 5x5 one by more than {self.MARGIN} (95 % CI of the difference {lo:+.4f} to "
            f"{hi:+.4f}): not the same result",
            "inconclusive": "same receptive field and fewer parameters; whether the 3x3 network tests as well "
            f"(within {self.MARGIN}) is not decided: the 95 % CI of the difference, {lo:+.4f} "
            f"to {hi:+.4f}, contains -{self.MARGIN}; {why}",
        }
        return Verdict(d.verdict, key, reasons[d.verdict], test)


def _figure(m: dict):
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.5))
    for case, color in zip(m["cases"], ("C0", "C1")):
        n3, k = case["layers"], case["kernel"]
        axes[0].plot(
            WIDTHS, [case["weights"][str(c)]["single"] for c in WIDTHS], "--", color=color, label=f"one {k}x{k}"
        )
        axes[0].plot(
            WIDTHS,
            [case["weights"][str(c)]["stack"] for c in WIDTHS],
            "-o",
            color=color,
            label=f"{n3} x 3x3 (same {k}x{k} field)",
        )
    axes[0].set_xscale("log")
    axes[0].set_yscale("log")
    axes[0].set_xticks(WIDTHS, [str(c) for c in WIDTHS])
    axes[0].xaxis.set_minor_locator(plt.NullLocator())
    axes[0].set_xlabel("channels in = channels out")
    axes[0].set_ylabel("weights")
    axes[0].legend(fontsize=7)
    diff = np.subtract(m["held_out_accuracy"]["3x3"], m["held_out_accuracy"]["5x5"])
    axes[1].scatter(range(1, len(diff) + 1), diff, color="C0", zorder=3, label="3x3 net - 5x5 net, per unit")
    axes[1].axhline(diff.mean(), color="C0", lw=1, label="mean")
    axes[1].axhline(0, color="grey", lw=0.8)
    axes[1].axhline(-m["margin"], color="C3", ls="--", lw=1, label=f"margin -{m['margin']}")
    axes[1].set_xlabel("unit")
    axes[1].set_ylabel("held-out accuracy difference")
    p = m["net_params"]
    axes[1].set_title(f"3x3 net {p['3x3']:,} vs 5x5 net {p['5x5']:,} parameters", fontsize=9)
    axes[1].legend(fontsize=7)
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
