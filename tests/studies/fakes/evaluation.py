"""Fake measurements for the generalization, model-selection and ensemble studies."""

from dlbasic.studies import CONTRADICTED, INCONCLUSIVE, SUPPORTED


def _batch(small_acc, large_acc, small_eig=(1.0, 1.1, 0.9), large_eig=(5.0, 5.5, 6.0)):
    def part(acc, eig):
        return {
            "test_accuracy": list(acc),
            "hessian_top": list(eig),
            "eps_sharpness": [0.5, 0.6, 0.55],
            "steps": [500, 520, 480],
            "reached": [True, True, True],
        }

    return {"target_loss": 0.02, "small": part(small_acc, small_eig), "large": part(large_acc, large_eig)}


FAKES = {
    "batch-size": [
        (_batch((0.975, 0.970, 0.980), (0.955, 0.950, 0.962)), SUPPORTED),
        (_batch((0.950, 0.945, 0.955), (0.975, 0.970, 0.978)), CONTRADICTED),
        (_batch((0.970, 0.960, 0.975), (0.968, 0.966, 0.970)), INCONCLUSIVE),
    ],
}


# ---- fake run values: what each study's runs return, for `plan` and `collect` without training -------------


def _jitter(*parts: int) -> float:
    """A small deterministic spread between units, so the paired tests see some variance."""
    return 0.004 * (sum((i + 1) * p for i, p in enumerate(parts)) % 5)


BATCH_CHOSEN = {16: 1e-2, 512: 3e-2}  # the rate of each batch size that tunes best in the fake runs


def batch_size_run(args):
    """A run where the small batch tests better and the large one is sharper; the rate BATCH_CHOSEN[batch] has
    the best validation accuracy, and the large batch's highest rate diverges (its loss None, as a saved run
    keeps NaN)."""
    small = args["batch"] == 16
    diverged = args["lr"] == 0.1
    e = _jitter(args["seed"] % 1000, args["seed"] // 1000)
    return {
        "lr": args["lr"],
        "reached": not diverged,
        "steps": 500 if small else 60,
        "train_loss": None if diverged else 0.019,
        "train_accuracy": 1.0,
        "val_accuracy": 0.97 if args["lr"] == BATCH_CHOSEN[args["batch"]] else 0.95,
        "test_accuracy": (0.975 if small else 0.955) - e,
        "hessian_top": (1.0 if small else 5.0) + e,
        "eps_sharpness": 0.5 + e,
    }


RUN_FAKES = {
    "batch-size": (batch_size_run, SUPPORTED),
}
