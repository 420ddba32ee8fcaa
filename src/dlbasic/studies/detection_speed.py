"""Claim `detection-speed`: R-CNN runs the CNN per region, SPP-net / Fast R-CNN once per image,
Faster R-CNN learns its proposals, and YOLO, one pass, is the fastest.

The papers' own evidence is the work per image: R-CNN (Girshick et al. 2014) warps each of ~2000
selective-search regions and runs the CNN on every one; SPP-net (He et al. 2014) and Fast R-CNN
(Girshick 2015) run the convolutional layers once per image and pool every region from the shared map
(Fast R-CNN's table 4: 47 s vs 0.32 s per image on a GPU; its section 3.1: with many RoIs, nearly half of
the remaining time is the fully connected head); Faster R-CNN (Ren et al. 2015) replaces the search by a
region proposal network trained with the detector; YOLO v1 (Redmon et al. 2016) is one network pass with
no proposal stage (45 fps against Faster R-CNN's 7). Wall-clock time on a shared CPU measures the machine
as much as the method, so the verdict counts work instead, deterministically:

* multiply-accumulates (MACs) of every convolution and linear layer actually run for one image,
  counted by forward hooks over the whole batch the layer sees (so R-CNN's per-region CNN counts once
  per region; `dlbasic.nn.summary` counts one sample per call and cannot), and how many times the CNN
  runs (the batch entering the first convolution);
* against the number of regions, with given boxes (the count, not the boxes, sets the work), up to the
  lecture's ~2000; at a fixed number of regions the MACs do not depend on the image, so every test image
  gets the same value and the paired test is exact ("all differences equal");
* proposals counted per test image: selective search's, and the proposal network's (after non-maximum
  suppression), and whether the proposal network *learned*: the average recall (IoU 0.5:0.95, Hosang et
  al. 2016) of its top 10 proposals after training against the same network at initialization.

Scaled down: the five detectors of `dlbasic.detection` (a small backbone family trained from scratch)
on 64-pixel `scenes` of 1-3 MNIST digits; 96 training scenes, 2 epochs, 96 test scenes. Training is far
too short for meaningful mAP; mAP and the wall time per image of the trained detectors (selective search
included) are reported beside, not judged.

In the lab it is two stages of runs: selective search on the training and on the test scenes, the two
detectors without a search and the untrained proposal network; then the three searched detectors, each given
the search's boxes.
"""

from __future__ import annotations

import contextlib
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import Tensor, nn

from dlbasic.lab.registry import register_study
from dlbasic.lab.stats import decide
from dlbasic.lab.study import Measurements, Run, Study, Verdict

DETECTORS = ("rcnn", "sppnet", "fast_rcnn", "faster_rcnn", "yolo_v1")
SEARCHED = ("rcnn", "sppnet", "fast_rcnn")  # run on selective-search proposals
REGIONS = 2000  # the lecture's (and R-CNN's) proposals per image
CURVE = (1, 10, 100, 1000, REGIONS)
AR_TOP = 10  # proposals per image for the average recall
TEST_IMAGES = 96  # paired units of the proposal test (average recall per image moves in steps of 1/10 of a box)
IOUS = torch.arange(0.5, 0.951, 0.05)
# seconds of one run (one thread, quick profile): the search, each detector's, the untrained proposals'
COST = {
    "search": 3.5,  # the training or the test scenes
    "rcnn": 4.5,
    "sppnet": 1.1,
    "fast_rcnn": 1.1,
    "faster_rcnn": 2.2,
    "yolo_v1": 1.0,
    "untrained-rpn": 0.3,
}


class RandomBoxes:
    """A stand-in proposer: `count` seeded random boxes per image (sides 8 px to the image side), no search."""

    def __init__(self, count: int, seed: int = 0):
        self.count, self.seed = count, seed

    def __call__(self, images):
        g = torch.Generator().manual_seed(self.seed)
        out = []
        for image in images:
            h, w = image.shape[-2:]
            side = 8 + torch.rand(self.count, 2, generator=g) * (min(h, w) - 8)
            corner = torch.rand(self.count, 2, generator=g) * (torch.tensor([w, h]) - side)
            out.append(torch.cat([corner, corner + side], 1))
        return out


