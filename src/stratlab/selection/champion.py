"""The champion of a run: the best selection-split return among candidates whose selection-split drawdown is <= X.

A candidate is one Pareto-front trial of one strategy's study, with its figures on the train part (what the study
optimised) and on the selection split: the test part of a two-way split, the validation part of a three-way one
(the holdout is then kept for the champion alone). Conventions:

- Eligible: all four figures finite, the candidate's own KPI record valid on the selection part (enough trades and
  active days there: the minimums apply to the part that chooses, not only to train), and selection drawdown <=
  ``dd_threshold_pct`` (a candidate exactly at the threshold qualifies). NaN or inf figures are never eligible and
  never an error.
- Champion: the eligible candidate with the highest selection return. Ties are broken, in this order, by lower
  selection drawdown, higher train return, lower train drawdown, strategy name (ascending), trial number (ascending),
  so the choice never depends on the order candidates arrive in.
- No eligible candidate means no champion: ``champion`` is None and ``reason`` says why, naming the lowest drawdown
  found. A champion is never made up from candidates that break the threshold.
- Percent fields are percents (20 means 20 %); drawdowns are positive depths.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from numbers import Real

from stratlab.errors import ConfigError
from stratlab.selection.pareto import pareto_front

SELECTION_SPLITS = ("test", "validation")


@dataclass(frozen=True, kw_only=True)
class Candidate:
    """One Pareto-front trial of one strategy, with its train and selection-split figures."""

    strategy: str
    trial: int  # the trial number within its strategy's study
    params: Mapping[str, object]  # strategy + common params as sampled
    train_return_pct: float
    train_drawdown_pct: float
    selection_return_pct: float  # on test (two-way split) or validation (three-way)
    selection_drawdown_pct: float
    selection_invalid_reasons: tuple[str, ...] = ()  # the KPI validity rule's reasons on the selection part

    @property
    def is_valid_on_selection(self) -> bool:
        return not self.selection_invalid_reasons

    @property
    def is_finite(self) -> bool:
        """True when all four figures are finite numbers (only such candidates can be chosen)."""
        return all(
            math.isfinite(value)
            for value in (
                self.train_return_pct,
                self.train_drawdown_pct,
                self.selection_return_pct,
                self.selection_drawdown_pct,
            )
        )


@dataclass(frozen=True, kw_only=True)
class ChampionChoice:
    """The outcome of ``choose_champion``: the champion or None, with counts and a one-line reason."""

    champion: Candidate | None
    dd_threshold_pct: float
    n_candidates: int
    n_eligible: int  # candidates with finite figures and selection DD <= threshold
    reason: str  # one line a report can print as is
    ranking: tuple[Candidate, ...]  # eligible candidates, best first
    selection_split: str = "test"  # the split the selection figures come from: "test" or "validation"


# Tie-break levels after the selection return, as named in a reason; the order matches ``_ranking_key``.
_TIE_BREAKS = ("lower {split} DD", "higher train return", "lower train DD", "strategy name", "trial number")


def _ranking_key(c: Candidate) -> tuple[float, float, float, float, str, int]:
    return (
        -c.selection_return_pct,
        c.selection_drawdown_pct,
        -c.train_return_pct,
        c.train_drawdown_pct,
        c.strategy,
        c.trial,
    )


def _closest_key(c: Candidate) -> tuple[float, float, float, float, str, int]:
    # The candidate nearest to qualifying: lowest selection drawdown, then the ranking's own order.
    return (
        c.selection_drawdown_pct,
        -c.selection_return_pct,
        -c.train_return_pct,
        c.train_drawdown_pct,
        c.strategy,
        c.trial,
    )


def _pct(value: float) -> str:
    return f"{value:g}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _check_threshold(dd_threshold_pct: float) -> float:
    # A string or a bool (True is an int) as a threshold is a mistake upstream, not a percent to guess at.
    ok = isinstance(dd_threshold_pct, Real) and not isinstance(dd_threshold_pct, bool)
    value = float(dd_threshold_pct) + 0.0 if ok else math.nan  # + 0.0 turns -0.0 into 0.0 for the reason text
    if not math.isfinite(value) or value < 0.0:
        raise ConfigError(f"dd_threshold_pct must be a finite percent >= 0 (got {dd_threshold_pct!r})")
    return value


def choose_champion(
    candidates: Sequence[Candidate], dd_threshold_pct: float, *, selection_split: str = "test"
) -> ChampionChoice:
    """Choose the champion across strategies (see the module conventions for eligibility and tie-breaks).

    ``dd_threshold_pct`` must be finite and >= 0, ``selection_split`` "test" or "validation" (``ConfigError`` naming
    the field otherwise); the split's name is what the reason prints. An empty candidate list is valid: no champion.
    """
    threshold = _check_threshold(dd_threshold_pct)
    if selection_split not in SELECTION_SPLITS:
        raise ConfigError(f"selection_split must be 'test' or 'validation' (got {selection_split!r})")
    split = selection_split
    n = len(candidates)
    finite = [c for c in candidates if c.is_finite]
    valid = [c for c in finite if c.is_valid_on_selection]
    ranking = tuple(sorted((c for c in valid if c.selection_drawdown_pct <= threshold), key=_ranking_key))

    if ranking:
        reason = (
            f"max {split} return among {len(ranking)} of {_plural(n, 'candidate')} "
            f"with {split} DD <= {_pct(threshold)} %"
        )
        if len(valid) < len(finite):
            reason += f" ({len(finite) - len(valid)} invalid on {split}: too few trades or active days)"
        if len(ranking) > 1 and ranking[1].selection_return_pct == ranking[0].selection_return_pct:
            first, second = _ranking_key(ranking[0]), _ranking_key(ranking[1])
            level = next((i for i in range(1, len(first)) if first[i] != second[i]), None)
            if level is None:
                reason += "; tie on every figure, name and trial number: first in input order kept"
            else:
                reason += f"; tie on {split} return broken by {_TIE_BREAKS[level - 1].format(split=split)}"
    elif not candidates:
        reason = "no candidates to choose from"
    elif not finite:
        reason = "no candidate has finite figures " + (
            "(the only one has NaN or inf)" if n == 1 else f"(all {n} have NaN or inf)"
        )
    elif not valid:
        example = finite[0]
        reason = (
            f"no candidate is valid on {split} ({len(finite)} of {_plural(n, 'candidate')} checked; e.g. trial "
            f"{example.trial} of {example.strategy}: {'; '.join(example.selection_invalid_reasons)})"
        )
    else:
        closest = min(valid, key=_closest_key)
        best_dd = _pct(closest.selection_drawdown_pct)
        if best_dd == _pct(threshold):  # e.g. 5.0000001 against 5: show enough digits to see it is above
            best_dd = repr(float(closest.selection_drawdown_pct))
        reason = (
            f"no candidate has {split} DD <= {_pct(threshold)} % "
            f"(best DD {best_dd} %, trial {closest.trial} of {closest.strategy})"
        )
        if len(finite) < n:
            reason += f"; {n - len(finite)} with NaN or inf figures ignored"
        if len(valid) < len(finite):
            reason += f"; {len(finite) - len(valid)} invalid on {split} ignored"

    return ChampionChoice(
        champion=ranking[0] if ranking else None,
        dd_threshold_pct=threshold,
        n_candidates=n,
        n_eligible=len(ranking),
        reason=reason,
        ranking=ranking,
        selection_split=split,
    )


def front_candidates(candidates: Sequence[Candidate]) -> tuple[Candidate, ...]:
    """The candidates on the Pareto front of their TRAIN figures within their own strategy.

    Strategies come by name (ascending); within one, by train drawdown ascending, then train return descending, then
    input order (``pareto_front`` order). Candidates with a NaN or inf train figure are never on a front.
    """
    by_strategy: dict[str, list[Candidate]] = {}
    for c in candidates:
        by_strategy.setdefault(c.strategy, []).append(c)
    out: list[Candidate] = []
    for name in sorted(by_strategy):
        group = by_strategy[name]
        front = pareto_front([c.train_return_pct for c in group], [c.train_drawdown_pct for c in group])
        out.extend(group[i] for i in front.tolist())
    return tuple(out)


__all__ = ["SELECTION_SPLITS", "Candidate", "ChampionChoice", "choose_champion", "front_candidates"]
