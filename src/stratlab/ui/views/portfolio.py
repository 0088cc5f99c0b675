"""Portfolio page: the portfolios ``stratlab portfolio build`` wrote under ``<runs root>/portfolios/``: members and
weights, their correlation, and the portfolio's equity and drawdown. Every figure is on the candidates' selection
parts (the days that chose them), and the page says so before any figure."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from stratlab.errors import StratlabError
from stratlab.report.split import PartRole
from stratlab.ui.charts import correlation_figure, portfolio_equity_figure
from stratlab.ui.common import roots
from stratlab.ui.luck import role_tag, shown
from stratlab.ui.runs import PORTFOLIOS_DIR, PortfolioView, load_portfolio, portfolio_names


def folder_signature(folder: Path) -> tuple[tuple[str, int, int], ...]:
    """(file, size, mtime) of a portfolio folder's files: a cache key that changes when a file is rewritten."""
    try:
        return tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.iterdir()) if p.is_file())
    except OSError:
        return ()


@st.cache_data(max_entries=16, show_spinner="Reading the portfolio…")
def cached_portfolio(runs_root: str, name: str, signature: tuple[tuple[str, int, int], ...]) -> PortfolioView:
    return load_portfolio(Path(runs_root), name)


st.title("Portfolio")
data_root, runs_root = roots()
names = portfolio_names(runs_root)
if not names:
    st.info(
        f"No portfolio yet under {runs_root / PORTFOLIOS_DIR}. `stratlab portfolio build --run-dir RUN` builds one "
        "from the candidates of finished runs that passed the gates."
    )
    st.stop()
wanted = st.query_params.get("portfolio")
name = st.selectbox("Portfolio", names, index=names.index(wanted) if wanted in names else 0, key="portfolio_name")
if name != st.query_params.get("portfolio"):
    st.query_params["portfolio"] = name
try:
    view = cached_portfolio(str(runs_root), name, folder_signature(runs_root / PORTFOLIOS_DIR / name))
except StratlabError as exc:
    st.warning(str(exc))
    st.stop()

manifest = view.manifest
sample, rule, figures = manifest.sample, manifest.rule, manifest.figures
selection = role_tag(PartRole.SELECTION)
parts = ", ".join(f"{part} of run {run}" for run, part in sample.selection_parts.items())
# Before any figure: what these figures are worth.
st.info(f"**{selection.capitalize()}s, not out-of-sample** ({parts}). {sample.note[:1].upper()}{sample.note[1:]}.")
st.caption(
    f"{len(manifest.members)} member(s) of runs {', '.join(manifest.run_ids)}, chosen by {rule.search} search for "
    f"the highest Sharpe ratio with every pairwise correlation at most {rule.max_corr:g}; weights {rule.weights}, "
    f"rebalanced {rule.rebalancing}; {sample.first_day} to {sample.last_day} UTC, {sample.n_days:,} days "
    f"({rule.periods_per_year} a year). Created {manifest.created_at}."
)

cols = st.columns(5)
cols[0].metric(f"Total return ({selection})", shown(figures.total_return_pct, "return"))
cols[1].metric(f"Annual return ({selection})", shown(figures.annual_return_pct, "return"))
cols[2].metric("Annual volatility", shown(figures.annual_volatility_pct, "percent"))
cols[3].metric(f"Sharpe ratio ({selection})", shown(figures.sharpe, "ratio"))
cols[4].metric("Max drawdown (daily)", shown(figures.max_drawdown_pct, "percent"))

st.markdown("#### Members and weights")
numbered = [f"{i + 1}. {member.strategy}#{member.trial}" for i, member in enumerate(manifest.members)]
weights = pd.DataFrame(
    {
        "member": numbered,
        "run": [m.run_id for m in manifest.members],
        "market": [m.market for m in manifest.members],
        "weight": [shown(m.weight, "share") for m in manifest.members],
        "DSR": [shown(m.dsr, "probability") for m in manifest.members],
        f"Sharpe ratio ({selection})": [shown(m.sharpe, "ratio") for m in manifest.members],
        "parameters": [", ".join(f"{k}={v}" for k, v in m.manifest.params.items()) for m in manifest.members],
    }
)
st.dataframe(weights, hide_index=True, width="stretch")

if len(manifest.members) > 1:
    st.plotly_chart(correlation_figure(numbered, manifest.correlation), width="stretch")
else:
    st.caption("One member: no correlation to show.")

st.markdown(f"#### Equity and drawdown ({selection}s)")
if view.equity is None:
    st.warning(view.equity_problem or "portfolio_equity.csv: missing")
elif view.equity.empty:
    st.info("portfolio_equity.csv holds no day.")
else:
    equity = view.equity
    st.plotly_chart(
        portfolio_equity_figure(
            equity["day_ms"].to_list(), equity["equity"].to_list(), equity["drawdown_pct"].to_list()
        ),
        width="stretch",
    )

if manifest.betas:
    st.markdown("#### Beta to holding each market")
    st.dataframe(
        pd.DataFrame({"market": [b.market for b in manifest.betas],
                      "beta": [shown(b.beta, "ratio") for b in manifest.betas]}),
        hide_index=True, width="content",
    )  # fmt: skip
