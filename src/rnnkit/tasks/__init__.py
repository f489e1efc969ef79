"""Task models, one file per task: each has a frozen dataclass config, forward() and loss(batch)."""
from .lm import LanguageModel, LanguageModelConfig, perplexity_metrics
from .lm_generate import generate_text
from .poems import poem_constraint, poem_length, poem_prime

__all__ = ["LanguageModel", "LanguageModelConfig", "generate_text", "perplexity_metrics", "poem_constraint",
           "poem_length", "poem_prime"]
