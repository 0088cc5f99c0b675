"""``stratlab backtest``: one strategy with one parameter set on stored candles; KPIs, and files with ``--out``."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from stratlab.atomic_io import write_text_atomic
from stratlab.cli import console
from stratlab.data.candles import Candles
from stratlab.data.gaps import find_gaps, gap_summary
from stratlab.data.loader import load_ohlcv
from stratlab.engine import BacktestResult, OppositePolicy, PositionMode, run_backtest
from stratlab.engine.config import BacktestConfig, for_strategy
from stratlab.errors import ConfigError
from stratlab.metrics import KPI_NAMES, monthly_returns
from stratlab.strategies import ParamSpec, Strategy, get_strategy

Opt = typer.Option


def _params(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--params: not valid JSON ({exc.msg} at column {exc.colno}): {text!r}") from None
    if not isinstance(value, dict):
        raise ConfigError(f"--params: expected a JSON object such as '{{\"fast\": 10}}', got {text!r}")
    return value


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _require_out_folder(out: Path) -> None:
    """``--out`` must be a folder or a path a folder can be made at: an existing file is never replaced.

    Checked before the backtest runs, so a typo costs no computation and no file is touched.
    """
    for path in (out, *out.parents):
        if path.exists() and not path.is_dir():
            where = "is a file" if path == out else f"is under the file {path}"
            raise ConfigError(f"--out: {out} {where}; give a folder")
        if path.is_dir():
            break
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out: cannot create the folder {out}: {exc.strerror or exc}") from None


def _write_outputs(result: BacktestResult, out: Path, strategy: str, params: dict[str, Any]) -> list[Path]:
    try:
        return _write_output_files(result, out, strategy, params)
    except OSError as exc:
        where = exc.filename or out
        raise ConfigError(f"--out: cannot write {where}: {exc.strerror or exc}") from None


def _write_output_files(result: BacktestResult, out: Path, strategy: str, params: dict[str, Any]) -> list[Path]:
    from stratlab.report.figures import backtest_chart_data, backtest_figure

    trades_path, equity_path, chart_path, kpis_path = (
        out / "trades.csv",
        out / "equity.csv",
        out / "chart.html",
        out / "kpis.json",
    )
    write_text_atomic(trades_path, result.trades.to_csv(index=False))
    write_text_atomic(equity_path, result.equity_frame().to_csv(index=False))
    figure = backtest_figure(backtest_chart_data(result))
    write_text_atomic(chart_path, figure.to_html(include_plotlyjs=True, full_html=True))
    summary = {
        "strategy": strategy,
        "params": params,
        "dataset": {
            "source": result.candles.source,
            "symbol": result.candles.symbol,
            "timeframe": result.candles.timeframe.name,
            "first_bar_ms": int(result.timestamp_ms[0]),
            "last_bar_ms": int(result.timestamp_ms[-1]),
        },
        "config": result.config.model_dump(),
        "kpis": _kpi_payload(result),
        "monthly_returns_pct": _monthly_payload(result),
    }
    write_text_atomic(kpis_path, json.dumps(summary, indent=2) + "\n")
    return [trades_path, equity_path, chart_path, kpis_path]


def backtest(
    strategy: Annotated[str, Opt("--strategy", help="Strategy name (see --list).")] = "",
    params: Annotated[str, Opt("--params", help="Strategy parameters as JSON; missing ones take defaults.")] = "{}",
    source: Annotated[str, Opt("--source", help="Data source, e.g. demo or hyperliquid_perps.")] = "demo",
    symbol: Annotated[str, Opt("--symbol", help="Symbol, e.g. BTC.")] = "BTC",
    timeframe: Annotated[str, Opt("--timeframe", help="Bar timeframe, e.g. 5m.")] = "5m",
    start: Annotated[str | None, Opt("--start", help="First day, YYYY-MM-DD (UTC).")] = None,
    end: Annotated[str | None, Opt("--end", help="Last day, YYYY-MM-DD (UTC, included).")] = None,
    data_root: Annotated[Path | None, Opt("--data-root", help="Store root.")] = None,
    initial_equity: Annotated[float | None, Opt("--initial-equity", help="Starting equity [10000].")] = None,
    fee_bps: Annotated[float | None, Opt("--fee-bps", help="Taker fee per fill, bps [4.5].")] = None,
    slippage_bps: Annotated[float | None, Opt("--slippage-bps", help="Slippage per fill, bps [0].")] = None,
    tp_pct: Annotated[float | None, Opt("--tp-pct", help="Take profit, % from the average entry.")] = None,
    sl_pct: Annotated[float | None, Opt("--sl-pct", help="Stop loss, % from the average entry.")] = None,
    tp_atr: Annotated[float | None, Opt("--tp-atr", help="Take profit, ATR multiples.")] = None,
    sl_atr: Annotated[float | None, Opt("--sl-atr", help="Stop loss, ATR multiples.")] = None,
    atr_period: Annotated[int | None, Opt("--atr-period", help="ATR period for *-atr [14].")] = None,
    mode: Annotated[
        str | None, Opt("--mode", help=f"Position mode: {' | '.join(PositionMode)} [{PositionMode.NONE}].")
    ] = None,
    grid_step_pct: Annotated[float | None, Opt("--grid-step-pct", help="Grid: adverse move that adds [1].")] = None,
    grid_max_adds: Annotated[int | None, Opt("--grid-max-adds", help="Grid: adds at most [3].")] = None,
    grid_size_mult: Annotated[float | None, Opt("--grid-size-mult", help="Grid: add size × previous [1].")] = None,
    martingale_mult: Annotated[float | None, Opt("--martingale-mult", help="Size × this per loss [2].")] = None,
    martingale_max_steps: Annotated[int | None, Opt("--martingale-max-steps", help="Losses that grow it [3].")] = None,
    size_pct: Annotated[float | None, Opt("--size-pct", help="Margin per entry, % of equity [100].")] = None,
    risk_pct: Annotated[float | None, Opt("--risk-pct", help="Size so the stop loses this % of equity.")] = None,
    size_units: Annotated[float | None, Opt("--size-units", help="Fixed quantity per entry.")] = None,
    leverage: Annotated[float | None, Opt("--leverage", help="Leverage [1].")] = None,
    maintenance_margin_pct: Annotated[
        float | None, Opt("--maintenance-margin-pct", help="Liquidation maintenance margin [0.5].")
    ] = None,
    max_drawdown_stop_pct: Annotated[float | None, Opt("--max-dd-stop-pct", help="Early stop at this DD %.")] = None,
    max_consecutive_losses: Annotated[
        int | None, Opt("--max-consecutive-losses", help="Early stop after this many losses in a row.")
    ] = None,
    max_idle_bars: Annotated[int | None, Opt("--max-idle-bars", help="Early stop after this many flat bars.")] = None,
    max_holding_bars: Annotated[
        int | None, Opt("--max-holding-bars", help="Close a position at the open after this many bars held.")
    ] = None,
    min_target_cost_multiple: Annotated[
        float | None,
        Opt("--min-target-cost-multiple", help="Skip entries whose target move is under M x round-trip costs."),
    ] = None,
    on_opposite: Annotated[
        str | None, Opt("--on-opposite", help=f"{' | '.join(OppositePolicy)} [{OppositePolicy.REVERSE}].")
    ] = None,
    funding_bps_per_8h: Annotated[float | None, Opt("--funding-bps-per-8h", help="Constant funding [0].")] = None,
    as_json: Annotated[bool, Opt("--json", help="Print the KPIs as JSON.")] = False,
    out: Annotated[Path | None, Opt("--out", help="Write trades.csv, equity.csv, chart.html, kpis.json here.")] = None,
    list_strategies: Annotated[bool, Opt("--list", help="List the strategies and their parameters.")] = False,
    manifest: Annotated[
        Path | None, Opt("--manifest", help="Replay a champion manifest and check its KPIs (exit 1 if they differ).")
    ] = None,
) -> None:
    """Backtest one strategy with one parameter set and print its KPIs."""
    if list_strategies:
        _print_strategies()
        return
    if manifest is not None:
        _replay(manifest, data_root, as_json)
        return
    if not strategy:
        raise ConfigError("--strategy: required (stratlab backtest --list shows the names)")
    chosen = get_strategy(strategy)
    raw_params = _params(params)
    checked = chosen.space.validate(raw_params)
    flags = {
        "initial_equity": initial_equity,
        "fee_bps": fee_bps,
        "slippage_bps": slippage_bps,
        "tp_pct": tp_pct,
        "sl_pct": sl_pct,
        "tp_atr": tp_atr,
        "sl_atr": sl_atr,
        "atr_period": atr_period,
        "position_mode": mode,
        "grid_step_pct": grid_step_pct,
        "grid_max_adds": grid_max_adds,
        "grid_size_mult": grid_size_mult,
        "martingale_mult": martingale_mult,
        "martingale_max_steps": martingale_max_steps,
        "size_pct": size_pct,
        "risk_pct": risk_pct,
        "size_units": size_units,
        "leverage": leverage,
        "maintenance_margin_pct": maintenance_margin_pct,
        "max_drawdown_stop_pct": max_drawdown_stop_pct,
        "max_consecutive_losses": max_consecutive_losses,
        "max_idle_bars": max_idle_bars,
        "max_holding_bars": max_holding_bars,
        "min_target_cost_multiple": min_target_cost_multiple,
        "on_opposite": on_opposite,
        "funding_bps_per_8h": funding_bps_per_8h,
    }
    given = {k: v for k, v in flags.items() if v is not None}
    config = for_strategy(
        given, chosen.backtest_defaults, strategy_sets_stop_loss=chosen.sets_stops, strategy=chosen.name
    )
    if out is not None:
        _require_out_folder(out)
    candles = load_ohlcv(source, symbol, timeframe, start, end, data_root=data_root)
    if len(candles) < 2:
        raise ConfigError(f"{candles.label}: {len(candles)} bar(s) in the period; a backtest needs at least 2")
    _warn_about_gaps(candles)
    signals = chosen.signals(candles, checked)
    result = run_backtest(candles, signals, config, stops=chosen.stops(candles, checked))
    notes = (*_defaults_used(chosen, config, given), *chosen.notes(candles, checked))

    if as_json:
        payload = {
            "strategy": chosen.name,
            "params": checked,
            "kpis": _kpi_payload(result),
            "monthly_returns_pct": _monthly_payload(result),
            "notes": list(notes),
        }
        console.stdout.print_json(json.dumps(payload))
    else:
        _print_kpis(result, chosen.name, checked)
        for note in notes:
            console.stdout.print(f"note: {note}", markup=False)
    if out is not None:
        written = _write_outputs(result, out, chosen.name, checked)
        target = console.stderr if as_json else console.stdout
        target.print(f"wrote {', '.join(str(p) for p in written)}", markup=False)


def _defaults_used(strategy: Strategy, config: BacktestConfig, given: dict[str, Any]) -> tuple[str, ...]:
    """The strategy's own backtest defaults this backtest traded with (the fields the command did not give)."""
    used = {
        k: getattr(config, k) for k in strategy.backtest_defaults if k not in given and getattr(config, k) is not None
    }
    if not used:
        return ()
    shown = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in used.items())
    return (f"{strategy.name}'s own backtest defaults: {shown} (give the option to change one)",)


