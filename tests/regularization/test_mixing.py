"""Mixup and CutMix: Beta sampling, corrected CutMix lambda equal to the pasted area, soft targets."""

from __future__ import annotations

import doctest

import pytest
import torch
from scipy import stats

from dlbasic.errors import UserError
from dlbasic.regularization import mixing
from dlbasic.regularization.mixing import (
    Mix,
    box_lambda,
    box_mask,
    cutmix_images,
    mixup_images,
    mixup_target,
    partner_index,
    rand_box,
    sample_beta,
)


def _marked_batch(b: int, c: int, h: int, w: int) -> torch.Tensor:
    """Image i is filled with the value i + 1, so every output pixel says which image it came from."""
    return (torch.arange(b, dtype=torch.float64) + 1).view(b, 1, 1, 1).expand(b, c, h, w).clone()


@pytest.mark.parametrize("alpha", [0.2, 1.0, 2.5])
def test_beta_samples_follow_the_beta_distribution(alpha):
    x = sample_beta(alpha, 20_000, torch.Generator().manual_seed(0))
    assert x.dtype == torch.float64 and bool(((x >= 0) & (x <= 1)).all())
    # Kolmogorov-Smirnov against scipy's Beta cdf; a wrong sampler (Beta(alpha, 2 alpha)) gives p ~ 0
    assert stats.kstest(x.numpy(), stats.beta(alpha, alpha).cdf).pvalue > 1e-3
    assert stats.kstest(x.numpy(), stats.beta(alpha, 2 * alpha).cdf).pvalue < 1e-6


