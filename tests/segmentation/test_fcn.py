"""FCN: bilinear transposed convolution equals bilinear interpolation inside the image; FCN shapes and skips."""

import pytest
import torch
import torch.nn.functional as F

from dlbasic.models import create_model
from dlbasic.models.fcn import SEGMENTATION_MODELS, bilinear_kernel, bilinear_upsampler


@pytest.mark.parametrize("factor", [2, 4, 8, 32])
@pytest.mark.parametrize("learnable", [True, False])
def test_bilinear_transposed_convolution_equals_interpolation_on_interior_pixels(factor, learnable):
    x = torch.randn(2, 3, 6, 5, dtype=torch.float64)
    up = bilinear_upsampler(3, factor, learnable).double()
    y = up(x)
    ref = F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)
    assert y.shape == ref.shape == (2, 3, 6 * factor, 5 * factor)
    m = factor // 2 + 1  # border pixels see the zero padding of the transposed convolution
    torch.testing.assert_close(y[..., m:-m, m:-m], ref[..., m:-m, m:-m], rtol=0, atol=1e-12)
    assert up.weight.requires_grad == learnable


@pytest.mark.parametrize("factor", [2, 8])
def test_a_fixed_upsampler_gives_the_same_map_and_gradient_on_channels_last_input(factor):
    """The depthwise upsampler runs as a dense transposed convolution on NHWC input (the fast oneDNN kernel);
    its values and input gradients equal the grouped convolution's, and its weights keep their shape."""
    torch.manual_seed(0)
    up = bilinear_upsampler(5, factor, learnable=False).double()
    assert tuple(up.weight.shape) == (5, 1, 2 * factor, 2 * factor)
    x = torch.randn(3, 5, 7, 6, dtype=torch.float64)
    a = x.clone().requires_grad_()
    b = x.clone().contiguous(memory_format=torch.channels_last).requires_grad_()
    ya, yb = up(a), up(b)
    g = torch.randn_like(ya)
    (ya * g).sum().backward()
    (yb * g).sum().backward()
    torch.testing.assert_close(yb, ya, rtol=0, atol=1e-13)
    torch.testing.assert_close(b.grad, a.grad, rtol=0, atol=1e-13)
    ref = F.conv_transpose2d(x, up.weight, stride=factor, padding=factor // 2, groups=5)
    torch.testing.assert_close(yb, ref, rtol=0, atol=1e-13)


def test_bilinear_kernel_matches_the_papers_formula_literally():
    f, k = 4, 8
    w = bilinear_kernel(2, f)
    for i in range(k):
        for j in range(k):
            expected = (1 - abs(i - (f - 0.5)) / f) * (1 - abs(j - (f - 0.5)) / f)
            assert w[0, 0, i, j].item() == pytest.approx(expected, abs=1e-15)
            assert w[1, 1, i, j].item() == pytest.approx(expected, abs=1e-15)
    assert w[0, 1].abs().sum() == 0 and w[1, 0].abs().sum() == 0


@pytest.mark.parametrize("name", [n for n in SEGMENTATION_MODELS if "vgg16" not in n])
@pytest.mark.parametrize("stride", [8, 32])
def test_fcn_outputs_a_score_per_pixel_for_any_size(name, stride):
    torch.manual_seed(0)
    model = create_model(name, num_classes=4, in_channels=1, input_size=96, stride=stride).eval()
    for h, w in ((64, 64), (70, 45)):
        assert model(torch.rand(2, 1, h, w)).shape == (2, 4, h, w)


@pytest.mark.parametrize("stride", [8, 32])
def test_backbone_parts_end_at_the_papers_relative_strides(stride):
    """pool3, pool4, pool5 of the paper are at strides S/4, S/2, S of the backbone."""
    model = create_model("fcn8s_vgg11", num_classes=2, in_channels=1, input_size=96, stride=stride)
    x = torch.rand(1, 1, 64, 64)
    f8 = model.to8(x)
    f16 = model.to16(f8)
    f32 = model.to32(f16)
    assert [64 // t.shape[-1] for t in (f8, f16, f32)] == [stride // 4, stride // 2, stride]


def test_fcn8s_starts_as_bilinear_upsampling_of_the_coarse_scores_because_skip_scorers_are_zero():
    """Long et al. zero-initialize the skip scorers: at init FCN-8s is s32 upsampled 2x, 2x, 8x bilinearly."""
    torch.manual_seed(0)
    m = create_model("fcn8s_resnet18", num_classes=3, in_channels=1, input_size=96).eval()
    x = torch.rand(1, 1, 384, 384)
    with torch.no_grad():
        s32 = m.score32(m.head(m.to32(m.to16(m.to8(x)))))  # (1, 3, 12, 12)
        ref = s32
        for f in (2, 2, 8):
            ref = F.interpolate(ref, scale_factor=f, mode="bilinear", align_corners=False)
        out = m(x)
        torch.testing.assert_close(out[..., 96:-96, 96:-96], ref[..., 96:-96, 96:-96], rtol=1e-4, atol=1e-5)
        torch.nn.init.normal_(m.score8.weight)  # a live skip changes the fine scores
        assert (m(x) - out).abs().max() > 1e-3


def test_fcn_learns_a_toy_segmentation():
    """Bright squares on a dark canvas: a few Adam steps must beat the all-background answer."""
    torch.manual_seed(0)
    x = torch.zeros(16, 1, 32, 32)
    y = torch.zeros(16, 32, 32, dtype=torch.long)
    for i in range(16):
        r, c = torch.randint(0, 20, (2,)).tolist()
        x[i, 0, r : r + 12, c : c + 12] = 1
        y[i, r : r + 12, c : c + 12] = 1
    model = create_model("fcn8s_resnet18", num_classes=2, in_channels=1, input_size=32)
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    for _ in range(40):
        loss = F.cross_entropy(model(x - 0.5), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    acc = (model(x - 0.5).argmax(1) == y).float().mean().item()
    assert acc > (y == 0).float().mean().item() + 0.05
