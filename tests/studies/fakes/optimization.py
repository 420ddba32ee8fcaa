"""Fake measurements for the optimizer studies (momentum, nesterov, adagrad, adadelta, rmsprop-adam)."""

from dlbasic.studies import CONTRADICTED, INCONCLUSIVE, SUPPORTED

FASTER = [100, 120, 90, 110, 95, 105]  # steps of the arm that is consistently faster
SLOWER = [480, 500, 470, 520, 490, 460]
SAME = [101, 119, 91, 109, 96, 104]  # within 1-2 % of FASTER, in both directions
NOISY = [50, 400, 90, 300, 60, 250]


def _race(fav: str, other: str, problems: dict[str, tuple[list, list]]) -> dict:
    """Per problem (fav steps, other steps); MNIST problems carry their run seeds, landscapes sign changes."""
    out = {}
    for name, (a, b) in problems.items():
        v = {"threshold": 0.1, "max_steps": 2000, fav: {"steps": a, "lr": 0.01}, other: {"steps": b, "lr": 0.1}}
        if name.startswith("mnist"):
            v["seeds"] = list(range(len(a)))
        else:
            v[fav]["sign_changes"], v[other]["sign_changes"] = [1] * len(a), [5] * len(b)
        out[name] = v
    return {"data": "mnist5k", "problems": out}


PROBLEMS = ("quadratic", "rosenbrock", "mnist5k batch 32", "mnist5k batch 512")


def _four(fav: str, other: str, *pairs: tuple[list, list]) -> dict:
    return _race(fav, other, dict(zip(PROBLEMS, pairs, strict=True)))


def _adagrad(shrink: list, rms: list, rare: list, frequent: list) -> dict:
    return {
        "adagrad": {"shrink": shrink, "rare_step": rare, "frequent_step": frequent, "train_loss": [0.1] * 3},
        "rmsprop": {"shrink": rms, "train_loss": [0.05] * 3},
    }


def _adadelta(ratio: list, adagrad: list, acc: list) -> dict:
    return {
        "classes": 10,
        "adadelta": {"ratio": ratio, "val_accuracy": acc},
        "adagrad": {"ratio": adagrad, "val_accuracy": [0.9] * len(adagrad)},
    }


def _scores(adam_width: list, adam_default: list, rival_width: list, rival_default: list) -> dict:
    """Per-seed width (decades) and default score (accuracy / best) of Adam, one rival, and a weak third."""
    weak = {"width": [0.2, 0.3, 0.25], "default": [0.5, 0.6, 0.55]}
    return {
        "scores": {
            "adam": {"width": adam_width, "default": adam_default},
            "sgd": {"width": rival_width, "default": rival_default},
            "adadelta": weak,
            "rmsprop": weak,
        }
    }


FAKES = {
    "momentum": [
        (_four("momentum", "sgd", (FASTER, SLOWER), (FASTER, SLOWER), (FASTER, SLOWER), (FASTER, SLOWER)), SUPPORTED),
        (_four("momentum", "sgd", (FASTER, SLOWER), (FASTER, SLOWER), (SAME, FASTER), (NOISY, FASTER)), SUPPORTED),
        (
            _four("momentum", "sgd", (FASTER, SLOWER), (FASTER, SLOWER), (SLOWER, FASTER), (SAME, FASTER)),
            INCONCLUSIVE,
        ),  # mixed: two for, one against
        (_four("momentum", "sgd", (FASTER, SLOWER), (SAME, FASTER), (NOISY, FASTER), (SAME, FASTER)), INCONCLUSIVE),
        (_four("momentum", "sgd", (SLOWER, FASTER), (SLOWER, FASTER), (SAME, FASTER), (NOISY, FASTER)), CONTRADICTED),
    ],
    "nesterov": [
        (_four("nesterov", "momentum", (FASTER, SLOWER), (SAME, FASTER), (FASTER, SLOWER), (NOISY, FASTER)), SUPPORTED),
        (
            _four("nesterov", "momentum", (FASTER, SLOWER), (SAME, FASTER), (NOISY, FASTER), (SAME, FASTER)),
            INCONCLUSIVE,
        ),
        (
            _four("nesterov", "momentum", (SLOWER, FASTER), (SAME, FASTER), (SLOWER, FASTER), (SAME, FASTER)),
            CONTRADICTED,
        ),
    ],
    "adagrad": [
        (_adagrad([0.34, 0.32, 0.35], [2.1, 2.4, 2.0], [1.3, 1.32, 1.28], [1.0, 1.0, 1.0]), SUPPORTED),
        (
            _adagrad([0.34, 0.32, 0.35], [0.5, 0.48, 0.52], [1.3, 1.32, 1.28], [1.0, 1.0, 1.0]),
            INCONCLUSIVE,
        ),  # shrinks more than RMSprop, but not twice as much
        (_adagrad([0.34, 0.32, 0.35], [2.1, 2.4, 2.0], [1.3, 0.8, 1.1], [1.0, 1.0, 1.0]), INCONCLUSIVE),
        (_adagrad([2.5, 2.6, 2.4], [0.3, 0.35, 0.32], [1.3, 1.32, 1.28], [1.0, 1.0, 1.0]), CONTRADICTED),
        (_adagrad([0.34, 0.32, 0.35], [2.1, 2.4, 2.0], [0.8, 0.82, 0.79], [1.0, 1.0, 1.0]), CONTRADICTED),
    ],
    "adadelta": [
        (_adadelta([3.0, 3.1, 2.7], [0.34, 0.35, 0.32], [0.97, 0.98, 0.96]), SUPPORTED),
        (
            _adadelta([0.5, 0.55, 0.45], [0.34, 0.35, 0.32], [0.97, 0.98, 0.96]),
            INCONCLUSIVE,
        ),  # more alive than Adagrad, but not twice
        (_adadelta([3.0, 3.1, 2.7], [0.34, 0.35, 0.32], [0.2, 0.15, 0.1]), CONTRADICTED),  # does not learn
        (_adadelta([0.1, 0.12, 0.09], [0.34, 0.35, 0.32], [0.97, 0.98, 0.96]), CONTRADICTED),
    ],
    "rmsprop-adam": [
        (_scores([1.5, 1.6, 1.4], [0.99, 0.99, 0.99], [1.5, 1.7, 1.3], [0.985, 0.99, 0.98]), SUPPORTED),
        (_scores([0.5, 0.6, 0.4], [0.99, 0.98, 0.99], [1.5, 1.7, 1.6], [0.99, 0.99, 0.985]), CONTRADICTED),
        (_scores([1.5, 1.6, 1.4], [0.8, 0.85, 0.82], [1.5, 1.7, 1.3], [0.99, 0.99, 0.985]), CONTRADICTED),
        (_scores([1.5, 0.6, 1.4], [0.99, 0.98, 0.99], [1.5, 1.7, 1.3], [0.99, 0.99, 0.985]), INCONCLUSIVE),
    ],
}
