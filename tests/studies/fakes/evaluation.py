"""Fake measurements for the generalization, model-selection and ensemble studies."""

from dlbasic.studies import CONTRADICTED, INCONCLUSIVE, SUPPORTED


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


FAKES = {
    "batch-size": [
        (_batch((0.975, 0.970, 0.980, 0.974, 0.976), (0.955, 0.950, 0.962, 0.955, 0.957)), SUPPORTED),
        (_batch((0.950, 0.945, 0.955, 0.950, 0.952), (0.975, 0.970, 0.978, 0.975, 0.976)), CONTRADICTED),
        (_batch((0.970, 0.960, 0.975, 0.950, 0.980), (0.968, 0.966, 0.970, 0.965, 0.960)), INCONCLUSIVE),
    ],
}
