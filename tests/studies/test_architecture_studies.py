"""The architecture studies' measuring helpers against closed forms and published numbers."""

import math

import pytest
import torch
from torch import nn

from dlbasic.models import create_model
from dlbasic.studies import run_study
from dlbasic.studies.relu import (
    RunningError,
    ValidationError,
    best_lr,
    gain_init,
    grad_norms_at_init,
    steps_to,
    tuning_score,
)
from dlbasic.studies.resnet import StepSchedule, falling_at_full_rate, step_lr, still_improving
from dlbasic.studies.vgg_3x3 import equal_field_net, stack, weights


def test_vgg_stacks_weights_and_equal_field_net():
    for c in (8, 64):
        assert weights(stack(2, c)) == 18 * c * c and weights(stack(0, c, 5)) == 25 * c * c
        assert weights(stack(3, c)) == 27 * c * c and weights(stack(0, c, 7)) == 49 * c * c
    for kind in ("3x3", "5x5"):
        assert equal_field_net(kind, 1, 10)(torch.zeros(3, 1, 8, 8)).shape == (3, 10)
        assert equal_field_net(kind, 3, 10)(torch.zeros(2, 3, 28, 28)).shape == (2, 10)  # any --data size


def test_equal_field_nets_are_he_initialized():
    torch.manual_seed(0)
    net = equal_field_net("3x3", 1, 10, width=64)
    conv = [m for m in net.modules() if isinstance(m, nn.Conv2d)][1]  # 64 -> 64, 3x3: fan_in 576
    assert abs(conv.weight.std().item() - math.sqrt(2 / 576)) < 0.003
    assert conv.bias.abs().max().item() == 0


def test_gain_init_scales_weights_by_the_activation_gain():
    net = nn.Sequential(nn.Linear(400, 300), nn.Conv2d(16, 200, 5))  # fan_in 400 both
    for act, gain in (("relu", math.sqrt(2)), ("tanh", 5 / 3), ("sigmoid", 1.0)):
        gain_init(net, act, seed=0)
        for layer in net:
            assert abs(layer.weight.std().item() - gain / 20) < 0.02 * gain / 20 * 3  # >= 80k samples: ~0.3 %
            assert layer.bias.abs().max().item() == 0


def test_grad_norms_one_per_layer_and_sigmoid_vanishes():
    torch.manual_seed(0)
    x, y = torch.randn(128, 1, 8, 8), torch.randint(0, 10, (128,))
    norms = {
        act: grad_norms_at_init(
            create_model("tiny_cnn", 10, 1, 8, channels=[32, 32, 64], hidden=0, act=act), act, x, y, seed=0
        )
        for act in ("relu", "sigmoid")
    }
    assert len(norms["relu"]) == len(norms["sigmoid"]) == 4  # three convolutions + the classifier
    # sigmoid'(x) <= 1/4 per layer: the first layer's gradient is far below the last one's
    assert norms["sigmoid"][0] / norms["sigmoid"][-1] < 0.05 < norms["relu"][0] / norms["relu"][-1]


def test_steps_to_target_and_censoring():
    assert steps_to([0.5, 0.2, 0.05, 0.01], 0.05) == 3
    assert steps_to([0.5, 0.2, 0.06], 0.05) == 4  # never: one past the budget
    assert steps_to([float("nan"), 0.04], 0.05) == 2
    assert steps_to([0.5, 0.04], 0.05, every=5, first=5) == 10


def test_tuning_score_and_best_lr():
    assert tuning_score([0.9, 0.3, 0.04, 0.03], 0.05) == (3, pytest.approx(0.3175))
    scores = {"0.01": (5, 0.2), "0.03": (3, 0.25), "0.1": (3, 0.21), "0.3": (41, 0.9)}
    assert best_lr(scores) == "0.1"  # fewest steps to the target, then the lower mean error
    assert best_lr({"0.3": (41, 0.9), "0.1": (41, 0.9)}) == "0.1"  # an exact tie goes to the smaller rate


class _Trainer:
    """What the probes read from a Trainer: the step, the epoch's running sums, and a stop flag."""

    def __init__(self):
        self.global_step, self.sums, self.stop_training = 0, {}, False

    def step(self, wrong: int, n: int = 32) -> None:
        if not self.sums:
            self.sums = {"count": 0, "correct": 0.0}
        self.global_step += 1
        self.sums = {"count": self.sums["count"] + n, "correct": self.sums["correct"] + n - wrong}


def test_running_error_windows_batches_across_epochs_and_stops_at_target():
    trainer, probe = _Trainer(), RunningError(steps=100, window=2, stop_at=0.05)
    for wrong in (16, 8):
        trainer.step(wrong)
        probe.on_batch_end(trainer, {})
    trainer.sums = {}  # a new epoch: the trainer's sums start again
    for wrong in (2, 1):
        trainer.step(wrong)
        probe.on_batch_end(trainer, {})
    assert math.isnan(probe.errors[0])
    assert probe.errors[1:] == [24 / 64, 10 / 64, 3 / 64]
    assert trainer.stop_training and steps_to(probe.errors, 0.05) == 4


def test_probes_stop_at_the_step_budget():
    trainer, probe = _Trainer(), RunningError(steps=3, window=1)
    for _ in range(3):
        trainer.step(16)
        probe.on_batch_end(trainer, {})
    assert trainer.stop_training and steps_to(probe.errors, 0.05) == 4  # censored

    class _Validating(_Trainer):
        val_data, model = None, nn.Linear(1, 1)

        def evaluate(self, data):
            return {"accuracy": 0.9}

    trainer, probe = _Validating(), ValidationError(steps=100, stop_at=0.1, every=5)
    for _ in range(5):
        trainer.step(0)
        probe.on_batch_end(trainer, {})
    assert probe.steps_seen == [5] and probe.errors == [pytest.approx(0.1)] and trainer.stop_training


def test_he_step_schedule():
    assert [step_lr(0.02, f) for f in (0, 0.49, 0.5, 0.74, 0.75, 0.99)] == pytest.approx(
        [0.02, 0.02, 0.002, 0.002, 0.0002, 0.0002]
    )

    class _Stepping:
        epochs, steps_per_epoch, global_step = 10, 4, 30
        optimizer = torch.optim.SGD(nn.Linear(1, 1).parameters(), lr=1.0)

    StepSchedule(0.02).on_batch_start(_Stepping)
    assert _Stepping.optimizer.param_groups[0]["lr"] == pytest.approx(0.0002)


def test_still_improving_measures_the_last_quarter():
    curves = [[0.9, 0.5, 0.4, 0.3, 0.3, 0.29, 0.28, 0.2], [0.9, 0.5, 0.4, 0.3, 0.3, 0.3, 0.3, 0.3]]
    assert still_improving(curves) == pytest.approx((0.29 - 0.2 + 0.0) / 2)  # epoch 6 ends the third quarter
    assert falling_at_full_rate(curves) == pytest.approx(0.1)  # epoch 3 -> 4 ends the first half


@pytest.mark.slow
@pytest.mark.parametrize("study_id", ["vgg-3x3", "relu", "resnet"])
def test_studies_run_end_to_end(study_id):
    result = run_study(study_id)
    assert result["figures"] and result["numbers"]
