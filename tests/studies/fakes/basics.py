from dlbasic.studies import CONTRADICTED, INCONCLUSIVE, SUPPORTED

FAKES = {
    "conv-shapes": [
        ({"cases": 700, "shape_mismatches": 0, "channel_mismatches": 0}, SUPPORTED),
        ({"cases": 700, "shape_mismatches": 3, "channel_mismatches": 0}, CONTRADICTED),
    ],
    "learning-rate": [  # final training loss per seed at the best stable lr and at a tenth of it
        (
            {
                "final_loss": {"best": [0.02, 0.006, 0.008], "tenth": [0.083, 0.079, 0.089]},
                "lr_best": 1.0,
                "diverged": ["3.162", "10"],
            },
            SUPPORTED,
        ),
        (
            {"final_loss": {"best": [0.2, 0.21, 0.19], "tenth": [0.05, 0.052, 0.049]}, "lr_best": 1.0, "diverged": []},
            SUPPORTED,
        ),  # the tenth is clearly better: the choice matters either way
        (
            {
                "final_loss": {"best": [0.100, 0.101, 0.099], "tenth": [0.100, 0.100, 0.100]},
                "lr_best": 1.0,
                "diverged": [],
            },
            CONTRADICTED,
        ),  # equivalent within 10 %
        (
            {"final_loss": {"best": [0.05, 0.2, 0.1], "tenth": [0.1, 0.1, 0.1]}, "lr_best": 1.0, "diverged": []},
            INCONCLUSIVE,
        ),
    ],
}
