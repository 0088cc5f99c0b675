"""The research loop: a results database of every backtest, thresholds and pools."""
