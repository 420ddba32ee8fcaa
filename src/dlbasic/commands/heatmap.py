"""`dlbasic heatmap`: a trained classifier, convolutionalized, slid over a larger image as a class heat map."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from dlbasic.errors import check

if TYPE_CHECKING:
    import torch


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `dlbasic heatmap` sub-command and its options to `sub`."""
    p = sub.add_parser(
        "heatmap",
        help="class heat map of a convolutionalized classifier on a larger image",
        description="Turns the classifier's fully connected layers into convolutions (same "
        "parameters) and runs it on an image larger than it was trained on: one "
        "class score vector per window (Long et al. 2015, section 3.1).",
        epilog="examples:\n  dlbasic heatmap --checkpoint runs/x/best.pt --image big.png\n"
        "  dlbasic heatmap --checkpoint runs/x/best.pt --scene 3   # a test scene of digits",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--checkpoint", type=Path, required=True, help="a best.pt of dlbasic train (a classifier)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--image", type=Path, help="a PNG/JPEG file, larger than the training size")
    src.add_argument("--scene", type=int, metavar="N", help="the N-th test scene of scenes:canvas=96,digits=1-4")
    p.add_argument("--invert", action="store_true", help="invert gray levels first")
    p.add_argument("--out", type=Path, default=Path("heatmap.png"), help="where the figure goes (default heatmap.png)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    p.set_defaults(func=run)


def heatmap_figure(image: torch.Tensor, probs: torch.Tensor, classes: list[str]):
    """Image, the most likely class per window with its probability, and the heat map of the top classes."""
    import matplotlib.pyplot as plt

    top = probs.amax((1, 2)).argsort(descending=True)[:3].tolist()
    fig, axes = plt.subplots(1, 2 + len(top), figsize=(3.2 * (2 + len(top)), 3.4))
    img = image.permute(1, 2, 0).squeeze(-1).numpy()
    axes[0].imshow(img, cmap="gray")
    axes[0].set_title(f"input {image.shape[-1]}x{image.shape[-2]}")
    k = len(classes)
    im = axes[1].imshow(probs.argmax(0).numpy(), cmap="tab10" if k <= 10 else "tab20", vmin=-0.5, vmax=k - 0.5)
    axes[1].set_title(f"argmax class, {probs.shape[-1]}x{probs.shape[-2]} windows")
    cbar = fig.colorbar(im, ax=axes[1], fraction=0.046, ticks=range(k))
    cbar.ax.set_yticklabels(classes)
    for ax, k in zip(axes[2:], top):
        h = ax.imshow(probs[k].numpy(), cmap="magma", vmin=0, vmax=1)
        ax.set_title(f"P(class {classes[k]})")
        fig.colorbar(h, ax=ax, fraction=0.046)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def run(args: argparse.Namespace) -> int:
    """`dlbasic heatmap`: slide the convolutionalized classifier over an image or scene and save the heat-map figure."""
    import matplotlib.pyplot as plt
    import torch

    from dlbasic.data import load_scenes, normalize
    from dlbasic.errors import UserError
    from dlbasic.outputs import check_file
    from dlbasic.report.plots import check_figure_path
    from dlbasic.segmentation.convolutionalization import convolutionalize
    from dlbasic.training.kinds import model_from_checkpoint

    check_figure_path(check_file(args.out, overwrite=args.overwrite))
    model, meta = model_from_checkpoint(args.checkpoint, action="predict")
    if args.scene is not None:
        scenes = load_scenes("scenes:canvas=96,digits=1-4", "test")
        check(0 <= args.scene < len(scenes), f"--scene must be in 0..{len(scenes) - 1}")
        x = scenes.images[args.scene]
        check(x.shape[0] == meta["in_channels"], "scenes are grayscale; the model takes colour images")
    else:
        from dlbasic.data.images import read_user_image

        x = read_user_image(args.image, meta["in_channels"], invert=args.invert)
    size = meta["input_size"]
    check(
        min(x.shape[-2:]) >= size,
        f"the image ({x.shape[-1]}x{x.shape[-2]}) is smaller than the training size {size}",
        "use an image at least that large",
    )
    fcn = convolutionalize(model, size, meta["in_channels"]).eval()
    try:
        with torch.no_grad():
            z = normalize(x[None], torch.tensor(meta["mean"]), torch.tensor(meta["std"]))
            probs = fcn(z).softmax(1)[0]  # (K, H', W')
    except (MemoryError, RuntimeError) as e:
        if not isinstance(e, MemoryError) and "can't allocate memory" not in str(e):
            raise
        raise UserError(
            f"the image ({x.shape[-1]}x{x.shape[-2]}) is too large for a heat map on this machine",
            "use a smaller image",
        ) from None
    fig = heatmap_figure(x, probs, meta["classes"])
    fig.savefig(args.out, dpi=90)
    plt.close(fig)
    best = probs.amax((1, 2))
    ranked = ", ".join(f"{meta['classes'][k]} {best[k]:.2f}" for k in best.argsort(descending=True)[:4].tolist())
    print(
        f"heat map {tuple(probs.shape)} over a {x.shape[-1]}x{x.shape[-2]} image (classifier trained at {size}); "
        f"highest window probability per class: {ranked}"
    )
    print(f"figure in {args.out}")
    return 0
