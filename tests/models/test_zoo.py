"""The zoo against published numbers: torchvision's parameter counts, GoogLeNet's Table 1, shapes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dlbasic.errors import UserError
from dlbasic.models import create_model, list_models
from dlbasic.models.googlenet import INCEPTION
from dlbasic.models.resnet import ZeroPadShortcut

from .golden import GOOGLENET_TABLE1_K, PARAMS_224

FAMILIES = [n for n in list_models() if n not in ("mlp", "simple_cnn") and not n.startswith("fcn")]  # classifiers


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def meta_model(name: str, **kw) -> nn.Module:
    with torch.device("meta"):  # shapes only: counting needs no memory and no init
        return create_model(name, num_classes=1000, in_channels=3, input_size=224, **kw)


@pytest.mark.parametrize("name", sorted(PARAMS_224))
def test_parameter_count_equals_torchvision(name: str) -> None:
    assert n_params(meta_model(name)) == PARAMS_224[name]


def test_every_family_has_a_golden_count() -> None:
    bases = {n.removesuffix("_bn").rstrip("0123456789") for n in PARAMS_224}
    assert {"alexnet", "vgg", "googlenet_tv", "resnet", "densenet"} <= bases


def _weights_k(module: nn.Module) -> float:
    return sum(p.numel() for p in module.parameters() if p.dim() > 1) / 1024


def test_googlenet_layers_match_table1_where_the_table_is_consistent() -> None:
    m = meta_model("googlenet")
    ours = {name: _weights_k(block) for name, block in m.blocks.items() if name.startswith("inception")}
    ours["conv2"] = _weights_k(m.stem[3]) + _weights_k(m.stem[4])
    ours["linear"] = _weights_k(m.fc)
    # Table 1's counts for 4a, 4c, 4d, 4e, 5a, 5b (and conv1's 2.7K) disagree with its own widths by
    # 2.75K to 54K; every other row is the widths' weight count, rounded
    consistent = ("conv2", "inception3a", "inception3b", "inception4b", "linear")
    for row in consistent:
        assert abs(ours[row] - GOOGLENET_TABLE1_K[row]) <= 1.0, (row, ours[row])
    for row in set(GOOGLENET_TABLE1_K) - set(consistent):
        assert abs(ours[row] - GOOGLENET_TABLE1_K[row]) > 1.0, (row, ours[row])


def test_inception_widths_chain_to_1024_channels() -> None:
    m = meta_model("googlenet")
    assert m.fc.in_features == 1024
    n1, _, n3, _, n5, proj = INCEPTION["3a"]
    assert n1 + n3 + n5 + proj == 256  # Table 1: 28x28x256 after 3a


def test_googlenet_paper_uses_5x5_and_torchvision_3x3() -> None:
    paper, tv = meta_model("googlenet"), meta_model("googlenet_tv")
    assert paper.blocks["inception3a"].branch5[1][0].kernel_size == (5, 5)
    assert tv.blocks["inception3a"].branch5[1][0].kernel_size == (3, 3)
    assert any(isinstance(x, nn.LocalResponseNorm) for x in paper.stem)
    assert not any(isinstance(x, nn.BatchNorm2d) for x in paper.modules())


def test_googlenet_aux_classifiers_only_in_training() -> None:
    m = create_model("googlenet_tv", num_classes=7, in_channels=1, input_size=28, aux_logits=True)
    x = torch.randn(2, 1, 28, 28)
    out = m.train()(x)
    assert isinstance(out, tuple) and [o.shape for o in out] == [(2, 7)] * 3
    assert m.eval()(x).shape == (2, 7)
    with_aux = meta_model("googlenet_tv", aux_logits=True)
    assert n_params(with_aux) == 13_004_888  # torchvision's googlenet(aux_logits=True, init_weights=True)


def test_alexnet_2012_is_the_two_gpu_paper_net() -> None:
    m = create_model("alexnet_2012", num_classes=1000, in_channels=3, input_size=224)
    convs = [x for x in m.features if isinstance(x, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [96, 256, 384, 384, 256]
    assert [c.groups for c in convs] == [1, 2, 1, 2, 2]
    assert sum(isinstance(x, nn.LocalResponseNorm) for x in m.features) == 2
    pools = [x for x in m.features if isinstance(x, nn.MaxPool2d)]
    assert all(p.kernel_size == 3 and p.stride == 2 for p in pools)  # overlapping pooling
    with torch.no_grad():
        assert m.features(torch.randn(1, 3, 224, 224)).shape == (1, 256, 6, 6)


SMALL_CASES = [(n, 28, 1) for n in FAMILIES] + [
    (n, 32, 3) for n in ("alexnet", "vgg11_bn", "googlenet", "resnet50", "plain18", "densenet121")
]


@pytest.mark.parametrize(("name", "size", "channels"), SMALL_CASES)
def test_small_input_variants_forward(name: str, size: int, channels: int) -> None:
    m = create_model(name, num_classes=10, in_channels=channels, input_size=size).eval()
    with torch.no_grad():
        y = m(torch.randn(2, channels, size, size))
    assert y.shape == (2, 10) and torch.isfinite(y).all()
    assert n_params(m) < 4_000_000  # a small variant, not the ImageNet network


def test_shortcut_options_change_only_projection_parameters() -> None:
    b = n_params(meta_model("resnet18"))
    a = n_params(meta_model("resnet18", shortcut="A"))
    c = n_params(meta_model("resnet18", shortcut="C"))
    plain = n_params(meta_model("plain18"))
    # B projects 3 shortcuts (64->128, 128->256, 256->512), each 1x1 conv + BN
    projections = sum(i * o + 2 * o for i, o in ((64, 128), (128, 256), (256, 512)))
    assert b - a == projections and a == plain
    # C also projects the 5 identity shortcuts (two 64->64 and one each of 128, 256, 512)
    assert c - b == sum(w * w + 2 * w for w in (64, 64, 128, 256, 512))


def test_zero_padding_shortcut() -> None:
    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(2, 3, 4, 4)
    y = ZeroPadShortcut(5, 2)(x)
    assert y.shape == (2, 5, 2, 2)
    torch.testing.assert_close(y[:, :3], x[:, :, ::2, ::2], rtol=0, atol=0)
    assert (y[:, 3:] == 0).all()


def test_plain_nets_have_no_skip() -> None:
    m = create_model("plain18", num_classes=10, in_channels=1, input_size=28)
    assert all(b.shortcut is None for stage in (m.layer1, m.layer2) for b in stage)


def _last_norm_scales(model: nn.Module) -> list[torch.Tensor]:
    blocks = [b for stage in (model.layer1, model.layer2, model.layer3, model.layer4) for b in stage]
    return [(b.conv3 if hasattr(b, "conv3") else b.conv2)[1].weight for b in blocks]


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_small_resnets_start_every_residual_block_as_the_identity(name: str) -> None:
    small = create_model(name, num_classes=10, in_channels=1, input_size=28)
    assert all((g == 0).all() for g in _last_norm_scales(small))
    paper = create_model(name, num_classes=10, in_channels=1, input_size=28, zero_init_residual=False)
    assert all((g == 1).all() for g in _last_norm_scales(paper))
    full_size = create_model(name, num_classes=10, in_channels=3, input_size=224)
    assert all((g == 1).all() for g in _last_norm_scales(full_size))  # torchvision's default there


def test_plain_nets_keep_their_norm_scales_under_zero_init() -> None:
    # zeroing a block without a shortcut would cut the signal: only residual blocks are zeroed
    m = create_model("plain18", num_classes=10, in_channels=1, input_size=28, zero_init_residual=True)
    assert all((g == 1).all() for g in _last_norm_scales(m))


def test_paper_googlenet_keeps_the_forward_signal_at_init() -> None:
    # no batch norm: He fan-in init keeps activations at RMS ~1-2.5 through 5b; fan-out grew them ~20x
    torch.manual_seed(0)
    m = create_model("googlenet", num_classes=10, in_channels=1, input_size=28).eval()
    with torch.no_grad():
        h = m.stem(torch.randn(16, 1, 28, 28))
        for block in m.blocks.values():
            h = block(h)
    assert 0.5 < h.pow(2).mean().sqrt() < 5


@pytest.mark.parametrize("norm", ["batch", "group", "layer", "instance", "none", nn.BatchNorm2d])
def test_norm_choices(norm: str | type[nn.Module]) -> None:
    m = create_model("resnet18", num_classes=10, in_channels=1, input_size=28, norm=norm).eval()
    with torch.no_grad():
        assert m(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    kinds = {type(x) for x in m.modules()}
    expected = {
        "batch": nn.BatchNorm2d,
        "group": nn.GroupNorm,
        "layer": nn.GroupNorm,
        "instance": nn.InstanceNorm2d,
    }.get(norm if isinstance(norm, str) else "batch")
    if expected is None:
        assert not kinds & {nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d}
    else:
        assert expected in kinds


@pytest.mark.parametrize("act", ["relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("name", ["alexnet", "vgg11", "resnet18", "densenet121", "googlenet"])
def test_activation_choice(name: str, act: str) -> None:
    m = create_model(name, num_classes=10, in_channels=1, input_size=28, act=act)
    kinds = {type(x) for x in m.modules()}
    chosen = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}
    assert chosen[act] in kinds
    assert not (set(chosen.values()) - {chosen[act]}) & kinds


def test_bad_options_are_user_errors() -> None:
    with pytest.raises(UserError, match="norm"):
        create_model("resnet18", input_size=28, norm="batchh")
    with pytest.raises(UserError, match="shortcut"):
        create_model("resnet18", input_size=28, shortcut="D")
    with pytest.raises(UserError, match="does not take"):
        create_model("vgg11", input_size=28, no_such_option=1)
