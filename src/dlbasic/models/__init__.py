"""The model zoo: `create_model(name, num_classes, in_channels, input_size)` and `list_models()`."""

from dlbasic.models.registry import create_model, list_models, models, register_model

__all__ = ["create_model", "list_models", "models", "register_model"]
