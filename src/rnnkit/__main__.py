"""``python -m rnnkit``: the ``rnnkit`` command."""
import sys

from .cli.main import main

sys.exit(main())
