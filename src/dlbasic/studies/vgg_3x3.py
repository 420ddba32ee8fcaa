"""Claim `vgg-3x3`: two 3x3 convs see what one 5x5 sees with fewer parameters (and the result is the same).

Simonyan & Zisserman 2015 (https://arxiv.org/abs/1409.1556), section 2.3: a stack of two 3x3 convolutions
(stride 1) has a 5x5 receptive field, three have 7x7; with C channels in and out the stacks cost 2 * 9 C^2 =
18 C^2 and 27 C^2 weights instead of 25 C^2 and 49 C^2, and add non-linearities. Section 4.1 tests it: net B
against a shallower net with each pair of 3x3 convolutions replaced by one 5x5 (the same receptive field),
and the 3x3 net errs less.

The structural half is exact: the fields are computed twice (the closed-form chain r += (k - 1) j and
`summarize` on real layers), real `nn.Conv2d` weights are counted, and so are the two trained networks'
parameters. The "same result" half is section 4.1 scaled down to 28x28 MNIST digits (or --data), where a 5x5
kernel is no longer a large part of the image (on 8x8 inputs it covers most of it, which favours the single
kernel): two equal-field VGG-style networks, a 3x3 stem, 2x2 max pool, block at 14x14, pool, block at 7x7,
pool, linear; block = two 3x3 convolutions ("3x3") or one 5x5 ("5x5"), every convolution He-initialized
(PyTorch's default init scales the signal by about 1/sqrt(6) per ReLU layer and so handicaps the deeper stack,
which VGG avoided by initializing its deep nets from shallower ones). Both train with Adam for the same epochs
on the same split, initialization seed and data order. It is a non-inferiority comparison (Schuirmann 1987,
as in clinical trials; CLAIMS.md v0.3): the note says the results are the same and the 3x3 stack costs less,
so the 3x3 net must not test worse than the 5x5 net by the margin, half an accuracy point, fixed in advance.
Each seed is a unit with its own split: accuracy is measured on that unit's validation and test splits
together (nothing is chosen on the validation split, so both are unseen; 1,400 images on MNIST-5k instead of
1,000, which narrows each paired difference). Seeds come in three looks, 4, 8 then 16 (O'Brien-Fleming).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from dlbasic.lab.registry import register_study
from dlbasic.lab.study import Measurements, Run, Study, Verdict, not_run, pm, seeds_of_every_arm
from dlbasic.lab.verdicts import ACCURACY, check, looks, part, verdict
from dlbasic.nn.conv import receptive_field
from dlbasic.nn.summary import summarize

DATA = "mnist5k"  # the source its runs train on, unless the lab names one (--data)

CASES = ((2, 5), (3, 7))  # (number of 3x3 layers, the single kernel with the same field)
WIDTHS = (16, 64, 256, 512)  # channels in and out for the parameter counts
NET_WIDTH = 16  # channels of the trained networks
EPOCHS, BATCH, LR = 8, 32, 1e-3  # Adam
KINDS = ("3x3", "5x5")
SCHEDULE = looks(4)  # paired seeds at each look
COST = {"fields": 0.2, "3x3": 10.0, "5x5": 10.0}  # seconds of one run (one thread, quick profile)


def stack(n3: int, c: int, k: int | None = None) -> nn.Sequential:
    """n3 x (3x3 conv + ReLU) at width c, or one k x k conv + ReLU when `k` is given; 'same' padding."""
    if k is not None:
        return nn.Sequential(nn.Conv2d(c, c, k, padding=k // 2), nn.ReLU())
    return nn.Sequential(*[m for _ in range(n3) for m in (nn.Conv2d(c, c, 3, padding=1), nn.ReLU())])


def weights(module: nn.Module) -> int:
    """Convolution weights without biases (the closed forms count kernels)."""
    return sum(m.weight.numel() for m in module.modules() if isinstance(m, nn.Conv2d))


def equal_field_net(kind: str, in_channels: int, num_classes: int, width: int = NET_WIDTH) -> nn.Module:
    """3x3 stem, 2x2 max pool, block, pool, block, pool, linear (VGG's conv-pool stages; an average pool to
    3x3 before the linear head keeps any input size); block = two 3x3 ("3x3") or one 5x5 ("5x5"), each conv
    He-initialized (fan-in, ReLU gain) with zero bias."""

    def block() -> nn.Module:
        return stack(2, width) if kind == "3x3" else stack(0, width, 5)

    net = nn.Sequential(
        nn.Conv2d(in_channels, width, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        block(),
        nn.MaxPool2d(2),
        block(),
        nn.MaxPool2d(2),
        nn.AdaptiveAvgPool2d(3),
        nn.Flatten(),
        nn.Linear(9 * width, num_classes),
    )
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)
    return net


def train_equal_field(ctx, kind: str, seed: int) -> dict[str, float]:
    """Train `equal_field_net(kind)` on the lab's data (split, initialization and data order from `seed`) through
    the library's Trainer; held-out (validation + test) accuracy, test and final training accuracy, size."""
    from dlbasic.training.run import load_data

    cfg = ctx.config(data=ctx.data(DATA), seed=seed, epochs=ctx.profile.epochs(EPOCHS), batch_size=BATCH)
    data = load_data(cfg)
    torch.manual_seed(seed)
    model = equal_field_net(kind, data.train.in_channels, data.train.num_classes)
    trainer = ctx.fit_model(cfg, data, model, torch.optim.Adam(model.parameters(), lr=LR))
    held_out = {split: trainer.evaluate(d) for split, d in (("val", data.val), ("test", data.test))}
    n = {"val": len(data.val), "test": len(data.test)}
    accuracy = sum(held_out[k]["accuracy"] * n[k] for k in n) / sum(n.values())
    return {
        "held_out_accuracy": accuracy,
        "test_accuracy": held_out["test"]["accuracy"],
        "train_accuracy": trainer.history[-1]["train_accuracy"],
        "held_out_images": sum(n.values()),
        "params": sum(p.numel() for p in model.parameters()),
    }


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
    form = "structural + non-inferiority"
    schedule = SCHEDULE
    method = (
        "Receptive fields of two (three) stride-1 3x3 convolutions and of one 5x5 (7x7), by the closed-form "
        "chain and by dlbasic.nn.summarize on real layers; their weights at widths 16..512 (C in, C out). "
        f"Then Simonyan & Zisserman's section 4.1 scaled down: two equal-field networks ({NET_WIDTH} channels: "
        "3x3 stem, pool, block at 14x14, pool, block at 7x7, pool, linear; block = one 5x5 or two 3x3; He "
        f"init) on the `--data` source (default: 28x28 MNIST-5k), Adam lr {LR:g}, batch {BATCH}, {EPOCHS} "
        "epochs; each seed a unit with its own split, initialization and data order, shared by both networks; "
        "accuracy on the unit's validation and test splits together (nothing is chosen on the validation "
        "split, so both are unseen)."
    )
    rule = (
        "Structural (exact checks, reported as checked): each stack's receptive field equals its single "
        "kernel's by both computations, the stack has fewer weights at every width, and the trained 3x3 net "
        "has fewer parameters than the 5x5 net. Non-inferiority: held-out accuracy, 3x3 net vs 5x5 net, paired "
        f"per seed, margin {ACCURACY} (half a point): supported if the 95 % interval of acc(3x3) - acc(5x5) "
        f"lies above -{ACCURACY}, contradicted if it lies below -{ACCURACY}; seeds in looks of "
        f"{' then '.join(map(str, SCHEDULE))} with the O'Brien-Fleming boundary."
    )

    def plan(self, ctx, results: dict) -> list[Run]:
        """The receptive fields and weights (one run, first look), and the seeds' training runs by look."""
        fields = [Run("fields", f"{__name__}:fields_and_weights", {}, COST["fields"], trains=False)]
        return not_run(fields, results) + self.staged_runs(ctx, results)

    def seed_runs(self, ctx, seeds) -> list[Run]:
        """One training run per network and seed."""
        return [
            Run(f"{kind}-seed{s}", f"{__name__}:train_equal_field", {"kind": kind, "seed": s}, COST[kind])
            for s in seeds
            for kind in KINDS
        ]

    def collect(self, ctx, results: dict) -> Measurements:
        """The numbers and figure `method` describes, from the runs of `plan`."""
        seeds = seeds_of_every_arm(results, KINDS)
        runs = {kind: [results[f"{kind}-seed{s}"] for s in seeds] for kind in KINDS}
        numbers = {
            "cases": results["fields"],
            "epochs": ctx.profile.epochs(EPOCHS),
            "seeds": seeds,
            "held_out_images": runs["3x3"][0]["held_out_images"],
            "held_out_accuracy": {kind: [r["held_out_accuracy"] for r in rs] for kind, rs in runs.items()},
            "test_accuracy": {kind: [r["test_accuracy"] for r in rs] for kind, rs in runs.items()},
            "train_accuracy": {kind: [r["train_accuracy"] for r in rs] for kind, rs in runs.items()},
            "net_params": {kind: rs[0]["params"] for kind, rs in runs.items()},
        }
        caption = (
            "Left: weights of a 3x3 stack and the single kernel with the same field. Right: held-out accuracy "
            "of the 3x3-stack net minus the 5x5 net per seed, and the non-inferiority margin"
        )
        return Measurements(numbers, [(caption, _figure(numbers))], seeds)

    def judge(self, m) -> Verdict:
        """The verdict by `rule`, computed from the numbers `collect` returned."""
        checks = [
            check(
                f"{c['layers']} stacked 3x3 see {c['kernel']}x{c['kernel']} (formula and summarize)",
                len(set(c["fields"].values())) == 1 and c["fields"]["stack_formula"] == c["kernel"],
            )
            for c in m["cases"]
        ]
        checks += [
            check(
                f"{c['layers']} x 3x3 has fewer weights than one {c['kernel']}x{c['kernel']} at every width "
                f"({c['layers'] * 9}/{c['kernel'] ** 2})",
                all(w["stack"] < w["single"] for w in c["weights"].values()),
            )
            for c in m["cases"]
        ]
        p = m["net_params"]
        checks.append(check(f"trained nets: 3x3 {p['3x3']:,} < 5x5 {p['5x5']:,} parameters", p["3x3"] < p["5x5"]))
        acc = m["held_out_accuracy"]
        non_inferior = part(
            "held-out accuracy, 3x3 net vs 5x5 net",
            acc["3x3"],
            acc["5x5"],
            form="non-inferiority",
            margin=ACCURACY,
            schedule=self.schedule,
        )
        c = non_inferior.comparison
        key = (
            f"held-out accuracy 3x3 {pm(acc['3x3'])} vs 5x5 {pm(acc['5x5'])} (difference {c.mean:+.4f}, CI "
            f"{c.ci[0]:+.4f} to {c.ci[1]:+.4f}, margin -{ACCURACY}, {c.n} seeds); parameters 3x3 "
            f"{p['3x3']:,} vs 5x5 {p['5x5']:,}"
        )
        return verdict([non_inferior], key, checks=checks)


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
    axes[1].scatter(m["seeds"], diff, color="C0", zorder=3, label="3x3 net - 5x5 net, per seed")
    axes[1].axhline(diff.mean(), color="C0", lw=1, label="mean")
    axes[1].axhline(0, color="grey", lw=0.8)
    axes[1].axhline(-ACCURACY, color="C3", ls="--", lw=1, label=f"margin -{ACCURACY}")
    axes[1].set_xlabel("seed")
    axes[1].set_ylabel("held-out accuracy difference")
    p = m["net_params"]
    axes[1].set_title(f"3x3 net {p['3x3']:,} vs 5x5 net {p['5x5']:,} parameters", fontsize=9)
    axes[1].legend(fontsize=7)
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
