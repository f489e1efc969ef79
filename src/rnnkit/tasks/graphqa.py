r"""Questions about graphs, answered by a gated graph network (Li et al. 2016): bAbI tasks 4, 15, 16, 18, 19.

    x_v  = 1 in column (q, s) at the node that is argument s of the question, q its type      (N, A)
    h    = GGNNPropagation(x)                      T steps of typed messages + GRU update        (N, D)
    node:      p(answer = v) = softmax over the graph's nodes of NodeSelection(h, x)_v
    class:     p(y) = softmax(GraphLevelOutput(h, x))                                             (B, C)
    sequence:  p(y_k), k = 1..K, from the GGS-NN: K graph-level outputs, the annotations
               recomputed from (h, x) between them                                                (B, K, C)

The loss is the mean cross-entropy over the K outputs of each question; a question counts as right
when all its outputs are. A = (question types the model answers) × (arguments per question).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..data.babi import Story
from ..data.graph_batches import AnnotatedGraphs, GraphBatches, GraphExample
from ..nn import LossOutput
from ..structured import GGNNPropagation, GGSNN, GraphLevelOutput, NodeSelection
from ._config import check_choice, check_positive, config_from_dict

OUTPUTS = ("node", "class", "sequence")


@dataclass(frozen=True)
class GraphQAConfig:
    """Everything needed to rebuild a :class:`GraphQA`; saved with its checkpoints.

    Attributes:
        output: ``node`` (the answer is a node), ``class`` or ``sequence`` (K class ids).
        edge_types: T_e.  annotation_size: A.  state_size: D >= A.  steps: propagation steps T.
        classes: C, the label ids of class and sequence outputs (1 for node outputs).
        output_steps: K (1 unless ``sequence``).
    """

    output: str
    edge_types: int
    annotation_size: int
    state_size: int = 10
    steps: int = 5
    classes: int = 1
    output_steps: int = 1

    def __post_init__(self):
        check_choice("output", self.output, OUTPUTS)
        check_positive(self, "edge_types", "annotation_size", "state_size", "steps", "classes", "output_steps")
        if self.state_size < self.annotation_size:
            raise ValueError(f"state_size: expected at least the annotation size {self.annotation_size}, "
                             f"got {self.state_size}")
        if self.output != "sequence" and self.output_steps != 1:
            raise ValueError(f"output_steps: expected 1 for {self.output} outputs, got {self.output_steps}")
        if self.output != "node" and self.classes < 2:
            raise ValueError(f"classes: expected at least 2 labels for {self.output} outputs, got {self.classes}")

    @classmethod
    def from_dict(cls, data: dict) -> "GraphQAConfig":
        return config_from_dict(cls, data)


class GraphQA(nn.Module):
    """A GGNN with a node-selection, graph-level or sequence output (module docstring).

    Parameters: ``propagation.*`` and ``head.*`` (node / class), or ``sequence.*`` (:class:`GGSNN`).
    """

    def __init__(self, config: GraphQAConfig):
        super().__init__()
        self.config = config
        D, A = config.state_size, config.annotation_size
        if config.output == "sequence":
            self.sequence = GGSNN(A, D, config.edge_types, config.classes, config.output_steps, config.steps)
        else:
            self.propagation = GGNNPropagation(D, config.edge_types, config.steps)
            self.head = NodeSelection(D, A) if config.output == "node" else GraphLevelOutput(D, A, config.classes)

    def forward(self, batch: AnnotatedGraphs) -> torch.Tensor:
        """Scores ``(B, K, C)``: C = the largest graph's nodes (``-inf`` beyond a graph) or the labels."""
        if self.config.output == "sequence":
            return self.sequence(batch.annotation, batch.graphs)                  # (B, K, C)
        h = self.propagation(batch.annotation, batch.graphs)                      # (N, D)
        return self.head(h, batch.annotation, batch.graphs)[:, None]              # (B, 1, C)

    def loss(self, batch: AnnotatedGraphs, state=None) -> LossOutput:
        """Mean cross-entropy per output, with the ``accuracy`` of whole answers."""
        scores = self(batch)                                                      # (B, K, C)
        loss = F.cross_entropy(scores.flatten(0, 1), batch.targets.flatten())
        right = (scores.argmax(-1) == batch.targets).all(1)
        return LossOutput(loss=loss, count=len(right), metrics={"accuracy": float(right.float().mean())})

    def predict(self, batch: AnnotatedGraphs) -> torch.Tensor:
        """The answer ids ``(B, K)``: node numbers within each graph, or label ids."""
        with torch.no_grad():
            return self(batch).argmax(-1)

    @classmethod
    def from_checkpoint(cls, source, device: str | torch.device = "cpu") -> tuple["GraphQA", dict]:
        """``(model, metadata)`` from a Trainer checkpoint, through :func:`rnnkit.train.restore.restore_model`."""
        from ..train.restore import restore_model

        model, checkpoint = restore_model(source, cls, GraphQAConfig, device=device)
        return model, checkpoint.metadata


def question_examples(stories: Sequence[Story], question_types: Sequence[int], arguments: int,
                      with_answers: bool = True) -> list[GraphExample]:
    """One example per question of a type in ``question_types``: argument s of a question of type q
    marks column ``question_types.index(q) * arguments + s`` of its node."""
    types = list(question_types)
    examples = []
    for story in stories:
        for question in story.questions:
            if question.kind in types:
                base = types.index(question.kind) * arguments
                marks = tuple((node, base + s) for s, node in enumerate(question.arguments))
                examples.append(GraphExample(story.graph, marks, question.answer if with_answers else None))
    return examples


def answer_questions(model: GraphQA, examples: Sequence[GraphExample], batch_size: int = 100) -> list[tuple[int, ...]]:
    """The predicted answer of each example, in input order."""
    batches = GraphBatches(examples, model.config.annotation_size, batch_size, shuffle=False)
    device = next(model.parameters()).device
    model.eval()
    answers: list[tuple[int, ...]] = [()] * len(examples)
    for indices, batch in zip(batches.batch_indices(), batches):
        for i, row in zip(indices, model.predict(batch.to(device)).tolist()):
            answers[i] = tuple(row)
    return answers


def answer_accuracy(model: GraphQA, examples: Sequence[GraphExample], batch_size: int = 100) -> float:
    """The share of examples whose predicted answer equals the target."""
    answers = answer_questions(model, examples, batch_size)
    return sum(a == e.target for a, e in zip(answers, examples)) / max(len(examples), 1)
