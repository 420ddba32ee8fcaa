"""Fake measurements for the architecture studies (CNN sections of the notes)."""

from dlbasic.studies import CONTRADICTED, INCONCLUSIVE, SUPPORTED


def _one_by_one(reduced: int, branch_reduced: int, formula_ok: bool = True) -> dict:
    return {
        "example": {
            "in": 128,
            "reduce": 32,
            "out": 128,
            "direct": 147456,
            "reduced": reduced,
            "depth_direct": 1,
            "depth_reduced": 2,
        },
        "break_even_width": 115.2,
        "first_width_not_cheaper": 116,
        "formula_ok": formula_ok,
        "googlenet_branches": [
            {
                "module": "3a",
                "kernel": 3,
                "in": 192,
                "reduce": 96,
                "out": 128,
                "direct": 221184,
                "reduced": branch_reduced,
            }
        ],
    }


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


def _inception(with_: int, without: int, module_with: int) -> dict:
    return {
        "params_with": with_,
        "params_without": without,
        "macs_with": 1.6e9,
        "macs_without": 4.4e9,
        "modules_with": {"3a": module_with, "3b": 388736},
        "modules_without": {"3a": 393472, "3b": 1106400},
    }


def _resnet(res34: list, plain34: list, falling: tuple = (0.001, 0.007)) -> dict:
    return {
        "train_error": {"plain34": plain34, "resnet34": res34},
        "test_error": {"plain34": [e + 0.03 for e in plain34], "resnet34": [e + 0.05 for e in res34]},
        "still_improving": {"resnet34": falling[0], "plain34": falling[1]},
    }


def _bottleneck(bottle_params: int, net_bottle: int) -> dict:
    return {
        "blocks": [
            {
                "width": 256,
                "side": 56,
                "basic_params": 1180672,
                "basic_macs": 3699376128,
                "bottleneck_params": bottle_params,
                "bottleneck_macs": 218365952,
            }
        ],
        "network": {
            "bottleneck_params": net_bottle,
            "bottleneck_macs": 4.1e9,
            "basic_params": 342286568,
            "basic_macs": 5.7e10,
        },
    }


def _densenet(trace: list, params: int) -> dict:
    return {"growth": 32, "trace": trace, "matches_formula": True, "params": params, "params_no_compression": 13908584}


GROWING = [["layer", 64], ["layer", 96], ["transition", 64], ["layer", 64], ["layer", 96]]
NOT_SHRINKING = [["layer", 64], ["layer", 96], ["transition", 128], ["layer", 128]]

FAKES = {
    "one-by-one": [
        (_one_by_one(40960, 129024), SUPPORTED),
        (_one_by_one(160000, 129024), CONTRADICTED),
        (_one_by_one(40960, 250000), CONTRADICTED),
        (_one_by_one(40960, 129024, formula_ok=False), CONTRADICTED),
    ],
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
    "inception": [
        (_inception(6998552, 25305944, 163696), SUPPORTED),
        (_inception(26000000, 25305944, 163696), CONTRADICTED),
        (_inception(6998552, 25305944, 400000), CONTRADICTED),
    ],
    "resnet": [
        (_resnet([0.015, 0.012, 0.015, 0.016], [0.57, 0.40, 0.38, 0.25]), SUPPORTED),
        (_resnet([0.5, 0.6, 0.55, 0.45], [0.05, 0.06, 0.04, 0.05]), CONTRADICTED),
        (_resnet([0.07, 0.2, 0.1, 0.15], [0.1, 0.15, 0.12, 0.1]), INCONCLUSIVE),
        # the losing plain net still falls by 0.4 over the last quarter, as much as the gap: it might catch up
        (_resnet([0.015, 0.012, 0.015, 0.016], [0.57, 0.40, 0.38, 0.25], falling=(0.001, 0.4)), INCONCLUSIVE),
        (_resnet([0.015, 0.012, 0.015, 0.016], [0.57, 0.40, 0.38, 0.25], falling=(0.001, 0.05)), SUPPORTED),
    ],
    "bottleneck": [
        (_bottleneck(70400, 25557032), SUPPORTED),
        (_bottleneck(2000000, 25557032), CONTRADICTED),
        (_bottleneck(70400, 400000000), CONTRADICTED),
    ],
    "densenet": [
        (_densenet(GROWING, 7978856), SUPPORTED),
        (_densenet(NOT_SHRINKING, 7978856), CONTRADICTED),
        (_densenet(GROWING, 14000000), CONTRADICTED),
    ],
}
