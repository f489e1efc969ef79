"""Graphs, graph batches and the gated graph network: messages by hand, batching invariants, outputs."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnkit.structured import GGNNPropagation, GGSNN, Graph, GraphBatch, GraphLevelOutput, NodeSelection

G1 = Graph(4, [(0, 0, 1), (1, 1, 2), (3, 0, 2)])
G2 = Graph(3, [(0, 1, 2), (2, 0, 2)])              # a self-loop
G3 = Graph(1, [])                                  # one node, no edges


def test_graph_batch_by_hand():
    b = GraphBatch.build([G1, G2, G3])
    assert b.num_nodes == 8 and b.num_graphs == 3
    assert b.sizes.tolist() == [4, 3, 1] and b.offsets.tolist() == [0, 4, 7]
    assert b.source.tolist() == [0, 1, 3, 4, 6] and b.target.tolist() == [1, 2, 2, 6, 6]
    assert b.edge_type.tolist() == [0, 1, 0, 1, 0]
    assert b.graph_index.tolist() == [0, 0, 0, 0, 1, 1, 1, 2] and b.position.tolist() == [0, 1, 2, 3, 0, 1, 2, 0]
    laid_out = b.per_graph(torch.arange(8.0), -1.0)
    assert laid_out.tolist() == [[0, 1, 2, 3], [4, 5, 6, -1], [7, -1, -1, -1]]
    assert G1.num_edge_types == 2 and G3.num_edge_types == 0


@pytest.mark.parametrize("nodes, edges, message", [
    (0, [], "num_nodes: expected a positive integer"),
    (3, [(0, 0, 3)], "edge 0 \\(0, 0, 3\\) has a node outside \\[0, 3\\)"),
    (3, [(0, 0, 1), (-1, 0, 1)], "edge 1"),
    (3, [(0, -2, 1)], "or a negative type"),
])
def test_malformed_graphs_are_value_errors(nodes, edges, message):
    with pytest.raises(ValueError, match=message):
        Graph(nodes, edges)


def test_messages_by_hand():
    """a_v = Σ_{u -e-> v} (W_e h_u + b_e) + Σ_{v -e-> u} (W'_e h_u + b'_e)."""
    prop = GGNNPropagation(2, 2, steps=1).double()
    h = torch.randn(4, 2, dtype=torch.double)
    a = prop.messages(h, GraphBatch.build([G1]))
    W, Wo, b, bo = prop.weight_in, prop.weight_out, prop.bias_in, prop.bias_out
    expected = torch.stack([
        Wo[0] @ h[1] + bo[0],                                              # 0 -0-> 1: node 0 hears 1 against it
        W[0] @ h[0] + b[0] + Wo[1] @ h[2] + bo[1],                         # 1 hears 0 along, 2 against
        W[1] @ h[1] + b[1] + W[0] @ h[3] + b[0],                           # 2 hears 1 and 3 along
        Wo[0] @ h[2] + bo[0],                                              # 3 -0-> 2
    ])
    torch.testing.assert_close(a, expected)


def test_propagation_is_the_gru_on_the_messages():
    prop = GGNNPropagation(3, 2, steps=2).double()
    x = torch.randn(4, 2, dtype=torch.double)
    batch = GraphBatch.build([G1])
    h = torch.cat([x, torch.zeros(4, 1, dtype=torch.double)], 1)
    for _ in range(2):
        h = prop.gru(prop.messages(h, batch), h)[1]
    torch.testing.assert_close(prop(x, batch), h)


def _annotations(batch: GraphBatch, size: int) -> torch.Tensor:
    return torch.randn(batch.num_nodes, size, dtype=torch.double)


def test_a_batch_equals_each_graph_alone():
    graphs = [G1, G2, G3]
    batch = GraphBatch.build(graphs)
    x = _annotations(batch, 2)
    prop = GGNNPropagation(4, 2, steps=3).double()
    node, graph = NodeSelection(4, 2).double(), GraphLevelOutput(4, 2, 3).double()
    seq = GGSNN(2, 4, 2, classes=3, output_steps=2).double()
    h = prop(x, batch)
    scores, classes, sequence = node(h, x, batch), graph(h, x, batch), seq(x, batch)
    for k, (g, part) in enumerate(zip(graphs, x.split([g.num_nodes for g in graphs]))):
        alone = GraphBatch.build([g])
        h_alone = prop(part, alone)
        torch.testing.assert_close(h[batch.graph_index == k], h_alone)
        torch.testing.assert_close(scores[k, :g.num_nodes], node(h_alone, part, alone)[0])
        assert torch.isinf(scores[k, g.num_nodes:]).all()
        torch.testing.assert_close(classes[k], graph(h_alone, part, alone)[0])
        torch.testing.assert_close(sequence[k], seq(part, alone)[0])
    assert sequence.shape == (3, 2, 3)


def test_renumbering_a_graph_permutes_its_states():
    perm = np.array([2, 0, 3, 1])                                          # node v becomes perm[v]
    edges = G1.edges.copy()
    edges[:, [0, 2]] = perm[edges[:, [0, 2]]]
    x = torch.randn(4, 2, dtype=torch.double)
    x_perm = torch.empty_like(x)
    x_perm[torch.from_numpy(perm)] = x
    prop = GGNNPropagation(3, 2, steps=3).double()
    h = prop(x, GraphBatch.build([G1]))
    h_perm = prop(x_perm, GraphBatch.build([Graph(4, edges)]))
    torch.testing.assert_close(h_perm[torch.from_numpy(perm)], h)


def test_errors_name_the_argument():
    prop = GGNNPropagation(2, 1)
    batch = GraphBatch.build([G1])
    with pytest.raises(ValueError, match="annotation: expected shape \\(4, A\\) with A <= 2"):
        prop(torch.zeros(4, 3), batch)
    with pytest.raises(ValueError, match="an edge of type 1, but the propagation knows 1 edge types"):
        prop(torch.zeros(4, 1), batch)
    with pytest.raises(ValueError, match="graphs: expected at least one graph"):
        GraphBatch.build([])
    with pytest.raises(ValueError, match="steps: expected"):
        GGNNPropagation(2, 1, steps=0)
