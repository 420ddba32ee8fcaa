"""Building blocks: activations, convolution written out, normalization and dropout, pooling, summaries."""

from dlbasic.nn.activations import activations, make_activation
from dlbasic.nn.dropout import Dropout, dropout
from dlbasic.nn.norm import NORMS, BatchNorm2d, GroupNorm, InstanceNorm2d, LayerNorm, make_norm
from dlbasic.nn.pooling import SpatialPyramidPooling, roi_align, roi_pool, rois_to_tensor

__all__ = ["NORMS", "BatchNorm2d", "Dropout", "GroupNorm", "InstanceNorm2d", "LayerNorm", "SpatialPyramidPooling",
           "activations", "dropout", "make_activation", "make_norm", "roi_align", "roi_pool", "rois_to_tensor"]
