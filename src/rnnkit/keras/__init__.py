"""A Keras-compatible front on rnnkit: tutorial code runs with only its import line changed.

    from rnnkit.keras import layers, models
    model = models.Sequential([layers.LSTM(32), layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(x_train, y_train, epochs=3, batch_size=32, validation_data=(x_val, y_val))

Layers map onto rnnkit's cells, layers and fast paths; ``fit`` runs :class:`rnnkit.train.Trainer`.
Where the front differs from Keras on purpose, docs/keras.md says so.
"""
from . import activations, callbacks, constraints, initializers, layers, losses, metrics, models, optimizers, \
    regularizers
from .layers import Input
from .layers.base import clear_session
from .models import Model, Sequential, load_model

__all__ = ["Input", "Model", "Sequential", "activations", "callbacks", "clear_session", "constraints",
           "initializers", "layers", "load_model", "losses", "metrics", "models", "optimizers", "regularizers"]
