"""Keras' core layers: ``Dense`` (on :class:`KernelLayer`, shared with the convolutions), ``Dropout``, ``Activation``, ``Flatten``, ``Masking``, ``Embedding``.

Dense and Embedding keep their weights in Keras' layout (``kernel (in, units)``, ``embeddings
(input_dim, output_dim)``), so their Keras weights are their parameters.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from ... import _checks
from .. import activations, constraints, initializers, regularizers
from .base import Layer


class KernelLayer(Layer):
    """Base of the layers with a ``kernel`` and an optional ``bias`` (``Dense``, ``Conv1D``, ``Conv2D``).

    Arguments (Keras 3's): activation=None, use_bias=True, kernel_initializer="glorot_uniform",
    bias_initializer="zeros", kernel_regularizer, bias_regularizer, activity_regularizer,
    kernel_constraint, bias_constraint.
    """

    def __init__(self, activation: Any = None, use_bias: bool = True, kernel_initializer: Any = "glorot_uniform",
                 bias_initializer: Any = "zeros", kernel_regularizer: Any = None, bias_regularizer: Any = None,
                 activity_regularizer: Any = None, kernel_constraint: Any = None, bias_constraint: Any = None,
                 **kwargs: Any):
        super().__init__(**kwargs)
        self.activation, self.use_bias = activations.get(activation), bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer, "kernel_initializer")
        self.bias_initializer = initializers.get(bias_initializer, "bias_initializer")
        self.kernel_regularizer = regularizers.get(kernel_regularizer, "kernel_regularizer")
        self.bias_regularizer = regularizers.get(bias_regularizer, "bias_regularizer")
        self.activity_regularizer = regularizers.get(activity_regularizer, "activity_regularizer")
        self.kernel_constraint = constraints.get(kernel_constraint, "kernel_constraint")
        self.bias_constraint = constraints.get(bias_constraint, "bias_constraint")

    def add_kernel_and_bias(self, kernel_shape: tuple[int, ...], bias_size: int) -> None:
        """Creates ``kernel`` (Keras' layout) and, with ``use_bias``, ``bias (bias_size,)``."""
        self.add_weight(kernel_shape, self.kernel_initializer, regularizer=self.kernel_regularizer,
                        constraint=self.kernel_constraint, name="kernel")
        if self.use_bias:
            self.add_weight((bias_size,), self.bias_initializer, regularizer=self.bias_regularizer,
                            constraint=self.bias_constraint, name="bias")

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(activation=activations.serialize(self.activation), use_bias=self.use_bias,
                      kernel_initializer=initializers.serialize(self.kernel_initializer),
                      bias_initializer=initializers.serialize(self.bias_initializer),
                      kernel_regularizer=regularizers.serialize(self.kernel_regularizer),
                      bias_regularizer=regularizers.serialize(self.bias_regularizer),
                      activity_regularizer=regularizers.serialize(self.activity_regularizer),
                      kernel_constraint=constraints.serialize(self.kernel_constraint),
                      bias_constraint=constraints.serialize(self.bias_constraint))
        return config


class Dense(KernelLayer):
    """``y = activation(x kernel + bias)`` over the last axis; ``kernel (in, units)``, ``bias (units)``.

    Arguments (Keras 3's): units, and those of :class:`KernelLayer`. Masks pass through.
    """

    supports_masking = True

    def __init__(self, units: int, activation: Any = None, use_bias: bool = True, **kwargs: Any):
        super().__init__(activation, use_bias, **kwargs)
        if isinstance(units, bool) or not isinstance(units, int) or units < 1:
            raise ValueError(f"units: expected a positive integer, got {units!r}")
        self.units = units

    def build(self, input_shape: Any) -> None:
        self.add_kernel_and_bias((input_shape[-1], self.units), self.units)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        if inputs.shape[-1] != self.kernel.shape[0]:
            raise ValueError(f"{self.name}: expected inputs with last dimension {self.kernel.shape[0]}, "
                             f"got shape {tuple(inputs.shape)}")
        y = inputs.to(self.kernel.dtype) @ self.kernel                                 # (..., units)
        if self.use_bias:
            y = y + self.bias
        return self.activation(y)

    def get_config(self) -> dict:
        config = super().get_config()
        config["units"] = self.units
        return config


class Dropout(Layer):
    """Zeroes each input unit with probability ``rate`` in training, scaling the rest by ``1/(1-rate)``.

    ``noise_shape`` (Keras') broadcasts one draw over the dimensions given as 1 (None: the input's size).
    ``seed`` is accepted; draws come from torch's global generator. Masks pass through.
    """

    supports_masking = True

    def __init__(self, rate: float, noise_shape: Any = None, seed: int | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.rate = _checks.check_probability(rate, "rate")
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)
        self.seed = seed

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        if not self.training or not self.rate:
            return inputs
        if self.noise_shape is None:
            return F.dropout(inputs, self.rate, True)
        shape = [size if size is not None else inputs.shape[k] for k, size in enumerate(self.noise_shape)]
        keep = torch.empty(shape, device=inputs.device, dtype=inputs.dtype).bernoulli_(1.0 - self.rate)
        return inputs * keep / (1.0 - self.rate)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(rate=self.rate, noise_shape=None if self.noise_shape is None else list(self.noise_shape),
                      seed=self.seed)
        return config


class Activation(Layer):
    """``y = activation(x)``; masks pass through."""

    supports_masking = True

    def __init__(self, activation: Any, **kwargs: Any):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.activation(inputs)

    def get_config(self) -> dict:
        config = super().get_config()
        config["activation"] = activations.serialize(self.activation)
        return config


class Flatten(Layer):
    """``(B, d1, d2, ...) -> (B, d1 * d2 * ...)``; drops the mask (as Keras)."""

    def __init__(self, data_format: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.data_format = data_format

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs.reshape(inputs.shape[0], -1)

    def get_config(self) -> dict:
        config = super().get_config()
        config["data_format"] = self.data_format
        return config


class Masking(Layer):
    """Masks the steps whose features all equal ``mask_value``: ``mask = any(x != mask_value, -1)``.

    Output ``x * mask`` (masked steps become zero); the mask ``(B, T)`` rides on the output.
    """

    supports_masking = True

    def __init__(self, mask_value: float = 0.0, **kwargs: Any):
        super().__init__(**kwargs)
        self.mask_value = float(mask_value)

    def compute_mask(self, inputs: torch.Tensor, mask: Any = None) -> torch.Tensor:
        return (inputs != self.mask_value).any(dim=-1)                                # (B, T)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs * self.compute_mask(inputs)[..., None].to(inputs.dtype)

    def get_config(self) -> dict:
        config = super().get_config()
        config["mask_value"] = self.mask_value
        return config


class Embedding(Layer):
    """``y[b, t] = embeddings[x[b, t]]`` with ``embeddings (input_dim, output_dim)``.

    Arguments (Keras 3's): input_dim, output_dim, embeddings_initializer="uniform" (U(-0.05, 0.05)),
    embeddings_regularizer, embeddings_constraint, mask_zero=False (True: index 0 is padding and the
    mask ``x != 0`` rides on the output, so the recurrent layers skip those steps).
    """

    def __init__(self, input_dim: int, output_dim: int, embeddings_initializer: Any = "uniform",
                 embeddings_regularizer: Any = None, embeddings_constraint: Any = None, mask_zero: bool = False,
                 activity_regularizer: Any = None, **kwargs: Any):
        super().__init__(**kwargs)
        for name, value in (("input_dim", input_dim), ("output_dim", output_dim)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected a positive integer, got {value!r}")
        self.input_dim, self.output_dim, self.mask_zero = input_dim, output_dim, bool(mask_zero)
        self.embeddings_initializer = initializers.get(embeddings_initializer, "embeddings_initializer")
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer, "embeddings_regularizer")
        self.embeddings_constraint = constraints.get(embeddings_constraint, "embeddings_constraint")
        self.activity_regularizer = regularizers.get(activity_regularizer, "activity_regularizer")

    def build(self, input_shape: Any) -> None:
        self.add_weight((self.input_dim, self.output_dim), self.embeddings_initializer,
                        regularizer=self.embeddings_regularizer, constraint=self.embeddings_constraint,
                        name="embeddings")

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        checked = not torch.compiler.is_compiling()     # torch.compile / torch.export cannot read the values
        if inputs.is_floating_point():
            if checked and not bool((inputs == inputs.round()).all()):
                raise ValueError(f"{self.name}: expected integer indices, got non-integer values")
            inputs = inputs.long()
        if checked and inputs.numel() and (int(inputs.min()) < 0 or int(inputs.max()) >= self.input_dim):
            raise ValueError(f"{self.name}: expected indices in [0, input_dim={self.input_dim}), got values in "
                             f"[{int(inputs.min())}, {int(inputs.max())}]")
        return F.embedding(inputs, self.embeddings)                                    # (..., output_dim)

    def compute_mask(self, inputs: torch.Tensor, mask: Any = None) -> torch.Tensor | None:
        return inputs != 0 if self.mask_zero else None

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(input_dim=self.input_dim, output_dim=self.output_dim, mask_zero=self.mask_zero,
                      embeddings_initializer=initializers.serialize(self.embeddings_initializer),
                      embeddings_regularizer=regularizers.serialize(self.embeddings_regularizer),
                      embeddings_constraint=constraints.serialize(self.embeddings_constraint),
                      activity_regularizer=regularizers.serialize(self.activity_regularizer))
        return config