def _warn_about_gaps(candles: Candles) -> None:
    """A backtest across missing bars trades a market that never was: say so before the KPIs."""
    summary = gap_summary(find_gaps(candles.timestamp_ms, candles.timeframe))
    if summary is not None:
        console.stderr.print(f"warning: {candles.label}: {summary}", markup=False)


def _kpi_payload(result: BacktestResult) -> dict[str, Any]:
    return {name: _json_value(value) for name, value in result.kpis.to_dict().items()}


def _monthly_payload(result: BacktestResult) -> dict[str, float | None]:
    table = monthly_returns(result)
    out: dict[str, float | None] = {}
    for year, row in table.iterrows():
        for month in range(1, 13):
            value = row[month]
            if not math.isnan(value):
                out[f"{year}-{month:02d}"] = float(value)
    return out


def _shown(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.4f}"
    if isinstance(value, tuple):
        return "; ".join(value) or "-"
    return str(value)


def _print_kpis(result: BacktestResult, strategy: str, params: dict[str, Any]) -> None:
    candles = result.candles
    kpis = result.kpis
    head = f"{strategy} {json.dumps(params)} on {candles.label}, {len(result.equity):,} bars"
    table = Table(title=head, title_justify="left")
    for _ in range(2):
        table.add_column("KPI")
        table.add_column("value", justify="right")
    names = list(KPI_NAMES)
    half = (len(names) + 1) // 2
    for left, right in zip(names[:half], [*names[half:], None], strict=True):
        cells = [left, _shown(kpis[left])]
        cells += [right, _shown(kpis[right])] if right else ["", ""]
        table.add_row(*cells)
    console.stdout.print(table)
    for name, why in kpis.notes.items():
        console.stdout.print(f"{name}: undefined ({why})", markup=False)


