"""Every trial of a run as one table for people, and the filters of the trials explorer (pure pandas, no Streamlit).

The table is built from a "trials frame" (the columns of a run's ``trials.csv``: strategy, trial, state, train
figures, params as sorted JSON, and ``window`` in a walk-forward run) and the run's candidates table
(``candidates_<part>.csv``, or every window's ``candidates_windows.csv``): one row per trial, each parameter in a
column of its own (blank where a trial's strategy or position mode has no such parameter), the train figures, and the
selection-part figures, validity, DSR and verdict where the report computed them (Pareto candidates only).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from stratlab.ui.readable import params_of

TRIAL_KEY = ("window", "strategy", "trial")  # a trial's identity in a run (window only in walk-forward runs)
NOT_COMPLETED = "not completed"
TOO_FEW_TRADES = "too few train trades"
DOMINATED = "dominated on train"
CANDIDATE = "Pareto candidate"
NOT_JUDGED = "not judged yet (no report)"
# trials.csv column -> the column people read (units in the name)
TRIAL_COLUMNS_SHOWN = {
    "train_return_pct": "train return %",
    "train_max_drawdown_pct": "train max DD %",
    "n_trades": "train trades",
    "duration_s": "duration (s)",
    "worker": "worker",
}


def candidate_columns_shown(selection: str) -> dict[str, str]:
    """candidates_<part>.csv column -> the column people read, for the run's selection part."""
    return {
        "train_sharpe": "train Sharpe",
        f"{selection}_return_pct": f"{selection} return %",
        f"{selection}_max_drawdown_pct": f"{selection} max DD %",
        f"{selection}_n_trades": f"{selection} trades",
        f"{selection}_sharpe": f"{selection} Sharpe",
        f"{selection}_is_valid": f"{selection} valid",
        "dsr": "DSR",
        "verdict": "verdict",
        "failed_gates": "failed gates",
    }


@dataclass(frozen=True)
class TrialTable:
    """The table and what its columns are: parameters (in name order) and figures (the KPI columns)."""

    frame: pd.DataFrame
    parameters: tuple[str, ...]
    figures: tuple[str, ...]

    @property
    def numeric_columns(self) -> list[str]:
        """The columns a range can narrow: numeric parameters, then figures."""
        return [c for c in (*self.parameters, *self.figures) if pd.api.types.is_numeric_dtype(self.frame[c])]

    @property
    def categorical_columns(self) -> list[str]:
        """Parameters with text values (a direction, a position mode): filtered by a set of values."""
        return [c for c in self.parameters if not pd.api.types.is_numeric_dtype(self.frame[c])]


def expand_params(params: pd.Series) -> pd.DataFrame:
    """One column per parameter name from the JSON text of each row; a name a row does not have is blank there.
    Integers stay integers (nullable ``Int64``) so a period reads 21, not 21.0; text and booleans stay as they are."""
    records = [params_of(text) for text in params.to_numpy()]  # a damaged cell: a row without parameters
    kinds: dict[str, set[type]] = {}
    for record in records:
        for name, value in record.items():
            kinds.setdefault(name, set()).add(type(value))
    frame = pd.DataFrame.from_records(records, index=params.index, columns=sorted(kinds))
    for name, seen in kinds.items():
        # JSON keeps 21 and 21.0 apart: a parameter is an integer one when no row stored anything else for it.
        if seen == {int}:
            frame[name] = frame[name].astype("Int64")
        elif seen <= {int, float}:
            frame[name] = frame[name].astype(float)
        else:
            frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
    return frame


def why_not_candidate(
    trials: pd.DataFrame, is_candidate: pd.Series, min_train_trades: int | None, judged: bool
) -> pd.Series:
    """Per trial: a Pareto candidate, or why not (not completed, too few train trades, dominated on train)."""
    if not judged:
        return pd.Series(NOT_JUDGED, index=trials.index, dtype=object)
    complete = trials["state"].eq("COMPLETE")
    few = trials["n_trades"].fillna(0) < (min_train_trades or 0)
    reason = np.select(
        [is_candidate.to_numpy(), ~complete.to_numpy(), few.to_numpy()],
        [CANDIDATE, NOT_COMPLETED, f"{TOO_FEW_TRADES} (< {min_train_trades})"],
        default=DOMINATED,
    )
    return pd.Series(reason, index=trials.index, dtype=object)


