"""Fake measurements for gd-variants: final training loss per seed of each batch size at its tuned lr."""

from dlbasic.studies import CONTRADICTED, INCONCLUSIVE, SUPPORTED
from dlbasic.studies.gd_variants import budgets


def fake(one: list, mini: list, full: list) -> dict:
    return {
        "train_images": 1295,
        "budgets": budgets(1295, 10),
        "lr": {"1": 0.0316, "32": 1.0, "full": 0.316},
        "final_loss": {"1": one, "32": mini, "full": full},
    }


FAKES = {
    "gd-variants": [
        (fake([0.46, 0.28, 0.52], [0.02, 0.006, 0.008], [1.0, 0.99, 1.04]), SUPPORTED),
        (fake([0.46, 0.28, 0.52], [1.5, 1.6, 1.55], [1.0, 0.99, 1.04]), CONTRADICTED),  # batch GD wins per example
        (fake([0.02, 0.006, 0.008], [0.02, 0.0061, 0.0081], [1.0, 0.99, 1.04]), INCONCLUSIVE),  # tie with batch 1
        (fake([0.001, 0.0004, 0.0006], [0.02, 0.006, 0.008], [1.0, 0.99, 1.04]), CONTRADICTED),  # batch 1 wins
    ],
}
