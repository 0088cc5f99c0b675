"""The terminal the CLI writes to: rich consoles for results (stdout) and errors (stderr)."""

from __future__ import annotations

from rich.console import Console

stdout = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)

__all__ = ["stderr", "stdout"]
