"""Shared helpers of the Keras-front tests: output comparison, twin layers, the models both frameworks build."""
import numpy as np
import torch


def as_list(outputs):
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def numpy(tensor):
    return tensor.detach().cpu().numpy() if isinstance(tensor, torch.Tensor) else np.asarray(tensor)


def max_difference(expected, got) -> float:
    """Largest absolute difference between two (lists of) outputs of the same structure."""
    expected, got = as_list(expected), as_list(got)
    assert len(expected) == len(got)
    return max(float(np.abs(numpy(e) - numpy(g)).max()) for e, g in zip(expected, got))


def twin(keras_layer, our_layer, *inputs, **call):
    """Builds both layers on ``inputs``, copies Keras' weights into ours, returns both outputs."""
    expected = keras_layer(*inputs, **call)
    our_call = {k: torch.as_tensor(v) if isinstance(v, np.ndarray) else v for k, v in call.items()}
    our_layer(*[torch.as_tensor(x) for x in inputs], **our_call)
    our_layer.set_weights(keras_layer.get_weights())
    got = our_layer(*[torch.as_tensor(x) for x in inputs], **our_call)
    return expected, got


def tutorial_model(module):
    layers_ = module.layers
    return module.Sequential([layers_.Input((20, 1)), layers_.SimpleRNN(100, return_sequences=True),
                              layers_.Dropout(0.2), layers_.SimpleRNN(100), layers_.Dropout(0.2), layers_.Dense(1)])


def text_model(module):
    layers_ = module.layers
    return module.Sequential([
        layers_.Input((None,), dtype="int32"), layers_.Embedding(50, 8, mask_zero=True),
        layers_.Bidirectional(layers_.LSTM(6, return_sequences=True)), layers_.GRU(5, reset_after=False,
                                                                                 return_sequences=True),
        layers_.RNN([layers_.SimpleRNNCell(4), layers_.LSTMCell(3)], return_sequences=True),
        layers_.TimeDistributed(layers_.Dense(2)), layers_.GRU(7), layers_.Dense(3, activation="softmax")])


def encoder_decoder(module):
    """The classic Keras seq2seq: the encoder's LSTM states start the decoder."""
    layers_ = module.layers
    encoder_inputs = layers_.Input((None, 6))
    _, state_h, state_c = layers_.LSTM(8, return_state=True)(encoder_inputs)
    decoder_inputs = layers_.Input((None, 5))
    decoded = layers_.LSTM(8, return_sequences=True)(decoder_inputs, initial_state=[state_h, state_c])
    outputs = layers_.Dense(5, activation="softmax")(decoded)
    return module.Model([encoder_inputs, decoder_inputs], outputs)


def two_heads(module):
    layers_ = module.layers
    series = layers_.Input((7, 3), name="series")
    hidden = layers_.GRU(6, return_sequences=True)(series)
    level = layers_.Dense(1, name="level")(layers_.Flatten()(hidden))
    trend = layers_.Dense(2, name="trend")(layers_.LSTM(4)(hidden))
    return module.Model(series, [level, trend])
