"""Keras building blocks of the CGAN learner, registered so `.keras` files round-trip."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

PACKAGE = "model_core"


@keras.saving.register_keras_serializable(package=PACKAGE)
class L2Normalize(keras.layers.Layer):
    """Scales each row to unit length: the space both the head and the generator live in."""

    def __init__(self, epsilon: float = 1e-12, **kwargs) -> None:
        super().__init__(**kwargs)
        if epsilon <= 0:
            raise ValueError(f"epsilon must be positive. Received: epsilon={epsilon}")
        self.epsilon = epsilon

    def call(self, inputs):
        norm = ops.sqrt(ops.maximum(ops.sum(ops.square(inputs), axis=-1, keepdims=True), 0.0))
        return inputs / ops.maximum(norm, self.epsilon)

    def get_config(self) -> dict:
        return {**super().get_config(), "epsilon": self.epsilon}


def build_head(n_features: int, n_classes: int) -> keras.Model:
    """Softmax head: normalised embedding -> one logit per class."""
    inputs = keras.Input((n_features,), name="embedding")
    x = L2Normalize(name="normalize")(inputs)
    logits = keras.layers.Dense(n_classes, kernel_initializer="zeros", name="logits")(x)
    return keras.Model(inputs, logits, name="softmax_head")


def carry_over_weights(old: keras.Model, grown: keras.Model) -> keras.Model:
    """Copies every weight of `old` into the wider `grown`, bit for bit.

    Where a weight grew (a kernel's output axis, an embedding's rows), the old slice is copied
    and only the new slice keeps `grown`'s fresh initial values. The seed article padded
    kernels with `pad_sequences`, whose int32 default zeroed them; here dtypes are kept and the
    tests compare old logits with `np.array_equal`.
    """
    for old_layer, new_layer in zip(old.layers, grown.layers, strict=True):
        fresh = new_layer.get_weights()
        new_layer.set_weights(
            [_extend(w, f) for w, f in zip(old_layer.get_weights(), fresh, strict=True)]
        )
    return grown


def _extend(old: np.ndarray, fresh: np.ndarray) -> np.ndarray:
    grown_axes = [i for i, (a, b) in enumerate(zip(old.shape, fresh.shape, strict=True)) if a != b]
    if not grown_axes:
        return old
    (axis,) = grown_axes
    extra = np.take(fresh, np.arange(old.shape[axis], fresh.shape[axis]), axis=axis)
    return np.concatenate([old, extra.astype(old.dtype)], axis=axis)
