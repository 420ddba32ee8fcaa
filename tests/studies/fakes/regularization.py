"""Fake measurements for the regularization studies (early stopping to group norm).

Every list holds one value per seed, paired by index across arms (the studies' paired t-tests read them so).
"""

from dlbasic.studies import CONTRADICTED, INCONCLUSIVE, SUPPORTED

NAN = float("nan")


def _es(es_loss, end_loss, es_acc, end_acc):
    return {
        "early_stopping": {"test_loss": es_loss, "test_accuracy": es_acc, "epochs": [12, 10, 11, 13]},
        "to_the_end": {"test_loss": end_loss, "test_accuracy": end_acc, "epochs": [40, 40, 40, 40]},
        "best_epoch": [7, 5, 6, 8],
    }


END_LOSS, END_ACC = [0.55, 0.60, 0.52, 0.58], [0.879, 0.870, 0.885, 0.874]


def _wd(w1, j1):
    return {
        "weight_norm": {"0": [14.0, 14.2, 13.8], "0.01": [6.5, 6.7, 6.4], "0.1": w1},
        "jacobian_norm": {"0": [4.4, 4.7, 4.2], "0.01": [2.5, 2.7, 2.3], "0.1": j1},
        "test_accuracy": {"0": [0.87, 0.88, 0.86], "0.01": [0.88, 0.87, 0.87], "0.1": [0.85, 0.83, 0.84]},
    }


def _aug(aug):
    return {
        "test_accuracy": {
            "none": [0.877, 0.879, 0.86],
            "rotate+translate+scale": aug,
            "flip": [0.83, 0.83, 0.82],
            "twice the real data": [0.9, 0.89, 0.88],
        }
    }


def _curve(clean, mild, severe):
    """Accuracy at test noise 0, 0.5, 1, 1.5, 2 and 3 times the training level: `mild` up to 1, `severe` above."""
    return {"0": clean, "0.5": mild, "1": mild, "1.5": severe, "2": severe, "3": severe}


PLAIN_INPUTS = _curve([0.90, 0.91, 0.89], [0.85, 0.86, 0.84], [0.40, 0.45, 0.42])
PLAIN_WEIGHTS = _curve([0.90, 0.91, 0.89], [0.88, 0.89, 0.87], [0.60, 0.62, 0.58])


def _noise(inp, wts):
    """`inp`, `wts`: the noise-trained curves; plain training's are fixed above."""
    return {
        "train_sigma": {"input": 0.3, "weight": 0.03},
        "noisy_inputs": {"plain": PLAIN_INPUTS, "input noise": inp},
        "noisy_weights": {"plain": PLAIN_WEIGHTS, "weight noise": wts},
    }


FAKES = {
    "early-stopping": [
        (_es([0.44, 0.50, 0.43, 0.47], END_LOSS, [0.876, 0.871, 0.880, 0.875], END_ACC), SUPPORTED),
        (_es([0.50, 0.65, 0.45, 0.60], END_LOSS, [0.876, 0.871, 0.880, 0.875], END_ACC), INCONCLUSIVE),
        # lower loss, but accuracy lower by more than the margin in every seed: mixed
        (_es([0.44, 0.50, 0.43, 0.47], END_LOSS, [0.85, 0.84, 0.855, 0.845], END_ACC), INCONCLUSIVE),
        # higher loss, but accuracy higher by more than the margin: mixed
        (_es([0.66, 0.70, 0.64, 0.69], END_LOSS, [0.90, 0.89, 0.91, 0.90], END_ACC), INCONCLUSIVE),
        (_es([0.66, 0.70, 0.64, 0.69], END_LOSS, [0.876, 0.871, 0.880, 0.875], END_ACC), CONTRADICTED),
    ],
    "weight-decay": [
        (_wd([3.9, 3.95, 3.8], [1.3, 1.27, 1.2]), SUPPORTED),
        (_wd([13.9, 14.5, 13.5], [1.3, 1.27, 1.2]), INCONCLUSIVE),  # the strongest penalty left the weights
        (_wd([3.9, 3.95, 3.8], [6.0, 6.2, 5.9]), CONTRADICTED),  # smaller weights but a steeper function
    ],
    "augmentation": [
        (_aug([0.91, 0.92, 0.895]), SUPPORTED),
        (_aug([0.87, 0.89, 0.865]), INCONCLUSIVE),
        (_aug([0.80, 0.81, 0.79]), CONTRADICTED),
    ],
    "noise": [
        (
            _noise(
                _curve([0.89, 0.90, 0.88], [0.88, 0.89, 0.87], [0.70, 0.72, 0.69]),
                _curve([0.90, 0.90, 0.89], [0.89, 0.90, 0.88], [0.70, 0.71, 0.69]),
            ),
            SUPPORTED,
        ),
        # input noise helps, weight noise within noise
        (
            _noise(
                _curve([0.89, 0.90, 0.88], [0.88, 0.89, 0.87], [0.70, 0.72, 0.69]),
                _curve([0.90, 0.90, 0.89], [0.89, 0.88, 0.88], [0.59, 0.64, 0.57]),
            ),
            INCONCLUSIVE,
        ),
        # input-noise training is less robust away from its training level
        (
            _noise(
                _curve([0.89, 0.90, 0.88], [0.80, 0.81, 0.79], [0.30, 0.35, 0.31]),
                _curve([0.90, 0.90, 0.89], [0.89, 0.90, 0.88], [0.70, 0.71, 0.69]),
            ),
            CONTRADICTED,
        ),
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
                "test_accuracy": {"0": [0.90, 0.905, 0.89], "0.5": [0.93, 0.935, 0.925]},
                "gap": {"0": [0.1, 0.1, 0.11], "0.5": [0.06, 0.06, 0.07]},
            },
            SUPPORTED,
        ),
        (
            {
                "test_accuracy": {"0": [0.90, 0.91, 0.89], "0.5": [0.904, 0.905, 0.893]},
                "gap": {"0": [0.1, 0.1, 0.1], "0.5": [0.1, 0.1, 0.1]},
            },
            INCONCLUSIVE,
        ),
        (
            {
                "test_accuracy": {"0": [0.90, 0.905, 0.89], "0.5": [0.80, 0.81, 0.795]},
                "gap": {"0": [0.1, 0.1, 0.1], "0.5": [0.1, 0.1, 0.1]},
            },
            CONTRADICTED,
        ),
    ],
}
