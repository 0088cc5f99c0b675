"""``KpiSettings`` (thresholds and conventions of the KPI record) and the annualisation rule."""

from __future__ import annotations

from dataclasses import dataclass

from stratlab.errors import ConfigError

CRYPTO_PERIODS_PER_YEAR = 365
TRADING_DAYS_PER_YEAR = 252
# Sources whose markets close at weekends and nights (MetaTrader exports of FX/CFD brokers).
SESSION_SOURCE_PREFIXES = ("mt5_",)


@dataclass(frozen=True, kw_only=True)
class KpiSettings:
    """Thresholds and conventions of the KPI record; the defaults suit 5m crypto research."""

    periods_per_year: int | None = None  # None: 365 for crypto, 252 for mt5_* sources
    top_k_days: int = 5
    capacity_threshold_pct: float = 1.0  # trade notional above this % of its bar's traded value raises the flag
    sharpe_cap: float = 5.0  # a Sharpe above this is flagged as an outlier (too good to be true)
    min_trades: int = 10
    min_active_days: int = 5

    def __post_init__(self) -> None:
        checks = {
            "periods_per_year": self.periods_per_year is None or self.periods_per_year >= 1,
            "top_k_days": self.top_k_days >= 1,
            "capacity_threshold_pct": self.capacity_threshold_pct > 0,
            "sharpe_cap": self.sharpe_cap > 0,
            "min_trades": self.min_trades >= 0,
            "min_active_days": self.min_active_days >= 0,
        }
        for name, ok in checks.items():
            if not ok:
                raise ConfigError(f"kpi settings: {name} is out of range (got {getattr(self, name)!r})")


def periods_per_year_for(source: str, settings: KpiSettings) -> int:
    """Annualisation periods: the override, else 252 for session markets (mt5_*), else 365."""
    if settings.periods_per_year is not None:
        return settings.periods_per_year
    return TRADING_DAYS_PER_YEAR if source.startswith(SESSION_SOURCE_PREFIXES) else CRYPTO_PERIODS_PER_YEAR


__all__ = [
    "CRYPTO_PERIODS_PER_YEAR",
    "SESSION_SOURCE_PREFIXES",
    "TRADING_DAYS_PER_YEAR",
    "KpiSettings",
    "periods_per_year_for",
]
