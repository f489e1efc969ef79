"""Data: vocabularies, tokenizers, corpus readers, batching, streams for truncated BPTT."""
from .corpora import (CORPORA, Corpus, corpus_description, load_corpus, poems, python_source, shakespeare,
                      split_corpus, text_file)
from .streams import Batch, StreamBatches
from .textfile import read_text
from .tokenize import join_tokens, tokenize
from .vocab import UNK, Vocabulary

__all__ = [
    "CORPORA", "UNK", "Batch", "Corpus", "StreamBatches", "Vocabulary", "corpus_description", "join_tokens",
    "load_corpus", "poems", "python_source", "read_text", "shakespeare", "split_corpus", "text_file", "tokenize",
]
