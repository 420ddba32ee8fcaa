"""Fake measurements for the regularization studies (early stopping to group norm).

Every list holds one value per seed, paired by index across arms (the studies' paired t-tests read them so).
"""

from dlbasic.lab.study import CHECKED, FAILED
from dlbasic.studies import CONTRADICTED, INCONCLUSIVE, SUPPORTED

NAN = float("nan")


def _es(diff: float, epochs: int) -> dict:
    """16 seeds: early stopping's test accuracy is training to the end's + `diff` (+- 0.001), after about
    `epochs` epochs of 40."""
    end = [0.88 + 0.002 * (i % 4) for i in range(16)]
    es = [e + diff + 0.001 * (-1) ** i for i, e in enumerate(end)]
    trained = [min(40, epochs + i % 3) for i in range(16)]
    return {
        "early_stopping": {"test_accuracy": es, "test_loss": [0.5] * 16, "epochs": trained, "best_epoch": [1] * 16},
        "to_the_end": {"test_accuracy": end, "test_loss": [0.6] * 16, "epochs": [40] * 16, "best_epoch": [40] * 16},
        "patience": 10,
    }


def _wd(ratio: float) -> dict:
    """3 seeds: the Jacobian norm at lambda 0.01 is `ratio` times the unpenalized one."""
    plain = [4.4, 4.7, 4.2]
    other = {"0": plain, "0.001": plain, "0.1": [1.3, 1.3, 1.2]}
    return {
        "jacobian_norm": {**other, "0.01": [ratio * j for j in plain]},
        "weight_norm": {k: [10.0, 11.0, 12.0] for k in ("0", "0.001", "0.01", "0.1")},
        "test_accuracy": {k: [0.87, 0.88, 0.86] for k in ("0", "0.001", "0.01", "0.1")},
    }


def _aug(gain: float) -> dict:
    """5 seeds: label-preserving augmentation adds `gain` to each seed's accuracy without it."""
    none = [0.87, 0.875, 0.88, 0.86, 0.865]
    return {
        "test_accuracy": {
            "none": none,
            "label-preserving": [a + gain for a in none],
            "flip": [0.82] * 5,
            "twice the real data": [0.9] * 5,
        },
        "label_preserving": "rotate,translate,scale",
    }


def _noise(input_gain: float, weight_gain: float) -> dict:
    """6 seeds: each noise training adds its gain to plain's accuracy at the test levels it was not trained at."""
    levels = ("0", "0.5", "1", "1.5", "2", "3")
    plain = {k: [0.6 + 0.01 * (i % 3) for i in range(6)] for k in levels}

    def trained(gain: float) -> dict:
        return {k: [p + (0.0 if k in ("0", "1") else gain) for p in plain[k]] for k in levels}

    return {
        "train_sigma": {"input": 0.3, "weight": 0.03},
        "noisy_inputs": {"plain": plain, "input noise": trained(input_gain)},
        "noisy_weights": {"plain": plain, "weight noise": trained(weight_gain)},
    }


def _dropout(gain: float) -> dict:
    """10 seeds: dropout 0.5 adds `gain` to each seed's accuracy without dropout."""
    none = [0.90 + 0.002 * (i % 5) for i in range(10)]
    return {
        "test_accuracy": {"0": none, "0.5": [a + gain for a in none]},
        "gap": {"0": [0.1] * 10, "0.5": [0.08] * 10},
    }


def _cutmix(error: float, clipped: int) -> dict:
    return {
        "samples": 20480,
        "clipped_samples": clipped,
        "clipped_exact": clipped,
        "max_abs_error": error,
        "uncorrected_mean_abs_error": 0.2,
        "uncorrected_max_abs_error": 0.76,
    }


FAKES = {
    "early-stopping": [
        (_es(0.0, 22), SUPPORTED),
        (_es(-0.003, 22), SUPPORTED),  # a little worse, within the margin
        (_es(-0.005, 22), INCONCLUSIVE),  # the interval straddles the margin
        (_es(-0.02, 22), CONTRADICTED),
        (_es(0.0, 38), CONTRADICTED),  # no epochs saved
    ],
    "weight-decay": [(_wd(0.6), SUPPORTED), (_wd(1.0), CONTRADICTED), (_wd(1.4), CONTRADICTED)],
    "augmentation": [(_aug(0.04), SUPPORTED), (_aug(0.0), CONTRADICTED), (_aug(-0.05), CONTRADICTED)],
    "noise": [
        (_noise(0.1, 0.05), SUPPORTED),
        (_noise(0.1, 0.0), CONTRADICTED),  # weight noise: equivalent
        (_noise(-0.1, 0.05), CONTRADICTED),
    ],
    "dropout": [(_dropout(0.02), SUPPORTED), (_dropout(0.0), CONTRADICTED), (_dropout(-0.02), CONTRADICTED)],
    "cutmix-ratio": [(_cutmix(0.0, 17000), CHECKED), (_cutmix(0.04, 17000), FAILED), (_cutmix(0.0, 3), FAILED)],
}
