"""Claim `detection-speed`: R-CNN runs the CNN per region, SPP-net / Fast R-CNN once per image,
Faster R-CNN learns its proposals, and YOLO, one pass, is the fastest.

The papers' evidence: R-CNN (Girshick et al. 2014) warps each of ~2000 selective-search regions and runs
the CNN on every one; SPP-net (He et al. 2014) and Fast R-CNN (Girshick 2015) run the convolutional layers
once per image and pool every region from the shared map (Fast R-CNN's table 4: 47 s vs 0.32 s per image on
a GPU); Faster R-CNN (Ren et al. 2015, section 4.1 and figure 3) replaces selective search by a region
proposal network (RPN) trained with the detector, whose proposals recall the objects better than the
search's when both keep few; YOLO v1 (Redmon et al. 2016) is one network pass with no proposal stage (45 fps
against Faster R-CNN's 7). The claim has two forms (CLAIMS.md v0.3):

* structural, exact: the work per image against the number of regions. Multiply-accumulates (MACs) of every
  convolution and linear layer run for one image, counted by forward hooks over the whole batch a layer
  sees, and the CNN's runs (the batch entering the first convolution), with 1 to 2000 given regions: R-CNN's
  CNN runs once per region and its convolution MACs grow in proportion; SPP-net's and Fast R-CNN's CNN runs
  once whatever the regions; Faster R-CNN and YOLO run it once per image and search nothing. MACs do not
  depend on the weights, so untrained detectors are counted. Checked, never put through a t-test;
* difference: a trained proposal network's average recall of its top k = 10 proposals (AR@10, IoU
  0.5:0.95, Hosang et al. 2016) against selective search's top 10 on the same test scenes, compared as a
  ratio (log scale, margin 10 %). Selective search runs in its "fast" mode, the one R-CNN, Fast and Faster
  R-CNN use, ranked as Uijlings et al. rank it. Scenes hold 1-3 digits, so 10 proposals is "few".

Scaled down: 64-pixel `scenes` of 1-3 MNIST digits instead of VOC images, the detectors of
`dlbasic.detection` (a small backbone family trained from scratch) instead of VGG16. Paired by seed: each
seed draws its own training and test scenes (disjoint digit images) and trains its own proposal network:
the backbone and RPN of Faster R-CNN alone, as the first step of Ren et al.'s 4-step training, on the
seed's 600 training scenes for 8 epochs (Adam, lr 2e-3, one-cycle cosine), until its objectness loss
levels off (0.0090, 0.0082, 0.0077 over the last three epochs; 0.0052 after 20 epochs of the whole
detector). Both arms are measured on that seed's 32 test scenes. A first design trained the whole
detector on 256 scenes for 5 epochs and stopped at an objectness loss of 0.033, six times the converged
value, with proposals a mean best IoU of 0.53 from the digits: an under-trained network, so the
comparison measured the training budget rather than learned proposals. Seeds come in looks of 3, 6, then 12.
Wall time per image and mAP of the five detectors, trained on 32 scenes for 2 epochs (search included in
the time), are reported beside, never judged: time on a shared CPU measures the machine as much as the
method, and such short training gives no meaningful mAP.

Runs: the counts; per seed, the search on its test scenes and its trained proposal network; the search on
the first seed's training scenes, Faster R-CNN and YOLO; then, given the search's boxes, R-CNN, SPP-net and
Fast R-CNN.
Fixed data (scenes of MNIST digits with their boxes, whatever `--data` says): detection needs boxes.
"""

from __future__ import annotations

import contextlib
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import Tensor, nn

from dlbasic.lab.registry import register_study
from dlbasic.lab.study import Measurements, Run, Study, Verdict, not_run, unit_seeds
from dlbasic.lab.verdicts import RATIO, check, looks, part, verdict

