"""Matching predictions (anchors, proposals) to ground truth, and balanced minibatch sampling.

`Matcher` follows Faster R-CNN's RPN labelling (Ren et al. 2015, https://arxiv.org/abs/1506.01497,
section 3.1.2) as torchvision implements it: each prediction takes the ground truth with which it
has the highest IoU; IoU >= high is a match, IoU < low is background (-1), in between is ignored
(-2). With `allow_low_quality_matches`, every ground truth also keeps the predictions that reach its
own highest IoU, even below `high` (the paper's rule (i), so that every object gets an anchor).
`BalancedPositiveNegativeSampler` draws at most `positive_fraction * batch_size_per_image`
positives and fills the rest with negatives (Fast R-CNN: 25 % foreground of 128 RoIs; RPN: 50 %
of 256 anchors).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


class Matcher:
    """Assign each prediction the index of its ground truth, or a negative code.

    Args:
        high_threshold: IoU at or above which a prediction is matched.
        low_threshold: IoU below which a prediction is background.
        allow_low_quality_matches: also match each ground truth's best predictions (see module).

    >>> m = Matcher(0.7, 0.3, allow_low_quality_matches=True)
    >>> m(torch.tensor([[0.9, 0.5, 0.1, 0.0], [0.1, 0.2, 0.4, 0.0]]))
    tensor([ 0, -2,  1, -1])
    """

    BELOW_LOW_THRESHOLD = -1
    BETWEEN_THRESHOLDS = -2

    def __init__(self, high_threshold: float, low_threshold: float, allow_low_quality_matches: bool = False):
        if low_threshold > high_threshold:
            raise ValueError(f"low_threshold {low_threshold} > high_threshold {high_threshold}")
        self.high_threshold = high_threshold
        self.low_threshold = low_threshold
        self.allow_low_quality_matches = allow_low_quality_matches

    def __call__(self, quality: Tensor) -> Tensor:
        """quality: Tensor[G, P] (e.g. IoU of G ground truths with P predictions) -> Tensor[P] int64.

        Entries are a ground-truth index, -1 (background) or -2 (ignored). With no ground truth,
        every prediction is background.
        """
        if quality.numel() == 0:
            return torch.full((quality.shape[1],), self.BELOW_LOW_THRESHOLD, dtype=torch.long, device=quality.device)
        values, matches = quality.max(dim=0)  # best ground truth per prediction, [P]
        best_of_each = matches.clone()
        matches[values < self.low_threshold] = self.BELOW_LOW_THRESHOLD
        matches[(values >= self.low_threshold) & (values < self.high_threshold)] = self.BETWEEN_THRESHOLDS
        if self.allow_low_quality_matches:
            # every prediction tied for a ground truth's highest quality keeps its best match, e.g. a
            # ground truth whose best IoU is 0.4 still gets the prediction(s) reaching 0.4
            highest = quality.max(dim=1, keepdim=True).values  # [G, 1]
            preds = torch.nonzero(quality == highest)[:, 1]
            matches[preds] = best_of_each[preds]
        return matches


class BalancedPositiveNegativeSampler:
    """Sample a fixed number of training examples per image with at most a fraction of positives.

    Args:
        batch_size_per_image: examples per image.
        positive_fraction: largest share of positives.
        generator: source of randomness (reproducible sampling).
    """

    def __init__(self, batch_size_per_image: int, positive_fraction: float, generator: torch.Generator | None = None):
        if not 0.0 <= positive_fraction <= 1.0:
            raise ValueError(f"positive_fraction must be in [0, 1], got {positive_fraction}")
        self.batch_size_per_image = batch_size_per_image
        self.positive_fraction = positive_fraction
        self.generator = generator

    def _pick(self, candidates: Tensor, k: int) -> Tensor:
        perm = torch.randperm(len(candidates), generator=self.generator)[:k]
        return candidates[perm.to(candidates.device)]

    def __call__(self, labels: Sequence[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
        """labels: one Tensor[P] per image, >= 1 positive, 0 negative, -1 ignored.

        Returns:
            (positive masks, negative masks): bool Tensor[P] per image.
        """
        positives, negatives = [], []
        for lab in labels:
            pos = torch.nonzero(lab >= 1)[:, 0]
            neg = torch.nonzero(lab == 0)[:, 0]
            n_pos = min(len(pos), int(self.batch_size_per_image * self.positive_fraction))
            n_neg = min(len(neg), self.batch_size_per_image - n_pos)
            pos_mask = torch.zeros_like(lab, dtype=torch.bool)
            neg_mask = torch.zeros_like(lab, dtype=torch.bool)
            pos_mask[self._pick(pos, n_pos)] = True
            neg_mask[self._pick(neg, n_neg)] = True
            positives.append(pos_mask)
            negatives.append(neg_mask)
        return positives, negatives
