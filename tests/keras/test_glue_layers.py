"""The glue layers of the Keras captioning / 1 -> N tutorials against real Keras 3 with the same weights:
Conv2D, Conv1D, MaxPooling2D, GlobalAveragePooling2D, Flatten, RepeatVector, Concatenate, Add, Reshape,
Lambda, one by one and in the tutorials' models (inject and merge captioners)."""
import numpy as np
import pytest
import torch

import rnnkit.keras as rk
from rnnkit.keras import layers

from kerascases import max_difference, numpy, twin

ATOL = 1e-5
RNG = np.random.default_rng(0)
IMAGES = RNG.normal(size=(2, 9, 8, 4)).astype("float32")
SEQUENCES = RNG.normal(size=(2, 11, 4)).astype("float32")

CONVOLUTIONS = [
    ("Conv2D", dict(filters=5, kernel_size=3), IMAGES),
    ("Conv2D", dict(filters=5, kernel_size=(3, 2), strides=2, padding="same", activation="relu"), IMAGES),
    ("Conv2D", dict(filters=6, kernel_size=2, padding="same", dilation_rate=2, groups=2, use_bias=False), IMAGES),
    ("Conv2D", dict(filters=3, kernel_size=4, strides=(2, 3), padding="same", data_format="channels_first"), IMAGES),
    ("Conv1D", dict(filters=5, kernel_size=3, padding="causal", dilation_rate=2), SEQUENCES),
    ("Conv1D", dict(filters=4, kernel_size=4, strides=3, padding="same", activation="tanh"), SEQUENCES),
    ("Conv1D", dict(filters=2, kernel_size=5), SEQUENCES),
]
WEIGHTLESS = [
    ("MaxPooling2D", dict(), IMAGES),
    ("MaxPooling2D", dict(pool_size=3, strides=2, padding="same"), IMAGES),
    ("MaxPooling2D", dict(pool_size=(2, 3), strides=1, padding="same"), IMAGES),
    ("GlobalAveragePooling2D", dict(), IMAGES),
    ("GlobalAveragePooling2D", dict(keepdims=True, data_format="channels_first"), IMAGES),
    ("Flatten", dict(), IMAGES),
    ("RepeatVector", dict(n=3), IMAGES[:, 0, 0]),
    ("Reshape", dict(target_shape=(-1, 6)), IMAGES[:, :, :3]),
]


@pytest.mark.parametrize("name, options, x", CONVOLUTIONS + WEIGHTLESS,
                         ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(CONVOLUTIONS + WEIGHTLESS)])
def test_each_layer_equals_keras(keras, name, options, x):
    theirs, ours = getattr(keras.layers, name)(**options), getattr(layers, name)(**options)
    expected, got = twin(theirs, ours, x)
    assert expected.shape == tuple(got.shape) and max_difference(expected, got) < ATOL
    assert [w.shape for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]
    assert ours.name.rstrip("_0123456789") == theirs.name.rstrip("_0123456789")        # conv2d, max_pooling2d, ...


@pytest.mark.parametrize("name, options", [("Conv2D", dict(filters=5, kernel_size=3)),
                                           ("Conv1D", dict(filters=4, kernel_size=2, groups=2))])
def test_convolution_kernels_are_keras_layout_and_initialised_as_keras(keras, name, options):
    x = IMAGES if name == "Conv2D" else SEQUENCES
    theirs, ours = getattr(keras.layers, name)(**options), getattr(layers, name)(**options)
    theirs(x), ours(torch.as_tensor(x))
    kernel = ours.get_weights()[0]
    limit = np.sqrt(6.0 / sum(np.prod(kernel.shape[:-2]) * np.array(kernel.shape[-2:])))   # Glorot: fan_in + fan_out
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.8 * limit
    assert ours.count_params() == theirs.count_params()


def test_merge_layers_and_lambda_equal_keras(keras):
    a, b = RNG.normal(size=(2, 5, 3)).astype("float32"), RNG.normal(size=(2, 5, 2)).astype("float32")
    for axis in (-1, 2):
        assert max_difference(keras.layers.Concatenate(axis=axis)([a, b]),
                              layers.Concatenate(axis=axis)([torch.as_tensor(a), torch.as_tensor(b)])) == 0.0
    c = RNG.normal(size=(2, 5, 3)).astype("float32")
    assert max_difference(keras.layers.Add()([a, c, a]), layers.Add()([torch.as_tensor(a), torch.as_tensor(c),
                                                                      torch.as_tensor(a)])) < ATOL
    scale = dict(function=lambda x, k: x[:, 1:] * k, arguments={"k": 3.0})
    assert max_difference(keras.layers.Lambda(**scale)(a), layers.Lambda(**scale)(torch.as_tensor(a))) == 0.0


