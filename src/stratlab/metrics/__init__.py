"""KPIs of a backtest: one typed record (``compute_kpis``) plus monthly returns and rolling Sharpe tables."""

from stratlab.metrics.kpis import (
    CRYPTO_PERIODS_PER_YEAR,
    KPI_NAMES,
    TRADING_DAYS_PER_YEAR,
    BacktestRecord,
    DailySeries,
    Kpis,
    KpiSettings,
    compute_kpis,
    daily_series,
    periods_per_year_for,
)
from stratlab.metrics.tables import monthly_returns, rolling_sharpe

__all__ = [
    "CRYPTO_PERIODS_PER_YEAR",
    "KPI_NAMES",
    "TRADING_DAYS_PER_YEAR",
    "BacktestRecord",
    "DailySeries",
    "KpiSettings",
    "Kpis",
    "compute_kpis",
    "daily_series",
    "monthly_returns",
    "periods_per_year_for",
    "rolling_sharpe",
]
