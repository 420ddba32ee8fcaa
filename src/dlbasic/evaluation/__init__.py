"""Generalization, model selection and ensembles for image classifiers.

k-fold cross-validation with a single final test (`crossval`), the bootstrap and its confidence
intervals (`bootstrap`), bagging and AdaBoost with networks (`ensembles`), bias-variance
decompositions (`bias_variance`), the sharpness of a minimum (`sharpness`) and hyperparameter search with
Optuna on a k-fold objective (`tune`, in `dlbasic.evaluation.tuning`).
"""

from dlbasic.evaluation.bias_variance import (
    bias_variance_decomp,
    bootstrap_predictions,
    squared_loss_decomposition,
    zero_one_decomposition,
)
from dlbasic.evaluation.bootstrap import bootstrap_ci, bootstrap_indices, out_of_bag, percentile_interval
from dlbasic.evaluation.crossval import CVResult, cross_validate, final_test, grid, kfold_splits, run_cv
from dlbasic.evaluation.ensembles import (
    WeightedTask,
    bagging,
    boosting,
    hard_vote,
    samme,
    soft_vote,
    weighted_targets,
)
from dlbasic.evaluation.sharpness import (
    epsilon_sharpness,
    hessian_vector_product,
    model_loss_fn,
    top_hessian_eigenvalue,
)
from dlbasic.evaluation.tuning import tune

__all__ = [
    "CVResult",
    "WeightedTask",
    "bagging",
    "bias_variance_decomp",
    "boosting",
    "bootstrap_ci",
    "bootstrap_indices",
    "bootstrap_predictions",
    "cross_validate",
    "epsilon_sharpness",
    "final_test",
    "grid",
    "hard_vote",
    "hessian_vector_product",
    "kfold_splits",
    "model_loss_fn",
    "out_of_bag",
    "percentile_interval",
    "run_cv",
    "samme",
    "soft_vote",
    "squared_loss_decomposition",
    "top_hessian_eigenvalue",
    "tune",
    "weighted_targets",
    "zero_one_decomposition",
]

try:  # calibration.py is written alongside; export it once present
    from dlbasic.evaluation.calibration import expected_calibration_error  # noqa: F401

    __all__.append("expected_calibration_error")
except ModuleNotFoundError:
    pass
