"""``scalping``: breakouts and reversions on the trading timeframe, weighed by conditions on two coarser ones.

The rule (docs/strategies.md has the same in prose):

1. **Timeframes.** The candles' own timeframe is the trading one. The *trend* timeframe is the first interval at
   least ``htf_ratio`` times longer that the candles nest into, the *bias* timeframe the first at least
   ``htf_ratio²`` times longer (5m with ratio 12: 1h and 12h). Their indicators are computed on resampled bars and
   brought back with ``align_to_base``: a coarser bar's value appears on the first trading bar closing when it has
   closed. A timeframe that does not exist (no interval that long) leaves its conditions out.
2. **Setups** (``setup``): a *breakout* is the first close beyond the previous ``breakout_lookback`` bars' high (long)
   or low (short); a *reversion* is RSI(``rsi_period``) climbing back above ``50 - rsi_band`` with the close below
   its VWAP (long), or falling back below ``50 + rsi_band`` with the close above it (short).
3. **Regime filters** (the trend timeframe's ``regime``): no reversion in a trend (ADX above 25), no breakout in a
   low-volatility range; no entry while the regime is unknown.
4. **Confidence** in [0, 1]: the weighted mean of four groups, each the share of its conditions that hold for the
   setup's side: *trend* (trend and bias EMA(20) slopes, trend MACD histogram, all with the side), *momentum* (the
   trading MACD histogram rising with the side, the trend RSI on the side's half), *flow* (volume z-score above 0.5,
   the close on the setup's side of its VWAP: beyond it for a breakout, behind it for a reversion) and *book* (the
   order-book imbalance over 0.1 with the side and the microprice on the side of the mid), weights ``w_trend``,
   ``w_momentum``, ``w_flow``, ``w_book``. The book group counts only on bars with order-book snapshots
   (``Candles.book``); elsewhere the other weights share the score. All weights 0: confidence 1. An entry needs
   ``confidence >= min_confidence``.
5. **Exits** (per trade, through the engine's per-bar distances): the stop at ``stop_atr`` ATRs, or with
   ``stop_rule="structure"`` a quarter ATR beyond the nearest confirmed support (long) / resistance (short); the
   target at ``target_atr`` ATRs, or with ``target_rule="structure"`` at the next resistance (long) / support
   (short). A structure rule without a level on that side falls back to the ATR multiple. Levels come from swing
   highs and lows confirmed ``swing_k`` bars after they formed (the last 20).

Its backtest defaults (``backtest_defaults``): risk-based sizing (0.5 % of equity lost at the stop), a time-out
after 48 bars, and the cost margin (an entry whose target does not pay its round-trip costs twice is skipped).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

from stratlab.data.candles import Candles
from stratlab.data.timeframes import TIMEFRAMES, Timeframe
from stratlab.indicators import (
    REGIME_RANGE_LOW_VOL,
    REGIME_TREND_DOWN_HIGH_VOL,
    REGIME_TREND_DOWN_LOW_VOL,
    REGIME_TREND_UP_HIGH_VOL,
    REGIME_TREND_UP_LOW_VOL,
    REGIME_UNKNOWN,
    align_to_base,
    atr,
    donchian,
    ema_memory,
    ema_slope,
    higher_timeframe,
    macd,
    regime,
    rsi,
    support_resistance,
    volume_zscore,
    vwap_distance,
    wilder_memory,
)
from stratlab.indicators.cache import memoized
from stratlab.strategies._crossing import cross_above, cross_below, previous_bar, to_events
from stratlab.strategies.base import (
    DIRECTION,
    LONG,
    SHORT,
    CategoricalParam,
    FloatArray,
    FloatParam,
    Int8Array,
    IntParam,
    ParamSpace,
    StopDistances,
    Strategy,
    get_float,
    get_int,
    get_str,
)
from stratlab.strategies.registry import register

BoolArray = npt.NDArray[np.bool_]

# Fixed settings: the search space stays small; these are the textbook values and are not searched.
ATR_PERIOD = 14
MACD_FAST, MACD_SLOW, MACD_SIGNAL = 12, 26, 9
EMA_PERIOD = 20
FLOW_PERIOD = 48  # VWAP and volume z-score window, trading bars
VOLUME_Z_MIN = 0.5
IMBALANCE_MIN = 0.1
LEVEL_MEMORY = 20
STRUCTURE_BUFFER_ATR = 0.25
TREND_RSI_PERIOD = 14
REGIME_SETTINGS = {"trend_period": 50, "adx_period": 14, "vol_period": 20, "vol_lookback": 100}
_TRENDS = (REGIME_TREND_UP_HIGH_VOL, REGIME_TREND_UP_LOW_VOL, REGIME_TREND_DOWN_HIGH_VOL, REGIME_TREND_DOWN_LOW_VOL)


def coarser_timeframe(base: Timeframe, ratio: int) -> Timeframe | None:
    """The first fixed interval at least ``ratio`` times ``base`` whose bars are unions of ``base`` bars."""
    if base.fixed_ms is None:
        return None
    for candidate in TIMEFRAMES.values():
        if candidate.fixed_ms is None or candidate.fixed_ms < ratio * base.fixed_ms:
            continue
        if candidate.fixed_ms % base.fixed_ms == 0 and (candidate.origin_ms - base.origin_ms) % base.fixed_ms == 0:
            return candidate
    return None


@dataclass(frozen=True)
class _Features:
    """Every input of the rule, one value per trading bar (NaN where not yet known)."""

    close: FloatArray
    atr: FloatArray
    rsi: FloatArray
    hist_change: FloatArray  # trading MACD histogram minus its previous bar
    vwap_distance: FloatArray
    volume_z: FloatArray
    upper: FloatArray  # highest high of the previous breakout_lookback bars
    lower: FloatArray
    support: FloatArray
    resistance: FloatArray
    trend_slope: FloatArray | None
    trend_hist: FloatArray | None
    trend_rsi: FloatArray | None
    trend_regime: FloatArray | None
    bias_slope: FloatArray | None
    book_imbalance: FloatArray | None
    book_microprice: FloatArray | None


def _features(candles: Candles, params: Mapping[str, object]) -> _Features:
    high, low, close, volume = candles.high, candles.low, candles.close, candles.volume
    hist = macd(close, MACD_FAST, MACD_SLOW, MACD_SIGNAL)[2]
    upper, lower, _ = donchian(high, low, get_int(params, "breakout_lookback"))
    support, resistance = support_resistance(high, low, close, get_int(params, "swing_k"), LEVEL_MEMORY)
    trend_slope, trend_hist, trend_rsi, trend_regime, bias_slope = _coarser_inputs(
        candles, get_int(params, "htf_ratio")
    )
    book = candles.book
    return _Features(
        close=close,
        atr=atr(high, low, close, ATR_PERIOD),
        rsi=rsi(close, get_int(params, "rsi_period")),
        hist_change=hist - previous_bar(hist),
        vwap_distance=vwap_distance(high, low, close, volume, FLOW_PERIOD),
        volume_z=volume_zscore(volume, FLOW_PERIOD),
        upper=previous_bar(upper),
        lower=previous_bar(lower),
        support=support,
        resistance=resistance,
        trend_slope=trend_slope,
        trend_hist=trend_hist,
        trend_rsi=trend_rsi,
        trend_regime=trend_regime,
        bias_slope=bias_slope,
        book_imbalance=None if book is None else book.imbalance,
        book_microprice=None if book is None else book.microprice_bps,
    )


_NO_INPUTS: tuple[None, None, None, None, None] = (None, None, None, None, None)


@memoized
def _coarser_inputs(
    candles: Candles, ratio: int
) -> tuple[FloatArray | None, FloatArray | None, FloatArray | None, FloatArray | None, FloatArray | None]:
    """(trend EMA slope, trend MACD histogram, trend RSI, trend regime, bias EMA slope) on the trading bars; None
    for a timeframe that does not exist. Memoised in a search: a trial's signals and stops, and every trial with
    the same ratio, share them."""
    trend_tf = coarser_timeframe(candles.timeframe, ratio)
    bias_tf = coarser_timeframe(candles.timeframe, ratio * ratio)
    if trend_tf is None:
        return _NO_INPUTS
    trend = higher_timeframe(candles, trend_tf)
    bias = None if bias_tf is None else higher_timeframe(candles, bias_tf)
    return (
        align_to_base(candles, trend, ema_slope(trend.close, EMA_PERIOD)),
        align_to_base(candles, trend, macd(trend.close, MACD_FAST, MACD_SLOW, MACD_SIGNAL)[2]),
        align_to_base(candles, trend, rsi(trend.close, TREND_RSI_PERIOD)),
        align_to_base(candles, trend, regime(trend.high, trend.low, trend.close, **REGIME_SETTINGS)),
        None if bias is None else align_to_base(candles, bias, ema_slope(bias.close, EMA_PERIOD)),
    )


def _share(conditions: list[tuple[FloatArray | None, float]], side: int) -> FloatArray | None:
    """The share of ``side * value > threshold`` that holds per bar over the conditions whose input exists; NaN on
    a bar where one of them is still unknown; None when no input exists."""
    present = [(values, threshold) for values, threshold in conditions if values is not None]
    if not present:
        return None
    total = np.zeros(present[0][0].shape)
    for values, threshold in present:
        total += np.where(np.isnan(values), np.nan, (side * values > threshold).astype(np.float64))
    return np.asarray(total / len(present), dtype=np.float64)


def confidence(
    f: _Features, params: Mapping[str, object], side: int, breakout: bool, bars: npt.NDArray[np.intp] | None = None
) -> FloatArray:
    """The confidence of an entry on ``side`` for the breakout (or reversion) setup, in [0, 1], on ``bars`` (every
    bar when None); NaN where a weighed input is still unknown. A search asks only for the bars where a setup
    triggered: a few hundred of a hundred thousand."""

    def on(values: FloatArray) -> FloatArray:
        return values if bars is None else values[bars]

    def maybe_on(values: FloatArray | None) -> FloatArray | None:
        return None if values is None else on(values)

    # Volume participation is side-free: `side * (side * z) > 0.5` reads `z > 0.5`.
    participation = side * on(f.volume_z)
    vwap_side = on(f.vwap_distance) if breakout else -on(f.vwap_distance)
    trend_rsi = None if f.trend_rsi is None else on(f.trend_rsi) - 50.0
    groups = (
        (
            "w_trend",
            _share(
                [(maybe_on(f.trend_slope), 0.0), (maybe_on(f.bias_slope), 0.0), (maybe_on(f.trend_hist), 0.0)], side
            ),
        ),
        ("w_momentum", _share([(on(f.hist_change), 0.0), (trend_rsi, 0.0)], side)),
        ("w_flow", _share([(participation, VOLUME_Z_MIN), (vwap_side, 0.0)], side)),
    )
    shape = f.close.shape if bars is None else bars.shape
    score = np.zeros(shape)
    weight = np.zeros(shape)
    for name, share in groups:
        w = get_float(params, name)
        if w > 0.0 and share is not None:
            score += w * share  # NaN (an input still unknown) spreads: no entry on that bar
            weight += w
    book_weight = get_float(params, "w_book")
    book = _share([(maybe_on(f.book_imbalance), IMBALANCE_MIN), (maybe_on(f.book_microprice), 0.0)], side)
    if book_weight > 0.0 and book is not None:
        # Only bars with snapshots count the book: elsewhere the other groups share the score.
        covered = ~np.isnan(book)
        score = score + np.where(covered, book_weight * np.nan_to_num(book), 0.0)
        weight = weight + np.where(covered, book_weight, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(weight > 0.0, score / weight, np.where(np.isnan(score), np.nan, 1.0))


def _regime_allows(f: _Features, breakout: bool, bars: npt.NDArray[np.intp]) -> BoolArray:
    """On ``bars``: whether the trend timeframe's regime admits the setup (always, without a trend timeframe)."""
    if f.trend_regime is None:
        return np.ones(bars.shape, dtype=np.bool_)
    code = f.trend_regime[bars]
    known = ~np.isnan(code) & (code != REGIME_UNKNOWN)
    if breakout:
        return np.asarray(known & (code != REGIME_RANGE_LOW_VOL), dtype=np.bool_)
    return np.asarray(known & ~np.isin(code, _TRENDS), dtype=np.bool_)