DETECTORS = ("rcnn", "sppnet", "fast_rcnn", "faster_rcnn", "yolo_v1")
SEARCHED = ("rcnn", "sppnet", "fast_rcnn")  # run on selective-search proposals
REGIONS = 2000  # the lecture's (and R-CNN's) proposals per image
CURVE = (1, 10, 100, 1000, REGIONS)
AR_TOP = 10  # proposals per image for the average recall
IOUS = torch.arange(0.5, 0.951, 0.05)
AR_FLOOR = 1e-3  # a seed's AR below this counts as this, so that its log exists
SCENES = "scenes"  # 64x64, 1-3 digits; 600 training and 150 test scenes per seed
SEARCH = ("fast", 300)  # selective search mode and most boxes: the papers' "fast" mode, dlbasic's default
RPN_SCENES, RPN_EPOCHS, RPN_LR = 600, 8, 2e-3  # the proposal network's training, per seed
TEST_SCENES = 32  # per seed: both arms' recall is measured on these
TIMING_SCENES, TIMING_EPOCHS, TIMED = 32, 2, 4  # the detectors reported beside: training scenes, epochs, timed
# seconds of one run (one thread, quick profile)
COST = {
    "work": 3.0,
    "search-test": 4.5,
    "search-train": 4.5,
    "rpn": 21.0,
    "faster_rcnn": 1.5,
    "rcnn": 5.0,
    "sppnet": 1.0,
    "fast_rcnn": 1.0,
    "yolo_v1": 0.5,
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
    from dlbasic.detection.ops.boxes import box_iou

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


def scenes(ctx, seed: int, split: str, count: int) -> tuple[Tensor, list[dict[str, Tensor]]]:
    """The first `count` (scaled by the profile) scenes of `split` drawn with `seed`: images and targets."""
    from dlbasic.data.scenes import load_scenes

    data = load_scenes(SCENES, split, seed)
    n = min(ctx.profile.size(count), len(data))
    return data.images[:n], [{"boxes": t["boxes"].float(), "labels": t["labels"].long()} for t in data.targets[:n]]


def selective_search():
    """The search every arm and detector uses (`SEARCH`)."""
    from dlbasic.detection.models.rcnn import SelectiveSearchProposals

    return SelectiveSearchProposals(*SEARCH)


def untrained(name: str) -> nn.Module:
    """Detector `name` at initialization (seed 0), R-CNN's SVM stage marked fitted (zero weights: same work)."""
    from dlbasic.detection.models.registry import build_detector

    model = build_detector(name, 10, 1, None, 0)
    if hasattr(model, "fitted"):
        model.fitted.fill_(True)
    return model


def work(ctx) -> dict:
    """The structural counts (`count_macs`) of untrained detectors: for each searched detector at every number
    of given regions in `CURVE`; for Faster R-CNN and YOLO per test image of the first seed; and which
    detectors carry a selective search."""
    images, _ = scenes(ctx, ctx.seeds[0], "test", TIMED)
    curve, per_image, searches = {}, {}, {}
    for name in DETECTORS:
        model = untrained(name)
        searches[name] = getattr(model, "proposals", None) is not None
        if name in SEARCHED:
            counts = []
            for regions in CURVE:
                with given_boxes(model, regions) as given:
                    counts.append(count_macs(given, images[:1]))
            curve[name] = {k: [c[k] for c in counts] for k in ("conv", "fc", "cnn_runs")}
        else:
            counts = [count_macs(model, images[i : i + 1]) for i in range(len(images))]
            per_image[name] = {
                "total": [c["conv"] + c["fc"] for c in counts],
                "cnn_runs": [c["cnn_runs"] for c in counts],
            }
    return {"curve": curve, "per_image": per_image, "searches": searches}


def search_scenes(ctx, seed: int, split: str) -> dict:
    """Selective search on the test scenes of `seed` (or the training scenes the reported detectors use): the
    boxes per image and, for test scenes, the number per image and the AR@`AR_TOP` per image."""
    images, targets = scenes(ctx, seed, split, TEST_SCENES if split == "test" else TIMING_SCENES)
    boxes = selective_search()(images)
    out = {"boxes": [b.tolist() for b in boxes]}
    if split == "test":
        out["proposals"] = [len(b) for b in boxes]
        out["average_recall"] = average_recall(boxes, targets, AR_TOP)
    return out


def timed(model: nn.Module, images: Tensor) -> float:
    """Seconds per image on one thread, one image at a time, proposals searched anew."""
    from dlbasic.detection.train import seconds_per_image

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return seconds_per_image(model, images[:TIMED])
    finally:
        torch.set_num_threads(threads)


def train_rpn(model: nn.Module, images: Tensor, targets: list[dict[str, Tensor]], epochs: int, seed: int) -> list:
    """Train a Faster R-CNN's backbone and RPN alone on their two losses (Ren et al.'s step 1): Adam, batch 16,
    one-cycle cosine learning rate with 10 % warm-up. Returns the mean objectness loss of each epoch."""
    params = [*model.backbone.parameters(), *model.rpn.parameters()]
    opt = torch.optim.Adam(params, lr=RPN_LR, weight_decay=1e-4)
    batches = math.ceil(len(images) / 16)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, RPN_LR, total_steps=epochs * batches, pct_start=0.1)
    g = torch.Generator().manual_seed(seed)
    model.train()
    history = []
    for _ in range(epochs):
        order, total = torch.randperm(len(images), generator=g), 0.0
        for i in range(0, len(images), 16):
            idx = order[i : i + 16]
            x = images[idx]  # (B, 1, 64, 64)
            _, losses = model.rpn(x, model.backbone(x), [targets[j] for j in idx])
            opt.zero_grad()
            sum(losses.values()).backward()
            opt.step()
            sched.step()
            total += losses["loss_objectness"].item() * len(idx)
        history.append(total / len(images))
    return history


