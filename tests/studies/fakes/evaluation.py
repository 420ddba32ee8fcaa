"""Fake measurements for the generalization, model-selection and ensemble studies."""
from dlbasic.studies import CONTRADICTED, INCONCLUSIVE, SUPPORTED


def _bv(bias_small, bias_large, var_small, var_large):
    return {"bias": {"1": bias_small, "256": bias_large}, "variance": {"1": var_small, "256": var_large}}


def _batch(small_acc, large_acc, small_eig=(3.0, 3.1), large_eig=(7.0, 7.5)):
    def part(acc, eig):
        return {"test_accuracy": list(acc), "hessian_top": list(eig), "eps_sharpness": [0.5, 0.6],
                "gap": [0.02, 0.03]}

    return {"small": part(small_acc, small_eig), "large": part(large_acc, large_eig)}


def _boost(focus, uniform, first=(0.15, 0.1), last=(0.09, 0.08)):
    return {"focus_accuracy": list(focus), "uniform_accuracy": list(uniform),
            "ensemble_train_error": [[f, lo] for f, lo in zip(first, last)]}


FAKES = {
    "generalization": [
        ({"train_accuracy": {"2": [0.5, 0.6], "512": [1.0, 1.0]}, "gap": {"2": [0.05, 0.08], "512": [0.06, 0.065]}},
         SUPPORTED),
        ({"train_accuracy": {"2": [0.5, 0.6], "512": [1.0, 1.0]}, "gap": {"2": [0.05, 0.08], "512": [0.0, 0.01]}},
         CONTRADICTED),
        ({"train_accuracy": {"2": [0.5, 0.6], "512": [1.0, 1.0]}, "gap": {"2": [0.05, 0.08], "512": [0.01, 0.03]}},
         INCONCLUSIVE),
    ],
    "cross-validation": [
        ({"chosen_lr": ["0.1", "0.1"], "chosen_test_accuracy": [0.97, 0.96], "best_test_accuracy": [0.97, 0.965]},
         SUPPORTED),
        ({"chosen_lr": ["1", "1"], "chosen_test_accuracy": [0.80, 0.81], "best_test_accuracy": [0.97, 0.965]},
         CONTRADICTED),
        ({"chosen_lr": ["0.01", "0.01"], "chosen_test_accuracy": [0.95, 0.95], "best_test_accuracy": [0.97, 0.97]},
         INCONCLUSIVE),
    ],
    "bias-variance": [
        (_bv([0.7, 0.72], [0.05, 0.06], [0.02, 0.03], [0.2, 0.22]), SUPPORTED),
        (_bv([0.7, 0.72], [0.05, 0.06], [0.5, 0.45], [0.03, 0.03]), CONTRADICTED),
        (_bv([0.7, 0.72], [0.05, 0.06], [0.1, 0.3], [0.2, 0.1]), INCONCLUSIVE),
    ],
    "bagging": [
        ({"soft_accuracy": [0.967, 0.944], "hard_accuracy": [0.966, 0.944], "member_mean_accuracy": [0.951, 0.935],
          "member_accuracy_std": [0.008, 0.005]}, SUPPORTED),
        ({"soft_accuracy": [0.93, 0.92], "hard_accuracy": [0.93, 0.92], "member_mean_accuracy": [0.951, 0.935],
          "member_accuracy_std": [0.008, 0.005]}, CONTRADICTED),
        ({"soft_accuracy": [0.953, 0.936], "hard_accuracy": [0.95, 0.93], "member_mean_accuracy": [0.951, 0.935],
          "member_accuracy_std": [0.008, 0.005]}, INCONCLUSIVE),
    ],
    "boosting": [
        (_boost([0.8, 0.82], [0.6, 0.62]), SUPPORTED),
        (_boost([0.53, 0.52], [0.8, 0.77]), CONTRADICTED),
        (_boost([0.7, 0.72], [0.7, 0.71]), INCONCLUSIVE),
        (_boost([float("nan")], [float("nan")], (0.0,), (0.0,)), INCONCLUSIVE),
    ],
    "batch-size": [
        (_batch([0.97, 0.96], [0.89, 0.87]), SUPPORTED),
        (_batch([0.85, 0.86], [0.95, 0.96]), CONTRADICTED),
        (_batch([0.95, 0.96], [0.955, 0.95]), INCONCLUSIVE),
    ],
}
