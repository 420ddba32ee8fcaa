"""Weights from and to torchvision, and zoo models built from weight files.

Nineteen architectures have a torchvision twin (alexnet, vgg11/13/16/19 and their `_bn` variants, resnet18-152,
densenet121/161/169/201, and googlenet_tv, torchvision's GoogLeNet); their state dicts differ only in key names.
Each family has explicit translation rules (regular expressions over our keys, giving torchvision's; DenseNet's are
generated from the model's own layout), so a key table is computed, never guessed from positions:

    ours                                torchvision
    resnet   stem.0 / stem.1            conv1 / bn1
             layerI.J.convK.0 / .1      layerI.J.convK / bnK
             layerI.J.shortcut.0 / .1   layerI.J.downsample.0 / .1
    densenet features.4.layers.L.bottleneck.0 / .2, conv.0 / .2
                                        features.denseblock1.denselayer{L+1}.norm1 / conv1, norm2 / conv2
             features.5.0 / .2          features.transition1.norm / conv (and so on; norm0, conv0, norm5)
    googlenet_tv  stem.0 / 2 / 3 .0 / .1      conv1 / conv2 / conv3 .conv / .bn
             blocks.inceptionX.branch1 / branch3 / branch5 / branch_pool.1
                                        inceptionX.branch1 / branch2 / branch3 / branch4.1
             aux.inception4a / 4d .conv.0, .fc.0, .fc.3   aux1 / aux2 .conv.conv, .fc1, .fc2
    alexnet, vgg  the same keys (features.N, classifier.N)

`from_torchvision(name, state_dict)` builds our model (ImageNet layout, classes and input channels read from the
weights) and loads the translated weights; `to_torchvision(model_or_name, state_dict)` gives torchvision's state
dict back, exactly (the same tensors under torchvision's keys). `create_model(name, weights=...)` accepts our
layout or torchvision's (`dlbasic.models.weight_files` reads the files).

A state dict that does not fit is refused in one line naming the first missing, unexpected and misshapen keys.
Published torchvision files from before 2019 name DenseNet layers `norm.1` instead of `norm1` and lack BatchNorm's
`num_batches_tracked`; both are accepted, as torchvision accepts them. torchvision's pretrained GoogLeNet
re-normalizes its input first (`transform_input=True`), which googlenet_tv does not: give googlenet_tv holding those
weights images normalized with mean 0.5 and std 0.5 per channel (what that step makes of ImageNet-normalized ones).
densenet161 has no zoo factory; `from_torchvision("densenet161", ...)` builds the zoo's `DenseNet` with its widths.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from dlbasic.errors import UserError, check, did_you_mean
from dlbasic.models.registry import create_model

# torchvision's name -> ours
TORCHVISION_NAMES: dict[str, str] = {
    "alexnet": "alexnet",
    **{f"vgg{d}{bn}": f"vgg{d}{bn}" for d in (11, 13, 16, 19) for bn in ("", "_bn")},
    **{f"resnet{d}": f"resnet{d}" for d in (18, 34, 50, 101, 152)},
    **{f"densenet{d}": f"densenet{d}" for d in (121, 161, 169, 201)},
    "googlenet": "googlenet_tv",
}
OURS_TO_TORCHVISION: dict[str, str] = {ours: tv for tv, ours in TORCHVISION_NAMES.items()}
_SHOWN = 3  # keys named per kind of mismatch in an error

P = r"(?P<p>weight|bias|running_mean|running_var|num_batches_tracked)"  # a parameter or buffer of a layer
Rule = tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]


def _rules(*pairs: tuple[str, str | Callable[[re.Match[str]], str]]) -> list[Rule]:
    return [(re.compile(pattern), replacement) for pattern, replacement in pairs]


SAME_KEYS = _rules(
    (rf"features\.(\d+)\.{P}", r"features.\1.\g<p>"),  # alexnet, vgg
    (rf"classifier\.(\d+)\.{P}", r"classifier.\1.\g<p>"),
)

RESNET = _rules(
    (rf"stem\.0\.{P}", r"conv1.\g<p>"),
    (rf"stem\.1\.{P}", r"bn1.\g<p>"),
    (rf"(layer[1-4]\.\d+)\.conv([1-3])\.0\.{P}", r"\1.conv\2.\g<p>"),
    (rf"(layer[1-4]\.\d+)\.conv([1-3])\.1\.{P}", r"\1.bn\2.\g<p>"),
    (rf"(layer[1-4]\.\d+)\.shortcut\.([01])\.{P}", r"\1.downsample.\2.\g<p>"),
    (rf"fc\.{P}", r"fc.\g<p>"),
)

_INCEPTION = r"blocks\.(inception[345][a-e])"
GOOGLENET = _rules(
    *((rf"stem\.{i}\.0\.{P}", rf"conv{n}.conv.\g<p>") for i, n in ((0, 1), (2, 2), (3, 3))),
    *((rf"stem\.{i}\.1\.{P}", rf"conv{n}.bn.\g<p>") for i, n in ((0, 1), (2, 2), (3, 3))),
    (rf"{_INCEPTION}\.branch1\.0\.{P}", r"\1.branch1.conv.\g<p>"),
    (rf"{_INCEPTION}\.branch1\.1\.{P}", r"\1.branch1.bn.\g<p>"),
    (rf"{_INCEPTION}\.branch3\.([01])\.0\.{P}", r"\1.branch2.\2.conv.\g<p>"),
    (rf"{_INCEPTION}\.branch3\.([01])\.1\.{P}", r"\1.branch2.\2.bn.\g<p>"),
    (rf"{_INCEPTION}\.branch5\.([01])\.0\.{P}", r"\1.branch3.\2.conv.\g<p>"),
    (rf"{_INCEPTION}\.branch5\.([01])\.1\.{P}", r"\1.branch3.\2.bn.\g<p>"),
    (rf"{_INCEPTION}\.branch_pool\.1\.0\.{P}", r"\1.branch4.1.conv.\g<p>"),
    (rf"{_INCEPTION}\.branch_pool\.1\.1\.{P}", r"\1.branch4.1.bn.\g<p>"),
    *((rf"aux\.inception{m}\.conv\.0\.{P}", rf"aux{a}.conv.conv.\g<p>") for m, a in (("4a", 1), ("4d", 2))),
    *((rf"aux\.inception{m}\.conv\.1\.{P}", rf"aux{a}.conv.bn.\g<p>") for m, a in (("4a", 1), ("4d", 2))),
    *((rf"aux\.inception{m}\.fc\.0\.{P}", rf"aux{a}.fc1.\g<p>") for m, a in (("4a", 1), ("4d", 2))),
    *((rf"aux\.inception{m}\.fc\.3\.{P}", rf"aux{a}.fc2.\g<p>") for m, a in (("4a", 1), ("4d", 2))),
    (rf"fc\.{P}", r"fc.\g<p>"),
)


def densenet_rules(model: nn.Module) -> list[Rule]:
    """DenseNet's rules, generated from `model.features`: which index holds the stem, each dense block, each
    transition and the final norm (torchvision names them conv0, norm0, denseblockB, transitionT, norm5)."""
    from dlbasic.models.densenet import DenseBlock, Transition

    pairs: list[tuple[str, str | Callable[[re.Match[str]], str]]] = []
    blocks = transitions = 0
    for i, m in enumerate(model.features):
        if isinstance(m, nn.Conv2d) and i == 0:
            pairs.append((rf"features\.0\.{P}", r"features.conv0.\g<p>"))
        elif isinstance(m, nn.BatchNorm2d):
            pairs.append((rf"features\.{i}\.{P}", r"features.norm0.\g<p>" if i == 1 else r"features.norm5.\g<p>"))
        elif isinstance(m, DenseBlock):
            blocks += 1
            for part, index, tv in (
                ("bottleneck", 0, "norm1"),
                ("bottleneck", 2, "conv1"),
                ("conv", 0, "norm2"),
                ("conv", 2, "conv2"),
            ):
                pairs.append(
                    (
                        rf"features\.{i}\.layers\.(\d+)\.{part}\.{index}\.{P}",
                        lambda m, b=blocks, tv=tv: f"features.denseblock{b}.denselayer{int(m[1]) + 1}.{tv}.{m['p']}",
                    )
                )
        elif isinstance(m, Transition):
            transitions += 1
            pairs.append((rf"features\.{i}\.0\.{P}", rf"features.transition{transitions}.norm.\g<p>"))
            pairs.append((rf"features\.{i}\.2\.{P}", rf"features.transition{transitions}.conv.\g<p>"))
    pairs.append((rf"classifier\.{P}", r"classifier.\g<p>"))
    return _rules(*pairs)


def family(name: str) -> str:
    """ "alexnet", "vgg", "resnet", "densenet" or "googlenet_tv" for a zoo name with a torchvision twin."""
    for prefix in ("alexnet", "vgg", "resnet", "densenet", "googlenet_tv"):
        if name.startswith(prefix):
            return prefix
    raise AssertionError(name)


def our_name(name: str) -> str:
    """The zoo name of a torchvision architecture, given either name ("googlenet" -> "googlenet_tv")."""
    if name in TORCHVISION_NAMES:
        return TORCHVISION_NAMES[name]
    if name in OURS_TO_TORCHVISION:
        return name
    if name in ("alexnet_2012", "plain18", "plain34"):
        raise UserError(f"{name} has no torchvision counterpart", f"choices: {', '.join(sorted(OURS_TO_TORCHVISION))}")
    raise UserError(
        f"{name!r} is not an architecture shared with torchvision",
        did_you_mean(name, sorted({*TORCHVISION_NAMES, *OURS_TO_TORCHVISION}))
        or f"choices: {', '.join(sorted(OURS_TO_TORCHVISION))}",
    )


def key_table(model: nn.Module, name: str) -> dict[str, str]:
    """Our key -> torchvision's, for every entry of `model.state_dict()` (`model` is zoo model `name`)."""
    fam = family(name)
    rules = {"alexnet": SAME_KEYS, "vgg": SAME_KEYS, "resnet": RESNET, "googlenet_tv": GOOGLENET}.get(
        fam
    ) or densenet_rules(model)
    table: dict[str, str] = {}
    for key in model.state_dict():
        for pattern, replacement in rules:
            m = pattern.fullmatch(key)
            if m:
                table[key] = replacement(m) if callable(replacement) else m.expand(replacement)
                break
        else:
            raise UserError(
                f"{name}: torchvision has no counterpart of {key}",
                "only the ImageNet layout with the default options maps onto torchvision",
            )
    assert len(set(table.values())) == len(table), f"{name}: two keys map onto one"
    return table


