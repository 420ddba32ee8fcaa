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
    return {"tasks": {t: {"adam": arm(adam), **{n: arm(rival) for n in names}} for t in ("digits MLP", "MNIST MLP")}}


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
