"""Fake measurements for the regularization studies (early stopping to group norm)."""

from dlbasic.studies import CONTRADICTED, INCONCLUSIVE, SUPPORTED


def _es(es_loss, end_loss, es_acc, end_acc):
    return {
        "early_stopping": {"test_loss": es_loss, "test_accuracy": es_acc, "epochs": [12, 10]},
        "to_the_end": {"test_loss": end_loss, "test_accuracy": end_acc, "epochs": [40, 40]},
        "best_epoch": [7, 5],
    }


def _wd(w1, j1):
    return {
        "weight_norm": {"0": [14.0, 14.2], "0.01": [6.5, 6.7], "0.1": w1},
        "jacobian_norm": {"0": [4.4, 4.7], "0.01": [2.5, 2.7], "0.1": j1},
        "test_accuracy": {"0": [0.87, 0.88], "0.01": [0.88, 0.87], "0.1": [0.85, 0.83]},
    }


def _aug(aug):
    return {
        "test_accuracy": {
            "none": [0.877, 0.879],
            "rotate+translate+scale": aug,
            "flip": [0.83, 0.83],
            "twice the real data": [0.9, 0.89],
        }
    }


def _noise(inp, wts):
    return {
        "noisy_inputs": {"plain": {"0.4": [0.66, 0.665]}, "input noise": {"0.4": inp}},
        "noisy_weights": {"plain": {"0.04": [0.84, 0.86]}, "weight noise": {"0.04": wts}},
    }


def _mix(mixup, cutmix):
    return {
        "test_accuracy": {"plain": [0.89, 0.9], "label smoothing": [0.91, 0.92], "mixup": mixup, "cutmix": cutmix},
        "ece": {"plain": [0.05, 0.06], "label smoothing": [0.13, 0.13], "mixup": [0.05, 0.05], "cutmix": [0.15, 0.16]},
    }


def _bn(lr_bn, lr_plain, bn_loss):
    return {
        "max_stable_lr": {"batch": lr_bn, "none": lr_plain},
        "final_loss": {"batch": {"0.01": bn_loss}, "none": {"0.01": [1.0, 1.05]}},
        "stable": {},
    }


def _gn(bn_small, gn_small):
    return {
        "test_accuracy": {"batch": {"2": bn_small, "32": [0.95, 0.96]}, "group": {"2": gn_small, "32": [0.95, 0.96]}}
    }


FAKES = {
    "early-stopping": [
        (_es([0.44, 0.45], [0.55, 0.56], [0.876, 0.88], [0.879, 0.88]), SUPPORTED),
        (_es([0.5, 0.6], [0.55, 0.56], [0.876, 0.88], [0.879, 0.88]), INCONCLUSIVE),
        (_es([0.44, 0.45], [0.55, 0.56], [0.80, 0.81], [0.879, 0.88]), INCONCLUSIVE),  # lower loss, worse accuracy
        (_es([0.66, 0.67], [0.55, 0.56], [0.95, 0.96], [0.879, 0.88]), INCONCLUSIVE),  # higher loss, better accuracy
        (_es([0.66, 0.67], [0.55, 0.56], [0.879, 0.88], [0.879, 0.88]), CONTRADICTED),
    ],
    "weight-decay": [
        (_wd([3.9, 3.9], [1.3, 1.27]), SUPPORTED),
        (_wd([13.9, 14.3], [1.3, 1.27]), INCONCLUSIVE),  # the strongest penalty left the weights as they were
        (_wd([3.9, 3.9], [6.0, 6.2]), CONTRADICTED),  # smaller weights but a steeper function
    ],
    "augmentation": [
        (_aug([0.91, 0.92]), SUPPORTED),
        (_aug([0.87, 0.89]), INCONCLUSIVE),
        (_aug([0.80, 0.81]), CONTRADICTED),
    ],
    "noise": [
        (_noise([0.82, 0.83], [0.9, 0.91]), SUPPORTED),
        (_noise([0.82, 0.83], [0.85, 0.86]), INCONCLUSIVE),
        (_noise([0.5, 0.51], [0.9, 0.91]), CONTRADICTED),
    ],
    "mixing": [
        (_mix([0.93, 0.94], [0.93, 0.935]), SUPPORTED),
        (_mix([0.898, 0.9], [0.893, 0.897]), INCONCLUSIVE),
        (_mix([0.8, 0.81], [0.79, 0.8]), CONTRADICTED),
    ],
    "cutmix-ratio": [
        (
            {
                "samples": 20480,
                "clipped_samples": 17000,
                "clipped_exact": 17000,
                "max_abs_error": 0.0,
                "uncorrected_mean_abs_error": 0.2,
                "uncorrected_max_abs_error": 0.76,
            },
            SUPPORTED,
        ),
        (
            {
                "samples": 20480,
                "clipped_samples": 17000,
                "clipped_exact": 16990,
                "max_abs_error": 0.04,
                "uncorrected_mean_abs_error": 0.2,
                "uncorrected_max_abs_error": 0.76,
            },
            CONTRADICTED,
        ),
        (
            {
                "samples": 200,
                "clipped_samples": 3,
                "clipped_exact": 3,
                "max_abs_error": 0.0,
                "uncorrected_mean_abs_error": 0.2,
                "uncorrected_max_abs_error": 0.76,
            },
            INCONCLUSIVE,
        ),
    ],
    "dropout": [
        (
            {
                "test_accuracy": {"0": [0.90, 0.905], "0.5": [0.93, 0.935]},
                "gap": {"0": [0.1, 0.1], "0.5": [0.06, 0.06]},
            },
            SUPPORTED,
        ),
        (
            {"test_accuracy": {"0": [0.90, 0.91], "0.5": [0.904, 0.905]}, "gap": {"0": [0.1, 0.1], "0.5": [0.1, 0.1]}},
            INCONCLUSIVE,
        ),
        (
            {"test_accuracy": {"0": [0.90, 0.905], "0.5": [0.80, 0.81]}, "gap": {"0": [0.1, 0.1], "0.5": [0.1, 0.1]}},
            CONTRADICTED,
        ),
    ],
    "batch-norm": [
        (_bn(0.3, 0.1, [0.5, 0.52]), SUPPORTED),
        (_bn(0.3, 0.3, [0.5, 0.52]), INCONCLUSIVE),  # same stable range
        (_bn(0.03, 0.1, [0.5, 0.52]), CONTRADICTED),
        (_bn(0.3, 0.1, [1.5, 1.52]), CONTRADICTED),
        (_bn(0.3, 0.1, [0.5, float("nan")]), INCONCLUSIVE),
    ],
    "group-norm": [
        (_gn([0.80, 0.82], [0.95, 0.955]), SUPPORTED),
        (_gn([0.95, 0.955], [0.95, 0.96]), INCONCLUSIVE),
        (_gn([0.95, 0.955], [0.80, 0.82]), CONTRADICTED),
    ],
}
