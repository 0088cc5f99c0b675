"""Selection after the search: Pareto fronts of (return, drawdown) and the champion under a drawdown threshold."""

from stratlab.selection.champion import (
    SELECTION_SPLITS,
    Candidate,
    ChampionChoice,
    choose_champion,
    front_candidates,
)
from stratlab.selection.pareto import pareto_front, pareto_ranks

__all__ = [
    "SELECTION_SPLITS",
    "Candidate",
    "ChampionChoice",
    "choose_champion",
    "front_candidates",
    "pareto_front",
    "pareto_ranks",
]
