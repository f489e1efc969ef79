r"""A language model's text piece by piece: every gate's activation and the next-token probabilities after
each piece, for a text it reads and for a text it writes (what the lab's language-model view shows).

For the pieces ``w_1 .. w_T`` of a text (characters, or words with their leading space) the trace holds,
after reading ``w_t``::

    gates[l][name][t]    the activations of layer l (i, f, g, o, c, h; r, z, n, h; h: rnnkit.diagnostics.activations)
    top[t]               the most probable next tokens, p(w_{t+1} = k | w_{<=t}) = softmax(o_t)_k at temperature 1

Writing feeds the prime, then one sampled token per step, carrying the state; reading the written text
back from the start gives the same activations, since the states follow the same tokens.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import torch

from ..data.streams import Batch
from ..data.tokenize import token_piece, tokenize
from ..data.vocab import Vocabulary
from ..diagnostics.activations import gate_names, gate_range, trace_gates
from ..diagnostics.flow import GradientFlow, gradient_flow, layer_cells
from ..diagnostics.units import UnitScore, rank_units, text_features
from ..nn.sampling import check_sampling, choose_token
from .lm import LanguageModel

TOP = 5


@dataclass
class TextTrace:
    """A text as the model read it.

    Attributes:
        pieces: the T pieces (joined, the text).  tokens: their ids ``(T,)`` (0: ``<unk>``, outside the vocabulary).
        gates: per layer ``{name: (T, width)}``.  top: per piece, ``[(token, probability)]`` of the next token.
        generated: per piece, whether the model wrote it (False: it was given).
    """

    pieces: list[str]
    tokens: torch.Tensor
    gates: list[dict[str, torch.Tensor]]
    top: list[list[tuple[str, float]]]
    generated: list[bool]

    def __len__(self) -> int:
        return len(self.pieces)


def _first_row(gates: list[dict[str, torch.Tensor]]) -> list[dict[str, torch.Tensor]]:
    """Row 0 of every layer's gates, ``{name: (B, T, width)} -> {name: (T, width)}``, on the CPU."""
    return [{name: values[0].cpu() for name, values in layer.items()} for layer in gates]


