"""The writer and the recogniser: padding never changes a row, writing follows the pen states, bad input is refused."""
import math

import numpy as np
import pytest
import torch

from rnnkit.data.strokes import END, Drawing, StrokeBatches, collate_offsets, normalize, resample, to_offsets
from rnnkit.nn.mdn import point_nll
from rnnkit.tasks.handwriting import Writer, WriterConfig, write
from rnnkit.tasks.handwriting_components import ComponentWriter, ComponentWriterConfig
from rnnkit.tasks.handwriting_recognizer import Recognizer, RecognizerConfig, recognize, top_k_accuracy

pytestmark = pytest.mark.usefixtures("one_thread")
LABELS = ("一", "丨", "口")


def drawings():
    line = Drawing((np.array([[0.0, 0.0], [1.0, 0.0]]),), "一")
    bar = Drawing((np.array([[0.0, 0.0], [0.0, 1.0]]),), "丨")
    box = Drawing((np.array([[0, 0], [1, 0], [1, 1]]), np.array([[0, 1], [0, 0]])), "口")
    return [resample(normalize(d), 0.25) for d in (line, bar, box)]


def test_config_checks():
    with pytest.raises(ValueError, match="labels: a char-conditional writer needs"):
        WriterConfig((), "char")
    with pytest.raises(ValueError, match="offset_scale"):
        WriterConfig(offset_scale=0.0)
    with pytest.raises(ValueError, match="labels"):
        RecognizerConfig(("a", "a"))
    with pytest.raises(ValueError, match="at least two"):
        RecognizerConfig(("a",))


def component_writer(hidden_size=8):
    return ComponentWriter(ComponentWriterConfig(LABELS, (("一",), ("丨",), ("丨", "一")), mixtures=2,
                                                 hidden_size=hidden_size, embed_size=4, bumps=2, offset_scale=0.2))


@pytest.mark.parametrize("conditional", ["none", "char", "components"])
def test_a_batch_loss_is_the_point_weighted_mean_of_its_rows(conditional):
    torch.manual_seed(0)
    model = component_writer() if conditional == "components" else \
        Writer(WriterConfig(LABELS if conditional == "char" else (), conditional, mixtures=2, hidden_size=8,
                            layers=2, embed_size=4, offset_scale=0.2))
    model.eval()
    data = drawings()
    with torch.no_grad():
        whole = model.loss(next(iter(StrokeBatches(data, [0, 1, 2], 3, shuffle=False))))
        rows = [model.loss(collate_offsets([to_offsets(d)], [k])) for k, d in enumerate(data)]
    expected = sum(float(r.loss) * r.count for r in rows) / sum(r.count for r in rows)
    assert whole.count == sum(d.points for d in data)
    assert float(whole.loss) == pytest.approx(expected, rel=1e-5)
    assert float(whole.loss) == pytest.approx(whole.metrics["offset_nll"] + whole.metrics["pen_nll"], rel=1e-6)


def test_the_loss_is_in_the_drawings_units():
    """Offsets scaled by s: -log p(Δ) = -log p(Δ / s) + 2 log s, whatever s the model uses."""
    torch.manual_seed(0)
    model = Writer(WriterConfig(mixtures=1, hidden_size=4, layers=1, offset_scale=0.5)).eval()
    batch = collate_offsets([to_offsets(drawings()[2])])
    with torch.no_grad():
        out = model.loss(batch)
        x = torch.cat([model.start(1), torch.cat([batch.offsets / 0.5, torch.nn.functional.one_hot(batch.pens, 3)],
                                                 -1)[:, :-1]], 1)
        params, _ = model(x)
        offsets, pens = point_nll(params, batch.offsets / 0.5, batch.pens)
    assert float(out.loss) == pytest.approx(float(offsets.mean() + pens.mean()) + 2 * math.log(0.5), rel=1e-6)


def test_writing_stops_at_the_end_state_and_labels_its_drawings():
    torch.manual_seed(0)
    model = Writer(WriterConfig(LABELS, "char", mixtures=2, hidden_size=8, layers=1))
    with torch.no_grad():
        model.head.linear.bias[-3:] = torch.tensor([0.0, 0.0, 50.0])      # the pen state "end" is certain
    (drawing,) = write(model, ["口"], temperature=1.0, max_points=20, generator=torch.Generator().manual_seed(0))
    assert drawing.label == "口" and drawing.points == 1
    with torch.no_grad():
        model.head.linear.bias[-3:] = torch.tensor([50.0, 0.0, 0.0])      # the pen never lifts
    written = write(model, ["一", "丨"], max_points=12, generator=torch.Generator().manual_seed(0))
    assert [d.points for d in written] == [12, 12] and [d.label for d in written] == ["一", "丨"]
    assert all(len(d.strokes) == 1 for d in written)


def test_writing_refuses_unknown_characters_and_a_missing_condition():
    model = Writer(WriterConfig(LABELS, "char", mixtures=1, hidden_size=4, layers=1))
    with pytest.raises(ValueError, match="TEXT: the model cannot write 'X'"):
        write(model, ["一", "X"])
    with pytest.raises(ValueError, match="labels"):
        write(model, None)
    free = Writer(WriterConfig(mixtures=1, hidden_size=4, layers=1))
    assert len(write(free, None, samples=3, max_points=5)) == 3


def test_the_recogniser_reads_a_row_alike_alone_or_padded_and_anywhere_on_the_page():
    torch.manual_seed(0)
    model = Recognizer(RecognizerConfig(LABELS, hidden_size=8, layers=1, spacing=0.25)).eval()
    data = drawings()
    together = recognize(model, data)
    alone = torch.cat([recognize(model, [d]) for d in data])
    torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-6)
    moved = [d.map(lambda s: s * 40 + 7) for d in data]                  # another position and size
    torch.testing.assert_close(recognize(model, moved), together, rtol=1e-4, atol=1e-5)
    assert top_k_accuracy(torch.eye(3), [0, 1, 2], 1) == 1.0
    assert top_k_accuracy(torch.tensor([[0.5, 0.3, 0.2]]), [2], 2) == 0.0
    assert top_k_accuracy(torch.tensor([[0.5, 0.3, 0.2]]), [2], 3) == 1.0


def test_the_recogniser_learns_three_shapes():
    torch.manual_seed(0)
    model = Recognizer(RecognizerConfig(LABELS, hidden_size=16, layers=1, dropout=0.0, spacing=0.25))
    optimizer = torch.optim.Adam(model.parameters(), 1e-2)
    batches = StrokeBatches(drawings(), [0, 1, 2], 3)
    for _ in range(40):
        for batch in batches:
            optimizer.zero_grad()
            model.loss(batch).loss.backward()
            optimizer.step()
    assert recognize(model, drawings()).argmax(1).tolist() == [0, 1, 2]
    assert int(collate_offsets([to_offsets(drawings()[0])]).pens[0, -1]) == END


def test_the_components_writer_writes_a_new_character_from_known_components():
    torch.manual_seed(0)
    model = component_writer()
    written = write(model, ["口", "十"], max_points=6, parts={"十": ("一", "丨")},
                    generator=torch.Generator().manual_seed(0))
    assert [d.label for d in written] == ["口", "十"]
    with pytest.raises(ValueError, match="does not know the components of '十'"):
        write(model, ["十"])
    with pytest.raises(ValueError, match="made of '木'"):
        write(model, ["林"], parts={"林": ("木", "木")})
    with pytest.raises(ValueError, match="parts"):
        ComponentWriterConfig(LABELS, (("一",), ("丨",)))
