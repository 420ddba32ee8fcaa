"""The notebook's claims: their ids in its order, the guide of the documentation site that teaches each (the
claim's section there has the claim id as its anchor), the family the lab's report groups it in, the form CLAIMS.md
fixes for it, and the verdicts a claim can get. Plain data, below everything that runs or reports the claims."""

from __future__ import annotations

SUPPORTED, CONTRADICTED, INCONCLUSIVE = "supported", "contradicted", "inconclusive"
CHECKED, FAILED = "checked", "failed"  # a structural claim: its exact checks all hold, or one does not
EMPIRICAL = (SUPPORTED, CONTRADICTED, INCONCLUSIVE)
VERDICTS = (*EMPIRICAL, CHECKED, FAILED)
FORMS = ("difference", "sameness", "non-inferiority", "structural")  # CLAIMS.md, "v0.3"

GUIDE_CLAIMS: dict[str, tuple[str, ...]] = {
    "guides/generalization.html": ("generalization", "cross-validation", "bias-variance", "bagging", "boosting"),
    "guides/optimization.html": (
        "gd-variants",
        "batch-size",
        "learning-rate",
        "momentum",
        "nesterov",
        "adagrad",
        "adadelta",
        "rmsprop-adam",
    ),
    "guides/regularization.html": (
        "early-stopping",
        "weight-decay",
        "augmentation",
        "noise",
        "mixing",
        "cutmix-ratio",
        "dropout",
        "batch-norm",
        "group-norm",
    ),
    "guides/convolution.html": ("conv-shapes", "one-by-one"),
    "guides/modern-cnns.html": ("relu", "vgg-3x3", "inception", "resnet", "bottleneck", "densenet"),
    "guides/segmentation.html": ("fcn", "deconv"),
    "guides/detection.html": ("detection-speed",),
}
CLAIM_IDS = tuple(claim for claims in GUIDE_CLAIMS.values() for claim in claims)  # the notebook's order
GUIDES = {claim: page for page, claims in GUIDE_CLAIMS.items() for claim in claims}

FAMILY_GUIDES = {  # the report's families of claims, by the guides that teach them
    "evaluation": ("guides/generalization.html",),
    "optimization": ("guides/optimization.html",),
    "regularization": ("guides/regularization.html",),
    "architectures": (
        "guides/convolution.html",
        "guides/modern-cnns.html",
        "guides/segmentation.html",
        "guides/detection.html",
    ),
}
FAMILIES = {claim: family for family, pages in FAMILY_GUIDES.items() for page in pages for claim in GUIDE_CLAIMS[page]}

# the form of each claim (CLAIMS.md, "v0.3: the form of each claim and its margin"), fixed before the studies ran
CLAIM_FORMS = {
    "generalization": "difference",
    "cross-validation": "difference",
    "bias-variance": "difference",
    "bagging": "difference",
    "boosting": "structural + difference",
    "gd-variants": "structural",
    "batch-size": "difference",
    "learning-rate": "difference",
    "momentum": "difference",
    "nesterov": "difference",
    "adagrad": "difference",
    "adadelta": "difference",
    "rmsprop-adam": "difference",
    "early-stopping": "non-inferiority",
    "weight-decay": "difference",
    "augmentation": "difference",
    "noise": "difference",
    "mixing": "difference",
    "cutmix-ratio": "structural",
    "dropout": "difference",
    "batch-norm": "difference",
    "group-norm": "sameness + difference",
    "conv-shapes": "structural",
    "one-by-one": "structural",
    "relu": "difference",
    "vgg-3x3": "structural + non-inferiority",
    "inception": "structural",
    "resnet": "difference",
    "bottleneck": "structural",
    "densenet": "structural",
    "fcn": "structural",
    "deconv": "structural",
    "detection-speed": "structural + difference",
}