def proposal_network(ctx, seed: int) -> dict:
    """A proposal network trained on `seed`'s training scenes (`train_rpn`): AR@`AR_TOP` of its proposals per
    test scene, its proposals per test scene, and its objectness loss per epoch."""
    from dlbasic.detection.models.registry import build_detector

    train, train_targets = scenes(ctx, seed, "train", RPN_SCENES)
    test, targets = scenes(ctx, seed, "test", TEST_SCENES)
    model = build_detector("faster_rcnn", 10, 1, None, seed)
    history = train_rpn(model, train, train_targets, ctx.profile.epochs(RPN_EPOCHS), seed)
    proposals = rpn_proposals(model, test)
    return {
        "average_recall": average_recall(proposals, targets, AR_TOP),
        "proposals": [len(p) for p in proposals],
        "objectness_loss": history,
    }


def detector(ctx, name: str, boxes: dict[str, list] | None = None) -> dict:
    """Detector `name` trained on the first seed's `TIMING_SCENES` training scenes (reported beside the verdict):
    its mAP on that seed's test scenes and its seconds per image, searching anew. `boxes`: selective search's
    boxes of those training and test scenes (`search_scenes`), so that a searched detector does not search
    them again while training."""
    from dlbasic.detection.config import DetectionConfig
    from dlbasic.detection.metrics import evaluate_detections
    from dlbasic.detection.models.registry import build_detector
    from dlbasic.detection.train import fit, predict

    seed = ctx.seeds[0]
    train, train_targets = scenes(ctx, seed, "train", TIMING_SCENES)
    test, targets = scenes(ctx, seed, "test", TEST_SCENES)
    search = selective_search()
    if boxes is not None:
        search = KnownSearch(search, [*train, *test], boxes["train"] + boxes["test"])
    cfg = DetectionConfig(model=name, epochs=ctx.profile.epochs(TIMING_EPOCHS), batch_size=16, seed=seed)
    model = build_detector(name, 10, 1, search, seed)
    fit(model, train, train_targets, cfg)
    m = evaluate_detections(predict(model, test), targets)
    return {"map": m["map"], "map_50": m["map_50"], "seconds_per_image": timed(model, test)}


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


