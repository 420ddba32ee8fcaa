from dlbasic.studies import CONTRADICTED, INCONCLUSIVE, SUPPORTED

FAKES = {
    "learning-rate": [  # final training loss per seed at lr* and a decade below (test_study_learning_rate.py)
        (
            {
                "final_loss": {"best": [0.01, 0.012, 0.011], "tenth": [0.08, 0.09, 0.085]},
                "lr": {"best": 1.0, "tenth": 0.1},
                "diverged": ["3.162", "10"],
            },
            SUPPORTED,
        ),
        (
            {
                "final_loss": {"best": [0.100, 0.101, 0.099], "tenth": [0.100, 0.100, 0.100]},
                "lr": {"best": 1.0, "tenth": 0.1},
                "diverged": [],
            },
            CONTRADICTED,
        ),
        (
            {
                "final_loss": {"best": [0.05, 0.2, 0.1], "tenth": [0.1, 0.1, 0.1]},
                "lr": {"best": 1.0, "tenth": 0.1},
                "diverged": [],
            },
            INCONCLUSIVE,
        ),
    ],
}
