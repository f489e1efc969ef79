r"""A components-conditional writer: Graves' synthesis network over a character's components.

A character is given as the sequence of its components (KanjiVG's ``kvg:element`` of the first
level, 語 = 言 吾; a character without parts is its own one component), so it can write a character
it never saw from components it did:

    c_1 .. c_U = BiRNN(E[k_1] .. E[k_U])                       the components, encoded         (B, U, H)
    h1_t       = RNN1(x_1 .. x_t)                              x_t as in :mod:`.handwriting`    (B, T, H)
    w_t        = Σ_u φ(t, u) c_u                               :class:`rnnkit.nn.window.GravesWindow`   (B, T, H)
    h2_t       = RNN2([x_t ; h1_t ; w_t])                                                       (B, T, H)
    ŷ_t        = W [h1_t ; h2_t] + b  ->  π, μ, σ, ρ, q        the mixture density head, as the writer's

trained and sampled like :class:`~rnnkit.tasks.handwriting.Writer` (loss in nats per point).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from ..data.strokes import PEN_STATES, Drawing, StrokeBatch
from ..nn.mdn import MixtureDensity
from ..nn.window import GravesWindow
from ._config import check_positive, config_from_dict
from .handwriting import CELLS, INPUT_SIZE, StrokeWriter, check_stroke_model


def parts_of(drawing: Drawing) -> tuple[str, ...]:
    """The component sequence of a drawing: its components, or its label alone."""
    return drawing.components or (drawing.label,)


@dataclass(frozen=True)
class ComponentWriterConfig:
    """Everything needed to rebuild a :class:`ComponentWriter`; saved with its checkpoints.

    Attributes:
        labels: the training characters.  parts: ``parts[k]`` the components of ``labels[k]``.
        mixtures: M.  cell: ``lstm`` or ``gru``.  hidden_size: H.  embed_size: E of a component.
        bumps: K of the window.  dropout: on ``[h1; h2]``.  offset_scale: s.  spacing: of the drawings.
    """

    labels: tuple[str, ...]
    parts: tuple[tuple[str, ...], ...]
    mixtures: int = 20
    cell: str = "lstm"
    hidden_size: int = 256
    embed_size: int = 32
    bumps: int = 10
    dropout: float = 0.0
    offset_scale: float = 0.05
    spacing: float = 0.1

    def __post_init__(self):
        check_stroke_model(self)
        object.__setattr__(self, "parts", tuple(tuple(p) for p in self.parts))
        if len(self.parts) != len(self.labels) or not all(p and all(isinstance(c, str) and c for c in p)
                                                           for p in self.parts):
            raise ValueError("parts: expected a non-empty tuple of component names for every label")
        check_positive(self, "mixtures", "embed_size", "bumps")

    @property
    def components(self) -> tuple[str, ...]:
        """The component vocabulary; component ``components[i]`` has id ``i + 1`` (0 pads)."""
        return tuple(sorted({c for p in self.parts for c in p}))

    @classmethod
    def from_dict(cls, data: dict) -> "ComponentWriterConfig":
        return config_from_dict(cls, data)


class ComponentWriter(StrokeWriter):
    """Components -> encoder; strokes -> RNN1 -> window over the components -> RNN2 -> mixture density.

    Arguments:
        config: a :class:`ComponentWriterConfig`.

    Parameters: ``embedding.weight (V + 1, E)``, ``encoder.*`` (bidirectional, H/2 each way), ``rnn1.*``,
    ``window.linear.*``, ``rnn2.*``, ``head.linear.*``; buffers ``table (C, U)`` (the training
    characters' component ids) and ``table_lengths (C,)``.
    """

    config_class = ComponentWriterConfig

    def __init__(self, config: ComponentWriterConfig):
        super().__init__()
        self.config = config
        h, cell = config.hidden_size, CELLS[config.cell]
        self.embedding = nn.Embedding(len(config.components) + 1, config.embed_size, padding_idx=0)
        self.encoder = cell(config.embed_size, h // 2, bidirectional=True)
        self.rnn1 = cell(INPUT_SIZE, h)
        self.window = GravesWindow(h, config.bumps)
        self.rnn2 = cell(INPUT_SIZE + h + 2 * (h // 2), h)
        self.dropout = nn.Dropout(config.dropout)
        self.head = MixtureDensity(2 * h, config.mixtures, PEN_STATES)
        ids, lengths = self.component_ids(config.parts)
        self.register_buffer("table", ids)
        self.register_buffer("table_lengths", lengths)

    def component_ids(self, parts: Sequence[Sequence[str]]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(ids (B, U), lengths (B,))`` of component sequences, padded with 0."""
        index = {c: i + 1 for i, c in enumerate(self.config.components)}
        lengths = torch.tensor([len(p) for p in parts])
        ids = torch.zeros(len(parts), int(lengths.max()), dtype=torch.long)
        for b, p in enumerate(parts):
            ids[b, :len(p)] = torch.tensor([index[c] for c in p])
        return ids, lengths

    def encode(self, ids: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(c (B, U, H), lengths)``: the encoded components."""
        c, _ = self.encoder(self.embedding(ids), lengths=lengths)
        return c, lengths

    def forward(self, x: torch.Tensor, condition: tuple[torch.Tensor, torch.Tensor],
                lengths: torch.Tensor | None = None, state=None):
        """``(params, state)`` after the inputs ``x (B, T, 5)``, given the encoded components ``condition``;
        ``state = (RNN1 state, RNN2 state, κ)``."""
        c, c_lengths = condition
        s1, s2, kappa = (None, None, None) if state is None else state
        h1, s1 = self.rnn1(x, state=s1, lengths=lengths)                                   # (B, T, H)
        w, _, kappa = self.window(h1, c, c_lengths, kappa)                                 # (B, T, H)
        h2, s2 = self.rnn2(torch.cat([x, h1, w], dim=-1), state=s2, lengths=lengths)       # (B, T, H)
        return self.head(self.dropout(torch.cat([h1, h2], dim=-1))), (s1, s2, kappa)

    def condition(self, labels: Sequence[str] | None, device=None, parts=None):
        """The encoded components of ``labels``: the training characters' own, or those given in ``parts``.

        Raises:
            ValueError: a character without known components, or with a component never seen in training.
        """
        if labels is None:
            raise ValueError("labels: give the characters to a components-conditional writer")
        known = dict(zip(self.config.labels, self.config.parts))
        sequences = []
        for label in labels:
            sequence = known.get(label) or (parts or {}).get(label)
            if not sequence:
                raise ValueError(f"TEXT: the model does not know the components of {label!r}")
            unseen = list(dict.fromkeys(c for c in sequence if c not in self.config.components))
            if unseen:
                raise ValueError(f"TEXT: {label!r} is made of {''.join(unseen)!r}, which the model never saw "
                                 f"in training")
            sequences.append(tuple(sequence))
        ids, lengths = self.component_ids(sequences)
        return self.encode(ids.to(device), lengths.to(device))

    def batch_condition(self, batch: StrokeBatch):
        return self.encode(self.table[batch.labels], self.table_lengths[batch.labels])


def load_writer(source, device: str | torch.device = "cpu") -> tuple[StrokeWriter, dict]:
    """``(model, metadata)`` of a writer of either kind (:class:`~rnnkit.tasks.handwriting.Writer` or
    :class:`ComponentWriter`), as the newest checkpoint that verifies says."""
    from ..train import load_checkpoint
    from .handwriting import Writer

    checkpoint = load_checkpoint(source)
    kind = ComponentWriter if checkpoint.model_class.endswith(".ComponentWriter") else Writer
    return kind.from_checkpoint(checkpoint, device)