@contextlib.contextmanager
def given_boxes(model: nn.Module, count: int):
    """Within the block, a proposal-based detector runs on `count` random boxes per image instead of its search."""
    proposer = getattr(model, "proposals", None)
    if proposer is not None:
        model.proposals = RandomBoxes(count)
    try:
        yield model
    finally:
        if proposer is not None:
            model.proposals = proposer


@torch.no_grad()
def count_macs(model: nn.Module, images: Tensor) -> dict[str, int]:
    """MACs of one eval-mode forward pass over `images`: `conv` (Conv2d: output elements x in/groups x kh x kw)
    and `fc` (Linear: output elements x in_features), summed over every sample each layer sees, and `cnn_runs`,
    the samples entering the model's first convolution (per-region networks see one per region)."""
    counts = {"conv": 0, "fc": 0, "cnn_runs": 0}
    first = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)

    def hook(module: nn.Module, inputs: tuple, output: Tensor) -> None:
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            counts["conv"] += output.numel() * (module.in_channels // module.groups) * kh * kw
            if module is first:
                counts["cnn_runs"] += inputs[0].shape[0]
        else:
            counts["fc"] += output.numel() * module.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    try:
        model.eval()
        model(images)
    finally:
        for h in handles:
            h.remove()
    return counts


def average_recall(proposals: list[Tensor], targets: list[dict[str, Tensor]], top: int) -> list[float]:
    """Per image: the fraction of ground-truth boxes covered by one of the first `top` proposals, averaged over
    IoU thresholds 0.5:0.05:0.95 (Hosang et al. 2016's average recall); NaN for an image without boxes."""
    from dlbasic.detection.boxes import box_iou

    out = []
    for p, t in zip(proposals, targets):
        if len(t["boxes"]) == 0:
            out.append(math.nan)
            continue
        best = box_iou(t["boxes"].float(), p[:top].float()).max(1).values if len(p) else torch.zeros(len(t["boxes"]))
        out.append(float((best[:, None] >= IOUS).float().mean()))
    return out


@torch.no_grad()
def rpn_proposals(model: nn.Module, images: Tensor) -> list[Tensor]:
    """The proposals of a Faster R-CNN's region proposal network (eval mode), best first, one Tensor[L, 4] per image."""
    model.eval()
    return [model.rpn(images[i : i + 1], model.backbone(images[i : i + 1]))[0][0] for i in range(len(images))]


def scenes_split(ctx):
    """The training and test scenes of the profile's first seed."""
    from dlbasic.detection.splits import load_split

    return load_split(
        "scenes", train_limit=ctx.profile.size(96), test_limit=ctx.profile.size(TEST_IMAGES), seed=ctx.seeds[0]
    )


def macs_per_image(model: nn.Module, images: Tensor) -> dict[str, list[int]]:
    """`count_macs` of each image on its own: convolution, total (convolution + linear) and CNN runs."""
    counts = [count_macs(model, images[i : i + 1]) for i in range(len(images))]
    return {
        "conv": [c["conv"] for c in counts],
        "total": [c["conv"] + c["fc"] for c in counts],
        "cnn_runs": [c["cnn_runs"] for c in counts],
    }


def detector(ctx, name: str, boxes: dict[str, list] | None = None) -> dict:
    """Detector `name` trained on the scenes: its mAP, its MACs (against the given regions for a searched one,
    per test image otherwise), its wall time per image (searching anew) and, for Faster R-CNN, its proposals per
    test image and their average recall. `boxes`: selective search's boxes of the training and test scenes
    (`search_scenes`), so that a searched detector does not search them again."""
    from dlbasic.detection.metrics import evaluate_detections
    from dlbasic.detection.rcnn import SelectiveSearchProposals
    from dlbasic.detection.train import DetectionConfig, build_detector, fit, predict, seconds_per_image

    seed = ctx.seeds[0]
    split = scenes_split(ctx)
    test = split.test_images
    search = SelectiveSearchProposals("single", 50)
    if boxes is not None:
        search = KnownSearch(search, [*split.train_images, *test], boxes["train"] + boxes["test"])
    cfg = DetectionConfig(model=name, epochs=ctx.profile.epochs(2), batch_size=16, seed=seed)
    model = build_detector(name, len(split.classes), 1, search, seed)
    fit(model, split.train_images, split.train_targets, cfg)
    m = evaluate_detections(predict(model, test), split.test_targets)
    out = {"map": m["map"], "map_50": m["map_50"]}
    if name in SEARCHED:
        counts = []
        for regions in CURVE:
            with given_boxes(model, regions) as given:
                counts.append(count_macs(given, test[:1]))
        out["curve"] = {k: [c[k] for c in counts] for k in ("conv", "fc", "cnn_runs")}
    else:
        out["macs"] = macs_per_image(model, test)
    if name == "faster_rcnn":
        trained = rpn_proposals(model, test)
        out["proposals"] = [len(p) for p in trained]
        out["average_recall"] = average_recall(trained, split.test_targets, AR_TOP)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        timing = test[: ctx.profile.size(8)]
        out["seconds_per_image"] = seconds_per_image(model, timing)
    finally:
        torch.set_num_threads(threads)
    out["timed_images"] = len(timing)
    return out


def untrained_proposals(ctx) -> dict:
    """The average recall per test image of an untrained Faster R-CNN's proposal network; the numbers of
    training and test images."""
    from dlbasic.detection.train import build_detector

    split = scenes_split(ctx)
    test = split.test_images
    untrained = rpn_proposals(build_detector("faster_rcnn", len(split.classes), 1, None, ctx.seeds[0]), test)
    return {
        "average_recall": average_recall(untrained, split.test_targets, AR_TOP),
        "train_images": len(split.train_images),
        "test_images": len(test),
    }


def search_scenes(ctx, part: str) -> dict:
    """Selective search on the training or test scenes (`part`): the boxes per image and, for the test scenes,
    the number of proposals per image and their average recall."""
    from dlbasic.detection.rcnn import SelectiveSearchProposals

    split = scenes_split(ctx)
    images = split.train_images if part == "train" else split.test_images
    boxes = SelectiveSearchProposals("single", 50)(images)
    out = {"boxes": [b.tolist() for b in boxes]}
    if part == "test":
        out["proposals"] = [len(b) for b in boxes]
        out["average_recall"] = average_recall(boxes, split.test_targets, AR_TOP)
    return out


def image_key(image: Tensor) -> bytes:
    """An image's identity: its pixels."""
    return image.detach().cpu().contiguous().numpy().tobytes()


class KnownSearch:
    """A selective search (`search`, a `SelectiveSearchProposals`) that returns the boxes already found for
    `images` and searches any other image, or every image while `cache` is off (`seconds_per_image` turns it
    off to time the search)."""

    def __init__(self, search, images: list[Tensor], boxes: list[list]):
        self.search = search
        self.known = {
            image_key(im): torch.tensor(b, dtype=torch.float32).reshape(-1, 4) for im, b in zip(images, boxes)
        }

    @property
    def cache(self) -> bool:
        """Whether boxes are remembered (the known ones, and the search's own cache)."""
        return self.search.cache

    @cache.setter
    def cache(self, on: bool) -> None:
        self.search.cache = on

    def __call__(self, images) -> list[Tensor]:
        return [self._one(im) for im in images]

    def _one(self, image: Tensor) -> Tensor:
        known = self.known.get(image_key(image)) if self.cache else None
        return known if known is not None else self.search([image])[0]


def with_nan(values: list) -> list[float]:
    """`values` with NaN where a saved run holds None (JSON has no NaN)."""
    return [math.nan if v is None else v for v in values]


@register_study
class DetectionSpeed(Study):
    """Claim `detection-speed`: R-CNN runs the CNN on ~2000 regions; SPPNet/Fast R-CNN run it once; Faster R-CNN learns
    proposals; YOLO is one pass and fastest.
    """

    id = "detection-speed"
    section = "Detection"
    claim = (
        "R-CNN runs the CNN on ~2000 regions; SPPNet/Fast R-CNN run it once; Faster R-CNN learns proposals; "
        "YOLO is one pass and fastest."
    )
    note = (
        "R-CNN 문제점 : 2000개의 이미지에 대한 CNN을 모두 수행해야함. / SPPNet: CNN을 한 번만 수행. / "
        "Faster R-CNN: 물체가 있을 법한 바운딩 박스를 학습을 통해 찾아줌. / "
        "YOLO: 바운딩 박스를 찾는 단계가 나누어져있지 않음. - 빠르다."
    )
    literature = (
        "R-CNN: 47 s/image on a GPU (VGG16) vs Fast R-CNN 0.32 s, of which selective search takes about 2 s "
        "on a CPU (Girshick 2015, table 4; Ren et al. 2015); YOLO v1: 45 fps vs Faster R-CNN (VGG16) 7 fps "
        "(Redmon et al. 2016, table 1). The ordering comes from large images with ~2000 proposals; on "
        "64-pixel scenes selective search finds only a few dozen regions."
    )
    MAC_MARGIN = math.log(1.25)  # MACs predict speed only up to memory traffic, pooling and NMS: < 25 % is no ordering
    AR_MARGIN = 0.05  # five points of average recall: less is no visible learning
    method = (
        f"The five detectors of dlbasic.detection (same small backbone family, trained from scratch) train 2 "
        "epochs on 96 `scenes` images (64x64, 1-3 MNIST digits); 96 held-out scenes are the test images. "
        "Counted, deterministically: the MACs of every convolution and linear layer run for one image (forward "
        "hooks, summed over every region a layer sees) and how many times the CNN runs, with "
        f"{', '.join(map(str, CURVE))} given regions per image for the proposal-based R-CNN, SPP-net and Fast "
        "R-CNN, and for each test image as it comes for Faster R-CNN (its own proposals) and YOLO; the "
        "proposals per test image of selective search and of Faster R-CNN's proposal network; and the average "
        f"recall (IoU 0.5:0.95) of the network's top {AR_TOP} proposals after training and at its "
        "initialization. Beside: mAP and the wall time per image of the trained detectors (selective search "
        "included, 8 images, one at a time)."
    )
    rule = (
        f"Paired over the test images (stats.decide, two-sided 5 %; MACs on a log scale with margin ln 1.25, at "
        f"{REGIONS} regions for the searched detectors, where MACs do not depend on the image: an exact "
        "comparison). (1, 2) R-CNN's convolution MACs above SPP-net's and above Fast R-CNN's (the CNN per region "
        "vs once); (3) Faster R-CNN's trained proposal network's average recall of its top "
        f"{AR_TOP} proposals above its untrained one's (margin {AR_MARGIN}); (4-7) YOLO's total MACs below each "
        "other detector's (for the searched ones the search is left out, which only favours them). Supported "
        "if all seven are supported; contradicted if any is contradicted; inconclusive otherwise. Wall time is "
        "reported, never judged."
    )

    def plan(self, ctx, results: dict) -> list[Run]:
        """Stage 1: selective search on every scene, the detectors without a search (trained, counted, timed)
        and the untrained proposal network; stage 2, given the search's boxes: the three searched detectors."""
        runs = [
            Run(f"search-{part}", f"{__name__}:search_scenes", {"part": part}, COST["search"], False)
            for part in ("train", "test")
        ]
        runs += [
            Run(f"detector-{name}", f"{__name__}:detector", {"name": name}, COST[name], False)
            for name in DETECTORS
            if name not in SEARCHED
        ]
        runs.append(Run("untrained-rpn", f"{__name__}:untrained_proposals", {}, COST["untrained-rpn"], False))
        if "search-train" in results and "search-test" in results:
            boxes = {part: results[f"search-{part}"]["boxes"] for part in ("train", "test")}
            runs += [
                Run(f"detector-{name}", f"{__name__}:detector", {"name": name, "boxes": boxes}, COST[name], False)
                for name in SEARCHED
            ]
        return [r for r in runs if r.name not in results]

    def collect(self, ctx, results: dict) -> Measurements:
        """The numbers and figure `method` describes, from the runs of `plan`."""
        runs = {name: results[f"detector-{name}"] for name in DETECTORS}
        search, untrained = results["search-test"], results["untrained-rpn"]
        n = untrained["test_images"]
        curve = {k: {name: runs[name]["curve"][k] for name in SEARCHED} for k in ("conv", "fc", "cnn_runs")}
        per_image: dict[str, dict[str, list[int]]] = {k: {} for k in ("conv", "total", "cnn_runs")}
        for name in SEARCHED:  # the same for every image: the count, not the boxes, sets the work
            at = {k: curve[k][name][CURVE.index(REGIONS)] for k in curve}
            per_image["conv"][name] = [at["conv"]] * n
            per_image["total"][name] = [at["conv"] + at["fc"]] * n
            per_image["cnn_runs"][name] = [at["cnn_runs"]] * n
        for name in ("faster_rcnn", "yolo_v1"):
            for k in per_image:
                per_image[k][name] = runs[name]["macs"][k]
        numbers = {
            "regions": REGIONS,
            "regions_curve": list(CURVE),
            "curve_macs": curve,
            "macs": per_image,
            "proposals": {"selective_search": search["proposals"], "rpn": runs["faster_rcnn"]["proposals"]},
            "average_recall": {
                "rpn_trained": with_nan(runs["faster_rcnn"]["average_recall"]),
                "rpn_untrained": with_nan(untrained["average_recall"]),
                "selective_search": with_nan(search["average_recall"]),
            },
            "seconds_per_image": {name: runs[name]["seconds_per_image"] for name in DETECTORS},
            "map": {name: runs[name]["map"] for name in DETECTORS},
            "map_50": {name: runs[name]["map_50"] for name in DETECTORS},
            "train_images": untrained["train_images"],
            "test_images": n,
            "timed_images": runs[DETECTORS[0]]["timed_images"],
        }
        return Measurements(
            numbers,
            [
                (
                    "MACs per image against the number of regions (left; selective search finds "
                    "the shaded range on these scenes) and, beside the verdict, the wall time and "
                    "mAP@0.5 of the trained detectors (right)",
                    _figure(numbers),
                )
            ],
            [ctx.seeds[0]],
        )

    def judge(self, m) -> Verdict:
        """The verdict by `rule`, computed from the numbers `measure` returned."""
        macs, ar = m["macs"], m["average_recall"]
        log = {
            k: {d: np.log(np.asarray(v, dtype=float)).tolist() for d, v in macs[k].items()} for k in ("conv", "total")
        }
        pairs = [a for a in zip(ar["rpn_trained"], ar["rpn_untrained"]) if math.isfinite(a[0] + a[1])]
        tests = {
            "R-CNN conv > SPP-net": decide(log["conv"]["rcnn"], log["conv"]["sppnet"], margin=self.MAC_MARGIN),
            "R-CNN conv > Fast R-CNN": decide(log["conv"]["rcnn"], log["conv"]["fast_rcnn"], margin=self.MAC_MARGIN),
            "learned proposals": decide([a for a, _ in pairs], [b for _, b in pairs], margin=self.AR_MARGIN),
            **{
                f"YOLO < {d}": decide(
                    log["total"]["yolo_v1"], log["total"][d], lower_is_better=True, margin=self.MAC_MARGIN
                )
                for d in ("rcnn", "sppnet", "fast_rcnn", "faster_rcnn")
            },
        }
        verdicts = {k: d.verdict for k, d in tests.items()}

        def mega(d: str, k: str = "total") -> str:
            return f"{np.mean(macs[k][d]) / 1e6:.3g}M"

        key = (
            f"MACs per image at {m['regions']} regions: conv R-CNN {mega('rcnn', 'conv')} "
            f"(CNN runs {np.mean(macs['cnn_runs']['rcnn']):.0f}) vs SPP-net {mega('sppnet', 'conv')}, Fast R-CNN "
            f"{mega('fast_rcnn', 'conv')} (1 run each); total R-CNN {mega('rcnn')}, SPP-net {mega('sppnet')}, Fast "
            f"R-CNN {mega('fast_rcnn')}, Faster R-CNN {mega('faster_rcnn')} ({np.mean(m['proposals']['rpn']):.0f} "
            f"proposals), YOLO {mega('yolo_v1')}; selective search found "
            f"{np.mean(m['proposals']['selective_search']):.1f} regions per scene; AR@{AR_TOP} of the proposal "
            f"network trained {np.nanmean(ar['rpn_trained']):.3f} vs untrained "
            f"{np.nanmean(ar['rpn_untrained']):.3f}; beside: ms/image "
            + ", ".join(f"{d} {1000 * s:.1f}" for d, s in m.get("seconds_per_image", {}).items())
        )
        test = "; ".join(f"{k}: {d}" for k, d in tests.items())
        if all(v == "supported" for v in verdicts.values()):
            return Verdict(
                "supported",
                key,
                "R-CNN's CNN work grows with the regions while SPP-net and Fast R-CNN run "
                "it once, the proposal network learns to find the objects, and YOLO "
                "needs the least work of all",
                test,
            )
        wrong = [k for k, v in verdicts.items() if v == "contradicted"]
        if wrong:
            return Verdict("contradicted", key, f"measured the other way round: {', '.join(wrong)}", test)
        unclear = [k for k, v in verdicts.items() if v == "inconclusive"]
        return Verdict("inconclusive", key, f"not decided: {', '.join(unclear)}", test)


def _figure(m):
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
    regions = m["regions_curve"]
    for name in SEARCHED:
        total = np.add(m["curve_macs"]["conv"][name], m["curve_macs"]["fc"][name])
        ax1.plot(regions, total, "o-", label=f"{name} (total)")
        ax1.plot(regions, m["curve_macs"]["conv"][name], "--", lw=0.8, label=f"{name} (convolutions)")
    for name, style in (("faster_rcnn", ":"), ("yolo_v1", "-.")):
        ax1.axhline(
            float(np.mean(m["macs"]["total"][name])),
            ls=style,
            color="k" if name == "yolo_v1" else "grey",
            label=f"{name} (its own proposals / none)",
        )
    ss = m["proposals"]["selective_search"]
    ax1.axvspan(max(min(ss), 1), max(max(ss), 1), color="C2", alpha=0.15, label="selective search on these scenes")
    ax1.set_xscale("log")
    ax1.set_yscale("log")
    ax1.set_xlabel("regions per image")
    ax1.set_ylabel("MACs per image")
    ax1.legend(fontsize=6)
    ax1.grid(alpha=0.3)
    x = np.arange(len(DETECTORS))
    seconds = [1000 * m["seconds_per_image"][d] for d in DETECTORS]
    bars = ax2.bar(x, seconds, color="#c66")
    for bar, d in zip(bars, DETECTORS):
        ax2.annotate(
            f"mAP@.5 {m['map_50'][d]:.2f}", (bar.get_x() + 0.4, bar.get_height()), ha="center", va="bottom", fontsize=7
        )
    ax2.set_xticks(x, DETECTORS, fontsize=8)
    ax2.set_yscale("log")
    ax2.set_ylabel("ms per image (search included; beside)")
    ax2.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig
