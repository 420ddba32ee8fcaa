"""Hessian eigenvalues and epsilon-sharpness on quadratics with known answers, then on a small network."""

import itertools

import numpy as np
import pytest
import torch

from dlbasic.evaluation.sharpness import (
    epsilon_sharpness,
    hessian_vector_product,
    model_loss_fn,
    top_hessian_eigenvalue,
)


def _spd(eigs, seed=0):
    q, _ = torch.linalg.qr(
        torch.randn(len(eigs), len(eigs), generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    )
    return q @ torch.diag(torch.tensor(eigs, dtype=torch.float64)) @ q.T


def test_hvp_equals_hessian_times_vector():
    a = _spd([4.0, 2.0, 1.0, 0.5])
    w = torch.randn(4, dtype=torch.float64, requires_grad=True)
    v = torch.randn(4, dtype=torch.float64)
    hv = hessian_vector_product(lambda: 0.5 * w @ a @ w + torch.sin(w).sum(), [w], [v])[0]
    h = torch.autograd.functional.hessian(lambda u: 0.5 * u @ a @ u + torch.sin(u).sum(), w.detach())
    torch.testing.assert_close(hv, h @ v, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_top_eigenvalue_of_quadratic_to_1e6(seed):
    a = _spd([5.0, 3.0, 1.0, 0.2, 0.1, 0.01], seed)
    w = torch.randn(6, dtype=torch.float64, requires_grad=True)
    eig, vec = top_hessian_eigenvalue(lambda: 0.5 * w @ a @ w, [w], iters=500, seed=seed)
    ref = torch.linalg.eigvalsh(a).max().item()
    assert abs(eig - ref) < 1e-6
    torch.testing.assert_close((a @ vec[0]), ref * vec[0], rtol=0, atol=1e-5)


def test_epsilon_sharpness_of_diagonal_quadratic_matches_closed_form():
    """At the minimum c of f(w) = 1/2 sum h_i (w_i - c_i)^2 the box maximum is at a vertex:
    max f = 1/2 sum h_i eps^2 (|c_i| + 1)^2, and f(c) = 0, so phi = 100 * that."""
    h = torch.tensor([3.0, 1.0, 0.5, 2.0], dtype=torch.float64)
    c = torch.tensor([1.0, -2.0, 0.0, 0.5], dtype=torch.float64)
    w = c.clone().requires_grad_(True)
    eps = 1e-2
    phi = epsilon_sharpness(lambda: 0.5 * (h * (w - c) ** 2).sum(), [w], epsilon=eps, max_iter=50)
    expected = 100 * 0.5 * (h * (eps * (c.abs() + 1)) ** 2).sum().item()
    assert phi == pytest.approx(expected, rel=1e-6)
    torch.testing.assert_close(w.detach(), c)  # weights restored


def test_epsilon_sharpness_of_dense_quadratic_equals_best_vertex():
    a = _spd([4.0, 1.0, 0.3], seed=3)
    c = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
    w = c.clone().requires_grad_(True)
    eps = 1e-2
    f0 = 1.0  # an offset makes the (1 + f(x)) denominator matter
    r = (eps * (c.abs() + 1)).numpy()
    vertices = [0.5 * np.array(s) * r @ a.numpy() @ (np.array(s) * r) for s in itertools.product([-1, 1], repeat=3)]
    phis = [100 * v / (1 + f0) for v in vertices]

    def loss():
        return 0.5 * (w - c) @ a @ (w - c) + f0

    # one start: L-BFGS-B ends at a local maximum, which for a convex function over a box is a vertex
    for seed in range(4):
        phi = epsilon_sharpness(loss, [w], epsilon=eps, max_iter=50, seed=seed)
        assert min(abs(phi - p) for p in phis) < 1e-6 * max(phis)
    # enough restarts find the best vertex: the closed-form maximum
    phi = epsilon_sharpness(loss, [w], epsilon=eps, max_iter=50, restarts=16)
    assert phi == pytest.approx(max(phis), rel=1e-6)


def test_network_sharpness_is_positive_and_restores_weights():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    x, y = torch.randn(64, 5), torch.randint(0, 3, (64,))
    before = [p.detach().clone() for p in model.parameters()]
    loss_fn = model_loss_fn(model, x, y)
    phi = epsilon_sharpness(loss_fn, list(model.parameters()), epsilon=1e-3)
    eig, _ = top_hessian_eigenvalue(loss_fn, list(model.parameters()), iters=200)
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    sizes = [p.numel() for p in model.parameters()]

    def f(u):
        ps = [t.view_as(p) for t, p in zip(torch.split(u, sizes), model.parameters())]
        h = torch.tanh(x @ ps[0].T + ps[1])
        return torch.nn.functional.cross_entropy(h @ ps[2].T + ps[3], y)

    eigs = torch.linalg.eigvalsh(torch.autograd.functional.hessian(f, flat.double().float()))
    top = eigs[eigs.abs().argmax()].item()
    assert phi > 0
    assert eig == pytest.approx(top, rel=1e-3)
    for p, b in zip(model.parameters(), before):
        torch.testing.assert_close(p.detach(), b)