# --- building ---------------------------------------------------------------------------------------------------


def _build(name: str, num_classes: int, in_channels: int, input_size: int = 224, **kw) -> nn.Module:
    if name == "densenet161":  # torchvision's widest DenseNet: growth 48, 96 stem channels
        from dlbasic.models.densenet import DenseNet

        return DenseNet(48, (6, 12, 36, 24), num_classes, in_channels, 96, **kw)
    return create_model(name, num_classes=num_classes, in_channels=in_channels, input_size=input_size, **kw)


_BLUEPRINTS: dict[tuple, nn.Module] = {}


def _blueprint(name: str, num_classes: int = 2, in_channels: int = 2, input_size: int = 224, **kw) -> nn.Module:
    """The model on the meta device: its keys and shapes cost no memory and no initialization (kept for reuse;
    callers only read it)."""
    try:
        key = (name, num_classes, in_channels, input_size, tuple(sorted(kw.items())))
        hash(key)
    except TypeError:  # an option that is not hashable (a class, a list): build it every time
        key = None
    if key is not None and key in _BLUEPRINTS:
        return _BLUEPRINTS[key]
    with torch.device("meta"):
        model = _build(name, num_classes, in_channels, input_size, **kw)
    if key is not None:
        if len(_BLUEPRINTS) >= 64:
            _BLUEPRINTS.pop(next(iter(_BLUEPRINTS)))
        _BLUEPRINTS[key] = model
    return model


