"""Weights from and to torchvision (`dlbasic.models.interop`).

The key tables, round trips and refusals need no torchvision; the bars against torchvision itself (same logits
from the same weights, exact round trips of its state dicts) skip where it is not installed. CI runs them in a
second environment with the torchvision release that matches its torch.
"""

from __future__ import annotations

import hashlib
import re
import sys

import pytest
import torch
from torch import nn

from dlbasic.errors import UserError
from dlbasic.models import create_model, from_torchvision, to_torchvision
from dlbasic.models.interop import TORCHVISION_NAMES, _blueprint
from dlbasic.models.weight_files import read_safetensors

# torchvision 0.29.1 at 1000 classes and 3 channels (googlenet with its aux heads): how many entries its state dict
# has and the start of the SHA-256 of its "key:[shape]" lines, in its order
TORCHVISION_KEYS = {
    "alexnet": (16, "b76720efd9668ce6"),
    "densenet121": (727, "c02c401af36d86c3"),
    "densenet161": (967, "332adf0e269607dd"),
    "densenet169": (1015, "2a468fb32346bf0c"),
    "densenet201": (1207, "f97e7c194c5da11e"),
    "googlenet": (364, "d1812c3df7937258"),
    "resnet101": (626, "509d2f55c48305ec"),
    "resnet152": (932, "0b2d19daaef6e2f7"),
    "resnet18": (122, "bad4e2ca4e1bc472"),
    "resnet34": (218, "70886b6aca71bbbb"),
    "resnet50": (320, "68df08e07d140b53"),
    "vgg11": (22, "86f9665b19790b69"),
    "vgg11_bn": (62, "bada300fce0d9c43"),
    "vgg13": (26, "22413027342ac2bc"),
    "vgg13_bn": (76, "399c177758a777bc"),
    "vgg16": (32, "901e1f2ef3557ee1"),
    "vgg16_bn": (97, "16d2524da04a7d4a"),
    "vgg19": (38, "d4fbaa814a594c3e"),
    "vgg19_bn": (118, "8522f3166ec5e920"),
}
TV_REASON = "torchvision is not installed here; CI runs these bars in its torchvision environment"


def key_digest(state: dict) -> tuple[int, str]:
    text = "\n".join(f"{k}:{list(v.shape)}" for k, v in state.items())
    return len(state), hashlib.sha256(text.encode()).hexdigest()[:16]


def randomize_norms(model: nn.Module, seed: int = 0) -> nn.Module:
    """BatchNorm statistics and affine parameters away from 0 and 1, so eval-mode norms are not identities."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
                m.weight.copy_(torch.rand(n, generator=g) * 0.4 + 0.8)
                m.bias.copy_(torch.randn(n, generator=g) * 0.05)
                m.num_batches_tracked.fill_(7)
    return model


def same_state(a: dict, b: dict) -> bool:
    """Same keys in the same order, bit-identical tensors of one dtype."""
    return list(a) == list(b) and all(a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]) for k in a)


# --- no torchvision needed ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("tv_name", sorted(TORCHVISION_KEYS))
def test_translated_keys_and_shapes_are_torchvisions(tv_name):
    """Our ImageNet layout, translated, has exactly torchvision's keys, shapes and key order."""
    kw = {"aux_logits": True} if tv_name == "googlenet" else {}
    model = _blueprint(TORCHVISION_NAMES[tv_name], 1000, 3, **kw)
    assert key_digest(to_torchvision(model)) == TORCHVISION_KEYS[tv_name]


@pytest.mark.parametrize(
    "name, kw", [("resnet18", {}), ("densenet121", {}), ("googlenet_tv", {"aux_logits": True}), ("googlenet_tv", {})]
)
def test_ours_to_torchvision_and_back_is_exact(name, kw):
    torch.manual_seed(0)
    ours = randomize_norms(create_model(name, num_classes=7, **kw)).eval()
    tv = to_torchvision(ours)
    back = from_torchvision(name, tv).eval()
    assert same_state(back.state_dict(), ours.state_dict())
    assert same_state(to_torchvision(back), tv)
    assert same_state(to_torchvision(name, ours.state_dict()), tv)  # by name, from a bare state dict
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(back(x), ours(x))
    for weights in (tv, ours.state_dict()):  # create_model takes either layout; classes come from the weights
        loaded = create_model(name, weights=weights)
        assert same_state(loaded.state_dict(), ours.state_dict())


def test_densenet161_builds_from_torchvision_keys_without_a_zoo_factory():
    ours = _blueprint("densenet161", 1000, 3)
    tv = {k: torch.zeros(v.shape, dtype=v.dtype) for k, v in to_torchvision(ours).items()}
    model = from_torchvision("densenet161", tv)
    assert model.classifier.in_features == 2208 and sum(p.numel() for p in model.parameters()) == 28_681_000


def one_line_error(fn, *args, **kw) -> str:
    with pytest.raises(UserError) as e:
        fn(*args, **kw)
    text = str(e.value)
    assert "\n" not in text
    return text


@pytest.fixture(scope="module")
def resnet18_tv():
    torch.manual_seed(0)
    return to_torchvision(create_model("resnet18", num_classes=1000))


def test_missing_and_unexpected_keys_are_named(resnet18_tv):
    tv = dict(resnet18_tv)
    del tv["fc.weight"], tv["layer4.1.bn2.running_var"]
    tv["head.weight"] = torch.zeros(3)
    err = one_line_error(from_torchvision, "resnet18", tv)
    assert "torchvision resnet18 weights (torchvision's layout) do not fit" in err
    assert "2 missing (layer4.1.bn2.running_var, fc.weight)" in err and "1 unexpected (head.weight)" in err


def test_a_shape_difference_is_named_with_both_shapes(resnet18_tv):
    tv = {**resnet18_tv, "conv1.weight": torch.zeros(64, 3, 3, 3)}
    err = one_line_error(from_torchvision, "resnet18", tv)
    assert "1 of another shape (conv1.weight: [64, 3, 3, 3] given, [64, 3, 7, 7] expected)" in err


def test_another_architectures_weights_are_refused_naming_a_few_keys(resnet18_tv):
    err = one_line_error(from_torchvision, "resnet34", resnet18_tv)
    assert re.search(r"96 missing \(layer1\.2\.conv1\.weight, [^)]*, \.\.\. 93 more\)", err), err
    err = one_line_error(create_model, "resnet34", weights=resnet18_tv)
    assert "missing (layer1.2.conv1.weight" in err


def test_names_without_a_torchvision_twin_are_refused():
    assert "did you mean" in one_line_error(from_torchvision, "resnet19", {}).lower()
    assert "no torchvision counterpart" in one_line_error(to_torchvision, "plain18", {})
    for model in (
        create_model("plain18"),
        create_model("alexnet_2012"),
        create_model("resnet18", input_size=32),
        create_model("googlenet", input_size=32),
    ):
        with pytest.raises(UserError):
            to_torchvision(model)
    small = create_model("resnet18", input_size=32).state_dict()
    err = one_line_error(to_torchvision, "resnet18", small)
    assert "(stem.0.weight: [16, 3, 3, 3] given, [64, 3, 7, 7] expected" in err
    assert "googlenet_tv" in one_line_error(create_model, "googlenet", weights="torchvision")


def test_old_torchvision_densenet_files_load():
    """Published DenseNet files name `norm.1` for `norm1` and (pre-1.0 files) lack num_batches_tracked."""
    torch.manual_seed(0)
    ours = create_model("densenet121", num_classes=5)
    tv = to_torchvision(ours)
    old = {
        re.sub(r"(denselayer\d+\.(?:norm|conv))([12])\.", r"\1.\2.", k): v
        for k, v in tv.items()
        if not k.endswith("num_batches_tracked")
    }
    assert "features.denseblock1.denselayer1.norm.1.weight" in old
    back = from_torchvision("densenet121", old)
    assert all(
        torch.equal(a, b)
        for k, (a, b) in zip(tv, zip(to_torchvision(back).values(), tv.values()))
        if not k.endswith("num_batches_tracked")
    )


def test_weights_from_torchvision_need_torchvision(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)  # import torchvision now raises ImportError
    assert "needs torchvision" in one_line_error(create_model, "resnet18", weights="torchvision")


def test_weight_files_load_safely(tmp_path, resnet18_tv):
    path = tmp_path / "resnet18.pth"
    torch.save(resnet18_tv, path)
    model = create_model("resnet18", weights=path)
    assert same_state(to_torchvision(model), resnet18_tv) and model.fc.out_features == 1000
    (tmp_path / "junk.pth").write_text("not weights")
    assert "not a readable weight file" in one_line_error(create_model, "resnet18", weights=tmp_path / "junk.pth")


def test_safetensors_metadata_fills_in_sizes_and_options(tmp_path):
    pytest.importorskip("safetensors", reason="safetensors is not installed")
    from dlbasic.export import safetensors_bytes

    torch.manual_seed(0)
    small = create_model("resnet18", num_classes=4, in_channels=1, input_size=28, shortcut="C")
    meta = {
        "kind": "classification",
        "model": "resnet18",
        "model_options": {"shortcut": "C"},
        "num_classes": 4,
        "in_channels": 1,
        "input_size": 28,
    }
    path = tmp_path / "r18.safetensors"
    path.write_bytes(safetensors_bytes(small.state_dict(), meta))
    tensors, read = read_safetensors(path)
    assert read == {**meta, "format": "pt"} and set(tensors) == set(small.state_dict())
    assert same_state(create_model("resnet18", weights=path).state_dict(), small.state_dict())
    assert "holds the weights of 'resnet18', not 'resnet34'" in one_line_error(create_model, "resnet34", weights=path)
    plain = tmp_path / "plain.safetensors"  # no dlbasic metadata: sizes from the tensors, options from the caller
    plain.write_bytes(safetensors_bytes(small.state_dict(), {}))
    err = one_line_error(create_model, "resnet18", weights=plain)
    assert "built for 224x224 inputs" in err
    loaded = create_model("resnet18", weights=plain, input_size=28, shortcut="C")
    assert same_state(loaded.state_dict(), small.state_dict())


# --- the bars against torchvision ------------------------------------------------------------------------------


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / a.abs().max())


@pytest.mark.parametrize("tv_name, aux", [*((n, False) for n in sorted(TORCHVISION_KEYS)), ("googlenet", True)])
def test_same_logits_as_torchvision(tv_name, aux):
    """torchvision's randomly initialized model (BatchNorm statistics randomized too, eval mode) and ours loaded
    from its state dict agree on a random batch; to_torchvision gives its state dict back exactly."""
    torchvision = pytest.importorskip("torchvision", reason=TV_REASON)
    torch.manual_seed(0)
    kw = {"aux_logits": aux, "init_weights": True} if tv_name == "googlenet" else {}
    tv = randomize_norms(torchvision.models.get_model(tv_name, weights=None, **kw)).eval()
    ours = from_torchvision(tv_name, tv.state_dict()).eval()
    x = torch.randn(2, 3, 64, 64)  # every shared architecture takes 64 pixels (alexnet's smallest is 63)
    with torch.no_grad():
        expected, got = tv(x), ours(x)
    assert got.shape == expected.shape == (2, 1000)
    err = relative_error(expected, got)
    print(f"{tv_name}{' (aux)' if aux else ''}: max relative difference {err:.2e}")
    assert err <= 1e-5
    back = to_torchvision(ours)
    assert same_state(back, tv.state_dict())
    tv.load_state_dict(back)  # strict


def test_resnet18_at_224_pixels_and_create_model_detects_the_layout():
    torchvision = pytest.importorskip("torchvision", reason=TV_REASON)
    torch.manual_seed(1)
    tv = randomize_norms(torchvision.models.resnet18(num_classes=10)).eval()
    ours = create_model("resnet18", weights=tv.state_dict()).eval()
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        assert relative_error(tv(x), ours(x)) <= 1e-5


@pytest.mark.parametrize("tv_name", sorted(TORCHVISION_KEYS))
def test_the_recorded_key_digests_are_torchvisions(tv_name):
    torchvision = pytest.importorskip("torchvision", reason=TV_REASON)
    kw = {"aux_logits": True, "init_weights": False} if tv_name == "googlenet" else {}
    with torch.device("meta"):
        model = torchvision.models.get_model(tv_name, weights=None, **kw)
    assert key_digest(model.state_dict()) == TORCHVISION_KEYS[tv_name]


def test_weights_torchvision_are_torchvisions_published_ones(monkeypatch):
    """`weights="torchvision"` asks torchvision for its default weights (offline here: a stand-in returns a random
    model) and warns that the pretrained GoogLeNet wants its own input normalization."""
    torchvision = pytest.importorskip("torchvision", reason=TV_REASON)
    asked, real = [], torchvision.models.get_model

    def get_model(name, weights=None, **kw):
        asked.append((name, weights))
        torch.manual_seed(0)
        return real(name, weights=None, **({"init_weights": True} if name == "googlenet" else {}), **kw)

    monkeypatch.setattr(torchvision.models, "get_model", get_model)
    model = create_model("resnet18", weights="torchvision")
    assert asked == [("resnet18", "DEFAULT")] and model.fc.out_features == 1000
    with pytest.warns(UserWarning, match="mean 0.5 and std 0.5"):
        create_model("googlenet_tv", weights="torchvision")
    assert asked[-1] == ("googlenet", "DEFAULT")
