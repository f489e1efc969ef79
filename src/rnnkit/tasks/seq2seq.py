r"""Encoder–decoder (N → M) with attention (Sutskever et al. 2014; Bahdanau et al. 2015; Luong et al. 2015).

For a source ``x_1 .. x_S`` and a target ``y_0 = <s>, y_1 .. y_T = </s>``::

    k_1 .. k_S, s_enc = Encoder(E_src[x])                  SimpleRNN/LSTM/GRU, maybe bidirectional: k (B, S, D*R)
    s_0^l = tanh(W_b [s_enc of every layer and direction] + b_b)     bridge, one map per state tensor (LSTM: h, c)
    for t = 1 .. T:
        u_t = [E_tgt[y_{t-1}] ; h~_{t-1}]                  input feeding (h~_0 = 0); without it u_t = E_tgt[y_{t-1}]
        q_t, s_t = DecoderCells(u_t, s_{t-1})              the stack of rnnkit cells, q_t its top output (B, R)
        c_t, a_t = Attention(q_t, k, mask)                 a_t (B, S) sums to 1, 0 on source padding
        h~_t = tanh(W_c [q_t ; c_t])                       the attentional state (B, H); no attention: h~_t = q_t
        p(y_t | y_<t, x) = softmax(W_o h~_t + b_o)
    loss = -1/N Σ_{b, t: y_t not padding} log p(y_t | y_<t, x)        mean NLL per target token (</s> included)

With label smoothing ε (Szegedy et al. 2016) the training loss is the cross-entropy against
``(1 - ε) onehot(y_t) + ε / V``: ``(1 - ε) NLL + ε · mean_v(-log p(v | y_<t, x))``; evaluation (the dev loss
that selects checkpoints) stays the plain NLL above.

The attention scores are :mod:`rnnkit.nn.attention`'s (Bahdanau additive, Luong dot / general) inside
Luong's decoder (attention on the current state, the attentional state fed to the next step).

Teacher forcing with a schedule (scheduled sampling, Bengio et al. 2015): in training, ``y_{t-1}`` is
the reference token with probability ρ and the model's own argmax otherwise, drawn per row and step;
ρ goes linearly from ``teacher_forcing`` to ``teacher_forcing_final`` over ``teacher_forcing_steps``
training batches (counted in the buffer ``teacher_forcing_batches``, saved with checkpoints).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ..cells.base import state_leaves
from ..data.pairs import BOS_ID, EOS_ID
from ..data.sequences import SequenceBatch
from ..nn import LossOutput
from ..nn.attention import SCORES, Attention
from ..nn.decoding import Hypotheses, beam_search, greedy_search
from ..recurrent import GRU, LSTM, SimpleRNN
from ._config import check_choice, check_positive, check_rate, config_from_dict

ENCODERS = {"srn": SimpleRNN, "lstm": LSTM, "gru": GRU}
ATTENTIONS = (*SCORES, "none")


@dataclass(frozen=True)
class Seq2SeqConfig:
    """Everything needed to rebuild a :class:`Seq2Seq`; saved with its checkpoints.

    Attributes:
        src_vocab_size, tgt_vocab_size: the id ranges of the two sides.
        cell: ``"srn"``, ``"lstm"`` or ``"gru"``, for the encoder and the decoder.
        embed_size: E of both embeddings.  hidden_size: H of every cell (and of h~).
        encoder_layers, decoder_layers: stacked layers.  bidirectional: a two-direction encoder.
        attention: ``"bahdanau"``, ``"luong-dot"`` (needs D*R == R: a unidirectional encoder),
            ``"luong-general"`` or ``"none"`` (the bridge's initial state is all the decoder sees).
        attention_size: A of Bahdanau's score (None: H).
        input_feeding: feed h~_{t-1} into the next decoder step (with attention only).
        dropout: on embeddings, between stacked layers and before the output layer (training only).
        label_smoothing: ε of the training loss (module docstring; 0: plain NLL).
        teacher_forcing, teacher_forcing_final, teacher_forcing_steps: the schedule of ρ (module
            docstring); ``teacher_forcing_final=None`` keeps ρ = ``teacher_forcing``.
        bos_id, eos_id: the special target ids (see :mod:`rnnkit.data.pairs`).
        cell_options: more cell options (``layer_norm``, ``forget_bias``, ...), for every cell.
    """

    src_vocab_size: int
    tgt_vocab_size: int
    cell: str = "gru"
    embed_size: int = 256
    hidden_size: int = 256
    encoder_layers: int = 1
    decoder_layers: int = 1
    bidirectional: bool = True
    attention: str = "bahdanau"
    attention_size: int | None = None
    input_feeding: bool = True
    dropout: float = 0.0
    label_smoothing: float = 0.0
    teacher_forcing: float = 1.0
    teacher_forcing_final: float | None = None
    teacher_forcing_steps: int = 0
    bos_id: int = BOS_ID
    eos_id: int = EOS_ID
    cell_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        check_positive(self, "src_vocab_size", "tgt_vocab_size", "embed_size", "hidden_size", "encoder_layers",
                       "decoder_layers")
        check_choice("cell", self.cell, tuple(ENCODERS))
        check_choice("attention", self.attention, ATTENTIONS)
        if self.attention == "luong-dot" and self.bidirectional:
            raise ValueError("attention: luong-dot scores q^T k, which needs keys as wide as the decoder state, "
                             "but a bidirectional encoder doubles them; use luong-general or bahdanau, "
                             "or bidirectional=False")
        check_rate("dropout", self.dropout)
        check_rate("label_smoothing", self.label_smoothing)
        for name in ("teacher_forcing", "teacher_forcing_final"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ValueError(f"{name}: expected a probability in [0, 1], got {value!r}")
        if not isinstance(self.teacher_forcing_steps, int) or self.teacher_forcing_steps < 0:
            raise ValueError(f"teacher_forcing_steps: expected an integer >= 0, got {self.teacher_forcing_steps!r}")
        if self.bos_id == self.eos_id or not all(0 <= i < self.tgt_vocab_size for i in (self.bos_id, self.eos_id)):
            raise ValueError(f"bos_id, eos_id: expected two distinct ids below tgt_vocab_size="
                             f"{self.tgt_vocab_size}, got {self.bos_id}, {self.eos_id}")
        if not isinstance(self.cell_options, dict):
            raise ValueError(f"cell_options: expected a dict, got {type(self.cell_options).__name__}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Seq2SeqConfig":
        """The inverse of ``dataclasses.asdict``; ValueError for unknown fields."""
        return config_from_dict(cls, data)


class DecoderState(NamedTuple):
    """What the decoder carries between steps; every tensor has the N rows on dimension 0.

    Attributes:
        layers: one cell state per decoder layer (``(N, H)``, LSTM ``LSTMState``).
        feed: h~_{t-1} ``(N, H)`` for input feeding, or None.
        keys: the encoder outputs ``(N, S, K)`` (None without attention).
        prepared: ``attention.prepare(keys)`` (None without attention).
        mask: ``(N, S)`` True at valid source positions (None without attention).
    """

    layers: tuple
    feed: torch.Tensor | None
    keys: torch.Tensor | None
    prepared: torch.Tensor | None
    mask: torch.Tensor | None


class Seq2Seq(nn.Module):
    """The encoder–decoder of the module docstring.

    Arguments:
        config: a :class:`Seq2SeqConfig`.

    Parameters: ``src_embedding``, ``encoder`` (torch.nn names), ``bridge`` (one Linear per state
    tensor), ``tgt_embedding``, ``decoder_cells``, ``attention`` and ``combine`` (W_c) with
    attention, ``output`` (W_o); buffer ``teacher_forcing_batches``.
    """

    def __init__(self, config: Seq2SeqConfig):
        super().__init__()
        self.config = c = config
        self.src_embedding = nn.Embedding(c.src_vocab_size, c.embed_size)
        self.tgt_embedding = nn.Embedding(c.tgt_vocab_size, c.embed_size)
        self.encoder = ENCODERS[c.cell](c.embed_size, c.hidden_size, num_layers=c.encoder_layers,
                                        bidirectional=c.bidirectional, dropout=c.dropout, **c.cell_options)
        key_size = self.encoder.num_directions * self.encoder.output_size
        attend = c.attention != "none"
        feed_size = c.hidden_size if attend and c.input_feeding else 0
        cells = []
        for layer in range(c.decoder_layers):
            layer_input = c.embed_size + feed_size if layer == 0 else cells[-1].output_size
            cells.append(self.encoder.cell_class(layer_input, c.hidden_size, **c.cell_options))
        self.decoder_cells = nn.ModuleList(cells)
        query_size = cells[-1].output_size
        self.attention = Attention(c.attention, query_size, key_size, c.attention_size) if attend else None
        self.combine = nn.Linear(query_size + key_size, c.hidden_size) if attend else None
        self.output = nn.Linear(c.hidden_size if attend else query_size, c.tgt_vocab_size)
        self.bridge = self._make_bridge(self.encoder.num_directions)
        self.dropout = nn.Dropout(c.dropout)
        self.register_buffer("teacher_forcing_batches", torch.zeros((), dtype=torch.long))
        for embedding in (self.src_embedding, self.tgt_embedding):
            nn.init.uniform_(embedding.weight, -0.1, 0.1)

    # ------------------------------------------------------------------ encoder side
    def encode(self, src: torch.Tensor, src_lengths: torch.Tensor | None = None) -> DecoderState:
        """Runs the encoder and the bridge: the decoder state before its first step.

        Arguments:
            src: ``(B, S)`` source ids.  src_lengths: ``(B,)`` valid steps per row (None: all S).
        Returns:
            A :class:`DecoderState` for B rows.
        """
        if not isinstance(src, torch.Tensor) or src.dim() != 2 or src.dtype != torch.long:
            got = f"{src.dtype} tensor of shape {tuple(src.shape)}" if isinstance(src, torch.Tensor) else type(src).__name__
            raise ValueError(f"src: expected a LongTensor of source ids (B, S), got {got}")
        batch, time = src.shape
        keys, final = self.encoder(self.dropout(self.src_embedding(src)), lengths=src_lengths)  # (B, S, K)
        lengths = torch.full((batch,), time, device=src.device) if src_lengths is None else src_lengths.to(src.device)
        mask = torch.arange(time, device=src.device)[None, :] < lengths[:, None]  # (B, S)
        return self._start(keys, final, mask)

    def _start(self, keys: torch.Tensor, final: Any, mask: torch.Tensor) -> DecoderState:
        """The decoder state before its first step, from the attention keys ``(B, S, K)``, the final
        state the bridge reads (``(L*D, B, size)`` per state tensor) and the key mask ``(B, S)``."""
        batch = keys.shape[0]
        layers = self._bridge(final, batch)
        if self.attention is None:
            return DecoderState(layers, None, None, None, None)
        feed = keys.new_zeros(batch, self.config.hidden_size) if self.config.input_feeding else None
        return DecoderState(layers, feed, keys, self.attention.prepare(keys), mask)

    def _make_bridge(self, directions: int) -> nn.ModuleList:
        """One ``Linear`` per state tensor, from the final states of ``encoder_layers * directions``
        layers to the decoder's ``decoder_layers`` initial states."""
        c = self.config
        return nn.ModuleList(
            nn.Linear(c.encoder_layers * directions * leaf.shape[-1], c.decoder_layers * leaf.shape[-1])
            for leaf in state_leaves(self.decoder_cells[0].init_state(1, device="meta")))

    def _bridge(self, final: Any, batch: int) -> tuple:
        """s_0^l = tanh(W_b [final states of every encoder layer and direction] + b_b), per state tensor."""
        per_leaf = []
        for leaf, linear in zip(state_leaves(final), self.bridge):                # leaf (L_e*D, B, size)
            flat = leaf.transpose(0, 1).reshape(batch, -1)                         # (B, L_e*D*size)
            per_leaf.append(torch.tanh(linear(flat)).view(batch, self.config.decoder_layers, -1).unbind(1))
        template = self.decoder_cells[0].init_state(1, device="meta")
        if isinstance(template, torch.Tensor):
            return tuple(per_leaf[0])
        return tuple(type(template)(*(leaves[layer] for leaves in per_leaf))
                     for layer in range(self.config.decoder_layers))

    # ------------------------------------------------------------------ decoder side
    def decode_step(self, embedded: torch.Tensor, state: DecoderState) -> tuple[torch.Tensor, DecoderState, Any]:
        """One decoder step from the embedded previous token ``embedded (N, E)``.

        Returns:
            ``(h~_t (N, H), new state, a_t (N, S) or None without attention)``.
        """
        x = embedded if state.feed is None else torch.cat([embedded, state.feed], dim=1)   # (N, E [+ H])
        layers = []
        for layer, cell in enumerate(self.decoder_cells):
            if layer:
                x = self.dropout(x)
            x, cell_state = cell.step(cell.project_input(x), state.layers[layer])         # (N, R)
            layers.append(cell_state)
        weights = None
        if self.attention is not None:
            context, weights = self.attention(x, state.keys, state.mask, state.prepared)  # (N, K), (N, S)
            x = torch.tanh(self.combine(torch.cat([x, context], dim=1)))                  # (N, H)
        return x, state._replace(layers=tuple(layers), feed=None if state.feed is None else x), weights

    def forward(self, src: torch.Tensor, src_lengths: torch.Tensor | None, tgt_in: torch.Tensor,
                teacher_forcing: float = 1.0) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Decodes ``tgt_in`` (``<s> y_1 .. y_{T-1}``, with probability ``1 - teacher_forcing`` per row and
        step replaced by the model's previous argmax).

        Arguments:
            src: ``(B, S)``.  src_lengths: ``(B,)`` or None.  tgt_in: ``(B, T)`` decoder inputs.
            teacher_forcing: ρ in [0, 1].
        Returns:
            ``(logits (B, T, V), weights (B, T, S) or None without attention)``.
        """
        if not isinstance(tgt_in, torch.Tensor) or tgt_in.dim() != 2 or tgt_in.shape[0] != src.shape[0]:
            got = tuple(tgt_in.shape) if isinstance(tgt_in, torch.Tensor) else type(tgt_in).__name__
            raise ValueError(f"tgt_in: expected target ids of shape ({src.shape[0]}, T), got {got}")
        state = self.encode(src, src_lengths)
        embedded = self.dropout(self.tgt_embedding(tgt_in))                        # (B, T, E)
        sampled = teacher_forcing < 1.0
        outputs, attention, logits = [], [], []
        for t in range(tgt_in.shape[1]):
            e_t = embedded[:, t]                                                   # (B, E)
            if sampled and t:
                gold = torch.rand(tgt_in.shape[0], device=tgt_in.device) < teacher_forcing   # (B,)
                previous = torch.where(gold, tgt_in[:, t], logits[-1].detach().argmax(-1))   # (B,)
                e_t = self.dropout(self.tgt_embedding(previous))
            out, state, weights = self.decode_step(e_t, state)                     # (B, H)
            if sampled:
                logits.append(self.output(self.dropout(out)))                      # (B, V)
            outputs.append(out)
            attention.append(weights)
        if sampled:
            logits = torch.stack(logits, dim=1)                                    # (B, T, V)
        else:
            logits = self.output(self.dropout(torch.stack(outputs, dim=1)))        # (B, T, V)
        return logits, None if self.attention is None else torch.stack(attention, dim=1)  # (B, T, S)

    def teacher_forcing_ratio(self) -> float:
        """ρ after ``teacher_forcing_batches`` training batches (see the module docstring)."""
        c = self.config
        if c.teacher_forcing_final is None or c.teacher_forcing_steps == 0:
            return c.teacher_forcing if c.teacher_forcing_final is None else c.teacher_forcing_final
        progress = min(int(self.teacher_forcing_batches) / c.teacher_forcing_steps, 1.0)
        return c.teacher_forcing + progress * (c.teacher_forcing_final - c.teacher_forcing)

    def loss(self, batch: SequenceBatch, state: Any = None) -> LossOutput:
        """Mean NLL per target token (padding ignored; label-smoothed in training) and the token accuracy
        of one batch of pairs.

        Arguments:
            batch: ``tokens (B, S)`` source ids, ``lengths (B,)``, ``targets (B, T)`` ``<s> .. </s>`` ids
                padded with -1 (:func:`rnnkit.data.pairs.encode_pairs` + ``BucketBatches``).
            state: unused (pairs are independent).
        In training the decoder inputs follow the teacher-forcing schedule; in evaluation they are
        the reference (ρ = 1).
        """
        tgt_in = batch.targets[:, :-1].clamp_min(0)            # (B, T-1); padding reads as <unk>, never scored
        tgt_out = batch.targets[:, 1:]                                             # (B, T-1)
        ratio = self.teacher_forcing_ratio() if self.training else 1.0
        logits, _ = self(batch.tokens, batch.lengths, tgt_in, teacher_forcing=ratio)   # (B, T-1, V)
        if self.training:
            self.teacher_forcing_batches += 1
        valid = tgt_out >= 0                                                       # (B, T-1)
        count = int(valid.sum())
        smoothing = self.config.label_smoothing if self.training else 0.0
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1), ignore_index=-1,
                               label_smoothing=smoothing)
        correct = int(((logits.detach().argmax(-1) == tgt_out) & valid).sum())
        return LossOutput(loss=loss, count=count, metrics={"accuracy": correct / count})

    # ------------------------------------------------------------------ search
    def _search_step(self, tokens: torch.Tensor, state: DecoderState) -> tuple[torch.Tensor, DecoderState]:
        """``log p(y_t | y_<t, x) (N, V)`` for the decoding searches; ``<s>`` is never chosen."""
        out, state, _ = self.decode_step(self.tgt_embedding(tokens), state)       # (N, H)
        log_probs = self.output(out).log_softmax(-1)                               # (N, V)
        log_probs[:, self.config.bos_id] = float("-inf")
        return log_probs, state

    @torch.no_grad()
    def translate(self, src: torch.Tensor, src_lengths: torch.Tensor | None = None, *, beam_size: int = 1,
                  max_len: int | None = None, length_penalty: float = 1.0) -> Hypotheses:
        """The best target of every source row, by greedy search (``beam_size=1``) or beam search.

        Call in eval mode (dropout off). Arguments:
            src: ``(B, S)`` ids.  src_lengths: ``(B,)`` or None.
            beam_size: K.  max_len: at most this many target tokens, EOS included (None: ``2 S + 10``).
            length_penalty: α of the beam score ``Σ log p / |y|^α``.
        Returns:
            :class:`~rnnkit.nn.decoding.Hypotheses` (ids without ``<s>``/``</s>``).
        """
        state = self.encode(src, src_lengths)
        max_len = 2 * src.shape[1] + 10 if max_len is None else max_len
        ids = {"bos_id": self.config.bos_id, "eos_id": self.config.eos_id, "max_len": max_len}
        if beam_size == 1:
            return greedy_search(self._search_step, state, src.shape[0], **ids)
        return beam_search(self._search_step, state, src.shape[0], beam_size=beam_size,
                           length_penalty=length_penalty, **ids)
