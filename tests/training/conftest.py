"""Fixtures of the training tests."""

import pytest
import torch

from dlbasic.data import load
from dlbasic.models import create_model
from dlbasic.training import Trainer


@pytest.fixture
def small_trainer():
    """A factory of Trainers for a small MLP on the 8x8 digits (SGD with momentum, seeded)."""

    def make(**kw) -> Trainer:
        train_data, val_data = load("digits", "train"), load("digits", "val")
        torch.manual_seed(0)
        model = create_model("mlp", 10, 1, 8, hidden=(32,))
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        return Trainer(model, opt, train_data, val_data, progress=False, **kw)

    return make