def _setups(f: _Features, params: Mapping[str, object]) -> list[tuple[int, bool, BoolArray]]:
    """(side, is breakout, bars where the setup triggers), for the setups ``setup`` chooses."""
    chosen = get_str(params, "setup")
    found: list[tuple[int, bool, BoolArray]] = []
    if chosen in ("breakout", "both"):
        found.append((LONG, True, cross_above(f.close, f.upper)))
        found.append((SHORT, True, cross_below(f.close, f.lower)))
    if chosen in ("reversion", "both"):
        band = get_int(params, "rsi_band")
        below_vwap = f.vwap_distance < 0.0
        above_vwap = f.vwap_distance > 0.0
        found.append((LONG, False, cross_above(f.rsi, np.full(f.rsi.shape, 50.0 - band), scale=100.0) & below_vwap))
        found.append((SHORT, False, cross_below(f.rsi, np.full(f.rsi.shape, 50.0 + band), scale=100.0) & above_vwap))
    return found


@memoized
def _entries(candles: Candles, params: Mapping[str, object]) -> Int8Array:
    """Both sides' events: a setup's trigger, on a bar with an ATR, that the regime admits and whose confidence
    reaches ``min_confidence``. Memoised in a search: a trial's signals and stops compute them once."""
    f = _features(candles, params)
    threshold = get_float(params, "min_confidence")
    ready = ~np.isnan(f.atr)
    long = np.zeros(f.close.shape, dtype=np.bool_)
    short = np.zeros(f.close.shape, dtype=np.bool_)
    for side, breakout, triggered in _setups(f, params):
        bars = np.flatnonzero(triggered & ready)
        bars = bars[_regime_allows(f, breakout, bars)]
        taken = bars[confidence(f, params, side, breakout, bars) >= threshold]
        (long if side == LONG else short)[taken] = True
    events = to_events(long, short)
    # Two setups of one side on neighbouring bars are one entry: the first.
    events[1:][events[1:] == events[:-1]] = 0
    return events


