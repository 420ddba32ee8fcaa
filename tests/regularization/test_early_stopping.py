"""Early stopping driven by a minimal fake trainer over scripted metric sequences."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from dlbasic.errors import UserError
from dlbasic.regularization.early_stopping import EarlyStopping


def _fake_trainer():
    return SimpleNamespace(model=nn.Linear(2, 1), stop_training=False)


def _run(callback, values, key="val_loss", trainer=None, start=0):
    """Epoch e sets every weight to e, then reports values[e]; returns the last epoch run."""
    trainer = trainer or _fake_trainer()
    callback.on_fit_start(trainer)
    epoch = start - 1
    for epoch in range(start, len(values)):
        callback.on_epoch_start(trainer, epoch)
        with torch.no_grad():
            for p in trainer.model.parameters():
                p.fill_(float(epoch))
        callback.on_epoch_end(trainer, epoch, {key: values[epoch], "train_loss": 0.0})
        if trainer.stop_training:
            break
    callback.on_fit_end(trainer)
    return epoch, trainer


def _weights(trainer):
    return {float(v) for p in trainer.model.parameters() for v in p.detach().flatten()}


LOSSES = [1.0, 0.8, 0.9, 0.7, 0.75, 0.72, 0.69, 0.71, 0.9, 0.95, 0.96, 0.97]


@pytest.mark.parametrize(
    "patience,min_delta,stop,best",
    [
        (3, 0.0, 9, 6),  # 0.69 at epoch 6 beats 0.7 just in time; epochs 7, 8, 9 do not improve
        (2, 0.0, 5, 3),  # 0.75 and 0.72 do not beat 0.7
        (3, 0.05, 6, 3),  # 0.75, 0.72, 0.69 are each within 0.05 of 0.7: three bad epochs after 3
        (4, 0.05, 7, 3),
    ],
)
def test_stops_at_the_right_epoch_and_restores_best(patience, min_delta, stop, best):
    es = EarlyStopping("val_loss", patience=patience, min_delta=min_delta)
    last, trainer = _run(es, LOSSES)
    assert last == stop and es.stopped_epoch == stop and trainer.stop_training
    assert es.best_epoch == best and es.best == LOSSES[best]
    assert _weights(trainer) == {float(best)}


def test_max_mode_inferred_for_accuracy():
    acc = [0.5, 0.6, 0.65, 0.64, 0.66, 0.66, 0.6]
    es = EarlyStopping("val_accuracy", patience=2)
    assert es.mode == "max"
    last, trainer = _run(es, acc, key="val_accuracy")
    assert (last, es.best_epoch) == (6, 4)
    assert _weights(trainer) == {4.0}


def test_no_restore_keeps_last_weights():
    es = EarlyStopping(patience=2, restore_best=False)
    last, trainer = _run(es, LOSSES)
    assert last == 5 and _weights(trainer) == {5.0}


def test_running_out_of_epochs_still_restores_best():
    es = EarlyStopping(patience=10)
    last, trainer = _run(es, LOSSES)
    assert last == len(LOSSES) - 1 and es.stopped_epoch is None and not trainer.stop_training
    assert _weights(trainer) == {6.0}


def test_nan_is_never_an_improvement():
    es = EarlyStopping(patience=2)
    last, trainer = _run(es, [1.0, float("nan"), float("nan"), 0.5])
    assert last == 2 and _weights(trainer) == {0.0}


def test_resume_from_state_dict_gives_the_same_result():
    full = EarlyStopping(patience=3)
    full_last, full_trainer = _run(full, LOSSES)

    first = EarlyStopping(patience=3)
    trainer = _fake_trainer()
    _run(first, LOSSES[:8], trainer=trainer)  # interrupted after epoch 7 (one bad epoch so far)
    state = first.state_dict()
    resumed = EarlyStopping(patience=3)
    resumed.load_state_dict(state)
    last, trainer = _run(resumed, LOSSES, trainer=_fake_trainer(), start=8)
    assert last == full_last == 9 and resumed.best_epoch == full.best_epoch == 6
    assert _weights(trainer) == _weights(full_trainer) == {6.0}


def test_user_errors():
    with pytest.raises(UserError, match="lack"):
        _run(EarlyStopping("val_los", mode="min"), [1.0])
    with pytest.raises(UserError, match="go up or down"):
        EarlyStopping("val_something")
    with pytest.raises(UserError, match="patience"):
        EarlyStopping(patience=0)
    es = EarlyStopping("val_loss")
    with pytest.raises(UserError, match="same --early-stopping"):
        es.load_state_dict(EarlyStopping("val_accuracy").state_dict())
