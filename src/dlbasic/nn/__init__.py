"""Building blocks: activations, convolution written out, normalization and dropout, pooling, summaries."""

from dlbasic.nn.activations import activations, make_activation
from dlbasic.nn.conv import conv2d, conv_output_size, conv_transpose2d, conv_transpose_output_size, receptive_field
from dlbasic.nn.dropout import Dropout, dropout
from dlbasic.nn.norm import NORMS, BatchNorm2d, GroupNorm, InstanceNorm2d, LayerNorm, make_norm
from dlbasic.nn.pooling import SpatialPyramidPooling, roi_align, roi_pool, rois_to_tensor
from dlbasic.nn.summary import LayerRow, Summary, summarize

__all__ = [
    "NORMS",
    "BatchNorm2d",
    "Dropout",
    "GroupNorm",
    "InstanceNorm2d",
    "LayerNorm",
    "LayerRow",
    "SpatialPyramidPooling",
    "Summary",
    "activations",
    "conv2d",
    "conv_output_size",
    "conv_transpose2d",
    "conv_transpose_output_size",
    "dropout",
    "make_activation",
    "make_norm",
    "receptive_field",
    "roi_align",
    "roi_pool",
    "rois_to_tensor",
    "summarize",
]
