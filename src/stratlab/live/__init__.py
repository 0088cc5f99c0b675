"""Paper and live trading: manifests traded bar by bar with the backtest's own kernel."""
