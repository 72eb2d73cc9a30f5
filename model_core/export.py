"""The model as one network from pixels to label probabilities, for use without labelbot.

The bot's model is two parts: the frozen backbone (a Keras network) and a linear read-out kept
as numpy arrays (`LinearPredictor`). Exporting joins them with Keras' own layers only, so the
files load with nothing but TensorFlow: the backbone, L2 normalisation, the learner's random
projection if it has one, one Dense layer holding the read-out with the softmax temperature
folded into its weights (and a bias that keeps labels without examples or retired at exactly
zero), and a softmax. The outputs are in label-id order, the order of `labels.txt`.

Input: float32 RGB pixels in 0..255, shape (n, size, size, 3), where a photo's shorter side is
scaled to `size` and its centre cropped, as `model_core.intake.prepare_image` does.
"""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from model_core.backbone.loader import Backbone
from model_core.model import ModelSnapshot

FORMATS = ("model.keras", "saved_model", "model.tflite")
_SILENT = -1e4  # the logit of a label that must not be predicted: exp() of it is exactly 0


class ExportError(ValueError):
    """A model that cannot be exported; the message says why."""


def build_network(backbone: Backbone, snapshot: ModelSnapshot) -> keras.Model:
    """The end-to-end Keras model of one model version (see the module docstring)."""
    predictor = snapshot.predictor
    if predictor is None or not predictor.active.any():
        raise ExportError("the model has no label with an example yet: there is nothing to export")
    if backbone.preprocess is not None:
        raise ExportError(
            f"backbone {backbone.name} prepares pixels outside its network; only backbones that "
            "take raw pixels (the efficientnet_lite ones) can be exported"
        )
    size = backbone.input_size
    pixels = keras.Input((size, size, 3), name="pixels")
    x = backbone.embedding_model(pixels)
    x = keras.layers.UnitNormalization(name="normalize")(x)
    features = predictor.features
    if features.projection is not None:
        projection = keras.layers.Dense(features.projection.shape[1], use_bias=False,
                                        activation="relu", name="projection")  # fmt: skip
        x = projection(x)
        projection.set_weights([features.projection.astype(np.float32)])
    readout = keras.layers.Dense(len(predictor.active), name="readout")
    logits = readout(x)
    readout.set_weights(_readout_weights(predictor))
    probabilities = keras.layers.Softmax(name="probabilities")(logits)
    return keras.Model(pixels, probabilities, name=f"labelbot_v{snapshot.version}")


def export_model(backbone: Backbone, snapshot: ModelSnapshot, out: Path) -> list[Path]:
    """Writes `FORMATS`, `labels.txt` and `model.json` into `out`; returns their paths."""
    network = build_network(backbone, snapshot)
    out.mkdir(parents=True, exist_ok=True)
    keras_path, saved_path, tflite_path = (out / name for name in FORMATS)
    network.save(keras_path)
    network.export(saved_path, format="tf_saved_model", verbose=False)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_path))
    tflite_path.write_bytes(converter.convert())
    labels_path, meta_path = out / "labels.txt", out / "model.json"
    labels_path.write_text("".join(f"{label.name}\n" for label in snapshot.labels), "utf-8")
    meta_path.write_text(json.dumps(_description(backbone, snapshot), indent=2) + "\n", "utf-8")
    return [keras_path, saved_path, tflite_path, labels_path, meta_path]


def _readout_weights(predictor) -> list[np.ndarray]:
    """The read-out's kernel and bias divided by the temperature; the constant feature of a
    learner with one folded into the bias; silent labels pinned far below the rest."""
    kernel, bias = predictor.kernel.astype(np.float64), predictor.bias.astype(np.float64)
    if predictor.features.bias_feature:
        kernel, bias = kernel[:-1], bias + kernel[-1]
    kernel, bias = kernel / predictor.temperature, bias / predictor.temperature
    kernel[:, ~predictor.active] = 0.0
    bias[~predictor.active] = _SILENT
    return [kernel.astype(np.float32), bias.astype(np.float32)]


def _description(backbone: Backbone, snapshot: ModelSnapshot) -> dict:
    active = snapshot.predictor.active
    return {
        "version": snapshot.version,
        "learner": snapshot.learner,
        "backbone": backbone.name,
        "input": {
            "shape": [None, backbone.input_size, backbone.input_size, 3],
            "dtype": "float32",
            "pixels": "RGB 0..255, shorter side scaled to the input size, centre cropped",
        },
        "output": "probabilities in label-id order (labels.txt); inactive labels are exactly 0",
        "sure_threshold": snapshot.sure_threshold,  # below it the bot says it is not sure
        "labels": [
            {
                "id": label.id,
                "name": label.name,
                "retired": label.retired,
                "active": bool(label.id < len(active) and active[label.id]),
            }
            for label in snapshot.labels
        ],
    }
