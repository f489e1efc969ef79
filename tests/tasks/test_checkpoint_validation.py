"""Every task model's from_checkpoint takes the newest checkpoint that fits: weights of the shapes its
config gives and vocabularies of the config's sizes; a damaged or edited one is skipped with a warning."""
import json

import pytest
import torch

from rnnkit.data.pairs import build_vocabulary
from rnnkit.data.sequences import TokenEncoder
from rnnkit.data.vocab import Vocabulary
from rnnkit.tasks import LanguageModel, LanguageModelConfig
from rnnkit.tasks.classifier import Classifier, ClassifierConfig
from rnnkit.tasks.forecaster import Forecaster, ForecasterConfig
from rnnkit.tasks.memory import MemoryModel, MemoryModelConfig
from rnnkit.tasks.seq2seq import Seq2Seq, Seq2SeqConfig
from rnnkit.tasks.tagger import Tagger, TaggerConfig
from rnnkit.tasks.translation import Translator
from rnnkit.train import CheckpointWarning, load_checkpoint, save_checkpoint
from rnnkit.train.integrity import state_bytes

WORDS = Vocabulary(list("abcde"))                     # 6 ids with <unk>
ENCODER = TokenEncoder(WORDS, Vocabulary(["ab", "bc"])).to_dict()
PAIRS = build_vocabulary(["a b", "b c"], level="word")


def lm():
    return LanguageModel(LanguageModelConfig(vocab_size=6, embed_size=4, hidden_size=5, layers=1)), \
        {"vocabulary": WORDS.to_dict()}, "vocabulary", "hidden_size"


def classifier():
    return Classifier(ClassifierConfig(6, ("pos", "neg"), 3, embed_size=4, bigram_embed_size=2, hidden_size=5)), \
        {"encoder": ENCODER}, "encoder.bigram_vocab", "hidden_size"


def tagger():
    return Tagger(TaggerConfig(6, ("B", "E", "S"), None, 3, embed_size=4, bigram_embed_size=2, hidden_size=5)), \
        {"encoder": ENCODER}, "encoder.vocab", "embed_size"


def forecaster():
    return Forecaster(ForecasterConfig(input_len=4, hidden_size=5)), {}, None, "hidden_size"


def memory():
    return MemoryModel(MemoryModelConfig(input_size=2, num_outputs=3, target="class", hidden_size=5)), {}, None, \
        "hidden_size"


def seq2seq():
    config = Seq2SeqConfig(len(PAIRS), len(PAIRS), embed_size=4, hidden_size=5)
    return Seq2Seq(config), {"src_vocab": PAIRS.to_dict(), "tgt_vocab": PAIRS.to_dict()}, "tgt_vocab", "hidden_size"


def restore(task, source):
    """The task's from_checkpoint, as its callers use it."""
    if task is seq2seq:
        return Translator.from_checkpoint(source).model
    restored = {lm: LanguageModel, classifier: Classifier, tagger: Tagger, forecaster: Forecaster,
                memory: MemoryModel}[task].from_checkpoint(source)
    return restored[0] if isinstance(restored, tuple) else restored


def edit_state(checkpoint_dir, change):
    """Edits state.json and redoes its digest, as a tool rewriting it would."""
    state = json.loads((checkpoint_dir / "state.json").read_bytes())
    del state["digest"]
    change(state)
    (checkpoint_dir / "state.json").write_bytes(state_bytes(state))


def one_token_more(metadata, entry):
    *path, last = entry.split(".")
    for key in path:
        metadata = metadata[key]
    metadata[last] = {**metadata[last], "tokens": [*metadata[last]["tokens"], "zz"]}


TASKS = [lm, classifier, tagger, forecaster, memory, seq2seq]


@pytest.fixture(params=TASKS, ids=lambda task: task.__name__)
def run(request, tmp_path):
    """Two checkpoints of one task model: ckpt-000001 and ckpt-000002 (its output bias + 1)."""
    torch.manual_seed(0)
    model, metadata, vocabulary, field = request.param()
    save_checkpoint(tmp_path, model, metadata=metadata)
    with torch.no_grad():
        next(reversed(list(model.parameters()))).add_(1.0)
    save_checkpoint(tmp_path, model, metadata=metadata)
    return request.param, model, vocabulary, field, tmp_path / "checkpoints"


def test_a_good_checkpoint_restores_the_model(run):
    task, model, _, _, checkpoints = run
    restored = restore(task, checkpoints.parent)
    for (name, a), b in zip(model.state_dict().items(), restored.state_dict().values()):
        assert torch.equal(a, b), name


def test_an_edited_config_falls_back_to_the_older_checkpoint(run):
    task, model, _, field, checkpoints = run
    edit_state(checkpoints / "ckpt-000002", lambda state: state["config"].update({field: 7}))
    with pytest.warns(CheckpointWarning, match="ckpt-000002 is unusable \\(weights: they do not fit the model built "
                                               "from its config; shapes differ: "):
        restored = restore(task, checkpoints.parent)
    older = load_checkpoint(checkpoints / "ckpt-000001").weights
    assert all(torch.equal(older[name], tensor) for name, tensor in restored.state_dict().items())
    edit_state(checkpoints / "ckpt-000001", lambda state: state["config"].update({field: 7}))
    with pytest.raises(ValueError, match="run_dir: no usable checkpoint in .*: ckpt-000002, ckpt-000001: weights: "):
        restore(task, checkpoints.parent)


@pytest.mark.parametrize("run", [lm, classifier, tagger, seq2seq], indirect=True, ids=lambda task: task.__name__)
def test_a_vocabulary_one_token_off_is_refused(run):
    task, _, vocabulary, _, checkpoints = run
    for name in ("ckpt-000001", "ckpt-000002"):
        edit_state(checkpoints / name, lambda state: one_token_more(state["metadata"], vocabulary))
    with pytest.raises(ValueError, match=f"ckpt-000002, ckpt-000001: metadata: '{vocabulary}' has \\d+ tokens, "
                                         "but the config's \\w+_size is \\d+"):
        restore(task, checkpoints.parent)


def test_a_loaded_checkpoint_is_checked_too(run):
    task, _, _, field, checkpoints = run
    edit_state(checkpoints / "ckpt-000002", lambda state: state["config"].update({field: 7}))
    with pytest.raises(ValueError, match="checkpoint: .*ckpt-000002 does not fit: weights: "):
        restore(task, load_checkpoint(checkpoints / "ckpt-000002"))


def test_another_models_checkpoint_is_refused(tmp_path):
    model, metadata, _, _ = forecaster()
    save_checkpoint(tmp_path, model, metadata=metadata)
    with pytest.raises(ValueError, match="model: the checkpoint holds a rnnkit.tasks.forecaster.Forecaster, "
                                         "expected a rnnkit.tasks.lm.LanguageModel"):
        LanguageModel.from_checkpoint(tmp_path)
