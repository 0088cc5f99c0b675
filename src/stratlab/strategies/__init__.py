"""Strategies: typed parameter spaces and entry-event rules over candles, reachable by name from the registry.

Importing this package registers every built-in strategy.
"""

from stratlab.strategies.base import (
    DIRECTION,
    CategoricalParam,
    Constraint,
    FloatParam,
    IntParam,
    ParamSpace,
    ParamSpec,
    StopDistances,
    Strategy,
    apply_direction,
)
from stratlab.strategies.bollinger_breakout import BollingerBreakout
from stratlab.strategies.ma_cross import MaCross
from stratlab.strategies.range_breakout import RangeBreakout
from stratlab.strategies.registry import (
    all_strategies,
    default_strategy_names,
    forget_user_strategies,
    get_strategy,
    load_failures,
    load_strategies_dir,
    load_user_strategies,
    recall_sources,
    register,
    strategy_names,
    strategy_source,
    use_source,
    user_strategy_names,
)
from stratlab.strategies.rsi_reversion import RsiReversion
from stratlab.strategies.scalping import Scalping
from stratlab.strategies.stochastic import StochasticCross
from stratlab.strategies.user import LoadFailure, StrategyNameClashError, StrategySource

__all__ = [
    "DIRECTION",
    "BollingerBreakout",
    "CategoricalParam",
    "Constraint",
    "FloatParam",
    "IntParam",
    "LoadFailure",
    "MaCross",
    "ParamSpace",
    "ParamSpec",
    "RangeBreakout",
    "RsiReversion",
    "Scalping",
    "StochasticCross",
    "StopDistances",
    "Strategy",
    "StrategyNameClashError",
    "StrategySource",
    "all_strategies",
    "apply_direction",
    "default_strategy_names",
    "forget_user_strategies",
    "get_strategy",
    "load_failures",
    "load_strategies_dir",
    "load_user_strategies",
    "recall_sources",
    "register",
    "strategy_names",
    "strategy_source",
    "use_source",
    "user_strategy_names",
]
