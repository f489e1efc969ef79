r"""A chatbot: the encoder–decoder of :mod:`rnnkit.tasks.seq2seq` reading the conversation so far.

The context is the last k turns ``u_1 .. u_N`` (N <= k, the query ``u_N`` last), read by one of two
context encoders (``context``):

``separator``: one sequence ``u_1 </s> u_2 </s> .. u_N`` through the seq2seq encoder; the decoder
attends over all its tokens (Vinyals and Le 2015 with the history concatenated).

``hred``, the hierarchical recurrent encoder–decoder (Serban et al. 2016), with attention::

    k^n_1 .. k^n_{S_n}, s^n = Encoder(E_src[u_n])       every turn on its own (the seq2seq encoder)
    v_n = [top-layer final h of s^n, both directions]   the utterance vector (B, D*R)
    c_1 .. c_N, s_ctx = ContextRNN(v_1 .. v_N)          a unidirectional RNN over the turns
    s_0 = tanh(W_b s_ctx + b_b)                         the seq2seq bridge, from the context state
    attention over the tokens of every turn: keys (B, N*S, D*R), padding masked

The decoder, its attention, input feeding and the loss are Seq2Seq's (mean NLL per reply token,
``</s>`` included; its exp is the perplexity).

A reply language model gives the anti-LM of MMI decoding (:func:`rnnkit.nn.decoding.anti_lm`)::

    g_t, _ = RNN_LM(sg[E_tgt[y_{t-1}]])      p_LM(y_t | y_<t) = softmax(W_lm g_t + b_lm)

It is trained with the chatbot on the same replies without their contexts; ``sg`` stops the
gradient at the shared target embeddings, so the language model leaves the chatbot unchanged. In
training the loss is ``NLL(reply | context) + NLL_LM(reply)``; in evaluation it is the first term
alone (the LM's is reported as the metric ``reply_lm_nll``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..cells.base import state_leaves
from ..data.sequences import SequenceBatch
from ..nn import LossOutput
from ..nn.decoding import AntiLMState, Hypotheses, anti_lm, beam_search, greedy_search, map_rows, sample_search
from ..nn.sampling import check_sampling
from ._config import check_choice, config_from_dict
from .seq2seq import ENCODERS, DecoderState, Seq2Seq, Seq2SeqConfig

CONTEXTS = ("separator", "hred")
UNK_ID = 0                     # <unk> in every rnnkit.data.vocab.Vocabulary


@dataclass(frozen=True)
class ChatbotConfig(Seq2SeqConfig):
    """A :class:`~rnnkit.tasks.seq2seq.Seq2SeqConfig` (one vocabulary: ``src_vocab_size ==
    tgt_vocab_size``) and the chatbot's own fields.

    Attributes:
        context: ``"separator"`` or ``"hred"`` (module docstring).
        anti_lm_size: hidden units of the reply language model (0: none, no MMI decoding).
    """

    context: str = "hred"
    anti_lm_size: int = 256

    def __post_init__(self):
        super().__post_init__()
        check_choice("context", self.context, CONTEXTS)
        if isinstance(self.anti_lm_size, bool) or not isinstance(self.anti_lm_size, int) or self.anti_lm_size < 0:
            raise ValueError(f"anti_lm_size: expected an integer >= 0, got {self.anti_lm_size!r}")
        if self.src_vocab_size != self.tgt_vocab_size:
            raise ValueError(f"tgt_vocab_size: a chatbot reads and writes one vocabulary; expected "
                             f"{self.src_vocab_size} (src_vocab_size), got {self.tgt_vocab_size}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ChatbotConfig":
        return config_from_dict(cls, data)


@dataclass(frozen=True)
class Decoding:
    """How a reply is chosen (see :mod:`rnnkit.nn.decoding`).

    Attributes:
        beam_size: K (1: greedy), when not sampling.  length_penalty: α of ``Σ log p / |y|^α``.
        repetition_penalty: θ >= 1 on tokens the reply already holds.
        anti_lm: λ of MMI-antiLM (0: off).  anti_lm_first: γ, the reply tokens it penalises.
        sample: draw tokens (temperature, top_k, top_p) instead of searching.
        max_len: at most this many reply tokens, ``</s>`` included.
        min_len: at least this many tokens before ``</s>`` (1: no empty reply).
    """

    beam_size: int = 1
    length_penalty: float = 1.0
    repetition_penalty: float = 1.0
    anti_lm: float = 0.0
    anti_lm_first: int = 3
    sample: bool = False
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    max_len: int = 40
    min_len: int = 1

    def __post_init__(self):
        for name in ("beam_size", "anti_lm_first", "max_len"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected a positive integer, got {value!r}")
        for name, low in (("length_penalty", 0.0), ("repetition_penalty", 1.0), ("anti_lm", 0.0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value < float("inf"):
                raise ValueError(f"{name}: expected a finite number >= {low:g}, got {value!r}")
        if isinstance(self.min_len, bool) or not isinstance(self.min_len, int) or not 0 <= self.min_len < self.max_len:
            raise ValueError(f"min_len: expected an integer in [0, max_len={self.max_len}), got {self.min_len!r}")
        check_sampling(self.temperature, self.top_k, self.top_p)

    def describe(self) -> str:
        """A short name, e.g. ``beam 5 (α 1, θ 1.2, anti-LM λ 0.5 γ 3)`` or ``sampling (T 0.7, top-p 0.9)``."""
        if self.sample:
            parts = [f"T {self.temperature:g}"] + ([f"top-k {self.top_k}"] if self.top_k else []) \
                + ([f"top-p {self.top_p:g}"] if self.top_p else [])
            name = "sampling"
        else:
            name = "greedy" if self.beam_size == 1 else f"beam {self.beam_size}"
            parts = [f"α {self.length_penalty:g}"] if self.beam_size > 1 else []
        parts += [f"θ {self.repetition_penalty:g}"] if self.repetition_penalty != 1.0 else []
        parts += [f"anti-LM λ {self.anti_lm:g} γ {self.anti_lm_first}"] if self.anti_lm else []
        return f"{name} ({', '.join(parts)})" if parts else name


class Chatbot(Seq2Seq):
    """The chatbot of the module docstring.

    Arguments:
        config: a :class:`ChatbotConfig`.

    Parameters: Seq2Seq's; ``context_rnn`` with ``context="hred"`` (the bridge then reads it);
    ``reply_lm`` and ``reply_lm_output`` with ``anti_lm_size > 0``.
    """

    def __init__(self, config: ChatbotConfig):
        super().__init__(config)
        c = config
        self.context_rnn = None
        if c.context == "hred":
            utterance_size = self.encoder.num_directions * self.encoder.output_size
            self.context_rnn = ENCODERS[c.cell](utterance_size, c.hidden_size, num_layers=c.encoder_layers,
                                                dropout=c.dropout, **c.cell_options)
            self.bridge = self._make_bridge(directions=1)
        self.reply_lm = ENCODERS[c.cell](c.embed_size, c.anti_lm_size) if c.anti_lm_size else None
        self.reply_lm_output = nn.Linear(c.anti_lm_size, c.tgt_vocab_size) if c.anti_lm_size else None

    # ------------------------------------------------------------------ context encoders
    def encode(self, src: torch.Tensor, src_lengths: torch.Tensor | None = None) -> DecoderState:
        """The decoder state before its first step.

        Arguments:
            src: separator form ``(B, S)`` with ``src_lengths (B,)``, or turns ``(B, N, S)`` with
                ``src_lengths (B, N)`` (0: no turn; turns right-padded) for ``context="hred"``.
        """
        if self.context_rnn is None:
            return super().encode(src, src_lengths)
        if not isinstance(src, torch.Tensor) or src.dim() != 3:
            got = tuple(src.shape) if isinstance(src, torch.Tensor) else type(src).__name__
            raise ValueError(f"src: the hred context encoder reads turns (B, N, S), got {got}")
        batch, turns, time = src.shape
        if src.dtype != torch.long or src_lengths is None or tuple(src_lengths.shape) != (batch, turns):
            raise ValueError(f"src_lengths: expected turn lengths ({batch}, {turns}) with LongTensor turns, got "
                             f"{None if src_lengths is None else tuple(src_lengths.shape)}")
        lengths = src_lengths.to(src.device).view(-1)                                 # (B*N,)
        counts = (src_lengths > 0).sum(dim=1)                                          # (B,)
        if int(counts.min()) < 1:
            raise ValueError("src_lengths: every row needs at least one turn")
        rows = (lengths > 0).nonzero()[:, 0]                                           # (M,) turns present
        outputs, final = self.encoder(self.dropout(self.src_embedding(src.view(-1, time)[rows])),
                                      lengths=lengths[rows])                           # (M, S, K)
        top = state_leaves(final)[0][-self.encoder.num_directions:]                   # (D, M, R)
        keys = outputs.new_zeros(batch * turns, time, outputs.shape[-1]).index_copy(0, rows, outputs)
        vectors = top.new_zeros(batch * turns, top.shape[0] * top.shape[2]).index_copy(
            0, rows, top.transpose(0, 1).reshape(len(rows), -1))                       # (B*N, D*R)
        _, context = self.context_rnn(self.dropout(vectors.view(batch, turns, -1)), lengths=counts)
        mask = torch.arange(time, device=src.device)[None, :] < lengths[:, None]       # (B*N, S)
        return self._start(keys.view(batch, turns * time, -1), context, mask.view(batch, turns * time))

    # ------------------------------------------------------------------ training
    def loss(self, batch: SequenceBatch, state: Any = None) -> LossOutput:
        """Seq2Seq's loss of the replies, plus in training the reply language model's (module docstring)."""
        result = super().loss(batch, state)
        if self.reply_lm is None:
            return result
        tgt_in = batch.targets[:, :-1].clamp_min(0)                                    # (B, T-1)
        hidden, _ = self.reply_lm(self.dropout(self.tgt_embedding(tgt_in).detach()))   # (B, T-1, G)
        logits = self.reply_lm_output(self.dropout(hidden))                            # (B, T-1, V)
        lm_nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch.targets[:, 1:].reshape(-1),
                                 ignore_index=-1)
        metrics = {**result.metrics, "reply_lm_nll": float(lm_nll.detach())}
        total = result.loss + lm_nll if self.training else result.loss
        return LossOutput(loss=total, count=result.count, metrics=metrics)

    # ------------------------------------------------------------------ replies
    def _search_step(self, tokens: torch.Tensor, state: DecoderState) -> tuple[torch.Tensor, DecoderState]:
        """Seq2Seq's step with ``<unk>`` never chosen either."""
        log_probs, state = super()._search_step(tokens, state)                         # (N, V)
        log_probs[:, UNK_ID] = float("-inf")
        return log_probs, state

    def _reply_lm_step(self, tokens: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        """``log p_LM(y_t | y_<t) (N, V)``; the state's leaves keep the rows on dimension 0 (``(N, 1, G)``)."""
        carried = None if state is None else map_rows(lambda leaf: leaf.transpose(0, 1), state)   # (1, N, G)
        hidden, final = self.reply_lm(self.tgt_embedding(tokens)[:, None], carried)   # (N, 1, G)
        log_probs = self.reply_lm_output(hidden[:, 0]).log_softmax(-1)                 # (N, V)
        return log_probs, map_rows(lambda leaf: leaf.transpose(0, 1).contiguous(), final)

    @torch.no_grad()
    def respond(self, src: torch.Tensor, src_lengths: torch.Tensor, decoding: Decoding = Decoding(), *,
                generator: torch.Generator | None = None) -> Hypotheses:
        """The reply chosen for every context row (call in eval mode).

        Arguments:
            src, src_lengths: as :meth:`encode`.
            decoding: the search and its options.  generator: the random source of sampling.
        Returns:
            :class:`~rnnkit.nn.decoding.Hypotheses` (ids without ``<s>``/``</s>``).
        """
        step, state = self._search_step, self.encode(src, src_lengths)
        if decoding.anti_lm:
            if self.reply_lm is None:
                raise ValueError("anti_lm: this model has no reply language model (trained with anti_lm_size=0)")
            step = anti_lm(step, self._reply_lm_step, weight=decoding.anti_lm, first=decoding.anti_lm_first,
                           eos_id=self.config.eos_id)
            state = AntiLMState(state, None, 0)
        d, batch = decoding, src.shape[0]
        ids = {"bos_id": self.config.bos_id, "eos_id": self.config.eos_id, "max_len": d.max_len,
               "repetition_penalty": d.repetition_penalty, "min_len": d.min_len}
        if d.sample:
            return sample_search(step, state, batch, temperature=d.temperature, top_k=d.top_k, top_p=d.top_p,
                                 generator=generator, **ids)
        if d.beam_size == 1:
            return greedy_search(step, state, batch, **ids)
        return beam_search(step, state, batch, beam_size=d.beam_size, length_penalty=d.length_penalty, **ids)

