"""The random generators a model draws from besides torch's global one, so a checkpoint can hold their states.

Detectors sample anchors and proposals with a `torch.Generator` of their own (seeded once when the model is
built); a run resumed without its state would draw other samples from the step it resumes at.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn


def model_generators(model: nn.Module) -> list[torch.Generator]:
    """Every `torch.Generator` held by one of `model`'s modules, directly or by a plain object it holds (a
    sampler), once each, in module order (the same in every process that builds the same model)."""
    found: list[torch.Generator] = []
    seen: set[int] = set()

    def add(value: Any) -> None:
        if isinstance(value, torch.Generator) and id(value) not in seen:
            seen.add(id(value))
            found.append(value)

    for module in model.modules():
        for value in vars(module).values():
            add(value)
            if not isinstance(value, nn.Module | Tensor | torch.Generator | type) and hasattr(value, "__dict__"):
                for inner in vars(value).values():
                    add(inner)
    return found


def generator_states(model: nn.Module) -> list[Tensor]:
    """The states of `model_generators(model)`, in their order."""
    return [g.get_state() for g in model_generators(model)]


def set_generator_states(model: nn.Module, states: list[Tensor]) -> None:
    """Restore states saved by `generator_states`; `ValueError` when the model holds another number of them."""
    generators = model_generators(model)
    if len(generators) != len(states):
        raise ValueError(f"the checkpoint holds {len(states)} model generator states, the model has {len(generators)}")
    for g, state in zip(generators, states):
        g.set_state(state)


__all__ = ["generator_states", "model_generators", "set_generator_states"]