def test_beta_is_reproducible_from_the_generator():
    a = sample_beta(0.4, 64, torch.Generator().manual_seed(3))
    b = sample_beta(0.4, 64, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


@pytest.mark.parametrize("batch", [1, 2, 7, 64])
def test_partner_index_is_a_permutation_without_fixed_points(batch):
    index = partner_index(batch, torch.Generator().manual_seed(batch))
    assert torch.equal(index.sort().values, torch.arange(batch))
    if batch >= 2:
        assert bool((index != torch.arange(batch)).all())


def test_cutmix_lambda_equals_pasted_fraction_for_every_box_including_clipped():
    h, w, n = 13, 9, 4000
    g = torch.Generator().manual_seed(0)
    lam = torch.rand(n, generator=g, dtype=torch.float64)
    boxes = rand_box(h, w, lam, g)
    cut_h = torch.floor(h * torch.sqrt(1 - lam)).long()
    cut_w = torch.floor(w * torch.sqrt(1 - lam)).long()
    clipped = ((boxes[:, 3] - boxes[:, 1]) < cut_h) | ((boxes[:, 2] - boxes[:, 0]) < cut_w)
    assert 100 < int(clipped.sum()) < n  # both clipped and unclipped boxes are exercised
    assert bool((boxes[:, 0] >= 0).all() and (boxes[:, 2] <= w).all() and (boxes[:, 3] <= h).all())
    # before clipping the box has sides floor(sqrt(1 - lam) * side): it never exceeds that size
    assert bool(((boxes[:, 2] - boxes[:, 0]) <= cut_w).all() and ((boxes[:, 3] - boxes[:, 1]) <= cut_h).all())
    pasted = box_mask(boxes, h, w).sum((1, 2, 3))  # pixels actually taken from the partner
    assert torch.equal(box_lambda(boxes, h, w), (h * w - pasted).double() / (h * w))
    # uncorrected lam would be wrong exactly where the box was clipped or floored
    assert bool((box_lambda(boxes, h, w)[clipped] > lam[clipped]).all())


def test_cutmix_images_paste_exactly_the_box():
    x = _marked_batch(3, 2, 6, 5)
    boxes = torch.tensor([[0, 0, 2, 3], [3, 4, 5, 6], [0, 0, 0, 0]])
    index = torch.tensor([1, 2, 0])
    out = cutmix_images(x, boxes, index)
    assert torch.equal(out[0, :, :3, :2], torch.full((2, 3, 2), 2.0, dtype=torch.float64))
    assert int((out[0] == 2.0).sum()) == 2 * 3 * 2
    assert int((out[1] == 3.0).sum()) == 2 * 2 * 2
    assert torch.equal(out[2], x[2])  # an empty box pastes nothing


@pytest.mark.parametrize("per_sample", [False, True])
@pytest.mark.parametrize("batch", [7, 16])
def test_mix_cutmix_lambda_equals_own_pixel_fraction_and_target_weight(per_sample, batch):
    h, w = 11, 10
    mix = Mix(cutmix_alpha=1.0, per_sample=per_sample, num_classes=batch)
    g = torch.Generator().manual_seed(1)
    x = _marked_batch(batch, 1, h, w)
    y = torch.arange(batch)  # unique labels: target column y[i] holds sample i's own weight
    for _ in range(20):
        params = mix.sample(batch, h, w, g)
        out, target = mix.apply(x, y, params)
        own = (out == x).sum((1, 2, 3))  # pixels still from the sample itself
        from_partner = (out == x[params.index]).sum((1, 2, 3))
        assert torch.equal(own + from_partner, torch.full((batch,), h * w))  # nothing else appears
        assert torch.equal(params.lam, own.double() / (h * w))  # exact, for every sample
        assert torch.equal(target[y, y], params.lam.to(target.dtype))
        assert torch.equal(target[y, y[params.index]], (1 - params.lam).to(target.dtype))
        if not per_sample:
            assert bool((params.boxes == params.boxes[0]).all())


def test_mixup_images_and_targets():
    x = _marked_batch(5, 1, 2, 2)
    lam = torch.tensor([0.5, 0.25, 1.0, 0.0, 0.9], dtype=torch.float64)
    index = torch.tensor([1, 2, 3, 4, 0])
    out = mixup_images(x, lam, index)
    torch.testing.assert_close(
        out[:, 0, 0, 0], lam * (torch.arange(5) + 1) + (1 - lam) * (index + 1), rtol=0, atol=1e-15
    )
    t = mixup_target(torch.tensor([0, 1, 2, 0, 1]), 3, lam, index, dtype=torch.float64)
    torch.testing.assert_close(t[0], torch.tensor([0.5, 0.5, 0.0], dtype=torch.float64))
    torch.testing.assert_close(t[1], torch.tensor([0.0, 0.25, 0.75], dtype=torch.float64))


@pytest.mark.parametrize("per_sample", [False, True])
def test_mixup_targets_sum_to_one_with_smoothing_and_soft_inputs(per_sample):
    g = torch.Generator().manual_seed(2)
    mix = Mix(mixup_alpha=0.4, cutmix_alpha=1.0, per_sample=per_sample, label_smoothing=0.1, num_classes=5)
    x = torch.rand(9, 3, 8, 8, generator=g)
    y = torch.randint(0, 5, (9,), generator=g)
    out, t = mix(x, y, g)
    assert out.shape == x.shape and t.shape == (9, 5)
    torch.testing.assert_close(t.sum(1), torch.ones(9), rtol=0, atol=1e-6)
    assert float(t.min()) >= 0.1 / 5 - 1e-7  # smoothing floor survives mixing
    _, t2 = mix(out, t, g)  # soft targets in, soft targets out
    torch.testing.assert_close(t2.sum(1), torch.ones(9), rtol=0, atol=1e-6)


def test_mixup_image_is_the_lambda_combination():
    g = torch.Generator().manual_seed(4)
    mix = Mix(mixup_alpha=1.0, per_sample=True, num_classes=3)
    x = torch.rand(6, 2, 4, 4, generator=g, dtype=torch.float64)
    params = mix.sample(6, 4, 4, g)
    assert not bool(params.cutmix.any()) and len(set(params.lam.tolist())) == 6
    out, _ = mix.apply(x, torch.zeros(6, dtype=torch.long), params)
    lam = params.lam.view(-1, 1, 1, 1)
    torch.testing.assert_close(out, lam * x + (1 - lam) * x[params.index], rtol=0, atol=1e-15)


def test_switch_and_probability():
    g = torch.Generator().manual_seed(5)
    mix = Mix(mixup_alpha=1.0, cutmix_alpha=1.0, prob=0.5, switch_prob=0.3, per_sample=True, num_classes=2)
    params = mix.sample(20_000, 8, 8, g)
    mixed = params.lam < 1
    # Beta draws of exactly 1 or boxes of zero area are rare; a sample is mixed with probability ~ 0.5
    assert abs(mixed.double().mean().item() - 0.5) < 0.03
    assert abs(params.cutmix.double().mean().item() - 0.5 * 0.3) < 0.02
    assert bool((params.boxes[~params.cutmix] == 0).all())


def test_per_batch_shares_one_lambda():
    mix = Mix(mixup_alpha=0.3, num_classes=4)
    params = mix.sample(9, 5, 5, torch.Generator().manual_seed(6))
    assert len(set(params.lam.tolist())) == 1


def test_same_generator_state_same_batch():
    mix = Mix(mixup_alpha=0.2, cutmix_alpha=1.0, per_sample=True, num_classes=3)
    x = torch.rand(5, 1, 7, 7)
    y = torch.tensor([0, 1, 2, 0, 1])
    a = mix(x, y, torch.Generator().manual_seed(9))
    b = mix(x, y, torch.Generator().manual_seed(9))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_bad_arguments_are_user_errors():
    with pytest.raises(UserError, match="mixup_alpha > 0 or cutmix_alpha > 0"):
        Mix(num_classes=3)
    with pytest.raises(UserError, match="probability"):
        Mix(mixup_alpha=1.0, prob=1.5)


def test_doctests():
    assert doctest.testmod(mixing).failed == 0
