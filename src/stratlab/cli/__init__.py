"""The ``stratlab`` command line (typer). ``app.py`` wires the command groups together."""
