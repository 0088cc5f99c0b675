"""The results database's first schema: experiments, backtests, one KPI column per field of the KPI record,
trades, step logs, adaptive decisions and pools.

Frozen as written: a later change to the KPI record or to a table is a new revision, never an edit of this one
(a database made with this revision must upgrade to head without losing a row).

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "experiments",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("config_json", sa.JSON(), nullable=False),
        sa.Column("code_version", sa.String(40), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
    )
    op.create_table(
        "backtests",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("experiment_id", sa.Integer(), sa.ForeignKey("experiments.id"), nullable=False),
        sa.Column("iteration", sa.Integer(), nullable=False),
        sa.Column("strategy", sa.String(80), nullable=False),
        sa.Column("params_json", sa.JSON(), nullable=False),
        sa.Column("config_json", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(80), nullable=False),
        sa.Column("symbol", sa.String(80), nullable=False),
        sa.Column("timeframe", sa.String(10), nullable=False),
        sa.Column("dataset_fingerprint", sa.String(64), nullable=False),
        sa.Column("split", sa.String(40), nullable=False),
        sa.Column("code_version", sa.String(40), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
    )
    op.create_table(
        "kpis",
        sa.Column("backtest_id", sa.Integer(), sa.ForeignKey("backtests.id"), primary_key=True),
        sa.Column("part", sa.String(20), primary_key=True),
        sa.Column("return_pct", sa.Float(), nullable=False),
        sa.Column("cagr_pct", sa.Float(), nullable=True),
        sa.Column("sharpe", sa.Float(), nullable=True),
        sa.Column("sortino", sa.Float(), nullable=True),
        sa.Column("calmar", sa.Float(), nullable=True),
        sa.Column("profit_factor", sa.Float(), nullable=True),
        sa.Column("win_rate_pct", sa.Float(), nullable=True),
        sa.Column("expectancy", sa.Float(), nullable=True),
        sa.Column("expectancy_pct", sa.Float(), nullable=True),
        sa.Column("avg_win", sa.Float(), nullable=True),
        sa.Column("avg_loss", sa.Float(), nullable=True),
        sa.Column("payoff_ratio", sa.Float(), nullable=True),
        sa.Column("exposure_pct", sa.Float(), nullable=False),
        sa.Column("turnover_x", sa.Float(), nullable=False),
        sa.Column("n_trades", sa.BigInteger(), nullable=False),
        sa.Column("trades_per_day", sa.Float(), nullable=False),
        sa.Column("final_equity", sa.Float(), nullable=False),
        sa.Column("max_drawdown_pct", sa.Float(), nullable=False),
        sa.Column("max_drawdown_bars", sa.BigInteger(), nullable=False),
        sa.Column("max_drawdown_days", sa.Float(), nullable=False),
        sa.Column("longest_underwater_bars", sa.BigInteger(), nullable=False),
        sa.Column("longest_underwater_days", sa.Float(), nullable=False),
        sa.Column("ulcer_index_pct", sa.Float(), nullable=False),
        sa.Column("var_95_pct", sa.Float(), nullable=True),
        sa.Column("cvar_95_pct", sa.Float(), nullable=True),
        sa.Column("var_99_pct", sa.Float(), nullable=True),
        sa.Column("cvar_99_pct", sa.Float(), nullable=True),
        sa.Column("tail_ratio", sa.Float(), nullable=True),
        sa.Column("top_days_pnl_share_pct", sa.Float(), nullable=True),
        sa.Column("worst_day_pct", sa.Float(), nullable=True),
        sa.Column("worst_trade_pct", sa.Float(), nullable=True),
        sa.Column("worst_trade_pnl", sa.Float(), nullable=True),
        sa.Column("max_consecutive_losses", sa.BigInteger(), nullable=False),
        sa.Column("green_days_pct", sa.Float(), nullable=True),
        sa.Column("daily_pnl_median", sa.Float(), nullable=True),
        sa.Column("daily_pnl_skew", sa.Float(), nullable=True),
        sa.Column("median_holding_bars", sa.Float(), nullable=True),
        sa.Column("median_holding_hours", sa.Float(), nullable=True),
        sa.Column("n_days", sa.BigInteger(), nullable=False),
        sa.Column("active_days", sa.BigInteger(), nullable=False),
        sa.Column("fees_paid", sa.Float(), nullable=False),
        sa.Column("fees_pct_of_gross", sa.Float(), nullable=True),
        sa.Column("slippage_cost", sa.Float(), nullable=False),
        sa.Column("slippage_bps", sa.Float(), nullable=True),
        sa.Column("funding_paid", sa.Float(), nullable=False),
        sa.Column("capacity_median_pct", sa.Float(), nullable=True),
        sa.Column("capacity_max_pct", sa.Float(), nullable=True),
        sa.Column("capacity_flag", sa.Boolean(), nullable=False),
        sa.Column("buy_hold_return_pct", sa.Float(), nullable=False),
        sa.Column("alpha_pct", sa.Float(), nullable=True),
        sa.Column("beta", sa.Float(), nullable=True),
        sa.Column("is_valid", sa.Boolean(), nullable=False),
        sa.Column("invalid_reasons", sa.JSON(), nullable=False),
        sa.Column("sharpe_outlier", sa.Boolean(), nullable=False),
        sa.Column("stopped_early", sa.Text(), nullable=True),
        sa.Column("periods_per_year", sa.BigInteger(), nullable=False),
        sa.Column("top_k_days", sa.BigInteger(), nullable=False),
        sa.Column("notes", sa.JSON(), nullable=False),
    )
    op.create_table(
        "trades",
        sa.Column("backtest_id", sa.Integer(), sa.ForeignKey("backtests.id"), primary_key=True),
        sa.Column("part", sa.String(20), primary_key=True),
        sa.Column("n", sa.Integer(), primary_key=True),
        sa.Column("entry_time_ms", sa.BigInteger()),
        sa.Column("exit_time_ms", sa.BigInteger()),
        sa.Column("side", sa.Integer()),
        sa.Column("size", sa.Float()),
        sa.Column("entry_price", sa.Float()),
        sa.Column("exit_price", sa.Float()),
        sa.Column("fees", sa.Float()),
        sa.Column("slippage_cost", sa.Float()),
        sa.Column("funding", sa.Float()),
        sa.Column("pnl", sa.Float()),
        sa.Column("exit_reason", sa.Integer()),
        sa.Column("adds", sa.BigInteger()),
        sa.Column("bars_held", sa.BigInteger()),
        sa.Column("entry_bar", sa.BigInteger()),
        sa.Column("exit_bar", sa.BigInteger()),
    )
    op.create_table(
        "step_logs",
        sa.Column("backtest_id", sa.Integer(), sa.ForeignKey("backtests.id"), primary_key=True),
        sa.Column("bar", sa.Integer(), primary_key=True),
        sa.Column("time_ms", sa.BigInteger(), nullable=False),
        sa.Column("signal", sa.Integer(), nullable=False),
        sa.Column("indicators_json", sa.JSON(), nullable=False),
        sa.Column("decision", sa.String(40), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
    )
    op.create_table(
        "adaptive_decisions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("experiment_id", sa.Integer(), sa.ForeignKey("experiments.id"), nullable=False),
        sa.Column("iteration", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("old_value", sa.Float()),
        sa.Column("new_value", sa.Float()),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
    )
    op.create_table(
        "pools",
        sa.Column("experiment_id", sa.Integer(), sa.ForeignKey("experiments.id"), primary_key=True),
        sa.Column("pool", sa.String(10), primary_key=True),
        sa.Column("backtest_id", sa.Integer(), sa.ForeignKey("backtests.id"), primary_key=True),
        sa.Column("admitted_iteration", sa.Integer(), nullable=False),
        sa.Column("thresholds_json", sa.JSON(), nullable=False),
        sa.Column("score", sa.Float()),
    )


def downgrade() -> None:
    for table in ("pools", "adaptive_decisions", "step_logs", "trades", "kpis", "backtests", "experiments"):
        op.drop_table(table)
