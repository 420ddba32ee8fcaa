"""Input noise as a batch transform; weight noise as a callback around forward and backward."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from dlbasic.errors import UserError
from dlbasic.regularization.noise import InputNoise, WeightNoise


def test_input_noise_statistics_labels_and_reproducibility():
    x = torch.full((64, 1, 16, 16), 0.5)
    y = torch.arange(64)
    out, y2 = InputNoise(0.1)(x, y, torch.Generator().manual_seed(0))
    assert y2 is y
    noise = out - x
    # 16384 draws of N(0, 0.01) (no clipping at 0.5 +- 5 sigma): mean within 5 standard errors
    assert abs(noise.mean().item()) < 5 * 0.1 / 128
    assert abs(noise.std().item() - 0.1) < 0.003
    again, _ = InputNoise(0.1)(x, y, torch.Generator().manual_seed(0))
    assert torch.equal(out, again)


def test_input_noise_clips_to_unit_range():
    x = torch.rand(8, 3, 5, 5)
    out, _ = InputNoise(2.0)(x, torch.zeros(8), torch.Generator().manual_seed(1))
    assert out.min().item() == 0.0 and out.max().item() == 1.0
    raw, _ = InputNoise(2.0, clip=False)(x, torch.zeros(8), torch.Generator().manual_seed(1))
    assert raw.min().item() < 0.0


def test_weight_noise_gradient_at_noisy_weights_applied_to_clean_ones():
    torch.manual_seed(0)
    model = nn.Linear(3, 1, dtype=torch.float64)
    clean = [p.detach().clone() for p in model.parameters()]
    trainer = SimpleNamespace(model=model, stop_training=False)
    cb = WeightNoise(0.5, seed=3)
    x = torch.randn(5, 3, dtype=torch.float64)

    cb.on_batch_start(trainer)
    noisy = [p.detach().clone() for p in model.parameters()]
    assert all(not torch.equal(a, b) for a, b in zip(noisy, clean, strict=True))
    (model(x) ** 2).sum().backward()
    cb.on_after_backward(trainer)
    for p, c in zip(model.parameters(), clean, strict=True):
        assert torch.equal(p.detach(), c)

    # the gradient is the one of the loss at the noisy weights
    ref = nn.Linear(3, 1, dtype=torch.float64)
    with torch.no_grad():
        ref.weight.copy_(noisy[0])
        ref.bias.copy_(noisy[1])
    (ref(x) ** 2).sum().backward()
    assert torch.equal(model.weight.grad, ref.weight.grad)
    # the noise has the requested scale
    gen = torch.Generator().manual_seed(3)
    expected = [torch.randn(p.shape, generator=gen, dtype=p.dtype) * 0.5 for p in model.parameters()]
    for n, c, e in zip(noisy, clean, expected, strict=True):
        torch.testing.assert_close(n - c, e, rtol=1e-12, atol=1e-12)


def test_weight_noise_resumes_its_random_stream():
    model = nn.Linear(2, 2)
    trainer = SimpleNamespace(model=model)
    a = WeightNoise(0.1, seed=1)
    a.on_batch_start(trainer)
    a.on_after_backward(trainer)
    b = WeightNoise(0.1, seed=99)
    b.load_state_dict(a.state_dict())
    assert torch.equal(a.generator.get_state(), b.generator.get_state())


def test_negative_sigma():
    with pytest.raises(UserError):
        InputNoise(-0.1)
    with pytest.raises(UserError):
        WeightNoise(-1.0)
