"""A runner's spec from what the user gives (manifests or a portfolio, a feed, capital, limits), with the defaults
a demanding user expects:

- **replay** trades, by default, the first manifest's out-of-sample part (else its last part) to the end of the
  latest manifest's data, each book on its manifest's own series, warmed up on every bar of its dataset before
  it: the paper run then reproduces the manifest's backtest of that part trade for trade, and its figures can be
  compared with the manifest's. ``--from``
  / ``--to`` choose other days; bars before a ``--from`` outside the dataset warm up from the store
  (``--warmup-bars``).
- a **venue** feed trades every bar that closes after the runner starts, warmed up on the ``--warmup-bars`` bars
  before (back-filled from the venue into the store).
- **capital**: each manifest's own initial equity, or ``--capital`` split equally (a portfolio: by its weights).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from stratlab.data.dates import day_end_exclusive_ms, day_start_ms, format_ms, now_ms
from stratlab.data.timeframes import parse_timeframe
from stratlab.errors import ConfigError
from stratlab.live.alerts import NotifyMode
from stratlab.live.risk import RiskLimits
from stratlab.live.spec import REPLAY_FEED, BookSpec, BrokerKind, RunnerSpec, book_id_for, check_feed
from stratlab.portfolio.manifest import read_portfolio_manifest
from stratlab.report.manifest import Manifest, read_manifest
from stratlab.report.split import PartRole
from stratlab.strategies import use_source


@dataclass(frozen=True)
class StartOptions:
    """The options of ``paper start`` that shape a new runner."""

    manifests: Sequence[Path] = ()
    portfolio: Path | None = None
    feed: str = REPLAY_FEED
    start: str | None = None  # YYYY-MM-DD
    end: str | None = None
    speed: float | None = None
    warmup_bars: int = 5_000
    capital: float | None = None
    broker: BrokerKind = BrokerKind.PAPER
    dry_run: bool = False
    risk: RiskLimits = field(default_factory=RiskLimits)
    notify: NotifyMode = NotifyMode.LOG
    base_url: str | None = None
    venue: str | None = None  # the live broker's venue; a venue feed is its own venue


def _manifests_and_weights(options: StartOptions) -> list[tuple[Manifest, float]]:
    if options.portfolio is not None and options.manifests:
        raise ConfigError("--portfolio and --manifest: give one or the other")
    if options.portfolio is not None:
        portfolio = read_portfolio_manifest(options.portfolio)
        chosen = [(member.manifest, member.weight) for member in portfolio.members]
        where = [str(options.portfolio)] * len(chosen)
    else:
        if not options.manifests:
            raise ConfigError("--manifest: give at least one champion manifest (or --portfolio)")
        share = 1.0 / len(options.manifests)
        chosen = [(read_manifest(path), share) for path in options.manifests]
        where = [str(path) for path in options.manifests]
    for (manifest, _), used_by in zip(chosen, where, strict=True):
        # Refused before anything starts: a book must trade the strategy file its manifest was made with.
        use_source(manifest.strategy, manifest.strategy_source, used_by=used_by)
    return chosen


def traded_part_start_ms(manifest: Manifest) -> int:
    """The open time of the first bar of the manifest's out-of-sample part (else its last part)."""
    dataset = manifest.dataset
    roles = manifest.selection.part_roles
    parts = [part for part in dataset.parts if roles.get(part.name) == PartRole.OUT_OF_SAMPLE] or [dataset.parts[-1]]
    return parts[0].first_bar_ms


def _book(manifest: Manifest, capital: float, feed: str, taken: set[str]) -> BookSpec:
    dataset = manifest.dataset
    source = dataset.source if feed == REPLAY_FEED else feed
    return BookSpec(
        book_id=book_id_for(manifest, taken),
        manifest=manifest,
        capital=capital,
        source=source,
        symbol=dataset.symbol,
        timeframe=dataset.timeframe,
    )


def _live_venue(options: StartOptions, feed: str) -> str:
    """The venue a live broker trades on: the venue feed's own, or ``--venue`` for a dry run on a replay (real
    orders on replayed bars would trade today's market on last year's prices)."""
    if feed != REPLAY_FEED:
        if options.venue is not None and options.venue != feed:
            raise ConfigError(f"--venue: a live broker trades where its bars come from ({feed}), not {options.venue}")
        return feed
    if not options.dry_run:
        raise ConfigError(
            "--broker live: real orders need a venue feed (hyperliquid_perps or ccxt_<exchange>); on a replay only "
            "--dry-run (with --venue) is allowed"
        )
    if options.venue is None:
        raise ConfigError(
            "--venue: a dry run on a replay needs the venue whose orders it writes (e.g. hyperliquid_perps)"
        )
    return check_feed(options.venue)


def new_spec(options: StartOptions) -> RunnerSpec:
    """The spec of a new runner (see the module)."""
    feed = check_feed(options.feed)
    members = _manifests_and_weights(options)
    taken: set[str] = set()
    books = []
    if options.capital is not None and not options.capital > 0:
        raise ConfigError(f"--capital: must be more than 0, got {options.capital:g}")
    for manifest, weight in members:
        capital = manifest.backtest.initial_equity if options.capital is None else options.capital * weight
        book = _book(manifest, capital, feed, taken)
        options.risk.check_leverage(book.book_id, manifest.backtest.leverage)
        books.append(book)
    venue = None
    if options.broker == BrokerKind.LIVE:
        venue = _live_venue(options, feed)
    from_ms = day_start_ms(options.start, "--from") if options.start else None
    to_ms = day_end_exclusive_ms(options.end, "--to") if options.end else None
    if feed == REPLAY_FEED:
        first = books[0].manifest
        if from_ms is None:
            from_ms = traded_part_start_ms(first)
        if to_ms is None:  # to the end of the latest manifest's data
            to_ms = max(parse_timeframe(b.timeframe).next_open_ms(b.manifest.dataset.last_bar_ms) for b in books)
            if from_ms >= to_ms:
                raise ConfigError(
                    f"--from: {options.start} is after the manifests' data (to {format_ms(to_ms)}); give --to as well "
                    "to replay later stored bars"
                )
    else:
        if options.start or options.end:
            raise ConfigError("--from/--to: only for the replay feed (a venue feed trades from now on)")
        from_ms = now_ms()
    if from_ms is not None and to_ms is not None and to_ms <= from_ms:
        raise ConfigError("--to: the window ends before it starts")
    return RunnerSpec(
        books=tuple(books),
        feed=feed,
        from_ms=from_ms,
        to_ms=to_ms,
        speed=options.speed,
        warmup_bars=options.warmup_bars,
        broker=options.broker,
        dry_run=options.dry_run,
        venue=venue,
        risk=options.risk,
        notify=options.notify,
        base_url=options.base_url,
    )


def warmup_start_ms(book: BookSpec, spec: RunnerSpec) -> int:
    """The open time of a book's first warm-up bar: its manifest's first bar when the book trades the manifest's
    own series from inside its dataset (the backtest's own history: exact parity), else ``warmup_bars`` before."""
    dataset = book.manifest.dataset
    assert spec.from_ms is not None
    same_series = (book.source, book.symbol, book.timeframe) == (dataset.source, dataset.symbol, dataset.timeframe)
    if same_series and dataset.first_bar_ms <= spec.from_ms <= dataset.last_bar_ms:
        return dataset.first_bar_ms
    return spec.from_ms - spec.warmup_bars * parse_timeframe(book.timeframe).approx_ms


__all__ = ["StartOptions", "new_spec", "traded_part_start_ms", "warmup_start_ms"]
