"""Convolutionalization: a classifier's fully connected layers as equivalent convolutions.

Long et al., "Fully Convolutional Networks for Semantic Segmentation", CVPR 2015
(https://arxiv.org/abs/1411.4038), section 3.1: a fully connected layer that reads a C x h x w feature
map is a convolution with C x h x w kernels (its weight matrix reshaped, no new parameters); the
layers after it are 1x1 convolutions. The network then takes any input size, and on an image larger
than the training size it slides the classifier over the image and returns a class heat map
Tensor[B, K, H', W'] with one score vector per window (stride = the network's total stride).

Adaptive pools are replaced by fixed ones computed at the training size: a global average pool over
an h x w map becomes a sliding h x w average (stride 1), so at the training size it is the same
number and on larger inputs it is a map.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from dlbasic.errors import UserError


def as_layers(model: nn.Module) -> list[nn.Module]:
    """The model as the flat list of layers its forward applies in order.

    Plain `nn.Sequential`s are expanded recursively; zoo classifiers whose forward is
    `features -> [avgpool] -> flatten -> classifier` (simple_cnn, mlp, vgg, alexnet) or
    `stem -> layer1..4 -> avgpool -> flatten -> fc` (resnet) are read through their attributes.
    """
    if isinstance(model, nn.Sequential):
        return [m for child in model for m in as_layers(child)]
    names = [n for n, _ in model.named_children()]
    if {"features", "classifier"} <= set(names):
        parts = [
            model.features,
            *([model.avgpool] if hasattr(model, "avgpool") else []),
            nn.Flatten(),
            model.classifier,
        ]
    elif {"stem", "layer1", "layer4", "avgpool", "fc"} <= set(names):
        parts = [
            model.stem,
            model.layer1,
            model.layer2,
            model.layer3,
            model.layer4,
            model.avgpool,
            nn.Flatten(),
            model.fc,
        ]
    elif names == ["net"]:
        parts = [model.net]
    else:
        return [model]  # a block (conv, residual block, ...) kept whole
    return [m for p in parts for m in as_layers(p)]


def _pool(module: nn.Module, size: tuple[int, int]) -> nn.Module:
    """A fixed pool equal to an adaptive one at input size `size`."""
    out = module.output_size
    oh, ow = (out, out) if isinstance(out, int) else out
    oh, ow = oh or size[0], ow or size[1]
    if (oh, ow) == size:
        return nn.Identity()
    if size[0] % oh or size[1] % ow:
        raise UserError(
            f"cannot convolutionalize an adaptive pool from {size} to {(oh, ow)}",
            "train at an input size whose feature map divides the pool size",
        )
    kernel = (size[0] // oh, size[1] // ow)
    stride = (1, 1) if (oh, ow) == (1, 1) else kernel  # a global pool slides over larger maps
    cls = nn.AvgPool2d if isinstance(module, nn.AdaptiveAvgPool2d) else nn.MaxPool2d
    return cls(kernel, stride)


def convolutionalize(model: nn.Module, input_size: int | tuple[int, int], in_channels: int = 1) -> nn.Sequential:
    """A fully convolutional copy of `model` with the same parameters, reshaped.

    Args:
        model: a classifier, Tensor[B, C, h, w] -> logits Tensor[B, K] (see `as_layers`).
        input_size: the training size h (or (h, w)); the first linear layer reads the feature map of this size.
        in_channels: C.

    Returns:
        `nn.Sequential` mapping Tensor[B, C, H, W] (H >= h, W >= w) to Tensor[B, K, H', W'];
        at (h, w) it gives Tensor[B, K, 1, 1] equal to the original logits.
    """
    size = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
    layers = as_layers(model)
    param = next(model.parameters())
    x = torch.zeros(1, in_channels, *size, dtype=param.dtype, device=param.device)
    was_training = model.training
    model.eval()
    out: list[nn.Module] = []
    flat_shape: tuple[int, ...] | None = None  # (C, h, w) read by the first linear layer
    with torch.no_grad():
        for layer in layers:
            if isinstance(layer, nn.Flatten):
                if x.dim() > 2:  # a second Flatten (the classifier's own) changes nothing
                    flat_shape = tuple(x.shape[1:])
                    x = x.flatten(1)
                continue
            if isinstance(layer, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
                new: nn.Module = _pool(layer, tuple(x.shape[-2:]))
            elif isinstance(layer, nn.Linear):
                c, h, w = flat_shape if flat_shape is not None else (layer.in_features, 1, 1)
                new = nn.Conv2d(c, layer.out_features, (h, w), bias=layer.bias is not None)
                new = new.to(dtype=param.dtype, device=param.device)
                new.weight.copy_(layer.weight.view(layer.out_features, c, h, w))  # (K, C*h*w) -> (K, C, h, w)
                if layer.bias is not None:
                    new.bias.copy_(layer.bias)
                flat_shape = (layer.out_features, 1, 1)  # later linears are 1x1 convolutions
            else:
                new = copy.deepcopy(layer)
            x = layer(x)
            out.append(new)
    model.train(was_training)
    fcn = nn.Sequential(*out)
    return fcn.train(was_training)


__all__ = ["as_layers", "convolutionalize"]
