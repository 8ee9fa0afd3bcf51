"""Training objectives: plain BCE, class-weighted BCE and focal loss (the coursework's next steps).

Rare genres (Western: 43 of 5,714 movies) contribute almost nothing to plain BCE; the two
alternatives push their positives harder. Which one ships is decided by measurement (docs/benchmark.md).
"""

from __future__ import annotations

import keras
import numpy as np

from genre_hf.config import TrainingSettings
from genre_hf.training.calibration import positive_weights


@keras.saving.register_keras_serializable(package="genre_hf")
class WeightedBinaryCrossentropy(keras.losses.Loss):
    """BCE with a per-genre weight on positives: ((1 - f) / f) ** power for genre frequency f."""

    def __init__(self, positive_weights, name="weighted_bce", **kwargs):
        super().__init__(name=name, **kwargs)
        self.positive_weights = [float(w) for w in positive_weights]

    def call(self, y_true, y_pred):
        y_pred = keras.ops.clip(y_pred, 1e-7, 1 - 1e-7)
        weights = keras.ops.convert_to_tensor(self.positive_weights, dtype=y_pred.dtype)
        y_true = keras.ops.cast(y_true, y_pred.dtype)
        losses = -(weights * y_true * keras.ops.log(y_pred) + (1 - y_true) * keras.ops.log(1 - y_pred))
        return keras.ops.mean(losses, axis=-1)

    def get_config(self):
        return {**super().get_config(), "positive_weights": self.positive_weights}


def make_loss(training: TrainingSettings, train_labels: np.ndarray) -> keras.losses.Loss:
    if training.loss == "focal":
        return keras.losses.BinaryFocalCrossentropy(gamma=training.focal_gamma, name="focal")
    if training.loss == "weighted_bce":
        return WeightedBinaryCrossentropy(positive_weights(train_labels, training.class_weight_power))
    return keras.losses.BinaryCrossentropy(name="bce")
