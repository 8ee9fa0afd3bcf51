"""`python -m genre_hf ...` is the `genre-hf` command."""

import sys

from genre_hf.cli import main

sys.exit(main())
