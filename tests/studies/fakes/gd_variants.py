"""Fake measurements for gd-variants: the examples each step read per batch size, as the definition gives them
and with one step that read other than it (tests/studies/test_study_gd_variants.py tests the rest)."""

from dlbasic.lab.study import CHECKED, FAILED
from dlbasic.studies.gd_variants import expected_reads


def fake(reads: dict | None = None, n: int = 1295, epochs: int = 1) -> dict:
    arms = {}
    for arm in ("1", "32", "full"):
        expected = expected_reads(arm, n, epochs)
        got = (reads or {}).get(arm, expected)
        curve = {"examples": [0, epochs * n], "seconds": [0.0, 1.0], "loss": [2.3, 0.1]}
        arms[arm] = {
            "lr": 0.1,
            "reads": got,
            "expected_reads": expected,
            "steps": sum(k for _, k in got),
            "examples": sum(v * k for v, k in got),
            "curve": curve,
        }
    return {"train_images": n, "epochs": epochs, "seed": 0, "lr_star": 1.0, "arms": arms}


FAKES = {
    "gd-variants": [
        (fake(), CHECKED),
        (fake({"32": [[32, 40]]}), FAILED),  # the last, partial batch was dropped
        (fake({"full": [[1294, 1]]}), FAILED),  # the full batch missed an image
    ],
}
