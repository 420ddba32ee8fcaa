"""Building blocks: activations, convolution written out, normalization layers, summaries."""

from dlbasic.nn.activations import activations, make_activation

__all__ = ["activations", "make_activation"]
