"""R-CNN (Girshick et al., "Rich feature hierarchies for accurate object detection and semantic
segmentation", CVPR 2014, https://arxiv.org/abs/1311.2524), and the selective-search proposals that
R-CNN, SPP-net and Fast R-CNN share.

Pipeline at test time: (1) selective search proposes regions; (2) each region, enlarged by a
context margin, is warped to a fixed size (bilinear, `roi_align` on the image); (3) a CNN computes
a feature vector per region, i.e. the CNN runs once per region; (4) one linear SVM per class
scores every region; (5) a per-class ridge regressor refines the box (appendix C); (6) per-class
NMS. Training follows the paper's three stages: fine-tune the CNN as a (K + 1)-way classifier on
warped regions (IoU >= 0.5 foreground, 25 % of each minibatch), then fit the SVMs on the frozen
features (positives: ground-truth boxes; negatives: regions with IoU < 0.3 with every box of the
class) with hard-negative mining, then the box regressors on regions with IoU >= 0.6.

Differences: no ImageNet pre-training (the CNN is `RegionClassifier`, trained from scratch); warps
are 32x32 (not 227x227) with 4 pixels of context (not 16 of 227); scikit-learn's `LinearSVC` and
`Ridge` replace the paper's solvers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dlbasic.detection.components.backbone import RegionClassifier
from dlbasic.detection.components.matcher import BalancedPositiveNegativeSampler
from dlbasic.detection.components.proposals import selective_search
from dlbasic.detection.ops.box_coder import BoxCoder
from dlbasic.detection.ops.boxes import box_iou, clip_boxes_to_image, remove_small_boxes
from dlbasic.detection.ops.nms import batched_nms
from dlbasic.nn.pooling import roi_align


class SelectiveSearchProposals:
    """Selective search boxes per image, cached by image content (proposals are fixed, not learned).

    Args:
        mode: selective search mode ("single", "fast", "quality").
        max_boxes: most proposals per image.
        upscale: search an image enlarged this many times (small digits on 64-pixel scenes are
            merged away by Felzenszwalb's minimum region size at scale 1; at 2x recall@0.5 reaches
            about 0.96 with "single" and 1.0 with "fast" on `scenes`), boxes mapped back.
        cache: keep the proposals of every image seen (turn off to time the search).
    """

    def __init__(self, mode: str = "fast", max_boxes: int = 300, upscale: float = 2.0, cache: bool = True):
        self.mode, self.max_boxes, self.upscale, self.cache = mode, max_boxes, upscale, cache
        self._store: dict[str, Tensor] = {}

    def one(self, image: Tensor) -> Tensor:
        """Tensor[C, H, W] -> Tensor[L, 4] xyxy pixels (at least the whole image)."""
        key = hashlib.sha1(image.detach().cpu().contiguous().numpy().tobytes()).hexdigest() if self.cache else ""
        if key in self._store:
            return self._store[key]
        x = image.detach().cpu()
        if self.upscale != 1:
            x = F.interpolate(x[None], scale_factor=self.upscale, mode="bilinear", align_corners=False)[0].clamp(0, 1)
        boxes = selective_search(x, self.mode, self.max_boxes, min_size=2) / self.upscale
        if len(boxes) == 0:
            h, w = image.shape[-2:]
            boxes = torch.tensor([[0.0, 0.0, float(w), float(h)]])
        if self.cache:
            self._store[key] = boxes
        return boxes

    def __call__(self, images: Tensor | Sequence[Tensor]) -> list[Tensor]:
        return [self.one(im) for im in images]


def warp_regions(images: Tensor, boxes: Sequence[Tensor], size: int, context: float = 0.0) -> Tensor:
    """Crop each box (enlarged by `context` pixels per side) and warp it to size x size, bilinear.

    Args:
        images: Tensor[N, C, H, W].
        boxes: one Tensor[L_i, 4] xyxy per image.

    Returns:
        Tensor[sum L_i, C, size, size].
    """
    pad = torch.tensor([-context, -context, context, context])
    return roi_align(images, [b + pad.to(b) for b in boxes], size, 1.0, sampling_ratio=2, aligned=True)


class RCNN(nn.Module):
    """R-CNN: proposals, a CNN per warped region, per-class linear SVMs, box regression, NMS.

    Args:
        num_classes: object classes (background excluded).
        in_channels: image channels.
        proposals: a `SelectiveSearchProposals`.
        warp_size, context: region warping.
        batch_size_per_image, positive_fraction: fine-tuning minibatch (paper: 128 of which 32 foreground).
        score_thresh: lowest SVM margin kept at test time; nms_thresh: per-class NMS (paper: 0.3).
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 1,
        proposals: SelectiveSearchProposals | None = None,
        warp_size: int = 32,
        context: float = 4.0,
        batch_size_per_image: int = 32,
        positive_fraction: float = 0.25,
        score_thresh: float = -1.0,
        nms_thresh: float = 0.3,
        detections_per_img: int = 100,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        self.num_classes = num_classes
        self.cnn = RegionClassifier(in_channels, num_classes)
        self.proposals = proposals or SelectiveSearchProposals()
        self.warp_size, self.context = warp_size, context
        self.sampler = BalancedPositiveNegativeSampler(batch_size_per_image, positive_fraction, generator)
        self.box_coder = BoxCoder((1.0, 1.0, 1.0, 1.0))
        self.score_thresh, self.nms_thresh, self.detections_per_img = score_thresh, nms_thresh, detections_per_img
        d = self.cnn.feature_dim
        self.register_buffer("svm_weight", torch.zeros(num_classes, d))  # one linear SVM per class
        self.register_buffer("svm_bias", torch.full((num_classes,), -1.0))
        self.register_buffer("reg_weight", torch.zeros(num_classes, d + 1, 4))  # ridge regressors (with bias)
        self.register_buffer("fitted", torch.tensor(False))

    def features(self, images: Tensor, boxes: Sequence[Tensor]) -> Tensor:
        """Tensor[sum L_i, D]: the CNN run once on every warped region."""
        return self.cnn.features(warp_regions(images, boxes, self.warp_size, self.context))

    def region_labels(self, boxes: Tensor, target: dict[str, Tensor], fg: float = 0.5, bg: float = 0.5) -> Tensor:
        """Tensor[L]: class + 1 of the best-overlapping box if IoU >= fg, 0 if < bg, -1 in between."""
        if len(target["boxes"]) == 0:
            return torch.zeros(len(boxes), dtype=torch.long)
        iou, idx = box_iou(target["boxes"], boxes).max(0)
        labels = target["labels"][idx] + 1
        labels[iou < bg] = 0
        labels[(iou >= bg) & (iou < fg)] = -1
        return labels

    def forward(self, images: Tensor, targets: Sequence[dict[str, Tensor]] | None = None):
        """Training: {"loss_classifier"} of fine-tuning on warped regions. Eval: detections per image."""
        proposals = self.proposals(images)
        if self.training:
            if targets is None:
                raise ValueError("targets are needed in training mode")
            boxes = [torch.cat([p, t["boxes"]]) for p, t in zip(proposals, targets)]
            labels = [self.region_labels(b, t) for b, t in zip(boxes, targets)]
            pos, neg = self.sampler(labels)
            keep = [torch.nonzero(p | n)[:, 0] for p, n in zip(pos, neg)]
            logits = self.cnn(warp_regions(images, [b[k] for b, k in zip(boxes, keep)], self.warp_size, self.context))
            return {"loss_classifier": F.cross_entropy(logits, torch.cat([lab[k] for lab, k in zip(labels, keep)]))}
        return self.detect(images, proposals)

    @torch.no_grad()
    def detect(self, images: Tensor, proposals: Sequence[Tensor]) -> list[dict[str, Tensor]]:
        """SVM scores, per-class box regression, score threshold and per-class NMS."""
        if not bool(self.fitted):
            raise RuntimeError("R-CNN's SVMs are not fitted: call fit_svms (train_detector does) first")
        feats = self.features(images, proposals)  # [K, D]
        scores_all = feats @ self.svm_weight.T + self.svm_bias  # [K, C]
        deltas_all = torch.einsum("kd,cdj->kcj", torch.cat([feats, torch.ones_like(feats[:, :1])], 1), self.reg_weight)
        out = []
        h, w = images.shape[-2:]
        for props, scores, deltas in zip(
            proposals, scores_all.split([len(p) for p in proposals]), deltas_all.split([len(p) for p in proposals])
        ):
            boxes = self.box_coder.decode(deltas.reshape(len(props), -1), props).reshape(-1, 4)  # [L*C, 4]
            boxes = clip_boxes_to_image(boxes, (h, w))
            labels = torch.arange(self.num_classes).repeat(len(props))
            scores = scores.reshape(-1)
            keep = torch.nonzero(scores > self.score_thresh)[:, 0]
            keep = keep[remove_small_boxes(boxes[keep], 1.0)]
            boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
            keep = batched_nms(boxes, scores, labels, self.nms_thresh)[: self.detections_per_img]
            out.append({"boxes": boxes[keep], "scores": torch.sigmoid(scores[keep]), "labels": labels[keep]})
        return out

    @torch.no_grad()
    def fit_svms(
        self,
        images: Tensor,
        targets: Sequence[dict[str, Tensor]],
        C: float = 0.01,
        mining_rounds: int = 2,
        ridge_alpha: float = 10.0,
        batch: int = 32,
    ) -> dict[str, float]:
        """Stages 2 and 3: linear SVMs with hard-negative mining, then ridge box regressors.

        Args:
            images: Tensor[N, C, H, W] training images; targets their boxes and labels.
            C: SVM regularization (inverse strength).
            mining_rounds: retraining rounds that add the negatives inside the margin (score > -1).
            ridge_alpha: L2 strength of the box regressors (the paper's lambda = 1000 for pool5 features).

        Returns:
            {"positives", "negatives", "mined"}: counts over all classes.
        """
        from sklearn.linear_model import Ridge
        from sklearn.svm import LinearSVC

        self.eval()
        feats, labels, best_iou, deltas = [], [], [], []
        for s in range(0, len(images), batch):
            ims, tg = images[s : s + batch], targets[s : s + batch]
            boxes = [torch.cat([p, t["boxes"]]) for p, t in zip(self.proposals(ims), tg)]
            feats.append(self.features(ims, boxes))
            for b, t in zip(boxes, tg):
                n = len(t["boxes"])
                iou = box_iou(b, t["boxes"]) if n else torch.zeros(len(b), 0)  # [L, G]
                per_class = torch.zeros(len(b), self.num_classes)  # IoU with the nearest box of each class
                for c in range(self.num_classes):
                    cols = t["labels"] == c
                    if cols.any():
                        per_class[:, c] = iou[:, cols].max(1).values
                lab = torch.full((len(b),), -1, dtype=torch.long)  # ground-truth class, -1 for proposals
                lab[len(b) - n :] = t["labels"]
                labels.append(lab)
                best_iou.append(per_class)
                j = iou.argmax(1) if n else torch.zeros(len(b), dtype=torch.long)
                deltas.append(self.box_coder.encode(t["boxes"][j], b) if n else torch.zeros(len(b), 4))
        x = torch.cat(feats).numpy().astype(np.float64)
        gt_label, ious, targets_d = torch.cat(labels).numpy(), torch.cat(best_iou).numpy(), torch.cat(deltas).numpy()
        rng = np.random.default_rng(0)
        stats = {"positives": 0, "negatives": 0, "mined": 0}
        for c in range(self.num_classes):
            pos = np.nonzero(gt_label == c)[0]
            negatives = np.nonzero(ious[:, c] < 0.3)[0]
            if len(pos) == 0 or len(negatives) == 0:
                continue
            cache = rng.choice(negatives, size=min(len(negatives), 4 * len(pos)), replace=False)
            for _ in range(mining_rounds + 1):
                idx = np.concatenate([pos, cache])
                y = np.concatenate([np.ones(len(pos)), np.zeros(len(cache))])
                svm = LinearSVC(C=C, class_weight="balanced", max_iter=5000).fit(x[idx], y)
                margin = svm.decision_function(x[negatives])
                hard = np.setdiff1d(negatives[margin > -1.0], cache)  # inside the margin, not yet cached
                if len(hard) == 0:
                    break
                stats["mined"] += len(hard)
                cache = np.concatenate([cache, hard])
            self.svm_weight[c] = torch.as_tensor(svm.coef_[0], dtype=torch.float32)
            self.svm_bias[c] = float(svm.intercept_[0])
            stats["positives"] += len(pos)
            stats["negatives"] += len(cache)
            reg = np.nonzero((ious[:, c] >= 0.6) & (ious.argmax(1) == c))[0]
            if len(reg) >= 2:
                ridge = Ridge(alpha=ridge_alpha).fit(x[reg], targets_d[reg])
                w = np.concatenate([ridge.coef_.T, ridge.intercept_[None]], 0)  # [D + 1, 4]
                self.reg_weight[c] = torch.as_tensor(w, dtype=torch.float32)
        self.fitted.fill_(True)
        return stats