def _shapes(state: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in state.items() if torch.is_tensor(v)}


def _infer_sizes(name: str, state: Mapping[str, Tensor], input_size: int, kw: dict[str, Any]) -> tuple[int, int]:
    """(num_classes, in_channels) of weights in our layout: read from the first tensor whose shape follows each
    (found by building the model on the meta device with 2 and 3 of each)."""
    base = _shapes(_blueprint(name, 2, 2, input_size, **kw).state_dict())
    found = []
    for nc, ic in ((3, 2), (2, 3)):
        other = _shapes(_blueprint(name, nc, ic, input_size, **kw).state_dict())
        value = None
        for key, shape in base.items():
            dims = [d for d, (a, b) in enumerate(zip(shape, other[key])) if a != b]
            if key in state and len(dims) == 1 and len(state[key].shape) == len(shape):
                value = int(state[key].shape[dims[0]]) - shape[dims[0]] + 2
                break
        found.append(value if value is not None and value >= 1 else 2)
    return found[0], found[1]


# --- checking ---------------------------------------------------------------------------------------------------


def _names(keys: list[str]) -> str:
    more = f", ... {len(keys) - _SHOWN} more" if len(keys) > _SHOWN else ""
    return ", ".join(keys[:_SHOWN]) + more


def mismatch(given: Mapping[str, tuple[int, ...]], expected: Mapping[str, tuple[int, ...]]) -> str | None:
    """One line naming the first missing, unexpected and misshapen keys, or None when `given` fits."""
    missing = [k for k in expected if k not in given]
    unexpected = [k for k in given if k not in expected]
    shaped = [k for k in expected if k in given and tuple(given[k]) != tuple(expected[k])]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing ({_names(missing)})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected ({_names(unexpected)})")
    if shaped:
        k = shaped[0]
        more = f", ... {len(shaped) - 1} more" if len(shaped) > 1 else ""
        problems.append(
            f"{len(shaped)} of another shape ({k}: {list(given[k])} given, {list(expected[k])} expected{more})"
        )
    return "; ".join(problems) or None