class LanguageModelTracer:
    """Reads and writes text with a :class:`~rnnkit.tasks.lm.LanguageModel`, keeping every activation.

    Arguments:
        model: the language model (a unidirectional recurrent stack); used in evaluation mode.
        vocab: its vocabulary.
        top: how many next-token probabilities to keep per piece.
    """

    def __init__(self, model: LanguageModel, vocab: Vocabulary, top: int = TOP):
        if len(vocab) != model.config.vocab_size:
            raise ValueError(f"vocab: expected {model.config.vocab_size} tokens (the model's), got {len(vocab)}")
        self.model, self.vocab, self.top = model.eval(), vocab, top
        self.cells = layer_cells(model.rnn)

    @property
    def layers(self) -> list[dict[str, dict[str, Any]]]:
        """Per layer, ``{gate name: {"width": units, "range": (low, high) or None}}``."""
        return [{name: {"width": self._width(cell, name), "range": gate_range(cell, name)} for name in gate_names(cell)}
                for cell in self.cells]

    @staticmethod
    def _width(cell, name: str) -> int:
        return cell.output_size if name == "h" else cell.hidden_size

    def pieces(self, text: str) -> tuple[list[str], torch.Tensor]:
        """``(pieces, token ids (T,))`` of ``text`` (unknown tokens read as ``<unk>``, shown as typed)."""
        tokens = tokenize(text, self.vocab.level)
        pieces = [token_piece(token, previous, self.vocab.level)
                  for token, previous in zip(tokens, [None, *tokens[:-1]])]
        ids = torch.tensor([self.vocab.index.get(token, self.vocab.unk_id) for token in tokens], dtype=torch.long)
        return pieces, ids

    def _run(self, ids: torch.Tensor, initial: list[Any] | None):
        """``(GateTrace, next-token logits (B, T, K))`` of ``ids (B, T)`` from the layers' states ``initial``."""
        device = next(self.model.parameters()).device
        with torch.inference_mode():
            trace = trace_gates(self.model.rnn, self.model.embed(ids.to(device)), initial)
            return trace, self.model.logits(trace.outputs).float()                    # (B, T, K)

    def _top(self, logits: torch.Tensor) -> list[list[tuple[str, float]]]:
        """``logits (T, K)`` -> per step the ``top`` most probable ``(token, probability)``."""
        values, ids = logits.softmax(-1).topk(min(self.top, logits.shape[-1]), dim=-1)    # (T, top)
        return [[(self.vocab.tokens[i], p) for i, p in zip(row_ids, row_values)]
                for row_ids, row_values in zip(ids.tolist(), values.tolist())]

    def read(self, text: str) -> TextTrace:
        """The trace of ``text`` read from the zero state (module docstring)."""
        trace, _ = self._read(text)
        return trace

    def _read(self, text: str) -> tuple[TextTrace, tuple[list[Any], torch.Tensor]]:
        pieces, ids = self.pieces(text)
        if not pieces:
            raise ValueError("text: expected at least one token, got an empty text")
        run, logits = self._run(ids[None], None)
        trace = TextTrace(pieces, ids, _first_row(run.gates), self._top(logits[0]), [False] * len(pieces))
        return trace, (run.final, logits[0, -1])

    def write(self, prime: str, length: int, *, temperature: float = 1.0, top_k: int | None = None,
              top_p: float | None = None, greedy: bool = False, seed: int | None = None) -> Iterator[TextTrace]:
        """Yields the prime's trace, then one single-piece trace per token the model writes.

        Arguments:
            prime: the text to continue (at least one token); it is read first.
            length: tokens to write (>= 0).  ``<unk>`` is never written.
            temperature, top_k, top_p, greedy: see :func:`rnnkit.nn.sampling.choose_token`.
            seed: fixes the draws (None: a fresh random seed).
        """
        if not isinstance(length, int) or isinstance(length, bool) or length < 0:
            raise ValueError(f"length: expected a non-negative integer, got {length!r}")
        check_sampling(temperature, top_k, top_p)
        generator = torch.Generator()
        generator.manual_seed(seed if seed is not None else int(torch.randint(2 ** 62, ())))
        trace, (state, logits) = self._read(prime)
        yield trace
        previous, unknown = int(trace.tokens[-1]), torch.tensor([self.vocab.unk_id], device=logits.device)
        for _ in range(length):
            token = choose_token(logits.index_fill(0, unknown, float("-inf")), temperature=temperature, top_k=top_k,
                                 top_p=top_p, greedy=greedy, generator=generator)
            run, step_logits = self._run(torch.tensor([[token]]), state)
            state, logits = run.final, step_logits[0, -1]
            yield TextTrace([self.vocab.piece(token, previous)], torch.tensor([token]), _first_row(run.gates),
                            self._top(step_logits[0]), [True])
            previous = token

    def gradient_flow(self, text: str, last: int | None = None) -> tuple[list[str], GradientFlow]:
        """``(pieces, flow)``: ``flow.norms[l, t, k] = ‖∂L_t/∂h_k‖`` of layer l, where ``L_t`` is the loss of
        predicting piece t + 1 after reading pieces 0..t (:func:`rnnkit.diagnostics.gradient_flow`), from the
        zero state; ``last``: only the text's last ``last`` predictions (its last ``last + 1`` tokens)."""
        pieces, ids = self.pieces(text)
        if last is not None:
            pieces, ids = pieces[-(last + 1):], ids[-(last + 1):]
        if len(pieces) < 2:
            raise ValueError(f"text: expected at least 2 tokens (a prediction and its target), got {len(pieces)}")
        device = next(self.model.parameters()).device
        batch = Batch(ids[None, :-1].to(device), ids[None, 1:].to(device))           # (1, T - 1) each
        flow = gradient_flow(self.model.rnn, self.model.embed(batch.x),
                             lambda outputs: self.model.step_losses(outputs, batch))
        return pieces[:-1], flow

    def rank_units(self, text: str, rows: int = 8, length: int = 400) -> dict[tuple[int, str], list[UnitScore]]:
        """Every layer's and gate's units ranked by their correlation with the features of ``text``
        (:mod:`rnnkit.diagnostics.units`), read as up to ``rows`` windows of ``length`` tokens each."""
        pieces, ids = self.pieces(text)
        span = min(length, len(pieces))
        windows = max(1, min(rows, len(pieces) // max(span, 1)))
        if span < 2:
            raise ValueError(f"text: expected at least 2 tokens to correlate units with, got {len(pieces)}")
        run, _ = self._run(ids[:windows * span].view(windows, span), None)             # gates (W, S, width)
        features = [text_features(pieces[w * span:(w + 1) * span]) for w in range(windows)]
        joined = {name: torch.cat([f[name] for f in features]) for name in features[0]}   # (W * S,)
        return {(layer, name): rank_units(values.flatten(0, 1).cpu(), joined)
                for layer, gates in enumerate(run.gates) for name, values in gates.items()}
