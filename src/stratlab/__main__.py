"""``python -m stratlab`` and the ``stratlab`` script: the CLI, with Ctrl+C during start-up as quiet as later."""

from __future__ import annotations

import sys


def run() -> None:
    """Import the CLI inside the guard: the imports take about a second, and Ctrl+C then must not print a traceback."""
    try:
        from stratlab.cli.app import main
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    main()


if __name__ == "__main__":
    run()
