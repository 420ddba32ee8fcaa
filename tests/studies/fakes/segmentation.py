"""Fake measurements of the segmentation studies (fcn, deconv)."""

from dlbasic.studies import CONTRADICTED, INCONCLUSIVE, SUPPORTED


def _archs(diff=1e-16, params_after=1000, side=5):
    return {
        "mlp": {
            "params_before": 1000,
            "params_after": params_after,
            "max_logit_diff": diff,
            "heat_map_shape": [10, side, side],
        },
        "resnet18": {"params_before": 50, "params_after": 50, "max_logit_diff": 1e-17, "heat_map_shape": [10, 3, 3]},
    }


def _layers(transpose_error=0.8, rank=36):
    return {
        "k3 s1 p1": {
            "stride": 1,
            "rank": 144,
            "dimension": 144,
            "transpose_error": transpose_error,
            "pinv_error": 1e-14,
        },
        "k3 s2 p1": {
            "stride": 2,
            "rank": rank,
            "dimension": 144,
            "transpose_error": transpose_error,
            "pinv_error": 0.9,
        },
    }


FAKES = {
    "fcn": [
        ({"architectures": _archs(), "centre_accuracy": [0.6, 0.65]}, SUPPORTED),
        ({"architectures": _archs(), "centre_accuracy": [0.15, 0.3]}, INCONCLUSIVE),
        ({"architectures": _archs(diff=1e-6), "centre_accuracy": [0.6, 0.65]}, CONTRADICTED),
        ({"architectures": _archs(params_after=1001), "centre_accuracy": [0.6, 0.65]}, CONTRADICTED),
        ({"architectures": _archs(side=1), "centre_accuracy": [0.6, 0.65]}, CONTRADICTED),
    ],
    "deconv": [
        ({"shape_cases": 100, "shapes_restored": 100, "layers": _layers()}, SUPPORTED),
        ({"shape_cases": 100, "shapes_restored": 99, "layers": _layers()}, CONTRADICTED),
        ({"shape_cases": 100, "shapes_restored": 100, "layers": _layers(transpose_error=0.001)}, CONTRADICTED),
        ({"shape_cases": 100, "shapes_restored": 100, "layers": _layers(rank=144)}, INCONCLUSIVE),
    ],
}