def build_trial_table(
    trials: pd.DataFrame,
    candidates: pd.DataFrame | None,
    selection: str,
    min_train_trades: int | None = None,
) -> TrialTable:
    """One row per trial (see the module notes). ``candidates`` None: the run has no report yet, so nothing is known
    about the Pareto front."""
    keys = [k for k in TRIAL_KEY if k in trials.columns]
    base = trials[[*keys, "state"]].copy()
    base["trial"] = base["trial"].astype(int)
    params = expand_params(trials["params"])
    shown = trials[list(TRIAL_COLUMNS_SHOWN)].rename(columns=TRIAL_COLUMNS_SHOWN)
    shown["train trades"] = shown["train trades"].astype("Int64")
    extra_names = candidate_columns_shown(selection)
    extra = pd.DataFrame(index=trials.index, columns=list(extra_names.values()), dtype=float)
    is_candidate = pd.Series(False, index=trials.index)
    if candidates is not None and not candidates.empty:
        on = [k for k in keys if k in candidates.columns]
        present = [c for c in extra_names if c in candidates.columns]
        right = candidates[on + present].rename(columns=extra_names).assign(_candidate=True)
        right["trial"] = right["trial"].astype(int)
        joined = base[on].merge(right, on=on, how="left", validate="one_to_one")
        joined.index = trials.index
        extra = joined.reindex(columns=list(extra_names.values()))
        is_candidate = joined["_candidate"].eq(True)
    extra[f"{selection} trades"] = pd.to_numeric(extra[f"{selection} trades"]).astype("Int64")
    for text in (f"{selection} valid", "verdict", "failed gates"):
        extra[text] = extra[text].astype(object).where(extra[text].notna(), None)
    shown["candidate"] = why_not_candidate(trials, is_candidate, min_train_trades, candidates is not None)
    frame = pd.concat([base, params, shown, extra], axis=1)
    figures = [c for c in (*shown.columns, *extra.columns) if pd.api.types.is_numeric_dtype(frame[c])]
    return TrialTable(frame.reset_index(drop=True), tuple(params.columns), tuple(figures))


def narrowed(values: pd.Series, low: float, high: float) -> bool:
    """Whether ``[low, high]`` leaves out some of the column's values (a range at the column's full extent does not
    filter, so rows without a value there stay)."""
    present = values.dropna()
    return not present.empty and (low > present.min() or high < present.max())


def filter_trials(
    table: pd.DataFrame,
    strategies: Collection[str] | None = None,
    states: Collection[str] | None = None,
    ranges: Mapping[str, tuple[float, float]] | None = None,
    choices: Mapping[str, Collection[object]] | None = None,
) -> pd.DataFrame:
    """The rows in the chosen strategies and states, inside each narrowed range (ends included; a row without a
    value in a narrowed column is out) and, per text column, among the chosen values. None: no filter."""
    keep = np.ones(len(table), dtype=bool)
    if strategies is not None:
        keep &= table["strategy"].isin(list(strategies)).to_numpy()
    if states is not None:
        keep &= table["state"].isin(list(states)).to_numpy()
    for column, (low, high) in (ranges or {}).items():
        values = pd.to_numeric(table[column], errors="coerce").astype(float)
        if narrowed(values, low, high):
            keep &= values.between(low, high).to_numpy()
    for column, chosen in (choices or {}).items():
        keep &= table[column].isin(list(chosen)).to_numpy()
    return table[keep]


def without_blank_parameters(table: pd.DataFrame, parameters: Collection[str]) -> pd.DataFrame:
    """The rows with the parameter columns none of them has left out (another strategy's, once filtered away)."""
    blank = [c for c in parameters if c in table.columns and table[c].isna().all()]
    return table.drop(columns=blank)


def trials_csv(table: pd.DataFrame) -> str:
    """The (filtered) table as CSV text for a download: the columns people read, blank where a value is missing."""
    return table.to_csv(index=False)


def trial_label(row: Mapping[Any, Any]) -> str:
    """How a trial is named in a picker: "ma_cross #12", or "ma_cross@w2 #12" in a walk-forward run."""
    window = row.get("window")
    study = str(row["strategy"]) if window is None or pd.isna(window) else f"{row['strategy']}@w{int(window)}"
    return f"{study} #{int(row['trial'])}"


__all__ = [
    "CANDIDATE",
    "DOMINATED",
    "NOT_COMPLETED",
    "NOT_JUDGED",
    "TOO_FEW_TRADES",
    "TrialTable",
    "build_trial_table",
    "candidate_columns_shown",
    "expand_params",
    "filter_trials",
    "narrowed",
    "trial_label",
    "trials_csv",
    "why_not_candidate",
    "without_blank_parameters",
]
