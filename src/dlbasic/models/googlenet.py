"""GoogLeNet (Inception v1): Szegedy et al., "Going Deeper with Convolutions", CVPR 2015
(https://arxiv.org/abs/1409.4842).

An Inception module runs four branches on the same input and concatenates them along channels:
1x1; 1x1 reduce -> 3x3; 1x1 reduce -> 5x5; 3x3/1 max pool -> 1x1 "pool projection".
- `googlenet` is the paper's network (Table 1): biased convolutions + ReLU, LRN after the stem's
  first pool and its 3x3 conv, true 5x5 branches, dropout 0.4, and optional auxiliary classifiers on
  4a and 4d (5x5/3 average pool, 1x1 conv to 128, FC 1024, dropout 0.7, linear). Without batch
  norm the init must keep the forward signal: He's fan-in init does (activations stay at RMS 1-2.5
  through 5b); fan-out init grows them about 20x by 5b, since a 1x1 reduction has far fewer outputs
  than inputs.
- `googlenet_tv` is torchvision's: conv (no bias) + batch norm (eps 1e-3) + ReLU everywhere, no LRN,
  dropout 0.2, and 3x3 kernels in the "5x5" branch (torchvision keeps this for its weights,
  https://github.com/pytorch/vision/issues/906); 6,624,904 parameters without aux classifiers.
Small inputs (<= 64) use a 3x3 stride-1 stem with one pooling and 1/4 of the Inception widths (1/2
for the paper's net: without batch norm, the quarter-width net is still at 0.92 test accuracy on
mnist5k after 3 epochs, the half-width one at 0.95).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dlbasic.models._layers import ActSpec, NormSpec, conv_norm_act, is_small, kaiming_init, scaled
from dlbasic.models.registry import register_model
from dlbasic.nn.activations import make_activation

# Table 1: (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj) per Inception module
INCEPTION: dict[str, tuple[int, int, int, int, int, int]] = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}
POOL_AFTER = ("3b", "4e")  # 3x3/2 max pool after these modules (torchvision: 2x2/2 after 4e)


class Inception(nn.Module):
    """Four parallel branches concatenated: Tensor[B, C, H, W] -> Tensor[B, n1 + n3 + n5 + proj, H, W]."""

    def __init__(
        self,
        in_ch: int,
        n1: int,
        r3: int,
        n3: int,
        r5: int,
        n5: int,
        proj: int,
        norm: NormSpec = "none",
        act: ActSpec = "relu",
        k5: int = 5,
        eps: float = 1e-5,
    ):
        super().__init__()
        cba = dict(norm=norm, act=act, eps=eps)
        self.branch1 = conv_norm_act(in_ch, n1, 1, **cba)
        self.branch3 = nn.Sequential(conv_norm_act(in_ch, r3, 1, **cba), conv_norm_act(r3, n3, 3, 1, 1, **cba))
        self.branch5 = nn.Sequential(conv_norm_act(in_ch, r5, 1, **cba), conv_norm_act(r5, n5, k5, 1, k5 // 2, **cba))
        self.branch_pool = nn.Sequential(nn.MaxPool2d(3, 1, 1, ceil_mode=True), conv_norm_act(in_ch, proj, 1, **cba))

    def forward(self, x: Tensor) -> Tensor:
        """Tensor[B, in_ch, H, W] -> the four branches concatenated, Tensor[B, n1 + n3 + n5 + proj, H, W]."""
        branches = (self.branch1, self.branch3, self.branch5, self.branch_pool)
        return torch.cat([b(x) for b in branches], 1)  # (B, n1 + n3 + n5 + proj, H, W)


class AuxClassifier(nn.Module):
    """The paper's side head: 5x5/3 average pool (4x4 at 224), 1x1 conv 128, FC 1024, dropout 0.7."""

    def __init__(
        self,
        in_ch: int,
        num_classes: int,
        norm: NormSpec = "none",
        act: ActSpec = "relu",
        pooled: int = 4,
        hidden: int = 1024,
        eps: float = 1e-5,
    ):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(pooled)
        self.conv = conv_norm_act(in_ch, 128, 1, norm=norm, act=act, eps=eps)
        self.fc = nn.Sequential(
            nn.Linear(128 * pooled * pooled, hidden),
            make_activation(act),
            nn.Dropout(0.7),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        """Tensor[B, C, H, W] of an intermediate stage -> logits Tensor[B, num_classes]."""
        return self.fc(self.conv(self.pool(x)).flatten(1))  # (B, num_classes)


class GoogLeNet(nn.Module):
    """Stem, nine Inception modules, global average pool, dropout, linear.

    In training mode with `aux_logits`, `forward` returns (logits, aux_4a, aux_4d); the paper adds the
    auxiliary losses with weight 0.3.

    Args:
        norm: "none" for the paper's net, "batch" for torchvision's.
        lrn: local response normalization in the stem (the paper's).
        k5: kernel of the "5x5" branch (5 in the paper, 3 in torchvision).
        width: multiplier of every Inception width.
        small_stem: 3x3 stride-1 stem with one 3x3/2 pool, for 28-64 pixel inputs.
    """

    def __init__(
        self,
        num_classes: int = 1000,
        in_channels: int = 3,
        norm: NormSpec = "none",
        act: ActSpec = "relu",
        lrn: bool = True,
        k5: int = 5,
        aux_logits: bool = False,
        dropout: float = 0.4,
        width: float = 1.0,
        small_stem: bool = False,
        last_pool: int = 3,
        eps: float = 1e-5,
    ):
        super().__init__()
        cba = dict(norm=norm, act=act, eps=eps)
        c64, c192 = scaled(64, width), scaled(192, width)
        lrn_layer = [nn.LocalResponseNorm(5, 1e-4, 0.75, 1.0)] if lrn else []
        if small_stem:  # 3x3 stride-1 conv and one pool: 28 -> 14 for 3a/3b, 7 for 4a-4e, 4 for 5a/5b
            self.stem = nn.Sequential(
                conv_norm_act(in_channels, c64, 3, 1, 1, **cba),
                nn.MaxPool2d(3, 2, ceil_mode=True),
                conv_norm_act(c64, c64, 1, **cba),
                conv_norm_act(c64, c192, 3, 1, 1, **cba),
            )
        else:
            self.stem = nn.Sequential(
                conv_norm_act(in_channels, c64, 7, 2, 3, **cba),
                nn.MaxPool2d(3, 2, ceil_mode=True),
                *lrn_layer,
                conv_norm_act(c64, c64, 1, **cba),
                conv_norm_act(c64, c192, 3, 1, 1, **cba),
                *lrn_layer,
                nn.MaxPool2d(3, 2, ceil_mode=True),
            )  # (B, 192, 28, 28) at 224
        blocks: dict[str, nn.Module] = {}
        c = c192
        for name, widths in INCEPTION.items():
            n1, r3, n3, r5, n5, proj = (scaled(w, width) for w in widths)
            blocks[f"inception{name}"] = Inception(c, n1, r3, n3, r5, n5, proj, k5=k5, **cba)
            c = n1 + n3 + n5 + proj
            if name in POOL_AFTER:
                k = 3 if name == "3b" else last_pool
                blocks[f"pool{name}"] = nn.MaxPool2d(k, 2, ceil_mode=True)
        self.blocks = nn.ModuleDict(blocks)
        self.aux = nn.ModuleDict()
        if aux_logits:
            for name in ("4a", "4d"):
                c_aux = sum(scaled(INCEPTION[name][i], width) for i in (0, 2, 4, 5))  # 4a: 512, 4d: 528
                self.aux[f"inception{name}"] = AuxClassifier(c_aux, num_classes, **cba)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x: Tensor) -> Tensor | tuple[Tensor, ...]:
        """Tensor[B, in_channels, H, W] -> logits Tensor[B, num_classes].

        In training mode with auxiliary heads it returns `(logits, *aux_logits)`, one per auxiliary classifier.
        """
        x = self.stem(x)
        aux: list[Tensor] = []
        for name, block in self.blocks.items():
            x = block(x)
            if self.training and name in self.aux:
                aux.append(self.aux[name](x))
        x = self.dropout(self.avgpool(x).flatten(1))  # (B, 1024 * width)
        logits = self.fc(x)  # (B, num_classes)
        return (logits, *aux) if aux else logits


