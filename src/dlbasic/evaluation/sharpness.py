"""How sharp a minimum is: Keskar et al.'s epsilon-sharpness and the top Hessian eigenvalue.

Keskar, Mudigere, Nocedal, Smelyanskiy & Tang, "On Large-Batch Training for Deep Learning:
Generalization Gap and Sharp Minima", ICLR 2017 (arXiv 1609.04836), metric 2.1 in full space (A = I):

    C_eps = { z : |z_i| <= eps (|x_i| + 1) }
    phi(x, eps) = 100 * (max_{z in C_eps} f(x + z) - f(x)) / (1 + f(x))

The inner maximization is solved as in the paper with L-BFGS-B (scipy) on the box constraints,
minimizing -f; our start is a uniform random point of the box (at an exact stationary point the
gradient at z = 0 vanishes and L-BFGS-B would not move), and the best of the start and the result is
kept. It is a local maximization, so phi is a lower bound of the true sharpness.

The top eigenvalue of the Hessian comes from power iteration on Hessian-vector products
(Pearlmutter, "Fast exact multiplication by the Hessian", 1994): H v = d/dw (grad f(w) . v), two
backward passes per product, the Hessian itself never formed. Power iteration converges to the
eigenvalue of largest magnitude, which near a minimum (H positive semi-definite) is the largest one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from scipy.optimize import Bounds, minimize
from torch import Tensor, nn

from dlbasic.errors import check

LossFn = Callable[[], Tensor]


def _flat(tensors: Sequence[Tensor]) -> Tensor:
    return torch.cat([t.reshape(-1) for t in tensors])


def hessian_vector_product(loss_fn: LossFn, params: Sequence[Tensor], v: Sequence[Tensor]) -> list[Tensor]:
    """H v for the Hessian of `loss_fn()` with respect to `params` (double backward)."""
    grads = torch.autograd.grad(loss_fn(), params, create_graph=True)
    dot = sum((g * vi).sum() for g, vi in zip(grads, v))
    return [h.detach() for h in torch.autograd.grad(dot, params)]


def top_hessian_eigenvalue(
    loss_fn: LossFn, params: Sequence[Tensor], iters: int = 100, tol: float = 1e-10, seed: int = 0
) -> tuple[float, list[Tensor]]:
    """The eigenvalue of largest magnitude of the Hessian and its unit eigenvector, by power iteration.

    Stops when the Rayleigh quotient changes by less than `tol` relative to its size, or after `iters` products.
    """
    params = list(params)
    g = torch.Generator().manual_seed(seed)
    v = [torch.randn(p.shape, generator=g, dtype=p.dtype) for p in params]
    norm = _flat(v).norm()
    v = [x / norm for x in v]
    eig = 0.0
    for _ in range(iters):
        hv = hessian_vector_product(loss_fn, params, v)
        new = float(sum((a * b).sum() for a, b in zip(hv, v)))  # Rayleigh quotient v^T H v, |v| = 1
        norm = _flat(hv).norm()
        if norm == 0:
            return 0.0, v
        v = [x / norm for x in hv]
        if abs(new - eig) <= tol * max(abs(new), 1e-12):
            eig = new
            break
        eig = new
    return eig, v


def epsilon_sharpness(
    loss_fn: LossFn,
    params: Sequence[Tensor],
    epsilon: float = 1e-3,
    max_iter: int = 10,
    restarts: int = 1,
    seed: int = 0,
) -> float:
    """Keskar et al.'s phi(x, eps) in percent (see the module docstring); `params` are restored afterwards.

    Args:
        loss_fn: computes the loss at the current values of `params` (fixed data, eval mode).
        params: the weights x.
        epsilon: box size relative to |x_i| + 1 (the paper uses 1e-3 and 5e-4).
        max_iter: L-BFGS-B iterations (the paper uses 10).
        restarts: random starting points; the largest maximum found counts.
    """
    check(epsilon > 0, f"epsilon must be positive, got {epsilon}")
    params = list(params)
    x0 = _flat([p.detach() for p in params]).double().clone()
    radius = (epsilon * (x0.abs() + 1)).numpy()
    with torch.no_grad():
        f0 = float(loss_fn())

    def set_params(z: np.ndarray) -> None:
        flat = x0 + torch.from_numpy(z)
        with torch.no_grad():
            i = 0
            for p in params:
                p.copy_(flat[i : i + p.numel()].view_as(p).to(p.dtype))
                i += p.numel()

    def neg_loss(z: np.ndarray) -> tuple[float, np.ndarray]:
        set_params(z)
        loss = loss_fn()
        grads = torch.autograd.grad(loss, params)
        return -float(loss.detach()), -_flat(grads).double().numpy()

    rng = np.random.default_rng(seed)
    best = f0
    try:
        for _ in range(restarts):
            z_start = rng.uniform(-radius, radius)
            best = max(best, -neg_loss(z_start)[0])
            res = minimize(
                neg_loss,
                z_start,
                jac=True,
                method="L-BFGS-B",
                bounds=Bounds(-radius, radius),
                options={"maxiter": max_iter},
            )
            best = max(best, -float(res.fun))
    finally:
        set_params(np.zeros_like(radius))
    return 100.0 * (best - f0) / (1.0 + f0)


def model_loss_fn(model: nn.Module, x: Tensor, y: Tensor) -> LossFn:
    """A closure computing the mean cross entropy of `model` (put in eval mode: no dropout) on a fixed batch."""
    model.eval()
    return lambda: nn.functional.cross_entropy(model(x), y)


__all__ = ["epsilon_sharpness", "hessian_vector_product", "model_loss_fn", "top_hessian_eigenvalue"]