def _refuse(what: str, problems: str, hint: str) -> UserError:
    return UserError(f"{what} do not fit: {problems}", hint)


def _normalize_torchvision(name: str, state: Mapping[str, Any]) -> dict[str, Any]:
    """Old published torchvision files: DenseNet's `norm.1` -> `norm1`, and BatchNorm's `num_batches_tracked`
    missing (torchvision's BatchNorm fills it with 0, so we do)."""
    out = dict(state)
    if name.startswith("densenet"):
        old = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))\.([12]\.(?:weight|bias|running_mean|running_var))$")
        out = {(old.sub(r"\1\2", k)): v for k, v in out.items()}
    for key in [k for k in out if k.endswith(".running_var")]:
        counter = key.removesuffix("running_var") + "num_batches_tracked"
        out.setdefault(counter, torch.tensor(0, dtype=torch.long))
    return out


# --- the public functions -----------------------------------------------------------------------------------------


def _aux_option(name: str, state: Mapping[str, Any], kw: dict[str, Any]) -> dict[str, Any]:
    if name == "googlenet_tv" and "aux_logits" not in kw:
        kw = {**kw, "aux_logits": any(k.startswith(("aux1.", "aux.")) for k in state)}
    return kw


def _check_state(state: Any, what: str) -> dict[str, Tensor]:
    check(
        isinstance(state, Mapping) and all(isinstance(k, str) and torch.is_tensor(v) for k, v in state.items()),
        f"{what} is not a state dict (names -> tensors)",
    )
    return dict(state)


