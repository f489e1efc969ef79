r"""Image captioning (1 → N): a CNN encoder and a recurrent decoder in one of three forms.

The image ``I`` gives the global feature vector ``X (F)`` and the region features ``a_1 .. a_L (C)``
(:class:`rnnkit.nn.conv.ConvEncoder`). The caption is ``y_0 = <s>, y_1 .. y_T = </s>``; ``x_t =
E[y_{t-1}]`` is the embedded previous word and ``f`` the cell (SimpleRNN, LSTM or GRU; for the gated
cells ``U x + W h + b`` stands for every gate's pre-activation)::

    step1      (the textbook's CNN + RNN)    h_0 = 0
               h_1 = f(U x_1 + W h_0 + b + V X)            the image enters once, at step 1
               h_t = f(U x_t + W h_{t-1} + b)              t > 1
               o_t = h_t
    init       (Show and Tell, Vinyals et al. 2015)
               h_0 = tanh(W_I X + b_I)                     (LSTM: c_0 likewise, its own W_I)
               h_t = f(U x_t + W h_{t-1} + b);  o_t = h_t
    attention  (Show, Attend and Tell, Xu et al. 2015)
               h_0 = tanh(W_I ā + b_I),  ā = 1/L Σ_l a_l
               z_t, α_t = Attend(h_{t-1}, a_1 .. a_L)       Bahdanau's score (rnnkit.nn.attention)
               h_t = f(U [x_t; z_t] + W h_{t-1} + b);  o_t = [h_t; z_t]
    p(y_t | y_<t, I) = softmax(W_o o_t + b_o)
    loss = -1/N Σ_{b, t} log p(y_t | y_<t, I)              mean NLL per caption token (</s> included)

Vinyals et al. feed the image as the input of a step before ``<s>``; a learned initial state is
the same idea without spending a step. ``α_t (L)`` reshaped to the grid's ``(h, w)`` is where the
model looked when it chose ``y_t``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ..cells import GRUCell, LSTMCell, SimpleRNNCell
from ..cells.base import state_leaves
from ..data.captions import CaptionBatch
from ..data.pairs import BOS_ID, EOS_ID
from ..nn import LossOutput
from ..nn.attention import Attention
from ..nn.conv import ConvEncoder
from ..nn.decoding import Hypotheses, beam_search, greedy_search
from ._config import check_choice, check_positive, check_rate, config_from_dict

DECODERS = ("step1", "init", "attention")
CELLS = {"srn": SimpleRNNCell, "lstm": LSTMCell, "gru": GRUCell}


@dataclass(frozen=True)
class CaptionerConfig:
    """Everything needed to rebuild a :class:`Captioner`; saved with its checkpoints.

    Attributes:
        vocab_size: V (ids ``<unk>`` 0, ``<s>`` 1, ``</s>`` 2, then words or characters).
        decoder: ``"step1"``, ``"init"`` or ``"attention"`` (module docstring).
        cell: ``"srn"``, ``"lstm"`` or ``"gru"``.
        embed_size: E.  hidden_size: H.  feature_size: F of X.  attention_size: A of Bahdanau's score (None: H).
        channels: the encoder's blocks; ``image_size`` must be divisible by ``2 ** len(channels)``.
        image_size: S, the side the images are resized to.
        pixel_mean, pixel_std: per channel, of the training images in [0, 1] (the input normalisation).
        dropout: on the word embeddings, on X and before the output layer (training only).
        bos_id, eos_id: the special ids.
    """

    vocab_size: int
    decoder: str = "attention"
    cell: str = "lstm"
    embed_size: int = 128
    hidden_size: int = 256
    feature_size: int = 256
    attention_size: int | None = None
    channels: tuple[int, ...] = (32, 64, 128, 256)
    image_size: int = 64
    pixel_mean: tuple[float, ...] = (0.5, 0.5, 0.5)
    pixel_std: tuple[float, ...] = (0.25, 0.25, 0.25)
    dropout: float = 0.0
    bos_id: int = BOS_ID
    eos_id: int = EOS_ID

    def __post_init__(self):
        check_positive(self, "vocab_size", "embed_size", "hidden_size", "feature_size", "image_size")
        check_choice("decoder", self.decoder, DECODERS)
        check_choice("cell", self.cell, tuple(CELLS))
        check_rate("dropout", self.dropout)
        if self.image_size % 2 ** len(self.channels):
            raise ValueError(f"image_size: expected a multiple of 2**{len(self.channels)} (one pooling per "
                             f"block of channels={self.channels}), got {self.image_size}")
        for name in ("pixel_mean", "pixel_std"):
            values = getattr(self, name)
            if len(values) != 3 or not all(isinstance(v, (int, float)) for v in values):
                raise ValueError(f"{name}: expected three numbers (R, G, B), got {values!r}")
        if min(self.pixel_std) <= 0:
            raise ValueError(f"pixel_std: expected positive numbers, got {self.pixel_std!r}")
        if self.bos_id == self.eos_id or not all(0 <= i < self.vocab_size for i in (self.bos_id, self.eos_id)):
            raise ValueError(f"bos_id, eos_id: expected two distinct ids below vocab_size={self.vocab_size}, "
                             f"got {self.bos_id}, {self.eos_id}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CaptionerConfig":
        """The inverse of ``dataclasses.asdict``; ValueError for unknown fields."""
        return config_from_dict(cls, data)


class DecoderState(NamedTuple):
    """What the decoder carries between steps; every tensor has the N rows on dimension 0.

    Attributes:
        cell: the cell's state (``(N, H)``, LSTM ``LSTMState``).
        inject: ``V X (N, G*H)`` still to be added (step1 before its first step), else None.
        keys: the region features ``(N, L, C)`` (attention only).  prepared: ``attention.prepare(keys)``.
    """

    cell: Any
    inject: torch.Tensor | None
    keys: torch.Tensor | None
    prepared: torch.Tensor | None


class Captioner(nn.Module):
    """The CNN encoder and the decoder of the module docstring.

    Parameters: ``encoder`` (:class:`~rnnkit.nn.conv.ConvEncoder`), ``embedding`` (E), ``cell`` (U, W, b),
    ``inject`` (V, step1), ``initial`` (one ``W_I, b_I`` per state tensor, init / attention),
    ``attention`` (attention), ``output`` (W_o, b_o); buffers ``pixel_mean``, ``pixel_std``.
    """

    def __init__(self, config: CaptionerConfig):
        super().__init__()
        self.config = c = config
        self.encoder = ConvEncoder(tuple(c.channels), c.feature_size)
        self.embedding = nn.Embedding(c.vocab_size, c.embed_size)
        attend = c.decoder == "attention"
        context = self.encoder.grid_size if attend else 0
        self.cell = CELLS[c.cell](c.embed_size + context, c.hidden_size)
        gates = self.cell.weight_ih.shape[0]
        self.inject = nn.Linear(c.feature_size, gates, bias=False) if c.decoder == "step1" else None
        source = self.encoder.grid_size if attend else c.feature_size
        self.initial = nn.ModuleList(nn.Linear(source, leaf.shape[-1]) for leaf in
                                     state_leaves(self.cell.init_state(1, device="meta"))) \
            if c.decoder != "step1" else None
        self.attention = Attention("bahdanau", c.hidden_size, context, c.attention_size) if attend else None
        self.output = nn.Linear(c.hidden_size + context, c.vocab_size)
        self.dropout = nn.Dropout(c.dropout)
        self.register_buffer("pixel_mean", torch.tensor(c.pixel_mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("pixel_std", torch.tensor(c.pixel_std, dtype=torch.float32).view(1, 3, 1, 1))
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)

    # ------------------------------------------------------------------ encoder side
    def encode(self, images: torch.Tensor) -> tuple[DecoderState, tuple[int, int]]:
        """Runs the CNN: the decoder state before its first step, and the grid's ``(h, w)``.

        Arguments:
            images: ``float (B, 3, S, S)`` in [0, 1], S = ``config.image_size``.
        """
        side = self.config.image_size
        if not isinstance(images, torch.Tensor) or images.dim() != 4 or tuple(images.shape[1:]) != (3, side, side):
            got = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
            raise ValueError(f"images: expected float images (B, 3, {side}, {side}) in [0, 1], got {got}")
        features = self.encoder((images.to(self.pixel_mean.dtype) - self.pixel_mean) / self.pixel_std)
        batch = images.shape[0]
        vector = self.dropout(features.vector)                                     # X (B, F)
        if self.config.decoder == "step1":
            zeros = self.cell.init_state(batch, device=images.device)
            return DecoderState(zeros, self.inject(vector), None, None), features.shape
        source = features.grid.mean(dim=1) if self.attention is not None else vector   # ā (B, C) or X (B, F)
        leaves = [torch.tanh(linear(source)) for linear in self.initial]          # each (B, state size)
        template = self.cell.init_state(1, device="meta")
        cell = leaves[0] if isinstance(template, torch.Tensor) else type(template)(*leaves)
        if self.attention is None:
            return DecoderState(cell, None, None, None), features.shape
        keys = features.grid                                                      # (B, L, C)
        return DecoderState(cell, None, keys, self.attention.prepare(keys)), features.shape

    # ------------------------------------------------------------------ decoder side
    def decode_step(self, embedded: torch.Tensor, state: DecoderState) -> tuple[torch.Tensor, DecoderState, Any]:
        """One step from the embedded previous word ``embedded (N, E)``.

        Returns:
            ``(o_t (N, H [+ C]), new state, α_t (N, L) or None without attention)``.
        """
        weights = context = None
        x = embedded
        if self.attention is not None:
            h_prev = state_leaves(state.cell)[0]                                   # (N, H)
            context, weights = self.attention(h_prev, state.keys, None, state.prepared)   # (N, C), (N, L)
            x = torch.cat([embedded, context], dim=1)                              # (N, E + C)
        projected = self.cell.project_input(x)                                     # U x_t + b_ih (N, G*H)
        if state.inject is not None:
            projected = projected + state.inject                                   # + V X at step 1
        h, cell = self.cell.step(projected, state.cell)                            # (N, H)
        out = h if context is None else torch.cat([h, context], dim=1)
        return out, state._replace(cell=cell, inject=None), weights

    def forward(self, images: torch.Tensor, tgt_in: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Teacher-forced decoding of ``tgt_in`` (``<s> y_1 .. y_{T-1}``).

        Arguments:
            images: ``(B, 3, S, S)`` in [0, 1].  tgt_in: ``(B, T)`` decoder inputs.
        Returns:
            ``(logits (B, T, V), α (B, T, L) or None without attention)``.
        """
        if not isinstance(tgt_in, torch.Tensor) or tgt_in.dim() != 2 or tgt_in.shape[0] != images.shape[0]:
            got = tuple(tgt_in.shape) if isinstance(tgt_in, torch.Tensor) else type(tgt_in).__name__
            raise ValueError(f"tgt_in: expected word ids of shape ({images.shape[0]}, T), got {got}")
        state, _ = self.encode(images)
        embedded = self.dropout(self.embedding(tgt_in))                            # (B, T, E)
        outputs, attention = [], []
        for t in range(tgt_in.shape[1]):
            out, state, weights = self.decode_step(embedded[:, t], state)          # (B, H [+ C])
            outputs.append(out)
            attention.append(weights)
        logits = self.output(self.dropout(torch.stack(outputs, dim=1)))            # (B, T, V)
        return logits, None if self.attention is None else torch.stack(attention, dim=1)

    def loss(self, batch: CaptionBatch, state: Any = None) -> LossOutput:
        """Mean NLL per caption token (padding ignored) and the token accuracy of one batch.

        Arguments:
            batch: ``images (B, 3, S, S)`` and ``targets (B, T)`` ``<s> .. </s>`` padded with -1
                (:class:`rnnkit.data.captions.CaptionBatches`).
            state: unused (images are independent).
        """
        tgt_in = batch.targets[:, :-1].clamp_min(0)            # (B, T-1); padding reads as <unk>, never scored
        tgt_out = batch.targets[:, 1:]                                             # (B, T-1)
        logits, _ = self(batch.images, tgt_in)                                     # (B, T-1, V)
        valid = tgt_out >= 0
        count = int(valid.sum())
        nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1), ignore_index=-1)
        correct = int(((logits.detach().argmax(-1) == tgt_out) & valid).sum())
        return LossOutput(loss=nll, count=count, metrics={"accuracy": correct / count})

    # ------------------------------------------------------------------ search
    def _search_step(self, tokens: torch.Tensor, state: DecoderState) -> tuple[torch.Tensor, DecoderState]:
        """``log p(y_t | y_<t, I) (N, V)`` for the searches; ``<s>`` is never chosen."""
        out, state, _ = self.decode_step(self.embedding(tokens), state)
        log_probs = self.output(out).log_softmax(-1)                               # (N, V)
        log_probs[:, self.config.bos_id] = float("-inf")
        return log_probs, state

    @torch.no_grad()
    def caption(self, images: torch.Tensor, *, beam_size: int = 1, max_len: int = 30,
                length_penalty: float = 1.0) -> Hypotheses:
        """The best caption of every image, by greedy search (``beam_size=1``) or beam search.

        Call in eval mode. Arguments:
            images: ``(B, 3, S, S)`` in [0, 1].  beam_size: K.
            max_len: at most this many tokens, ``</s>`` included.  length_penalty: α of ``Σ log p / |y|^α``.
        Returns:
            :class:`~rnnkit.nn.decoding.Hypotheses` (ids without ``<s>``/``</s>``).
        """
        state, _ = self.encode(images)
        ids = {"bos_id": self.config.bos_id, "eos_id": self.config.eos_id, "max_len": max_len}
        if beam_size == 1:
            return greedy_search(self._search_step, state, images.shape[0], **ids)
        return beam_search(self._search_step, state, images.shape[0], beam_size=beam_size,
                           length_penalty=length_penalty, **ids)
