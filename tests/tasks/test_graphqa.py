"""Graph question answering: annotations by hand, the loss, the three outputs, learning a tiny task."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rnnkit.data.babi import Question, Story, parse_stories
from rnnkit.data.graph_batches import GraphBatches, collate_graphs
from rnnkit.structured import Graph
from rnnkit.tasks.graphqa import GraphQA, GraphQAConfig, answer_accuracy, answer_questions, question_examples


pytestmark = pytest.mark.usefixtures("one_thread")


def test_annotations_mark_each_argument_in_its_question_types_column():
    story = Story(Graph(4, [(0, 0, 1)]), (Question(2, (3, 1), (0,)), Question(1, (2, 0), (1,)), Question(3, (0, 0), (1,))))
    examples = question_examples([story], [1, 2], arguments=2)
    assert [e.marks for e in examples] == [((3, 2), (1, 3)), ((2, 0), (0, 1))]       # type 3 is not asked
    assert [e.target for e in examples] == [(0,), (1,)]
    batch = collate_graphs(examples, 4)
    assert batch.annotation.shape == (8, 4)
    assert batch.annotation.nonzero().tolist() == [[1, 3], [3, 2], [4, 1], [6, 0]]
    assert batch.targets.tolist() == [[0], [1]]


@pytest.mark.parametrize("output, classes, steps", [("node", 1, 1), ("class", 3, 1), ("sequence", 4, 2)])
def test_loss_and_shapes_of_each_output(output, classes, steps):
    graphs = [Graph(3, [(0, 0, 1), (1, 1, 2)]), Graph(2, [(1, 0, 0)])]
    targets = [(2,) * steps, (1,) * steps]
    examples = [question_examples([Story(g, (Question(1, (0,), t),))], [1], 1)[0] for g, t in zip(graphs, targets)]
    model = GraphQA(GraphQAConfig(output, 2, 1, 4, 2, classes, steps))
    batch = collate_graphs(examples, 1)
    scores = model(batch)
    assert scores.shape == (2, steps, 3 if output == "node" else classes)
    if output == "node":
        assert torch.isinf(scores[1, 0, 2])                                           # graph 2 has no third node
    out = model.loss(batch)
    torch.testing.assert_close(out.loss, F.cross_entropy(scores.flatten(0, 1), batch.targets.flatten()))
    assert out.count == 2 and model.predict(batch).shape == (2, steps)


def test_learns_which_node_a_typed_edge_leads_to():
    """bAbI 4 in miniature: 'where does the edge of type 1 from X lead?', every story its own graph."""
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(1)
    text = []
    for _ in range(60):
        perm = (torch.randperm(4, generator=generator) + 1).tolist()
        text.append(f"{perm[0]} 1 {perm[1]}\n{perm[2]} 2 {perm[3]}\n? 1 {perm[0]} {perm[1]}\n")
    stories = parse_stories("\n".join(text), arguments=1, answers=1, answer_is_node=True)
    examples = question_examples(stories, [1], 1)
    model = GraphQA(GraphQAConfig("node", 2, 1, 4, 2))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(30):
        for batch in GraphBatches(examples[:40], 1, 10):
            optimizer.zero_grad()
            model.loss(batch).loss.backward()
            optimizer.step()
    assert answer_accuracy(model, examples[40:]) == 1.0
    assert answer_questions(model, examples[40:42]) == [examples[40].target, examples[41].target]


@pytest.mark.parametrize("changes, message", [
    ({"output": "edge"}, "output: expected one of node, class, sequence"),
    ({"state_size": 1, "annotation_size": 2}, "state_size: expected at least the annotation size 2"),
    ({"output_steps": 2}, "output_steps: expected 1 for node outputs"),
    ({"output": "class"}, "classes: expected at least 2 labels"),
    ({"steps": 0}, "steps: expected a positive integer"),
])
def test_config_validation(changes, message):
    with pytest.raises(ValueError, match=message):
        GraphQAConfig(**{"output": "node", "edge_types": 2, "annotation_size": 1, **changes})
