"""The ``rnnkit`` command: parses arguments and calls tasks / train / diagnostics. No model logic."""