def load_weights(
    name: str,
    state: Mapping[str, Tensor],
    *,
    layout: str = "auto",
    num_classes: int | None = None,
    in_channels: int | None = None,
    input_size: int = 224,
    what: str = "the weights",
    **kw,
) -> nn.Module:
    """Zoo model `name` holding `state`, given in our layout, torchvision's, or either ("auto").

    Classes and input channels not given are read from the weights. `UserError` in one line when the weights do
    not fit (keys named in the layout they were given in).
    """
    state = _check_state(state, what)
    kw = _aux_option(name, state, kw)
    blueprint = _blueprint(name, 2, 2, input_size, **kw)
    ours = list(blueprint.state_dict())
    table = key_table(blueprint, name) if name in OURS_TO_TORCHVISION else None
    if layout == "auto":
        tv_overlap = len(set(state) & set(table.values())) if table else -1
        layout = "dlbasic" if set(state) == set(ours) or tv_overlap <= len(set(state) & set(ours)) else "torchvision"
    tv = layout == "torchvision"
    if tv:
        hint = (
            f"expected torchvision's {OURS_TO_TORCHVISION[name]}, the zoo's ImageNet layout (input_size > 64, "
            f"default options)"
        )
    elif name == "googlenet":
        hint = "expected dlbasic's googlenet (the paper's); torchvision's GoogLeNet is googlenet_tv"
    else:
        hint = (
            f"expected dlbasic's {name} built for {input_size}x{input_size} inputs; pass the input_size and "
            f"model options it was trained with"
        )
    source = f"{what} (torchvision's layout)" if tv else what
    if tv:
        assert table is not None
        state = _normalize_torchvision(name, state)
        expected_keys = dict.fromkeys(table.values(), ())
    else:
        expected_keys = dict.fromkeys(ours, ())
    problems = mismatch(dict.fromkeys(state, ()), expected_keys)  # names first: shapes need the sizes
    if problems:
        raise _refuse(source, problems, hint)
    if tv:
        assert table is not None
        state = {k: state[tv_key] for k, tv_key in table.items()}
    if num_classes is None or in_channels is None:
        nc, ic = _infer_sizes(name, state, input_size, kw)
        num_classes, in_channels = num_classes or nc, in_channels or ic
    expected = _shapes(_blueprint(name, num_classes, in_channels, input_size, **kw).state_dict())
    given = _shapes(state)
    if table is not None and tv:
        given, expected = ({table[k]: s for k, s in d.items()} for d in (given, expected))
    problems = mismatch(given, expected)
    if problems:
        raise _refuse(source, problems, hint)
    return _loaded(name, state, num_classes, in_channels, input_size, **kw)


def _loaded(
    name: str, state: dict[str, Tensor], num_classes: int, in_channels: int, input_size: int, **kw
) -> nn.Module:
    """The model holding `state`: built on the meta device and given memory, so no time goes into an
    initialization that the weights replace (unless it has buffers outside its state dict)."""
    with torch.device("meta"):
        model = _build(name, num_classes, in_channels, input_size, **kw)
    own = {n for n, _ in model.named_parameters(remove_duplicate=False)} | {
        n for n, _ in model.named_buffers(remove_duplicate=False)
    }
    if own == set(model.state_dict()):
        model = model.to_empty(device="cpu")
    else:
        model = _build(name, num_classes, in_channels, input_size, **kw)
    model.load_state_dict(state)
    return model


def from_torchvision(
    name: str, state_dict: Mapping[str, Tensor], *, num_classes: int | None = None, in_channels: int | None = None
) -> nn.Module:
    """Our model holding torchvision's `state_dict` (of torchvision architecture `name`; our names work too).

    >>> import torch
    >>> from dlbasic.models import create_model
    >>> ours = create_model("resnet18", num_classes=5)
    >>> tv = to_torchvision(ours)
    >>> "layer1.0.bn1.running_var" in tv and "layer2.0.downsample.0.weight" in tv
    True
    >>> back = from_torchvision("resnet18", tv)
    >>> all(torch.equal(a, b) for a, b in zip(back.state_dict().values(), ours.state_dict().values()))
    True
    """
    ours = our_name(name)
    return load_weights(
        ours,
        state_dict,
        layout="torchvision",
        num_classes=num_classes,
        in_channels=in_channels,
        what=f"torchvision {OURS_TO_TORCHVISION[ours]} weights",
    )