def test_masks_through_concatenate_and_add_follow_keras(keras):
    """An embedded, zero-padded caption joined with the repeated image vector: Keras ORs the masks."""
    tokens = np.array([[4, 2, 0, 0], [1, 3, 5, 0]])
    image = RNG.normal(size=(2, 3)).astype("float32")

    def masks(module, tokens, image):
        embedded = module.layers.Embedding(6, 3, mask_zero=True)(tokens)
        repeated = module.layers.RepeatVector(4)(image)
        joined = module.layers.Concatenate()([embedded, repeated])
        summed = module.layers.Add()([embedded, embedded])
        return [getattr(t, "_keras_mask", None) for t in (joined, summed)]

    theirs, ours = masks(keras, tokens, image), masks(rk, torch.as_tensor(tokens), torch.as_tensor(image))
    assert numpy(ours[0]).tolist() == numpy(theirs[0]).tolist() == [[True] * 4] * 2      # the image is never masked
    assert numpy(ours[1]).tolist() == numpy(theirs[1]).tolist() == (tokens != 0).tolist()


def cnn_encoder(module, image):
    """The tutorials' small CNN: conv, pool, conv, global average, a dense image embedding."""
    layers_ = module.layers
    x = layers_.Conv2D(8, 3, padding="same", activation="relu")(image)
    x = layers_.MaxPooling2D()(x)
    x = layers_.Conv2D(6, 3, activation="relu")(x)
    return layers_.Dense(5, activation="relu")(layers_.GlobalAveragePooling2D()(x))


def inject_captioner(module):
    """Image features repeated at every step beside the word embeddings (the "inject" 1 -> N model)."""
    layers_ = module.layers
    image, words = layers_.Input((12, 12, 3)), layers_.Input((6,), dtype="int32")
    features = layers_.RepeatVector(6)(cnn_encoder(module, image))
    embedded = layers_.Embedding(20, 4, mask_zero=True)(words)
    hidden = layers_.LSTM(7, return_sequences=True)(layers_.Concatenate()([embedded, features]))
    return module.Model([image, words], layers_.TimeDistributed(layers_.Dense(20, activation="softmax"))(hidden))


def merge_captioner(module):
    """Image features added to the caption prefix's LSTM state (the "merge" model of the Keras tutorials)."""
    layers_ = module.layers
    image, words = layers_.Input((12, 12, 3)), layers_.Input((6,), dtype="int32")
    prefix = layers_.LSTM(5)(layers_.Embedding(20, 4, mask_zero=True)(words))
    merged = layers_.Add()([cnn_encoder(module, image), prefix])
    hidden = layers_.Reshape((5, 1))(layers_.Lambda(lambda x: x * 0.5)(merged))
    sequence = layers_.Conv1D(3, 2, padding="causal")(hidden)
    return module.Model([image, words], layers_.Dense(20, activation="softmax")(layers_.Flatten()(sequence)))


@pytest.mark.parametrize("build", [inject_captioner, merge_captioner], ids=lambda b: b.__name__)
def test_tutorial_captioners_equal_keras_with_its_weights(keras, build, tmp_path):
    """Weights copied layer by layer (by name) and through Keras' own weight file.

    Keras 3 records the mask computations (``not_equal``, ``any``) as graph operations, which shifts the
    depth of the masked branch, so ``Model.layers`` and ``get_weights()`` may list the layers of the two
    branches in another order than rnnkit's; layer names and ``.weights.h5`` paths agree."""
    keras.backend.clear_session()
    rk.clear_session()                                            # the automatic names count from 0 in both
    theirs, ours = build(keras), build(rk)
    by_name = {layer.name: layer for layer in ours.layers}
    for layer in theirs.layers:
        by_name[layer.name].set_weights(layer.get_weights())
    image = RNG.normal(size=(3, 12, 12, 3)).astype("float32")
    words = np.array([[1, 5, 7, 0, 0, 0], [2, 3, 4, 5, 6, 7], [9, 0, 0, 0, 0, 0]])
    assert max_difference(theirs([image, words]), ours([image, words])) < ATOL
    assert ours.count_params() == theirs.count_params()
    theirs.save_weights(tmp_path / "captioner.weights.h5")
    fresh = build(rk)
    fresh.load_weights(tmp_path / "captioner.weights.h5")
    assert max_difference(theirs([image, words]), fresh([image, words])) < ATOL


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match="padding: expected one of valid, same, got 'causal'"):
        layers.Conv2D(3, 3, padding="causal")
    with pytest.raises(ValueError, match=r"kernel_size: expected a positive integer or 2 of them"):
        layers.Conv2D(3, (3, 3, 3))
    with pytest.raises(ValueError, match="filters: expected a multiple of groups=2"):
        layers.Conv1D(3, 2, groups=2)
    with pytest.raises(ValueError, match="expected a list of at least 2 tensors"):
        layers.Add()(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="shapes agree except on axis -1"):
        layers.Concatenate()([torch.zeros(2, 3), torch.zeros(3, 3)])
    with pytest.raises(ValueError, match=r"cannot reshape inputs of shape \(2, 5\)"):
        layers.Reshape((2, 2))(torch.zeros(2, 5))
    with pytest.raises(ValueError, match="never runs code read from a file"):
        layers.Lambda(lambda x: x).get_config()
