"""Claim `vgg-3x3`: two 3x3 convolutions see what one 5x5 sees, with fewer parameters.

Simonyan & Zisserman 2015 (https://arxiv.org/abs/1409.1556, section 2.3): a stack of two 3x3
convolutions (stride 1) has a 5x5 receptive field, three have 7x7; with C channels in and out the
stacks cost 2 * 9 C^2 = 18 C^2 and 27 C^2 weights instead of 25 C^2 and 49 C^2, and add
non-linearities. The study computes the fields twice (the closed-form chain r += (k - 1) j and
`summarize` on real layers), counts real `nn.Conv2d` weights, and, as a small check of "the same
result", trains two equal-field networks on the digits: one with 5x5 convolutions, one with each
5x5 replaced by two 3x3 (Adam, a few epochs, per seed).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from torch import nn

from dlbasic.nn.conv import receptive_field
from dlbasic.nn.summary import summarize
from dlbasic.studies.base import CONTRADICTED, INCONCLUSIVE, SUPPORTED, Measurements, Study, Verdict, compare, pm
from dlbasic.studies.registry import register_study

CASES = ((2, 5), (3, 7))  # (number of 3x3 layers, the single kernel with the same field)
WIDTHS = (16, 64, 256, 512)  # channels in and out for the parameter counts
NET_WIDTH = 32  # channels of the trained networks


def stack(n3: int, c: int, k: int | None = None) -> nn.Sequential:
    """n3 x (3x3 conv + ReLU) at width c, or one k x k conv + ReLU when `k` is given; 'same' padding."""
    if k is not None:
        return nn.Sequential(nn.Conv2d(c, c, k, padding=k // 2), nn.ReLU())
    return nn.Sequential(*[m for _ in range(n3) for m in (nn.Conv2d(c, c, 3, padding=1), nn.ReLU())])


def weights(module: nn.Module) -> int:
    """Convolution weights without biases (the closed forms count kernels)."""
    return sum(m.weight.numel() for m in module.modules() if isinstance(m, nn.Conv2d))


def equal_field_net(kind: str, in_channels: int, num_classes: int, width: int = NET_WIDTH) -> nn.Module:
    """3x3 stem, block, 2x2 max pool, block, global average pool, linear; block = two 3x3 ("3x3") or one 5x5."""
    def block() -> nn.Module:
        return stack(2, width) if kind == "3x3" else stack(0, width, 5)

    return nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(), block(), nn.MaxPool2d(2), block(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes))


def train_equal_field(kind: str, seed: int, epochs: int) -> dict[str, float]:
    """Train `equal_field_net(kind)` on the digits through the library's Trainer; test accuracy and size."""
    from dlbasic.config import TrainConfig
    from dlbasic.training.run import load_data
    from dlbasic.training.trainer import Trainer

    data = load_data(TrainConfig(data="digits", seed=seed))
    torch.manual_seed(seed)
    model = equal_field_net(kind, data.train.in_channels, data.train.num_classes)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    trainer = Trainer(model, opt, data.train, data.val, epochs=epochs, batch_size=32, seed=seed, progress=False,
                      stop_on_divergence=False)
    history = trainer.fit()
    return {"test_accuracy": trainer.evaluate(data.test)["accuracy"], "train_accuracy": history[-1]["train_accuracy"],
            "params": sum(p.numel() for p in model.parameters())}


