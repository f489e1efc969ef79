"""The textbook recurrent language model, written like Karpathy's min-char-rnn ``lossFun``.

    h_t = f(x_t U^T + b_ih + h_{t-1} W^T + b_hh)      U = weight_ih, W = weight_hh, f = tanh | relu
    o_t = softmax(h_t V^T + c)                        V (K, H), c (K)
    L   = -sum_t sum_b log o_t[b, y_t[b]]             y = targets (T, B)

Backward (o_t - onehot(y_t) is dL/d(logits) of softmax + cross-entropy)::

    dL/dV = sum_t (o_t - onehot(y_t))^T h_t           dL/dc = sum_t sum_b (o_t - onehot(y_t))
    dL/dh_t = (o_t - onehot(y_t)) V + dL/dh_{t+1} dh_{t+1}/dh_t
    dL/dU = sum_t dhraw_t^T x_t,  dL/dW = sum_t dhraw_t^T h_{t-1},  dhraw_t = f'(hraw_t) * dL/dh_t
"""
from __future__ import annotations

import numpy as np

from . import _activations

LM_PARAMS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "V", "c")


def srn_lm_loss(params, x, targets, h0, nonlinearity="tanh"):
    """Loss and gradients of the Elman language model (min-char-rnn's lossFun, batched).

    Arguments:
        params: dict with weight_ih (H, I), weight_hh (H, H), bias_ih (H), bias_hh (H),
            V (K, H), c (K) (all required).
        x: ``(T, B, I)`` inputs (one-hot characters or embeddings).
        targets: ints ``(T, B)`` in 0..K-1, the next symbol at each step.
        h0: ``(B, H)``.
        nonlinearity: "tanh" or "relu" (any activation name of the table works).
    Returns:
        ``(loss, grads)``: loss the summed negative log-likelihood (a float); grads a dict
        with every parameter name plus "x" and "h0".
    """
    if set(params) != set(LM_PARAMS):
        raise ValueError(f"params: expected names {sorted(LM_PARAMS)}, got {sorted(params)}")
    f, df = _activations.get(nonlinearity, "nonlinearity")
    U, W = params["weight_ih"], params["weight_hh"]          # (H, I), (H, H)
    b_ih, b_hh = params["bias_ih"], params["bias_hh"]        # (H,), (H,)
    V, c = params["V"], params["c"]                          # (K, H), (K,)
    x = np.asarray(x, dtype=np.float64)
    targets = np.asarray(targets)
    T, B, _ = x.shape
    rows = np.arange(B)

    # forward pass
    hraw, hs, ps = {}, {}, {}
    hs[-1] = np.asarray(h0, dtype=np.float64)
    loss = 0.0
    for t in range(T):
        hraw[t] = x[t] @ U.T + b_ih + hs[t - 1] @ W.T + b_hh      # (B, H) pre-activation
        hs[t] = f(hraw[t])                                        # (B, H) hidden state
        logits = hs[t] @ V.T + c                                  # (B, K) unnormalised log probabilities
        logits = logits - logits.max(axis=1, keepdims=True)       # (stability; softmax is shift-invariant)
        log_o = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        ps[t] = np.exp(log_o)                                     # (B, K) o_t = softmax
        loss += -log_o[rows, targets[t]].sum()                    # cross-entropy of the targets

    # backward pass: compute gradients going backwards
    dU, dW = np.zeros_like(U), np.zeros_like(W)
    db_ih, db_hh = np.zeros_like(b_ih), np.zeros_like(b_hh)
    dV, dc = np.zeros_like(V), np.zeros_like(c)
    dx = np.zeros_like(x)
    dhnext = np.zeros_like(hs[0])
    for t in reversed(range(T)):
        dlogits = ps[t].copy()
        dlogits[rows, targets[t]] -= 1.0            # dL/dlogits = o_t - onehot(y_t)
        dV += dlogits.T @ hs[t]                     # dL/dV += (o_t - onehot)^T h_t
        dc += dlogits.sum(axis=0)                   # dL/dc += sum_b (o_t - onehot)
        dh = dlogits @ V + dhnext                   # dL/dh_t: from the output and from step t+1
        dhraw = df(hraw[t], hs[t]) * dh             # dL/dhraw = f'(hraw) * dL/dh  (tanh: (1 - h^2) * dh)
        db_ih += dhraw.sum(axis=0)                  # dL/db_ih += sum_b dhraw
        db_hh += dhraw.sum(axis=0)                  # dL/db_hh += sum_b dhraw
        dU += dhraw.T @ x[t]                        # dL/dU += dhraw^T x_t
        dW += dhraw.T @ hs[t - 1]                   # dL/dW += dhraw^T h_{t-1}
        dx[t] = dhraw @ U                           # dL/dx_t = dhraw U
        dhnext = dhraw @ W                          # dL/dh_{t-1} = dhraw W
    grads = {"weight_ih": dU, "weight_hh": dW, "bias_ih": db_ih, "bias_hh": db_hh,
             "V": dV, "c": dc, "x": dx, "h0": dhnext}
    return float(loss), grads