@register
class Scalping(Strategy):
    """Breakout and reversion entries on the trading timeframe, filtered by regime and weighed by a confidence
    score over conditions on the trading timeframe and two coarser ones (and the order book where recorded);
    exits at ATR multiples or at confirmed support/resistance. The module docstring gives the rule in full."""

    name = "scalping"
    summary = (
        "breakout or RSI reversion entries scored across three timeframes (and the order book); "
        "ATR or support/resistance exits"
    )
    space = ParamSpace(
        params=(
            CategoricalParam(
                name="setup", choices=("breakout", "reversion", "both"), default="both", description="entry setups"
            ),
            CategoricalParam(
                name="htf_ratio", choices=(4, 6, 12), default=12, description="trend timeframe ≥ ratio × trading"
            ),
            IntParam(name="breakout_lookback", low=10, high=200, log=True, default=36, description="range, bars"),
            IntParam(name="rsi_period", low=5, high=30, default=14, description="RSI period, bars"),
            IntParam(name="rsi_band", low=5, high=30, step=5, default=20, description="RSI distance from 50"),
            IntParam(name="swing_k", low=2, high=6, default=3, description="bars that confirm a swing"),
            FloatParam(name="w_trend", low=0.0, high=1.0, step=0.1, default=0.5, description="trend weight"),
            FloatParam(name="w_momentum", low=0.0, high=1.0, step=0.1, default=0.3, description="momentum weight"),
            FloatParam(name="w_flow", low=0.0, high=1.0, step=0.1, default=0.2, description="flow weight"),
            FloatParam(name="w_book", low=0.0, high=1.0, step=0.1, default=0.3, description="order-book weight"),
            FloatParam(name="min_confidence", low=0.0, high=1.0, step=0.05, default=0.5, description="entry threshold"),
            CategoricalParam(name="stop_rule", choices=("atr", "structure"), default="atr", description="stop at"),
            CategoricalParam(name="target_rule", choices=("atr", "structure"), default="atr", description="target at"),
            FloatParam(name="stop_atr", low=0.5, high=5.0, step=0.25, default=1.5, description="stop, ATRs"),
            FloatParam(name="target_atr", low=0.5, high=10.0, step=0.25, default=3.0, description="target, ATRs"),
            DIRECTION,
        ),
    )
    # Named, not searched by default: it trades with its own sizing (risk-based), so its returns would sit in one
    # champion table with the five's whole-equity entries, and its trials cost more.
    in_default_search = False
    backtest_defaults = MappingProxyType({"risk_pct": 0.5, "max_holding_bars": 48, "min_target_cost_multiple": 2.0})

    def events(self, candles: Candles, params: Mapping[str, object]) -> Int8Array:
        return _entries(candles, params)

    def warmup(self, params: Mapping[str, object]) -> int:
        # The trading timeframe's own inputs. The coarser timeframes' inputs add more (their warm-up times the
        # trading bars per coarser bar, e.g. 120 hourly bars for the regime on 5m candles: 1,440 bars), which
        # this count, taking no candles, cannot know: it stays a lower bound.
        return max(
            get_int(params, "rsi_period") + 1,
            MACD_SLOW + MACD_SIGNAL - 1,
            get_int(params, "breakout_lookback") + 1,
            FLOW_PERIOD - 1,
            ATR_PERIOD,
        )

    def memory(self, params: Mapping[str, object]) -> int:
        # Recursive averages on three timeframes. A coarser bar spans at most twice its ratio in trading bars (the
        # next listed interval), plus the partial first bucket of a later start; sums of chained averages bound
        # their joint memory from above.
        ratio = get_int(params, "htf_ratio")
        macd_memory = ema_memory(MACD_SLOW) + ema_memory(MACD_SIGNAL)
        trading = max(macd_memory, wilder_memory(get_int(params, "rsi_period")), wilder_memory(ATR_PERIOD)) + 1
        regime_memory = (
            ema_memory(REGIME_SETTINGS["trend_period"])
            + 2 * wilder_memory(REGIME_SETTINGS["adx_period"])
            + REGIME_SETTINGS["vol_period"]
            + REGIME_SETTINGS["vol_lookback"]
        )
        trend = max(macd_memory, wilder_memory(TREND_RSI_PERIOD), regime_memory, ema_memory(EMA_PERIOD) + 1) + 1
        bias = ema_memory(EMA_PERIOD) + 2
        return max(self.warmup(params), trading, 2 * ratio * trend, 2 * ratio * ratio * bias)

    def stop_distances(self, candles: Candles, params: Mapping[str, object]) -> StopDistances:
        # The engine reads a distance on a signal bar only, so only those bars get one (NaN elsewhere).
        side = _entries(candles, params)
        bars = np.flatnonzero(side)
        long = side[bars] == LONG
        high, low, close = candles.high, candles.low, candles.close
        support, resistance = support_resistance(high, low, close, get_int(params, "swing_k"), LEVEL_MEMORY)
        average_range = atr(high, low, close, ATR_PERIOD)[bars]
        average_range = np.where(average_range > 0.0, average_range, np.nan)
        stop = get_float(params, "stop_atr") * average_range
        target = get_float(params, "target_atr") * average_range
        below = close[bars] - support[bars]  # how far the nearest support lies under the close
        above = resistance[bars] - close[bars]
        if get_str(params, "stop_rule") == "structure":
            beyond = np.where(long, below, above)
            stop = np.where(np.isnan(beyond), stop, beyond + STRUCTURE_BUFFER_ATR * average_range)
        if get_str(params, "target_rule") == "structure":
            ahead = np.where(long, above, below)
            target = np.where(np.isnan(ahead), target, ahead)
        take_profit = np.full(close.shape, np.nan)
        stop_loss = np.full(close.shape, np.nan)
        take_profit[bars] = _positive(target)
        stop_loss[bars] = _positive(stop)
        return StopDistances(take_profit=take_profit, stop_loss=stop_loss)

    def notes(self, candles: Candles, params: Mapping[str, object] | None = None) -> tuple[str, ...]:
        """Whether the order-book filter was used, and on which share of the bars."""
        book = candles.book
        if book is None or get_float(self.space.validate(params), "w_book") == 0.0:
            reason = "w_book is 0" if book is not None else f"no order-book data for {candles.source}/{candles.symbol}"
            return (f"scalping: order-book filter off ({reason} in the period)",)
        return (f"scalping: order-book filter on {book.coverage:.0%} of bars (the rest run without it)",)


def _positive(distance: FloatArray) -> FloatArray:
    return np.where(distance > 0.0, distance, np.nan)
