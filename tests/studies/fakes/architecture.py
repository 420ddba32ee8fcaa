"""Fake measurements for the architecture studies (CNN sections of the notes)."""

from dlbasic.studies import CONTRADICTED, INCONCLUSIVE, SUPPORTED


def _relu(relu: list, tanh: list, sigmoid: list) -> dict:
    return {
        "target": 0.05,
        "budget_steps": 200,
        "chosen_lr": {"relu": 0.01, "tanh": 0.03, "sigmoid": 0.1},
        "steps_to_target": {"relu": relu, "tanh": tanh, "sigmoid": sigmoid},
        "first_over_last_layer": {"relu": [0.15, 0.16], "tanh": [0.18, 0.2], "sigmoid": [0.005, 0.004]},
    }


def _vgg(stack_field: int, stack_weights: int, acc3: list, acc5: list) -> dict:
    case = {
        "layers": 2,
        "kernel": 5,
        "weights": {"64": {"stack": stack_weights, "single": 102400}},
        "fields": {
            "stack_formula": stack_field,
            "single_formula": 5,
            "stack_summary": stack_field,
            "single_summary": 5,
        },
    }
    return {"cases": [case], "held_out_accuracy": {"3x3": acc3, "5x5": acc5}}


def _resnet(res34: list, plain34: list, falling: tuple = (0.001, 0.007)) -> dict:
    return {
        "train_error": {"plain34": plain34, "resnet34": res34},
        "test_error": {"plain34": [e + 0.03 for e in plain34], "resnet34": [e + 0.05 for e in res34]},
        "still_improving": {"resnet34": falling[0], "plain34": falling[1]},
    }


FAKES = {
    "relu": [
        (_relu([70, 65, 80, 75], [190, 150, 201, 170], [201, 201, 201, 201]), SUPPORTED),
        (_relu([150, 160, 170, 140], [50, 60, 55, 45], [201, 201, 201, 201]), CONTRADICTED),
        (_relu([68, 69, 65, 75], [63, 68, 65, 80], [201, 201, 201, 201]), INCONCLUSIVE),  # tanh as fast
        (_relu([70, 65, 80, 75], [60, 200, 70, 190], [201, 201, 201, 201]), INCONCLUSIVE),  # tanh too noisy
    ],
    "vgg-3x3": [
        (_vgg(5, 73728, [0.975, 0.970, 0.980, 0.972], [0.976, 0.972, 0.978, 0.974]), SUPPORTED),  # non-inferior
        (_vgg(7, 73728, [0.975, 0.970, 0.980, 0.972], [0.976, 0.972, 0.978, 0.974]), CONTRADICTED),
        (_vgg(5, 110592, [0.975, 0.970, 0.980, 0.972], [0.976, 0.972, 0.978, 0.974]), CONTRADICTED),
        (_vgg(5, 73728, [0.95, 0.94, 0.95, 0.945], [0.976, 0.972, 0.978, 0.974]), CONTRADICTED),  # worse by > margin
        (_vgg(5, 73728, [0.97, 0.95, 0.98, 0.96], [0.976, 0.972, 0.978, 0.974]), INCONCLUSIVE),  # too noisy
    ],
    "resnet": [
        (_resnet([0.015, 0.012, 0.015, 0.016], [0.57, 0.40, 0.38, 0.25]), SUPPORTED),
        (_resnet([0.5, 0.6, 0.55, 0.45], [0.05, 0.06, 0.04, 0.05]), CONTRADICTED),
        (_resnet([0.07, 0.2, 0.1, 0.15], [0.1, 0.15, 0.12, 0.1]), INCONCLUSIVE),
        # the losing plain net still falls by 0.4 over the last quarter, as much as the gap: it might catch up
        (_resnet([0.015, 0.012, 0.015, 0.016], [0.57, 0.40, 0.38, 0.25], falling=(0.001, 0.4)), INCONCLUSIVE),
        (_resnet([0.015, 0.012, 0.015, 0.016], [0.57, 0.40, 0.38, 0.25], falling=(0.001, 0.05)), SUPPORTED),
    ],
}
