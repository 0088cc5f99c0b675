"""The terminal the CLI writes to: rich consoles for results (stdout) and errors (stderr)."""

from __future__ import annotations

import os
import sys

from rich.console import Console

# Piped output (make, CI, tests) has no terminal width; rich would fold tables at 80 columns.
_PIPED_WIDTH = 160


def _width(stream_is_tty: bool) -> int | None:
    if os.environ.get("COLUMNS"):
        return None  # rich reads COLUMNS itself
    return None if stream_is_tty else _PIPED_WIDTH


stdout = Console(highlight=False, soft_wrap=True, width=_width(sys.stdout.isatty()))
stderr = Console(stderr=True, highlight=False, soft_wrap=True, width=_width(sys.stderr.isatty()))

__all__ = ["stderr", "stdout"]
