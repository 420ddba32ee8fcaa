"""Calibration: does a classifier's confidence match how often it is right?

Guo, Pleiss, Sun & Weinberger, "On Calibration of Modern Neural Networks", ICML 2017,
https://arxiv.org/abs/1706.04599 (section 2). Predictions are grouped by their confidence
conf_i = max_k p_ik into M equal-width bins B_m = ((m - 1) / M, m / M] (a confidence of exactly 0 goes to
the first bin); the expected calibration error is the sample-weighted gap between accuracy and mean
confidence per bin:

    ECE = sum_m |B_m| / n * |acc(B_m) - conf(B_m)|

`reliability_bins` returns the per-bin numbers (for a reliability diagram), `expected_calibration_error`
the scalar.
"""

from __future__ import annotations

import torch
from torch import Tensor

from dlbasic.errors import check


def reliability_bins(probs: Tensor, labels: Tensor, n_bins: int = 15) -> dict[str, Tensor]:
    """Per-bin counts, accuracies and mean confidences of equal-width confidence bins.

    Args:
        probs: Tensor[N, K] class probabilities (rows sum to 1).
        labels: Tensor[N] int64 true classes.
        n_bins: M, the number of bins over [0, 1].

    Returns:
        dict with "count" Tensor[M] int64, "accuracy" and "confidence" Tensor[M] float64 (0 in empty bins)
        and "edges" Tensor[M + 1].
    """
    check(
        probs.dim() == 2 and labels.dim() == 1 and probs.shape[0] == labels.shape[0],
        f"expected probs [N, K] and labels [N], got {tuple(probs.shape)} and {tuple(labels.shape)}",
    )
    check(n_bins >= 1, f"n_bins must be positive, got {n_bins}")
    p = probs.detach().double().cpu()
    conf, pred = p.max(dim=1)  # (N,), (N,)
    correct = (pred == labels.cpu()).double()
    # bin m holds (m / M, (m + 1) / M]: ceil(conf * M) - 1, with conf = 0 in bin 0
    index = (torch.ceil(conf * n_bins).long() - 1).clamp(0, n_bins - 1)
    count = torch.bincount(index, minlength=n_bins)
    safe = count.clamp_min(1).double()
    accuracy = torch.bincount(index, weights=correct, minlength=n_bins) / safe
    confidence = torch.bincount(index, weights=conf, minlength=n_bins) / safe
    edges = torch.linspace(0.0, 1.0, n_bins + 1, dtype=torch.float64)
    return {"count": count, "accuracy": accuracy, "confidence": confidence, "edges": edges}


def expected_calibration_error(probs: Tensor, labels: Tensor, n_bins: int = 15) -> float:
    """ECE = sum_m |B_m| / n * |acc(B_m) - conf(B_m)| over `n_bins` equal-width confidence bins.

    Args:
        probs: Tensor[N, K] class probabilities (softmax of the logits).
        labels: Tensor[N] int64 true classes.
        n_bins: number of bins (Guo et al. use 15).

    >>> p = torch.tensor([[0.9, 0.1], [0.7, 0.3]])  # one right at 0.9, one wrong at 0.7: separate bins
    >>> round(expected_calibration_error(p, torch.tensor([0, 1]), n_bins=5), 6)  # (|1 - .9| + |0 - .7|) / 2
    0.4
    """
    bins = reliability_bins(probs, labels, n_bins)
    n = max(int(bins["count"].sum()), 1)
    gaps = (bins["accuracy"] - bins["confidence"]).abs()
    return float((bins["count"].double() * gaps).sum() / n)


__all__ = ["expected_calibration_error", "reliability_bins"]