def _replay(path: Path, data_root: Path | None, as_json: bool) -> None:
    from stratlab.report.manifest import read_manifest, replay_manifest

    replays = replay_manifest(path, data_root)
    manifest = read_manifest(path)
    differing = {r.part: r.mismatches for r in replays if r.mismatches}
    judged = manifest.verdict
    if as_json:
        payload = {
            "manifest": str(path),
            "verdict": None if judged is None else judged.model_dump(mode="json"),
            "part_roles": {str(part): str(role) for part, role in manifest.selection.part_roles.items()},
            "identical": not differing,
            "kpis": {r.part: _kpi_payload(r.result) for r in replays},
            "mismatches": {part: {k: list(v) for k, v in m.items()} for part, m in differing.items()},
        }
        console.stdout.print_json(json.dumps(payload))
    else:
        table = Table(title=f"replay of {path}", title_justify="left")
        table.add_column("KPI")
        for r in replays:
            table.add_column(f"{r.part} (manifest)", justify="right")
            table.add_column(f"{r.part} (replay)", justify="right")
        for name in KPI_NAMES:
            row = [name]
            for r in replays:
                row += [_shown(r.expected.get(name)), _shown(r.result.kpis[name])]
            table.add_row(*row)
        console.stdout.print(table)
        verdict = "identical KPIs" if not differing else f"KPIs differ in {', '.join(differing)}"
        console.stdout.print(f"replay: {verdict}", markup=False)
        for part, role in manifest.selection.part_roles.items():
            console.stdout.print(f"{part}: {role}", markup=False)
        luck = judged.summary if judged is not None else "not judged (the manifest was written before runs were)"
        console.stdout.print(f"is it luck? {luck}", markup=False)
    if differing:
        first_part, mismatches = next(iter(differing.items()))
        name, (want, got) = next(iter(mismatches.items()))
        raise ConfigError(f"{path}: replay differs on {first_part} {name}: manifest {want!r}, replay {got!r}")


def _describe_param(spec: ParamSpec) -> str:
    """``direction: choice long | short | both (default both)`` for the terminal."""
    kind, values, default = spec.describe()
    # describe() escapes '|' for the Markdown tables of the docs; a terminal shows it as it is.
    values = values.replace("\\|", "|")
    return f"{spec.name}: {kind} {values} (default {default})"


def _print_strategies() -> None:
    from stratlab.strategies import all_strategies

    table = Table(title="strategies", title_justify="left")
    table.add_column("name")
    table.add_column("parameters (type, range, default)")
    table.add_column("rule")
    for strategy in all_strategies():
        described = "; ".join(_describe_param(spec) for spec in strategy.space.params)
        # Text cells: a '[' in a rule or a parameter is shown as written, never read as rich markup.
        table.add_row(Text(strategy.name), Text(described), Text(strategy.summary))
    console.stdout.print(table)
