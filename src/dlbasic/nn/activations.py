"""Activations by name, so a model family can be built with relu, tanh or sigmoid (the ReLU study)."""

from __future__ import annotations

from torch import nn

from dlbasic.registry import Registry

activations: Registry[type[nn.Module]] = Registry("activation")
activations.add("relu", nn.ReLU)
activations.add("tanh", nn.Tanh)
activations.add("sigmoid", nn.Sigmoid)
activations.add("gelu", nn.GELU)
activations.add("leaky_relu", nn.LeakyReLU)
activations.add("identity", nn.Identity)


def make_activation(name: str | type[nn.Module] = "relu") -> nn.Module:
    """A fresh activation module from a name ('relu', 'tanh', 'sigmoid', ...) or a class."""
    if isinstance(name, str):
        cls = activations.get(name)
        return cls(inplace=True) if cls in (nn.ReLU, nn.LeakyReLU) else cls()
    return name()