def _init_tv(model: nn.Module) -> None:
    # torchvision: truncated normal (std 0.01) for convs and linears
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.trunc_normal_(m.weight, mean=0.0, std=0.01, a=-2, b=2)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def _options(input_size: int, kw: dict, width: float = 0.25) -> dict:
    if is_small(input_size):
        return {"small_stem": True, "width": width, **kw}
    return kw


@register_model
def googlenet(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224, **kw) -> GoogLeNet:
    """The paper's GoogLeNet; `aux_logits=True` adds the two auxiliary classifiers."""
    model = GoogLeNet(num_classes, in_channels, **_options(input_size, kw, width=0.5))
    kaiming_init(model, linear_std=None, mode="fan_in")
    return model


@register_model
def googlenet_tv(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224, **kw) -> GoogLeNet:
    """torchvision's GoogLeNet (batch norm, 3x3 "5x5" branch): 6,624,904 parameters without aux heads."""
    tv = {"norm": "batch", "lrn": False, "k5": 3, "dropout": 0.2, "last_pool": 2, "eps": 1e-3}
    model = GoogLeNet(num_classes, in_channels, **_options(input_size, {**tv, **kw}))
    _init_tv(model)
    return model


__all__ = ["INCEPTION", "GoogLeNet", "Inception", "googlenet", "googlenet_tv"]
