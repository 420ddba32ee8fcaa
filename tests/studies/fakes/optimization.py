"""Fake measurements for the optimizer studies (momentum, nesterov, adagrad, adadelta, rmsprop-adam)."""

from dlbasic.studies import CONTRADICTED, INCONCLUSIVE, SUPPORTED

FASTER = [100, 120, 90, 110, 95, 105]  # steps of the arm that is consistently faster
SLOWER = [480, 500, 470, 520, 490, 460]
SAME = [101, 119, 91, 109, 96, 104]  # within 1-2 % of FASTER, in both directions
NOISY = [50, 400, 90, 300, 60, 250]


def _momentum(a: list, b: list) -> dict:
    """momentum's numbers: steps of momentum (a) and SGD (b) on MNIST at batch 512; landscapes reported."""
    arm = {"lr": 0.01, "steps": [100] * 30}
    lands = {land: {"momentum": arm, "sgd": arm} for land in ("quadratic", "rosenbrock")}
    mnist = {"data": "mnist5k", "batch": 512, "max_steps": 1000, "momentum": {"lr": 0.1, "steps": a}}
    mnist["sgd"] = {"lr": 0.3, "steps": b}
    return {"mnist": mnist, "landscapes": lands}


def _nag(quad_steps: tuple, quad_over: tuple, mnist_steps: tuple, mnist_over: tuple) -> dict:
    """NAG's and momentum's steps and overshoot per problem: each argument is (NAG, momentum)."""

    def arm(steps: list, over: list) -> dict:
        return {"lr": 0.01, "steps": steps, "overshoot": over, "path": [1.0, 0.5]}

    return {
        "quadratic": {"nesterov": arm(quad_steps[0], quad_over[0]), "momentum": arm(quad_steps[1], quad_over[1])},
        "mnist": {"nesterov": arm(mnist_steps[0], mnist_over[0]), "momentum": arm(mnist_steps[1], mnist_over[1])},
    }


def _losses(first: str, second: str, a: list, b: list) -> dict:
    """Final training losses of two optimizers (adagrad: Adagrad and RMSprop; adadelta: Adadelta and Adagrad)."""
    arm = {"lr": 0.1, "shrink": [0.5] * 3, "rare_over_frequent": [1.2] * 3}
    return {"epochs": 60, first: {**arm, "final_loss": a}, second: {**arm, "final_loss": b}}


def _regrets(adam: list, rival: list) -> dict:
    """Adam's regret and each rival's, on both tasks."""

    def arm(regret: list) -> dict:
        return {"grid": [1e-4, 1e-3, 1e-2], "regret": regret, "best_lr": [1e-3] * 3, "default_test": [0.9] * 3}

    names = ("momentum", "rmsprop", "adadelta")
    return {"tasks": {t: {"adam": arm(adam), **{n: arm(rival) for n in names}} for t in ("MLP 64", "MLP 128-128")}}


FAKES = {
    "momentum": [  # tests/studies/test_study_momentum.py tests the rest
        (_momentum(FASTER[:5], SLOWER[:5]), SUPPORTED),
        (_momentum(SAME[:5], FASTER[:5]), CONTRADICTED),  # within 10 %
        (_momentum(NOISY[:5], FASTER[:5]), INCONCLUSIVE),
    ],
    "nesterov": [
        (_nag((FASTER, SLOWER), (FASTER, SLOWER), (FASTER, SLOWER), (FASTER, SLOWER)), SUPPORTED),
        (_nag((FASTER, SLOWER), (FASTER, SLOWER), (SAME, FASTER), (FASTER, SLOWER)), CONTRADICTED),
        (_nag((FASTER, SLOWER), (FASTER, SLOWER), (NOISY, FASTER), (FASTER, SLOWER)), INCONCLUSIVE),
    ],
    "adagrad": [
        (_losses("adagrad", "rmsprop", [0.01, 0.012, 0.011], [0.001, 0.0012, 0.0011]), SUPPORTED),
        (_losses("adagrad", "rmsprop", [0.01, 0.012, 0.011], [0.0101, 0.0119, 0.0111]), CONTRADICTED),
        (_losses("adagrad", "rmsprop", [0.02, 0.001, 0.012], [0.01, 0.012, 0.011]), INCONCLUSIVE),
    ],
    "adadelta": [
        (_losses("adadelta", "adagrad", [0.001, 0.0012, 0.0011], [0.01, 0.012, 0.011]), SUPPORTED),
        (_losses("adadelta", "adagrad", [0.01, 0.012, 0.011], [0.001, 0.0012, 0.0011]), CONTRADICTED),
        (_losses("adadelta", "adagrad", [0.02, 0.001, 0.012], [0.01, 0.012, 0.011]), INCONCLUSIVE),
    ],
    "rmsprop-adam": [
        (_regrets([0.0, 0.001, 0.0], [0.05, 0.06, 0.055]), SUPPORTED),
        (_regrets([0.0, 0.001, 0.0], [0.0, 0.0, 0.001]), CONTRADICTED),
        (_regrets([0.0, 0.08, 0.0], [0.05, 0.01, 0.055]), INCONCLUSIVE),
    ],
}
