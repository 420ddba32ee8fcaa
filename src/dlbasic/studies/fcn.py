"""Claim `fcn`: convolutionalization keeps the parameter count, accepts any input size and gives a heat map.

Long, Shelhamer & Darrell 2015 (arXiv 1411.4038, section 3.1): a fully connected layer is a convolution
whose kernel covers its whole input, so a classifier can be rewritten as a fully convolutional network
with the same weights; on a larger input it slides and outputs a coarse class map. The parameter count,
the logits at the training size and the map's existence are exact (a structural claim, CLAIMS.md v0.3):
checked on five zoo architectures, never put through a t-test. The heat map itself is measured and
reported, not judged: one small CNN trained on 1,500 MNIST digits for 2 epochs (scaled down from the
paper's ImageNet classifiers) is slid over 96x96 scenes of unseen digits, once, with the profile's first
seed.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch

from dlbasic.data import load, load_scenes
from dlbasic.lab.registry import register_study
from dlbasic.lab.study import Measurements, Run, Study, Verdict, not_run
from dlbasic.lab.verdicts import check, verdict
from dlbasic.models import create_model
from dlbasic.segmentation.convolutionalization import convolutionalize

ARCHS = (("mlp", 28), ("simple_cnn", 28), ("vgg11_bn", 28), ("resnet18", 28), ("alexnet", 64))
SCENES = "scenes:canvas=96,digits=2-4,scale=0.9-1.1,count=160"  # digits near the 28-pixel training scale
CHANCE = 0.1
TOLERANCE = 1e-10  # float64 rounding: the convolutionalized logits are the same sums in another order
# seconds of one run (one thread, quick profile): each architecture's check, one seed's training and heat map
COST = {"mlp": 0.1, "simple_cnn": 0.1, "vgg11_bn": 0.1, "resnet18": 0.1, "alexnet": 0.1, "heat_map": 6.5}


def _centre_accuracy(heat: torch.Tensor, targets: list[dict], window: int = 28, stride: int = 2) -> tuple[int, int]:
    """Digits whose heat-map cell at the window centred on their box has their class as argmax."""
    right = total = 0
    for h, t in zip(heat, targets):
        for box, label in zip(t["boxes"], t["labels"]):
            cx, cy = float(box[0] + box[2]) / 2, float(box[1] + box[3]) / 2
            i = min(max(round((cy - window / 2) / stride), 0), h.shape[1] - 1)
            j = min(max(round((cx - window / 2) / stride), 0), h.shape[2] - 1)
            right += int(h[:, i, j].argmax() == label)
            total += 1
    return right, total


def convolutionalized(ctx, name: str, size: int) -> dict:
    """Model `name` (untrained, seed 0, float64) against its convolutionalized copy: parameters before and
    after, the largest logit difference on random inputs, and the output shape on a 3x larger input."""
    torch.manual_seed(0)
    model = create_model(name, num_classes=10, in_channels=1, input_size=size).double().eval()
    fcn = convolutionalize(model, size, 1).eval()
    x = torch.randn(4, 1, size, size, dtype=torch.float64)
    with torch.no_grad():
        diff = (fcn(x)[:, :, 0, 0] - model(x)).abs().max().item()
        big = fcn(torch.randn(1, 1, 3 * size, 3 * size, dtype=torch.float64)).shape
    return {
        "params_before": sum(p.numel() for p in model.parameters()),
        "params_after": sum(p.numel() for p in fcn.parameters()),
        "max_logit_diff": diff,
        "heat_map_shape": list(big[1:]),
    }


def heat_map(ctx, seed: int) -> dict:
    """A simple_cnn trained on MNIST digits with `seed`, convolutionalized and slid over the test scenes: digits
    named right at their centres, their count, the classifier's test accuracy, the heat map's side and, for
    the first three scenes, the class of each window where p > 0.5 (-1 elsewhere)."""
    cfg = ctx.config(
        data="mnist5k",
        model="simple_cnn",
        epochs=ctx.profile.epochs(2),
        batch_size=64,
        seed=seed,
        train_subset=ctx.profile.size(1500),
        test_data="",  # fixed data: the scenes are made of MNIST digits whatever --test-data says
    )
    summary = ctx.train(cfg)
    model = ctx.model(cfg, summary)
    stats = load("mnist5k", "train", seed)
    scenes = load_scenes(SCENES, "test", 0)
    fcn = convolutionalize(model, 28, 1).eval()
    with torch.no_grad():
        heat = fcn(stats.normalize(scenes.images)).softmax(1)  # (N, 10, 35, 35)
    right, total = _centre_accuracy(heat, scenes.targets)
    conf, label = heat[:3].max(1)
    return {
        "right": right,
        "total": total,
        "test_accuracy": summary["test_accuracy"],
        "side": heat.shape[-1],
        "example": {
            "classes": torch.where(conf > 0.5, label, -1).tolist(),
            "images": scenes.images[:3, 0].round(decimals=3).tolist(),  # for the figure
            "digits": [t["labels"].tolist() for t in scenes.targets[:3]],
        },
    }


@register_study
class Convolutionalization(Study):
    """Claim `fcn`: Convolutionalization keeps the parameter count, accepts any input size and gives a heat map."""

    id = "fcn"
    section = "Semantic Segmentation"
    claim = "Convolutionalization keeps the parameter count, accepts any input size and gives a heat map."
    note = (
        "fully connected network에서 dense layer을 없앰. convolutionalization: 파라미터 수는 같다. "
        "입력 데이터 크기에 관계 없이 동작. heat map과 같은 효과."
    )
    literature = (
        "Long, Shelhamer & Darrell 2015 (arXiv 1411.4038), section 3.1: fully connected layers are "
        "convolutions whose kernels cover their whole input region; the convolutionalized net outputs "
        "a coarse class map, which FCNs then upsample."
    )
    method = (
        "(1) Untrained mlp, simple_cnn, vgg11_bn, resnet18 (28 px) and alexnet (64 px) are convolutionalized "
        "(dlbasic.segmentation.convolutionalization): parameters counted before and after, logits compared in "
        "float64 on random inputs at the training size, output shape taken on a 3x larger input. (2) A "
        "simple_cnn is trained on 1,500 MNIST digits (2 epochs, the profile's first seed), convolutionalized, "
        "and run on 96x96 test scenes of 2-4 unseen digits: how often the heat-map cell whose 28x28 window is "
        "centred on a digit names that digit. Fixed data: the scenes are built from MNIST digits with their "
        "boxes, so the classifier is trained on MNIST whatever --data says."
    )
    rule = (
        "Structural, exact checks (no t-test) for each architecture: the same parameter count after "
        "convolutionalization, logits equal to the original's within 1e-10 (float64 rounding), and a spatial "
        "class map (side > 1) on a 3x larger input. Checked when all hold; failed otherwise. The heat map's "
        "accuracy at digit centres is reported, not judged."
    )
    form = "structural"

    def plan(self, ctx, results: dict) -> list[Run]:
        """One run per architecture (convolutionalized untrained) and one heat map (trained, slid over scenes)."""
        runs = [
            Run(f"arch-{name}", f"{__name__}:convolutionalized", {"name": name, "size": size}, COST[name], False)
            for name, size in ARCHS
        ]
        seed = ctx.seeds[0]
        runs.append(Run(f"heat-map-seed{seed}", f"{__name__}:heat_map", {"seed": seed}, COST["heat_map"], False))
        return not_run(runs, results)

    def collect(self, ctx, results: dict) -> Measurements:
        """The numbers and figure `method` describes, from the runs of `plan`."""
        heat = results[f"heat-map-seed{ctx.seeds[0]}"]
        numbers = {
            "architectures": {name: results[f"arch-{name}"] for name, _ in ARCHS},
            "centre_accuracy": heat["right"] / heat["total"],
            "classifier_test_accuracy": heat["test_accuracy"],
            "digits": heat["total"],
            "heat_map_side": heat["side"],
        }
        return Measurements(
            numbers,
            [
                (
                    "A classifier trained on 28x28 digits, slid over 96x96 scenes after convolutionalization",
                    self._figure(heat["example"]),
                )
            ],
            [ctx.seeds[0]],
        )

    @staticmethod
    def _figure(example: dict) -> plt.Figure:
        """Scenes with the argmax class of each window drawn at the window's centre (where p > 0.5)."""
        fig, axes = plt.subplots(1, 3, figsize=(10, 3.6))
        shown_classes = torch.tensor(example["classes"], dtype=torch.float32)
        side = shown_classes.shape[-1]
        extent = (14 - 1, 14 - 1 + 2 * side, 14 - 1 + 2 * side, 14 - 1)  # window centres, stride 2
        for c, ax in enumerate(axes):
            ax.imshow(example["images"][c], cmap="gray", extent=(0, 96, 96, 0))
            shown = torch.where(shown_classes[c] >= 0, shown_classes[c], torch.tensor(float("nan")))
            im = ax.imshow(shown, cmap="tab10", vmin=-0.5, vmax=9.5, alpha=0.6, extent=extent, interpolation="nearest")
            digits = ", ".join(str(int(v)) for v in example["digits"][c])
            ax.set_title(f"true digits {digits}", fontsize=9)
            ax.set_xlim(0, 96)
            ax.set_ylim(96, 0)
            ax.set_xticks([])
            ax.set_yticks([])
        fig.colorbar(im, ax=axes.tolist(), ticks=range(10), label="class of the window (p > 0.5)", fraction=0.03)
        return fig

    def judge(self, m) -> Verdict:
        """The verdict by `rule`: exact checks per architecture; the heat map's accuracy in the key number."""
        archs = m["architectures"]
        names = ", ".join(archs)
        worst = max(a["max_logit_diff"] for a in archs.values())
        checks = [
            check(
                f"the same parameter count after convolutionalization ({names})",
                all(a["params_before"] == a["params_after"] for a in archs.values()),
            ),
            check(f"the same logits within {TOLERANCE:g} (largest difference {worst:.1e})", worst <= TOLERANCE),
            check(
                "a class map on a 3x larger input: "
                + ", ".join(f"{n} {a['heat_map_shape'][1]}x{a['heat_map_shape'][2]}" for n, a in archs.items()),
                all(a["heat_map_shape"][1] > 1 and a["heat_map_shape"][2] > 1 for a in archs.values()),
            ),
        ]
        key = (
            f"max logit difference {worst:.1e}; heat map (reported): names {m['centre_accuracy']:.3f} of "
            f"{m['digits']} digits at their centres (chance {CHANCE}), classifier test accuracy "
            f"{m['classifier_test_accuracy']:.3f}"
        )
        return verdict([], key, checks=checks)