def seed_mean(values: list) -> float:
    """The mean over a seed's test scenes of per-scene values (NaN, saved as None, for a scene without digits)."""
    return float(np.nanmean([math.nan if v is None else v for v in values]))


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
    method = (
        "Counted exactly, on untrained detectors of dlbasic.detection (MACs do not depend on the weights): the "
        "MACs of every convolution and linear layer run for one image (forward hooks, summed over every region "
        f"a layer sees) and the CNN's runs, with {', '.join(map(str, CURVE))} given regions for R-CNN, SPP-net "
        "and Fast R-CNN, and per test scene for Faster R-CNN and YOLO. Measured per seed: Faster R-CNN's "
        f"backbone and proposal network trained alone on the seed's {RPN_SCENES} 64x64 scenes of 1-3 MNIST "
        f"digits ({RPN_EPOCHS} epochs, until its objectness loss levels off); the average recall (IoU "
        f"0.5:0.95) of its top {AR_TOP} proposals and of selective "
        f"search's top {AR_TOP} (fast mode, the papers' search) on the seed's {TEST_SCENES} test scenes. "
        f"Beside: mAP and wall time per image of the five detectors trained on {TIMING_SCENES} scenes for "
        f"{TIMING_EPOCHS} epochs (search included, {TIMED} images one at a time, one thread). Fixed data: "
        "detection needs boxes, so the scenes are MNIST digits pasted with their boxes whatever --data says."
    )
    rule = (
        "Structural + difference. Exact checks (no t-test): R-CNN's CNN runs once per region and its "
        "convolution MACs grow in proportion to the regions; SPP-net's and Fast R-CNN's CNN runs once with the "
        "same convolution MACs at every region count; Faster R-CNN and YOLO run their CNN once per image and "
        f"search nothing. Difference: AR@{AR_TOP} of the trained proposal network vs selective search's, paired "
        "per seed, on the log scale with margin log 1.1 (10 %); seeds in looks of 3, 6 then 12 with an "
        "O'Brien-Fleming boundary. Supported when every check holds and the network's recall is higher by more "
        "than the margin; contradicted when selective search's is higher or the two are equivalent; failed if "
        "a check does not hold. Times and mAP are reported, never judged."
    )
    form = "structural + difference"
    schedule = looks(3)

    def seed_runs(self, ctx, seeds) -> list[Run]:
        """Per seed: selective search on its test scenes and its trained proposal network (fixed data)."""
        runs = []
        for s in seeds:
            args = {"seed": s, "split": "test"}
            runs.append(Run(f"search-seed{s}", f"{__name__}:search_scenes", args, COST["search-test"], False))
            runs.append(Run(f"rpn-seed{s}", f"{__name__}:proposal_network", {"seed": s}, COST["rpn"], False))
        return runs

    def plan(self, ctx, results: dict) -> list[Run]:
        """The counts, the first look's seeds, the search of the reported detectors' training scenes and YOLO;
        given the searches, R-CNN, SPP-net and Fast R-CNN; more seeds while the comparison is undecided."""
        first = ctx.seeds[0]
        runs = [
            Run("work", f"{__name__}:work", {}, COST["work"], False),
            Run(
                "search-train",
                f"{__name__}:search_scenes",
                {"seed": first, "split": "train"},
                COST["search-train"],
                False,
            ),
        ]
        runs += [
            Run(f"detector-{name}", f"{__name__}:detector", {"name": name}, COST[name], False)
            for name in ("faster_rcnn", "yolo_v1")
        ]
        if "search-train" in results and f"search-seed{first}" in results:
            boxes = {"train": results["search-train"]["boxes"], "test": results[f"search-seed{first}"]["boxes"]}
            runs += [
                Run(f"detector-{name}", f"{__name__}:detector", {"name": name, "boxes": boxes}, COST[name], False)
                for name in SEARCHED
            ]
        look = self.seed_runs(ctx, unit_seeds(ctx, self.schedule[0]))
        if "work" in results and all(r.name in results for r in look):
            look = self.staged_runs(ctx, results)
        return not_run(runs + look, results)

    def collect(self, ctx, results: dict) -> Measurements:
        """The numbers and figure `method` describes, from whichever seeds' runs are in `results`."""
        seeds = sorted(int(k.removeprefix("rpn-seed")) for k in results if k.startswith("rpn-seed"))
        seeds = [s for s in seeds if f"search-seed{s}" in results]
        rpn = [results[f"rpn-seed{s}"] for s in seeds]
        search = [results[f"search-seed{s}"] for s in seeds]
        counts = results["work"]
        reported = {d: results.get(f"detector-{d}") for d in DETECTORS}
        numbers = {
            "seeds": seeds,
            "regions": REGIONS,
            "regions_curve": list(CURVE),
            "curve_macs": counts["curve"],
            "per_image": counts["per_image"],
            "searches": counts["searches"],
            "average_recall": {
                "rpn": [seed_mean(r["average_recall"]) for r in rpn],
                "selective_search": [seed_mean(r["average_recall"]) for r in search],
            },
            "proposals": {
                "rpn": [float(np.mean(r["proposals"])) for r in rpn],
                "selective_search": [float(np.mean(r["proposals"])) for r in search],
            },
            "objectness_loss": [r["objectness_loss"] for r in rpn],
            "seconds_per_image": {d: r["seconds_per_image"] for d, r in reported.items() if r},
            "map_50": {d: r["map_50"] for d, r in reported.items() if r},
            "map": {d: r["map"] for d, r in reported.items() if r},
        }
        return Measurements(numbers, [(FIGURE_CAPTION, _figure(numbers))], seeds)

    def judge(self, m) -> Verdict:
        """The verdict by `rule`: the exact checks of the work per image, and AR@k paired per seed."""
        ar = m["average_recall"]
        p = part(
            f"AR@{AR_TOP}, trained proposal network vs selective search",
            [max(v, AR_FLOOR) for v in ar["rpn"]],
            [max(v, AR_FLOOR) for v in ar["selective_search"]],
            form="difference",
            margin=RATIO,
            log=True,
            schedule=self.schedule,
        )
        return verdict([p], _key(m, p), checks=_checks(m))


FIGURE_CAPTION = (
    "MACs per image against the number of regions (left), AR@10 of the trained proposal network and of selective "
    "search per seed (middle), and, beside the verdict, the wall time and mAP@0.5 of the trained detectors (right)"
)


