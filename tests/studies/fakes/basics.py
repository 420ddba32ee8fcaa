from dlbasic.studies import CONTRADICTED, INCONCLUSIVE, SUPPORTED

FAKES = {
    "conv-shapes": [
        ({"cases": 700, "shape_mismatches": 0, "channel_mismatches": 0}, SUPPORTED),
        ({"cases": 700, "shape_mismatches": 3, "channel_mismatches": 0}, CONTRADICTED),
    ],
    "learning-rate": [
        ({"val_accuracy": {"0.01": [0.9, 0.91], "1": [0.1, 0.1]}, "diverged_runs": {}}, SUPPORTED),
        ({"val_accuracy": {"0.01": [0.9, 0.8], "1": [0.88, 0.86]}, "diverged_runs": {}}, CONTRADICTED),
        ({"val_accuracy": {"0.01": [0.9, 0.9], "1": [0.87, 0.87]}, "diverged_runs": {}}, INCONCLUSIVE),
    ],
}
