"""Token encoding with bigrams, padding, length-bucketed batches."""
import torch

from rnnkit.data.sequences import BucketBatches, Example, TokenEncoder, bigrams, collate, count_vocabulary, split_text


def test_bigrams_around_each_token():
    assert bigrams(list("迈向充")) == ["<s>迈", "迈向", "向充", "充</s>"]
    encoder = TokenEncoder.build([list("迈向充"), list("迈向")], "char", use_bigrams=True, bigram_min_count=2)
    ids, pairs = encoder.encode(list("迈向充"))
    index = encoder.bigram_vocab.index
    assert ids == [encoder.vocab.index["迈"], encoder.vocab.index["向"], encoder.vocab.index["充"]]
    assert pairs == [(index["<s>迈"], index["迈向"]), (index["迈向"], 0), (0, 0)]   # 向充, 充</s> seen once: <unk>


def test_vocabulary_counts_and_encoder_round_trip():
    vocab = count_vocabulary([list("abca"), list("ab")], min_count=2)
    assert vocab.tokens == ["<unk>", "a", "b"]
    encoder = TokenEncoder.build([["the", "cat"], ["the", "dog"]], "word", use_bigrams=True, bigram_min_count=1)
    again = TokenEncoder.from_dict(encoder.to_dict())
    assert again.vocab == encoder.vocab and again.bigram_vocab == encoder.bigram_vocab
    assert again.split(" the  cat ") == ["the", "cat"] and split_text("我 爱", "char") == ["我", "爱"]


def test_collate_pads_tokens_and_tags():
    batch = collate([Example([1, 2, 3], [(1, 2), (2, 3), (3, 4)], [0, 1, 2]), Example([4], [(5, 6)], [3])])
    assert batch.tokens.tolist() == [[1, 2, 3], [4, 0, 0]]
    assert batch.lengths.tolist() == [3, 1]
    assert batch.targets.tolist() == [[0, 1, 2], [3, -1, -1]]
    assert batch.bigrams[1].tolist() == [[5, 6], [0, 0], [0, 0]]
    assert collate([Example([1], None, 1), Example([2, 3], None, 0)]).targets.tolist() == [1, 0]


def test_bucket_batches_cover_every_example_once():
    torch.manual_seed(0)
    examples = [Example(list(range(1 + (i * 7) % 23)), None, i) for i in range(300)]
    batches = BucketBatches(examples, batch_size=8)
    seen = sorted(int(t) for batch in batches for t in batch.targets)
    assert seen == list(range(300)) and len(batches) == 38
    ordered = BucketBatches(examples, batch_size=8, shuffle=False).batch_indices()
    lengths = [len(examples[i].ids) for batch in ordered for i in batch]
    assert lengths == sorted(lengths)