@register_study
class Vgg3x3(Study):
    id = "vgg-3x3"
    section = "VGGNet"
    claim = "Two 3x3 convs see what one 5x5 sees with fewer parameters."
    note = "3x3 2개를 사용한 것과 5x5 1개를 사용한 것이 결과가 같으나, parameter의 수가 적어진다."
    method = ("Receptive fields of two (three) stride-1 3x3 convolutions and of one 5x5 (7x7), by the closed-form "
              "chain and by dlbasic.nn.summarize on real layers; their weights at widths 16..512 (C in, C out); "
              f"then two equal-field networks on the digits ({NET_WIDTH} channels: 3x3 stem, block, pool, block, "
              "global pool, linear; block = one 5x5 or two 3x3), Adam 1e-3, batch 32, per seed.")
    rule = ("Contradicted if a 3x3 stack's receptive field differs from its single kernel's or it does not have "
            "fewer weights at every width. Otherwise supported, unless the 3x3 network's mean test accuracy is "
            "below the 5x5 network's by more than the larger seed std, which makes it inconclusive (same field, "
            "fewer parameters, but not the same result).")

    def measure(self, ctx) -> Measurements:
        cases = []
        for n3, k in CASES:
            fields = {"stack_formula": receptive_field([(3, 1)] * n3)[-1][0], "single_formula": k,
                      "stack_summary": summarize(stack(n3, 1), 32, 1).receptive_field,
                      "single_summary": summarize(stack(0, 1, k), 32, 1).receptive_field}
            params = {str(c): {"stack": weights(stack(n3, c)), "single": weights(stack(0, c, k))} for c in WIDTHS}
            cases.append({"layers": n3, "kernel": k, "fields": fields, "weights": params})
        epochs = ctx.profile.epochs(8)
        runs = {kind: [train_equal_field(kind, s, epochs) for s in ctx.seeds] for kind in ("3x3", "5x5")}
        numbers = {"cases": cases, "epochs": epochs,
                   "test_accuracy": {kind: [r["test_accuracy"] for r in rs] for kind, rs in runs.items()},
                   "train_accuracy": {kind: [r["train_accuracy"] for r in rs] for kind, rs in runs.items()},
                   "net_params": {kind: rs[0]["params"] for kind, rs in runs.items()}}
        fig, axes = plt.subplots(1, 2, figsize=(8, 3.5))
        for case, color in zip(cases, ("C0", "C1")):
            n3, k = case["layers"], case["kernel"]
            axes[0].plot(WIDTHS, [case["weights"][str(c)]["single"] for c in WIDTHS], "--", color=color,
                         label=f"one {k}x{k}")
            axes[0].plot(WIDTHS, [case["weights"][str(c)]["stack"] for c in WIDTHS], "-o", color=color,
                         label=f"{n3} x 3x3 (same {k}x{k} field)")
        axes[0].set_xscale("log")
        axes[0].set_yscale("log")
        axes[0].set_xticks(WIDTHS, [str(c) for c in WIDTHS])
        axes[0].xaxis.set_minor_locator(plt.NullLocator())
        axes[0].set_xlabel("channels in = channels out")
        axes[0].set_ylabel("weights")
        axes[0].legend(fontsize=7)
        axes[0].grid(alpha=0.3)
        kinds = list(numbers["test_accuracy"])
        for i, kind in enumerate(kinds):
            accs = numbers["test_accuracy"][kind]
            axes[1].scatter([i] * len(accs), accs, color=f"C{i}", zorder=3)
            axes[1].bar(i, sum(accs) / len(accs), 0.5, color=f"C{i}", alpha=0.4)
        axes[1].set_xticks(range(len(kinds)),
                           [f"{k} blocks\n{numbers['net_params'][k]:,} params" for k in kinds], fontsize=8)
        axes[1].set_ylabel("test accuracy on digits (dots: seeds)")
        axes[1].set_ylim(min(min(v) for v in numbers["test_accuracy"].values()) - 0.05, 1.0)
        fig.tight_layout()
        return Measurements(numbers, [("Left: weights of a 3x3 stack and the single kernel with the same field. "
                                       "Right: equal-field networks trained on the digits", fig)], list(ctx.seeds))

    def judge(self, m) -> Verdict:
        same_field = all(len(set(c["fields"].values())) == 1 for c in m["cases"])
        fewer = all(w["stack"] < w["single"] for c in m["cases"] for w in c["weights"].values())
        acc = m["test_accuracy"]
        ratios = ", ".join(f"{c['layers']}x3x3 vs {c['kernel']}x{c['kernel']}: "
                           f"{c['layers'] * 9}/{c['kernel'] ** 2} of the weights" for c in m["cases"])
        key = f"{ratios}; test accuracy 3x3 {pm(acc['3x3'])} vs 5x5 {pm(acc['5x5'])}"
        if not (same_field and fewer):
            return Verdict(CONTRADICTED, key, "a stack's receptive field differs or it is not smaller")
        if compare(acc["3x3"], acc["5x5"], claim_a_better=False) == SUPPORTED:  # 5x5 better beyond noise
            return Verdict(INCONCLUSIVE, key, "same field and fewer parameters, but the 3x3 network learned worse "
                           "here")
        return Verdict(SUPPORTED, key, "same receptive field, fewer parameters, and the 3x3 network is not worse "
                       "beyond seed noise")
