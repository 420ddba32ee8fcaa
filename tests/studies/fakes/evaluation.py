"""Fake measurements for the generalization, model-selection and ensemble studies."""

from dlbasic.studies import CONTRADICTED, INCONCLUSIVE, SUPPORTED

WIDTHS = ("2", "8", "32", "128", "512")


def _gen(small, large, test, noisy_train=(1.0, 1.0, 1.0), noisy_test=(0.75, 0.74, 0.76)):
    """Train accuracy of the narrowest and widest nets, the widest net's test accuracy, with true and noisy labels."""

    def by_width(narrow, wide):
        return {w: list(narrow if w == "2" else wide) for w in WIDTHS}

    train = {"clean": by_width(small, large), "noisy": by_width(small, noisy_train)}
    tests = {"clean": by_width(small, test), "noisy": by_width(small, noisy_test)}
    gap = {c: {w: [a - b for a, b in zip(train[c][w], tests[c][w])] for w in WIDTHS} for c in train}
    return {"train_accuracy": train, "test_accuracy": tests, "gap": gap, "noise": 0.2}


def _cv(cv, holdout):
    return {
        "regret": {"cv": list(cv), "holdout": list(holdout)},
        "chosen": {"cv": [0] * len(cv), "holdout": [1] * len(holdout)},
    }


def _bv(bias_exponent, variance_exponent, noise=(0.0, 0.0, 0.0)):
    """Power laws in width per seed: bias^2 ~ w^bias_exponent, variance ~ w^variance_exponent (times 1 + noise)."""
    widths = (1, 4, 16, 64, 256, 1024)
    bias = {str(w): [0.5 * w**bias_exponent * (1 + e) for e in noise] for w in widths}
    var = {str(w): [0.05 * w**variance_exponent * (1 - e) for e in noise] for w in widths}
    half = {str(w): [v / 2 for v in var[str(w)]] for w in widths}
    return {"classes": 10, "bias2": bias, "variance": var, "variance_init": half, "variance_sampling": half}


def _bag(bagged, single, random_init=None):
    return {
        "bagged_soft": list(bagged),
        "bagged_hard": list(bagged),
        "single": list(single),
        "random_init": list(random_init or bagged),
        "member_mean": [s - 0.02 for s in single],
    }


def _boost(focus, uniform, focus_err, uniform_err):
    return {
        "focus_accuracy": list(focus),
        "uniform_accuracy": list(uniform),
        "focus_weighted_error": list(focus_err),
        "uniform_weighted_error": list(uniform_err),
    }


def _batch(small_acc, large_acc, small_eig=(1.0, 1.1, 0.9, 1.05, 0.95), large_eig=(5.0, 5.5, 6.0, 5.2, 5.8)):
    """batch-size's numbers for five paired seeds (its first look; test_study_batch_size.py tests the rest)."""

    def part(acc, eig):
        return {
            "test_accuracy": list(acc),
            "hessian_top": list(eig),
            "eps_sharpness": [0.5, 0.6, 0.55, 0.5, 0.6],
            "steps": [500, 520, 480, 500, 510],
            "reached": [True] * 5,
        }

    return {"target_loss": 0.01, "small": part(small_acc, small_eig), "large": part(large_acc, large_eig)}


NAN = float("nan")

FAKES = {
    "generalization": [
        (_gen((0.40, 0.42, 0.38), (1.0, 1.0, 1.0), (0.95, 0.94, 0.96)), SUPPORTED),
        # the widest net tests better than it trains: no overfitting
        (_gen((0.40, 0.42, 0.38), (0.90, 0.91, 0.90), (0.96, 0.965, 0.962)), CONTRADICTED),
        # a narrow net that fits the training set as well as the widest: no underfitting
        (_gen((1.0, 1.0, 1.0), (0.90, 0.91, 0.90), (0.85, 0.86, 0.84)), CONTRADICTED),
        # a small, noisy gap with true labels
        (_gen((0.40, 0.42, 0.38), (1.0, 1.0, 1.0), (0.99, 0.96, 0.98)), INCONCLUSIVE),
    ],
    "cross-validation": [
        (_cv((0.0, 0.003, 0.0, 0.0028, 0.0), (0.010, 0.012, 0.008, 0.011, 0.009)), SUPPORTED),
        (_cv((0.010, 0.012, 0.008, 0.011, 0.009), (0.0, 0.003, 0.0, 0.0028, 0.0)), CONTRADICTED),
        (_cv((0.0, 0.010, 0.003, 0.0, 0.006), (0.005, 0.0, 0.004, 0.006, 0.001)), INCONCLUSIVE),
        (_cv((0.0, 0.0, 0.0), (0.0, 0.0, 0.0)), INCONCLUSIVE),  # the same choice every time
    ],
    "bias-variance": [
        (_bv(-0.3, 0.2, (0.0, 0.01, -0.01)), SUPPORTED),  # bias falls, variance rises: a trade-off
        (_bv(-0.3, -0.2, (0.0, 0.01, -0.01)), CONTRADICTED),  # both fall
        (_bv(-0.3, 0.0, (0.0, 0.01, -0.01)), INCONCLUSIVE),  # variance flat
    ],
    "bagging": [
        (_bag((0.967, 0.955, 0.960, 0.970), (0.950, 0.941, 0.945, 0.952)), SUPPORTED),
        (_bag((0.930, 0.925, 0.931, 0.928), (0.950, 0.941, 0.945, 0.952)), CONTRADICTED),
        (_bag((0.953, 0.940, 0.946, 0.950), (0.950, 0.941, 0.945, 0.952)), INCONCLUSIVE),
    ],
    "boosting": [
        (
            _boost(
                (0.55, 0.60, 0.58, 0.62), (0.30, 0.35, 0.31, 0.33), (0.45, 0.41, 0.43, 0.40), (0.68, 0.64, 0.66, 0.65)
            ),
            SUPPORTED,
        ),
        (
            _boost(
                (0.30, 0.35, 0.31, 0.33), (0.55, 0.60, 0.58, 0.62), (0.68, 0.64, 0.66, 0.65), (0.45, 0.41, 0.43, 0.40)
            ),
            CONTRADICTED,
        ),
        (
            _boost(
                (0.50, 0.40, 0.45, 0.47), (0.48, 0.44, 0.43, 0.46), (0.50, 0.58, 0.55, 0.53), (0.52, 0.56, 0.57, 0.54)
            ),
            INCONCLUSIVE,
        ),
        (_boost((NAN, NAN, 0.6), (NAN, NAN, 0.3), (NAN, NAN, 0.4), (NAN, NAN, 0.6)), INCONCLUSIVE),  # stopped early
    ],
    "batch-size": [
        (_batch((0.975, 0.970, 0.980, 0.974, 0.976), (0.955, 0.950, 0.962, 0.955, 0.957)), SUPPORTED),
        (_batch((0.950, 0.945, 0.955, 0.950, 0.952), (0.975, 0.970, 0.978, 0.975, 0.976)), CONTRADICTED),
        (_batch((0.970, 0.960, 0.975, 0.950, 0.980), (0.968, 0.966, 0.970, 0.965, 0.960)), INCONCLUSIVE),
    ],
}