def identify(model: nn.Module) -> str:
    """The zoo name whose ImageNet layout `model` has (same modules, shapes and settings), else `UserError`."""
    from dlbasic.models.alexnet import AlexNet
    from dlbasic.models.densenet import DenseNet
    from dlbasic.models.googlenet import GoogLeNet
    from dlbasic.models.resnet import ResNet
    from dlbasic.models.vgg import VGG

    candidates = {
        AlexNet: ["alexnet"],
        VGG: [n for n in OURS_TO_TORCHVISION if n.startswith("vgg")],
        ResNet: [n for n in OURS_TO_TORCHVISION if n.startswith("resnet")],
        DenseNet: [n for n in OURS_TO_TORCHVISION if n.startswith("densenet")],
        GoogLeNet: ["googlenet_tv"],
    }.get(type(model))
    if candidates is None:
        raise UserError(
            f"{type(model).__name__} has no torchvision counterpart",
            f"choices: {', '.join(sorted(OURS_TO_TORCHVISION))}",
        )
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    kw = {"aux_logits": bool(len(model.aux))} if isinstance(model, GoogLeNet) else {}
    signature = _signature(model)
    for name in candidates:
        if _signature(_blueprint(name, linears[-1].out_features, convs[0].in_channels, **kw)) == signature:
            return name
    raise UserError(
        f"this {type(model).__name__} is not laid out as any torchvision model",
        "torchvision's are the zoo's ImageNet layout (input_size > 64) with the default options",
    )


def _signature(model: nn.Module) -> list[tuple[str, str, str]]:
    return [
        (name, type(m).__name__, "" if isinstance(m, nn.Dropout) else m.extra_repr())
        for name, m in model.named_modules()
    ]


def to_torchvision(model_or_name: nn.Module | str, state_dict: Mapping[str, Tensor] | None = None) -> dict[str, Tensor]:
    """torchvision's state dict of our model (or of `state_dict`, our weights of zoo model `model_or_name`).

    The tensors are the same objects under torchvision's keys, so `from_torchvision` of the result gives our
    weights back exactly, and this of `from_torchvision`'s model gives torchvision's back.
    """
    if isinstance(model_or_name, nn.Module):
        name = identify(model_or_name)
        state = _check_state(model_or_name.state_dict() if state_dict is None else state_dict, "the weights")
        blueprint = model_or_name
        kw: dict[str, Any] = {}
    else:
        name = our_name(model_or_name)
        check(state_dict is not None, "to_torchvision(name, state_dict) needs the weights")
        state = _check_state(state_dict, "the weights")
        kw = _aux_option(name, state, {})
        blueprint = _blueprint(name, **kw)
    table = key_table(blueprint, name)
    hint = "torchvision's layout is the zoo's ImageNet one (input_size > 64) with the default options"
    problems = mismatch(dict.fromkeys(state, ()), dict.fromkeys(table, ()))
    if not problems:
        if isinstance(model_or_name, nn.Module):
            expected = _shapes(model_or_name.state_dict())
        else:
            nc, ic = _infer_sizes(name, state, 224, kw)
            expected = _shapes(_blueprint(name, nc, ic, **kw).state_dict())
        problems = mismatch(_shapes(state), expected)
    if problems:
        raise _refuse(f"the weights of {name}", problems, hint)
    return {table[k]: state[k] for k in table}


__all__ = [
    "OURS_TO_TORCHVISION",
    "TORCHVISION_NAMES",
    "from_torchvision",
    "identify",
    "key_table",
    "load_weights",
    "mismatch",
    "our_name",
    "to_torchvision",
]
