import math

from dlbasic.studies import CONTRADICTED, INCONCLUSIVE, SUPPORTED

STEPS = {"1": 1293, "32": 41, "256": 6, "full": 1}


def fake(times, steps=STEPS):
    return {"train_images": 1293, "steps_per_epoch": steps, "seconds_to_target": times, "curves": {}}


FAKES = {
    "gd-variants": [
        (fake({"1": [3.0, 3.2], "32": [0.5, 0.6], "256": [1.0, 1.1], "full": [math.inf, math.inf]}), SUPPORTED),
        (fake({"1": [0.4, 0.45], "32": [0.5, 0.6], "256": [1.0, 1.1], "full": [math.inf, math.inf]}), CONTRADICTED),
        (fake({"1": [0.55, 0.6], "32": [0.5, 0.6], "256": [1.0, 1.1], "full": [math.inf, math.inf]}), INCONCLUSIVE),
        (fake({"1": [3.0, 3.2], "32": [0.5, 0.6], "256": [1.0, 1.1], "full": [math.inf, math.inf]},
              {**STEPS, "32": 40}), CONTRADICTED),
    ],
}
