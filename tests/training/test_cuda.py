"""CUDA code paths; they skip cleanly on machines without a GPU."""

import pytest
import torch

from dlbasic.data import load
from dlbasic.models import create_model
from dlbasic.training import Trainer

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here")]


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_cuda_training_in_each_precision(precision):
    train = load("digits", "train")
    torch.manual_seed(0)
    model = create_model("simple_cnn", 10, 1, 8)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    trainer = Trainer(
        model,
        opt,
        train,
        None,
        epochs=3,
        batch_size=64,
        device="cuda",
        precision=precision,
        channels_last=True,
        progress=False,
    )
    history = trainer.fit()
    assert next(model.parameters()).is_cuda
    assert (trainer.scaler is not None) == (precision == "fp16")
    assert history[-1]["train_loss"] < 0.7 * history[0]["train_loss"]
