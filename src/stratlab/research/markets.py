"""A research market resolved against the store: its candles' fingerprint and its train / validation / holdout bars.

The resolved market is the manifest's own dataset record (``ManifestDataset``): what the loop's backtests ran on is
what a paper runner later finds again, by the same fields. It is resolved once, when an experiment starts, kept in
the experiment's row of the results database, and every worker checks the candles it loads against its fingerprint.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from stratlab.data.candles import Candles
from stratlab.data.loader import load_ohlcv
from stratlab.errors import DataError
from stratlab.optimize.context import max_warmup_bars, split_parts
from stratlab.report.manifest import ManifestDataset
from stratlab.research.config import MarketChoice

MarketKey = tuple[str, str, str]  # source, symbol, timeframe: how the backtests table names a market


def market_key(market: MarketChoice | ManifestDataset) -> MarketKey:
    return market.source, market.symbol, market.timeframe


def market_label(key: MarketKey) -> str:
    return f"{key[0]}:{key[1]} {key[2]}"


def resolve_market(
    choice: MarketChoice, strategies: Sequence[str], split: tuple[float, ...], data_root: Path | str
) -> ManifestDataset:
    """``choice`` as loaded now: fingerprint, bar count and the split's parts (each long enough for the warm-up)."""
    candles = load_ohlcv(choice.source, choice.symbol, choice.timeframe, choice.start, choice.end, data_root=data_root)
    parts = split_parts(candles, split, max_warmup_bars(strategies))
    return ManifestDataset(
        source=choice.source, symbol=choice.symbol, timeframe=choice.timeframe, start=choice.start, end=choice.end,
        n_bars=len(candles), first_bar_ms=int(candles.timestamp_ms[0]), last_bar_ms=int(candles.timestamp_ms[-1]),
        fingerprint=candles.fingerprint(), parts=parts,
    )  # fmt: skip


def load_market(market: ManifestDataset, data_root: Path | str) -> Candles:
    """The candles of a resolved market, refused if the store's candles changed since it was resolved."""
    candles = load_ohlcv(market.source, market.symbol, market.timeframe, market.start, market.end, data_root=data_root)
    if candles.fingerprint() != market.fingerprint:
        raise DataError(
            f"{candles.label}: the stored candles changed since this experiment started ({len(candles):,} bars now, "
            f"{market.n_bars:,} then): its backtests would not be comparable; start a new experiment"
        )
    return candles


__all__ = ["MarketKey", "load_market", "market_key", "market_label", "resolve_market"]