# ---- fake run values: what each study's runs return, for `plan` and `collect` without training -------------


def _jitter(*parts: int) -> float:
    """A small deterministic spread between units, so the paired tests see some variance."""
    return 0.004 * (sum((i + 1) * p for i, p in enumerate(parts)) % 5)


def generalization_run(args):
    """A unit where the narrowest net underfits and the widest one tests below its training accuracy."""
    e = _jitter(args["seed"], args["unit"])
    widths = WIDTHS if args["unit"] == 0 else (WIDTHS[0], WIDTHS[-1])
    train = {"clean": {w: 0.40 + e if w == "2" else 1.0 for w in widths}, "noisy": {w: 1.0 for w in widths}}
    test = {"clean": {w: 0.38 if w == "2" else 0.95 - e for w in widths}, "noisy": {w: 0.75 - e for w in widths}}
    curves = {c: {"train_accuracy": [0.5, 0.9, 1.0], "test_accuracy": [0.5, 0.8, 0.9]} for c in train}
    return {"train_accuracy": train, "test_accuracy": test, "widest_curves": curves if args["unit"] == 0 else {}}


def cross_validation_run(args):
    """A unit where CV picks the best candidate on test and the first fold alone picks a worse one."""
    e = _jitter(args["seed"], args["unit"])
    return {
        "cv_accuracy": [0.90, 0.91, 0.95, 0.92, 0.90, 0.91],
        "holdout_accuracy": [0.97, 0.91, 0.95, 0.92, 0.90, 0.91],
        "test_accuracy": [0.90 - e, 0.92, 0.95, 0.91, 0.90, 0.93],
    }


def bias_variance_run(args):
    """Bias^2 falling and variance rising with width (a trade-off), with a little noise per seed."""
    w, e = args["width"], 0.01 * (args["seed"] % 3 - 1)
    bias2, init = 0.5 * w**-0.3 * (1 + e), 0.025 * w**0.2 * (1 - e)
    return {
        "classes": 10,
        "loss": bias2 + 2 * init,
        "bias2": bias2,
        "variance": 2 * init,
        "variance_init": init,
        "variance_sampling": init,
    }


def bagging_run(args):
    """A unit where the bagged ensemble tests better than one net on all the data."""
    e = _jitter(args["seed"], args["unit"])
    return {
        "bagged_soft": 0.965 - e,
        "bagged_hard": 0.960 - e,
        "single": 0.945 - e / 2,
        "random_init": 0.97,
        "member_mean": 0.93,
        "bagged_by_members": [0.93, 0.95, 0.96, 0.96, 0.965 - e],
    }


def boosting_run(args):
    """A unit where learner 2 focuses on learner 1's mistakes; SAMME stops after learner 1 in unit 4 of seed 0
    (its round-1 numbers None, as a saved run keeps NaN)."""
    e = _jitter(args["seed"], args["unit"])
    out = {
        "focus_accuracy": 0.60 - e,
        "uniform_accuracy": 0.30 + e,
        "focus_weighted_error": 0.42 + e,
        "uniform_weighted_error": 0.66 - e,
        "learner1_error": 0.2,
    }
    if args["seed"] == 0 and args["unit"] == 4:
        out.update(
            {k: None for k in ("focus_accuracy", "uniform_accuracy", "focus_weighted_error", "uniform_weighted_error")}
        )
    if args["unit"] == 0:
        out["ensemble_train_error"] = [0.2, 0.15, 0.1, 0.08, 0.07, 0.06]
        out["ensemble_test_accuracy"] = [0.8, 0.83, 0.86, 0.87, 0.88, 0.88]
    return out


RUN_FAKES = {
    "generalization": (generalization_run, SUPPORTED),
    "cross-validation": (cross_validation_run, SUPPORTED),
    "bias-variance": (bias_variance_run, SUPPORTED),
    "bagging": (bagging_run, SUPPORTED),
    "boosting": (boosting_run, SUPPORTED),
}