def _checks(m: dict) -> list[dict]:
    """The exact checks of `rule` from the counts."""
    curve, per_image, searches = m["curve_macs"], m["per_image"], m["searches"]
    regions = m["regions_curve"]
    rcnn = curve["rcnn"]
    once = {d: curve[d] for d in ("sppnet", "fast_rcnn")}
    return [
        check(
            f"R-CNN runs its CNN once per region: {rcnn['cnn_runs']} runs at {regions} regions",
            rcnn["cnn_runs"] == regions,
        ),
        check(
            "R-CNN's convolution MACs grow in proportion to the regions: conv(R) = R conv(1)",
            rcnn["conv"] == [r * rcnn["conv"][0] for r in regions],
        ),
        check(
            f"SPP-net and Fast R-CNN run their CNN once per image with the same convolution MACs at {regions} regions",
            all(c["cnn_runs"] == [1] * len(regions) and len(set(c["conv"])) == 1 for c in once.values()),
        ),
        check(
            "Faster R-CNN and YOLO run their CNN once per image and search nothing",
            all(set(per_image[d]["cnn_runs"]) == {1} and not searches[d] for d in ("faster_rcnn", "yolo_v1")),
        ),
    ]


def _key(m: dict, p) -> str:
    """The key number: AR@k of both arms and their ratio, the work per image; times and mAP beside."""
    ar, c = m["average_recall"], p.comparison
    at = m["regions_curve"].index(m["regions"])
    total = {d: m["curve_macs"][d]["conv"][at] + m["curve_macs"][d]["fc"][at] for d in SEARCHED}
    for d in ("faster_rcnn", "yolo_v1"):
        total[d] = float(np.mean(m["per_image"][d]["total"]))
    return (
        f"AR@{AR_TOP} proposal network {np.mean(ar['rpn']):.3f} vs selective search "
        f"{np.mean(ar['selective_search']):.3f} (ratio x{math.exp(c.mean):.2f}, 95% CI x{math.exp(c.ci[0]):.2f} "
        f"to x{math.exp(c.ci[1]):.2f}, {c.n} seeds); MACs per image at {m['regions']} regions: "
        + ", ".join(f"{d} {v / 1e6:.3g}M" for d, v in total.items())
        + f"; R-CNN's CNN runs {m['curve_macs']['rcnn']['cnn_runs'][at]}x; selective search found "
        f"{np.mean(m['proposals']['selective_search']):.0f} regions per scene; beside: ms/image "
        + ", ".join(f"{d} {1000 * s:.1f}" for d, s in m["seconds_per_image"].items())
    )


def _figure(m: dict) -> plt.Figure:
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(13, 3.8))
    regions = m["regions_curve"]
    for name in SEARCHED:
        c = m["curve_macs"][name]
        ax1.plot(regions, np.add(c["conv"], c["fc"]), "o-", label=f"{name} (total)")
        ax1.plot(regions, c["conv"], "--", lw=0.8, label=f"{name} (convolutions)")
    for name, style, label in (("faster_rcnn", ":", "its own proposals"), ("yolo_v1", "-.", "no regions")):
        ax1.axhline(float(np.mean(m["per_image"][name]["total"])), ls=style, color="k", label=f"{name} ({label})")
    ax1.set_xscale("log")
    ax1.set_yscale("log")
    ax1.set_xlabel("regions per image")
    ax1.set_ylabel("MACs per image")
    ax1.legend(fontsize=6)
    ax1.grid(alpha=0.3)
    ar = m["average_recall"]
    for a, b in zip(ar["selective_search"], ar["rpn"]):
        ax2.plot([0, 1], [a, b], "o-", color="C0", alpha=0.7)
    ax2.set_xticks([0, 1], ["selective search", "proposal network"])
    ax2.set_xlim(-0.4, 1.4)
    ax2.set_ylabel(f"AR@{AR_TOP} on the seed's test scenes")
    ax2.grid(alpha=0.3, axis="y")
    names = list(m["seconds_per_image"])
    x = np.arange(len(names))
    bars = ax3.bar(x, [1000 * m["seconds_per_image"][d] for d in names], color="#c66")
    for bar, d in zip(bars, names):
        ax3.annotate(
            f"mAP@.5 {m['map_50'][d]:.2f}", (bar.get_x() + 0.4, bar.get_height()), ha="center", va="bottom", fontsize=7
        )
    ax3.set_xticks(x, names, fontsize=7)
    ax3.set_yscale("log")
    ax3.set_ylabel("ms per image (search included; beside)")
    ax3.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig
