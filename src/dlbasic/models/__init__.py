"""The model zoo: `create_model(name, num_classes, in_channels, input_size, weights=None)`, `list_models()`, and
`from_torchvision` / `to_torchvision` (weights in torchvision's layout)."""

from dlbasic.models.interop import from_torchvision, to_torchvision
from dlbasic.models.registry import create_model, list_models, models, register_model

__all__ = ["create_model", "from_torchvision", "list_models", "models", "register_model", "to_torchvision"]
