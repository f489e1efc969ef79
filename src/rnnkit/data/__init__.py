"""Data: vocabularies, tokenizers, corpus readers, batching, streams for truncated BPTT."""
from .corpora import CORPORA, Corpus, load_corpus, poems, python_source, shakespeare, text_file
from .streams import Batch, StreamBatches
from .textfile import read_text
from .tokenize import join_tokens, tokenize
from .vocab import UNK, Vocabulary

__all__ = [
    "CORPORA", "UNK", "Batch", "Corpus", "StreamBatches", "Vocabulary", "join_tokens", "load_corpus", "poems",
    "python_source", "read_text", "shakespeare", "text_file", "tokenize",
]
