"""A run's event log (progress.jsonl) as lines for people: ``2026-11-30 14:33:57 UTC · run started · 2 workers``.

One function, ``event_line``, formats every event: the known ones say what happened in words, any other event (a
newer stratlab's, a foreign line with an ``event`` name) shows its name and its fields as ``name: value``, so
nothing is hidden and nothing raises, whatever the line holds.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping
from typing import Any

from stratlab.optimize.rundir import EndReason

SEPARATOR = " · "
NO_TIME = "(no time)"
# Who asked a run to stop, as progress.jsonl's ``by`` names them.
STOPPED_BY = {
    "ui": "from the Monitor page",
    "run stop": "by `stratlab run stop`",
    "keyboard interrupt": "by Ctrl+C",
    "SIGTERM": "by SIGTERM",
}
END_REASONS = {
    EndReason.BUDGET_MET: "budget met",
    EndReason.TIME_BUDGET: "time budget reached",
    EndReason.STOP_REQUESTED: "stop requested",
    EndReason.INTERRUPTED: "interrupted",
    EndReason.WORKER_FAILED: "a worker failed",
}


def format_time(value: object) -> str:
    """Unix seconds as a UTC date-time to the second; anything else as ``(no time)``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return NO_TIME
    try:
        return dt.datetime.fromtimestamp(value, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return NO_TIME


def format_value(value: object) -> str:
    """A field's value in words: numbers with thousands separators, lists joined, mappings as ``key value``."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if math.isfinite(value) else str(value)
    if isinstance(value, list | tuple):
        return ", ".join(format_value(v) for v in value) or "none"
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {format_value(v)}" for k, v in value.items()) or "none"
    if value is None:
        return "-"
    return str(value)


def count(number: object, one: str, many: str | None = None) -> str:
    n = number if isinstance(number, int) and not isinstance(number, bool) else None
    if n is None:
        return f"? {many or one + 's'}"
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def trials_text(trials: object) -> str:
    """``45 trials (ma_cross 20, stochastic 25)`` from a worker's per-strategy counts."""
    if not isinstance(trials, Mapping):
        return count(None, "trial")
    numbers = [v for v in trials.values() if isinstance(v, int) and not isinstance(v, bool)]
    per = ", ".join(f"{k} {format_value(v)}" for k, v in trials.items())
    return f"{count(sum(numbers), 'trial')}" + (f" ({per})" if len(trials) > 1 else "")


def end_reason_text(value: object) -> str | None:
    try:
        return END_REASONS[EndReason(str(value))]
    except ValueError:
        return None if value is None else str(value)


def _run_created(e: Mapping[str, Any]) -> list[str]:
    return ["run created", f"strategies {format_value(e.get('strategies'))}"]


def _run_started(e: Mapping[str, Any]) -> list[str]:
    return ["run started", count(e.get("workers"), "worker")]


def _worker_started(e: Mapping[str, Any]) -> list[str]:
    parts = [f"worker {e.get('index', '?')} started", str(e.get("worker", "?"))]
    orphans = e.get("orphans_failed")
    if isinstance(orphans, int) and orphans > 0:
        parts.append(f"{count(orphans, 'trial')} of dead workers marked failed")
    return parts


def _worker_progress(e: Mapping[str, Any]) -> list[str]:
    parts = [f"worker {e.get('worker', '?')}", trials_text(e.get("trials"))]
    quality = e.get("model_quality")
    if isinstance(quality, Mapping) and quality:
        judged = ", ".join(f"{study} {value:.2f}" for study, value in quality.items() if isinstance(value, int | float))
        parts.append(f"model quality (walk-forward Spearman): {judged}")
    return parts


def _worker_finished(e: Mapping[str, Any]) -> list[str]:
    parts = [f"worker {e.get('worker', '?')} finished", trials_text(e.get("trials"))]
    if e.get("stopped_by"):
        parts.append(f"stopped by {e['stopped_by']}")
    if isinstance(e.get("elapsed_s"), int | float):
        parts.append(f"{format_value(float(e['elapsed_s']))} s")
    return parts


def _stop_requested(e: Mapping[str, Any]) -> list[str]:
    by = str(e.get("by", ""))
    return ["stop requested", STOPPED_BY.get(by, f"by {by}" if by else "by someone")]


def _run_ended(e: Mapping[str, Any]) -> list[str]:
    parts = ["run ended", str(e.get("state", "?"))]
    reason = end_reason_text(e.get("ended_because"))
    if reason:
        parts.append(reason)
    if e.get("failed_workers"):
        parts.append(f"failed workers {format_value(e['failed_workers'])}")
    return parts


def _report_written(e: Mapping[str, Any]) -> list[str]:
    parts = ["report written", "champion chosen" if e.get("champion") else "no champion"]
    if "candidates" in e:
        parts.append(count(e.get("candidates"), "candidate"))
    return parts


def _journal_repaired(e: Mapping[str, Any]) -> list[str]:
    return [
        "journal repaired",
        f"{count(e.get('cut_lines'), 'line')} cut from line {format_value(e.get('first_bad_line'))} on",
    ]


FORMATS: dict[str, Callable[[Mapping[str, Any]], list[str]]] = {
    "run_created": _run_created,
    "run_started": _run_started,
    "worker_started": _worker_started,
    "worker_progress": _worker_progress,
    "worker_finished": _worker_finished,
    "stop_requested": _stop_requested,
    "run_ended": _run_ended,
    "report_written": _report_written,
    "journal_repaired": _journal_repaired,
}


def _any_event(e: Mapping[str, Any]) -> list[str]:
    name = str(e.get("event", "event")).replace("_", " ")
    return [name, *(f"{k.replace('_', ' ')}: {format_value(v)}" for k, v in e.items() if k not in {"time", "event"})]


def event_line(event: Mapping[str, Any]) -> str:
    """One event as a line: its UTC time, what happened and its details, separated by `` · ``."""
    formatter = FORMATS.get(str(event.get("event")), _any_event)
    try:
        parts = formatter(event)
    except (TypeError, ValueError, AttributeError):  # a known event with fields of foreign types
        parts = _any_event(event)
    return SEPARATOR.join([format_time(event.get("time")), *parts])


__all__ = ["END_REASONS", "STOPPED_BY", "end_reason_text", "event_line", "format_time"]
