"""Fake measurements for the optimizer studies (gd-variants, momentum, nesterov, adagrad, adadelta, rmsprop-adam)."""
from dlbasic.studies import CONTRADICTED, INCONCLUSIVE, SUPPORTED


def _momentum(quad: tuple[int, int], rosen: tuple[int, int], digits: tuple[list, list]) -> dict:
    return {"landscapes": {"quadratic": {"momentum": {"steps": quad[0]}, "sgd": {"steps": quad[1]}},
                           "rosenbrock": {"momentum": {"steps": rosen[0]}, "sgd": {"steps": rosen[1]}}},
            "digits": {"momentum": {"steps": digits[0]}, "sgd": {"steps": digits[1]}}}


def _nesterov(quad: tuple[list, list], rosen: tuple[list, list]) -> dict:
    def land(nag: list, mom: list) -> dict:
        return {"nesterov": {"settle_steps": nag, "sign_changes": [1] * len(nag)},
                "momentum": {"settle_steps": mom, "sign_changes": [2] * len(mom)}}

    return {"quadratic": land(*quad), "rosenbrock": land(*rosen)}


def _adagrad(shrink: list, rms: list, rare: list) -> dict:
    return {"adagrad": {"shrink": shrink, "rare_over_frequent": rare, "train_loss": [0.1, 0.1]},
            "rmsprop": {"shrink": rms, "train_loss": [0.05, 0.05]}}


def _adadelta(ratio: list, adagrad: list, acc: list) -> dict:
    return {"adadelta": {"ratio": ratio, "val_accuracy": acc}, "adagrad": {"ratio": adagrad, "val_accuracy": [0.9]}}


def _grid(adam: list, rival: list, rival_default: list | None = None) -> dict:
    """Accuracy per lr multiplier: Adam's and one rival's worst-lr cells are `adam` / `rival`."""
    return {"val_accuracy": {"adam": {"0.1": adam, "1": [0.95, 0.95], "10": [0.955, 0.955]},
                             "sgd": {"0.1": rival, "1": rival_default or [0.95, 0.95], "10": [0.9, 0.9]}}}


FAKES = {
    "momentum": [
        (_momentum((100, 500), (400, 2001), ([80, 82], [160, 120])), SUPPORTED),
        (_momentum((100, 500), (400, 2001), ([80, 160], [120, 120])), INCONCLUSIVE),
        (_momentum((100, 500), (400, 2001), ([82, 82], [82, 82])), INCONCLUSIVE),
        (_momentum((600, 500), (400, 2001), ([80, 82], [160, 120])), CONTRADICTED),
        (_momentum((100, 500), (400, 2001), ([300, 310], [160, 120])), CONTRADICTED),
    ],
    "nesterov": [
        (_nesterov(([90, 92], [115, 117]), ([300, 310], [400, 420])), SUPPORTED),
        (_nesterov(([90, 92], [115, 117]), ([300, 900], [400, 420])), INCONCLUSIVE),
        (_nesterov(([90, 92], [115, 117]), ([600, 610], [400, 420])), CONTRADICTED),
    ],
    "adagrad": [
        (_adagrad([0.3, 0.35], [2.1, 2.4], [1.3, 1.3]), SUPPORTED),
        (_adagrad([0.6, 0.7], [2.1, 2.4], [1.3, 1.3]), INCONCLUSIVE),  # shrinks less than the rule's 0.5
        (_adagrad([0.3, 0.35], [2.1, 2.4], [1.3, 0.9]), INCONCLUSIVE),
        (_adagrad([2.5, 2.6], [2.1, 2.2], [1.3, 1.3]), CONTRADICTED),
        (_adagrad([0.3, 0.35], [2.1, 2.4], [0.8, 0.9]), CONTRADICTED),
    ],
    "adadelta": [
        (_adadelta([3.0, 3.1], [0.34, 0.35], [0.97, 0.98]), SUPPORTED),
        (_adadelta([0.4, 0.45], [0.34, 0.35], [0.97, 0.98]), INCONCLUSIVE),  # above Adagrad, but below 0.5
        (_adadelta([3.0, 3.1], [0.34, 0.35], [0.97, 0.1]), CONTRADICTED),  # did not learn in one seed
        (_adadelta([0.1, 0.12], [0.34, 0.35], [0.97, 0.98]), CONTRADICTED),
    ],
    "rmsprop-adam": [
        (_grid([0.9, 0.9], [0.895, 0.9]), SUPPORTED),
        (_grid([0.66, 0.64], [0.88, 0.89]), CONTRADICTED),
        (_grid([0.87, 0.87], [0.9, 0.9]), INCONCLUSIVE),  # 0.03 behind: beyond 0.01, within 0.05
        (_grid([0.9, 0.9], [0.9, 0.9], [0.99, 0.99]), INCONCLUSIVE),  # robust, but its default trails the best
    ],
}
