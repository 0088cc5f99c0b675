"""CSV import: MT5 exports and plain CSV, server time to UTC across DST, one-line errors naming file and line.

Expected values are computed here from the fixture text with the csv module and fixed UTC offsets written by
hand (Europe/Athens is UTC+2 in winter and UTC+3 in summer), not with the importer's own time-zone code.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from stratlab.data import DataError, MarketStore, load_ohlcv
from stratlab.data.sources.csv_import import CsvFormat, import_csv, read_csv_file
from stratlab.errors import ConfigError
from tests.conftest import run_cli

FIXTURES = Path(__file__).parent / "fixtures" / "mt5"
EURUSD_JAN = FIXTURES / "EURUSD_M5_202501020000_202501022355.csv"
EURUSD_APR_UTF16 = FIXTURES / "EURUSD_M5_202504010000_202504010955.csv"
EURUSD_D1 = FIXTURES / "EURUSD_Daily_202501020000_202503310000.csv"
BTC_SPRING = FIXTURES / "BTCUSD_M5_202503300100_202503300555.csv"
BTC_AUTUMN = FIXTURES / "BTCUSD_M5_202510260200_202510260455.csv"
PLAIN_EPOCH_MS = FIXTURES / "eurusd_5m_epoch_ms.csv"
PLAIN_ISO = FIXTURES / "eurusd_5m_iso.csv"

ATHENS = "Europe/Athens"
COLUMNS = ["timestamp_ms", "open", "high", "low", "close", "volume"]
SERIES = ("mt5_icmarkets", "EURUSD", "5m")
FIVE_MIN_MS = 300_000


def utc_ms(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp() * 1000)


def fixture_text(path: Path) -> str:
    raw = path.read_bytes()
    return raw.decode("utf-16" if raw.startswith(codecs.BOM_UTF16_LE) else "utf-8-sig")


def mt5_rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(fixture_text(path), newline=""), delimiter="\t"))


def server_time_ms(row: dict[str, str], utc_offset_hours: int) -> int:
    local = datetime.strptime(f"{row['<DATE>']} {row['<TIME>']}", "%Y.%m.%d %H:%M:%S")
    return int(local.replace(tzinfo=timezone(timedelta(hours=utc_offset_hours))).timestamp() * 1000)


def expected_frame(rows: list[dict[str, str]], timestamps: list[int], volume: str = "<TICKVOL>") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "timestamp_ms": np.asarray(timestamps, dtype=np.int64),
            "open": [float(r["<OPEN>"]) for r in rows],
            "high": [float(r["<HIGH>"]) for r in rows],
            "low": [float(r["<LOW>"]) for r in rows],
            "close": [float(r["<CLOSE>"]) for r in rows],
            "volume": [float(r[volume]) for r in rows],
        }
    )


def stored_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def fixture_lines(path: Path) -> list[str]:
    return fixture_text(path).splitlines()


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    return path


def import_args(path: Path, data_root: Path, *extra: str) -> list[str]:
    source, symbol, timeframe = SERIES
    return [
        "data",
        "import-csv",
        "--source",
        source,
        "--symbol",
        symbol,
        "--timeframe",
        timeframe,
        "--data-root",
        str(data_root),
        *extra,
        str(path),
    ]


# MT5 exports ------------------------------------------------------------------------------------------------


def test_mt5_export_in_athens_server_time_is_shifted_to_utc_bar_by_bar() -> None:
    rows = mt5_rows(EURUSD_JAN)
    assert len(rows) == 288
    parsed = read_csv_file(EURUSD_JAN, "5m", tz=ATHENS)
    assert parsed.file_format is CsvFormat.MT5
    expected = expected_frame(rows, [server_time_ms(r, 2) for r in rows])
    pd.testing.assert_frame_equal(parsed.frame, expected)
    assert parsed.frame["timestamp_ms"].iloc[0] == utc_ms(2025, 1, 1, 22, 0)
    assert parsed.lines.tolist() == list(range(2, 290))

    as_utc = read_csv_file(EURUSD_JAN, "5m")
    shift = as_utc.frame["timestamp_ms"] - parsed.frame["timestamp_ms"]
    assert (shift == 2 * 3_600_000).all()


def test_utf16_export_with_a_bom_reads_like_utf8_and_summer_time_is_utc_plus_3(data_root: Path) -> None:
    assert EURUSD_APR_UTF16.read_bytes().startswith(codecs.BOM_UTF16_LE)
    rows = mt5_rows(EURUSD_APR_UTF16)
    summary = import_csv(
        EURUSD_APR_UTF16,
        source="mt5_icmarkets",
        symbol="EURUSD",
        timeframe="5m",
        tz=ATHENS,
        data_root=data_root,
    )
    assert summary.rows_read == summary.bars_written == summary.bars_new == len(rows) == 120
    assert summary.first_ms == utc_ms(2025, 3, 31, 21, 0)
    assert summary.last_ms == utc_ms(2025, 4, 1, 6, 55)
    # 00:00 server time on 1 April is still 31 March in UTC: the import touches two month files.
    assert summary.months == ("2025-03", "2025-04")
    assert sorted(p.relative_to(data_root).as_posix() for p in stored_files(data_root)) == [
        "ohlcv/mt5_icmarkets/EURUSD/5m/2025/03.parquet",
        "ohlcv/mt5_icmarkets/EURUSD/5m/2025/04.parquet",
    ]
    loaded = load_ohlcv(*SERIES, data_root=data_root).to_frame()
    pd.testing.assert_frame_equal(loaded, expected_frame(rows, [server_time_ms(r, 3) for r in rows]))


def test_spring_forward_the_skipped_hour_leaves_no_gap_in_utc() -> None:
    rows = mt5_rows(BTC_SPRING)
    # 02:55 EET is followed by 04:00 EEST: one wall-clock hour missing, no time missing.
    assert [rows[23]["<TIME>"], rows[24]["<TIME>"]] == ["02:55:00", "04:00:00"]
    parsed = read_csv_file(BTC_SPRING, "5m", tz=ATHENS)
    first = utc_ms(2025, 3, 29, 23, 0)
    expected = expected_frame(rows, [first + i * FIVE_MIN_MS for i in range(48)])
    pd.testing.assert_frame_equal(parsed.frame, expected)


def test_autumn_the_repeated_hour_is_read_first_as_summer_then_as_winter_time() -> None:
    rows = mt5_rows(BTC_AUTUMN)
    times = [r["<TIME>"] for r in rows]
    assert times[12] == times[24] == "03:00:00"  # the wall clock goes back from 03:55 EEST to 03:00 EET
    parsed = read_csv_file(BTC_AUTUMN, "5m", tz=ATHENS)
    first = utc_ms(2025, 10, 25, 23, 0)
    pd.testing.assert_frame_equal(parsed.frame, expected_frame(rows, [first + i * FIVE_MIN_MS for i in range(48)]))


def test_autumn_a_single_pass_through_the_repeated_hour_is_read_as_summer_time(tmp_path: Path) -> None:
    lines = fixture_lines(BTC_AUTUMN)
    only_first_pass = lines[:25] + lines[37:]  # drops 03:00..03:55 EET
    path = write_lines(tmp_path / "first_pass.csv", only_first_pass)
    rows = mt5_rows(path)
    assert [r["<TIME>"] for r in rows[23:26]] == ["03:55:00", "04:00:00", "04:05:00"]
    parsed = read_csv_file(path, "5m", tz=ATHENS)
    summer = [utc_ms(2025, 10, 25, 23, 0) + i * FIVE_MIN_MS for i in range(24)]  # 02:00..03:55 EEST
    winter = [utc_ms(2025, 10, 26, 2, 0) + i * FIVE_MIN_MS for i in range(12)]  # 04:00..04:55 EET
    pd.testing.assert_frame_equal(parsed.frame, expected_frame(rows, summer + winter))


def test_autumn_a_gap_across_the_wall_clock_step_back_still_reads_the_second_pass_as_winter(
    tmp_path: Path,
) -> None:
    lines = fixture_lines(BTC_AUTUMN)
    # 02:00..03:30 EEST, then 03:15..04:55 EET: 03:35..03:55 EET appear once, after the clock went back.
    path = write_lines(tmp_path / "gap.csv", lines[:20] + lines[28:])
    rows = mt5_rows(path)
    assert [r["<TIME>"] for r in rows[18:20]] == ["03:30:00", "03:15:00"]
    parsed = read_csv_file(path, "5m", tz=ATHENS)
    summer = [utc_ms(2025, 10, 25, 23, 0) + i * FIVE_MIN_MS for i in range(19)]  # 02:00..03:30 EEST
    winter = [utc_ms(2025, 10, 26, 1, 15) + i * FIVE_MIN_MS for i in range(21)]  # 03:15..04:55 EET
    pd.testing.assert_frame_equal(parsed.frame, expected_frame(rows, summer + winter))


def test_volume_is_tickvol_by_default_and_vol_on_request() -> None:
    rows = mt5_rows(EURUSD_JAN)
    tick = read_csv_file(EURUSD_JAN, "5m").frame["volume"]
    assert tick.tolist() == [float(r["<TICKVOL>"]) for r in rows]
    assert (tick > 0).all()
    real = read_csv_file(EURUSD_JAN, "5m", volume="vol")
    assert real.frame["volume"].tolist() == [float(r["<VOL>"]) for r in rows] == [0.0] * 288
    assert any("<VOL> is 0 on every row" in w for w in real.warnings)


def test_daily_export_without_time_column_stores_each_date_at_midnight_utc(data_root: Path) -> None:
    rows = mt5_rows(EURUSD_D1)
    assert "<TIME>" not in rows[0]
    dates = [datetime.strptime(r["<DATE>"], "%Y.%m.%d").replace(tzinfo=UTC) for r in rows]
    expected = expected_frame(rows, [int(d.timestamp() * 1000) for d in dates])
    summary = import_csv(
        EURUSD_D1, source="mt5_icmarkets", symbol="EURUSD", timeframe="1d", tz=ATHENS, data_root=data_root
    )
    assert summary.months == ("2025-01", "2025-02", "2025-03")
    assert any("--tz Europe/Athens is not applied" in w for w in summary.warnings)
    loaded = load_ohlcv("mt5_icmarkets", "EURUSD", "1d", data_root=data_root).to_frame()
    pd.testing.assert_frame_equal(loaded, expected)


# plain CSV --------------------------------------------------------------------------------------------------


def plain_expected() -> pd.DataFrame:
    with PLAIN_EPOCH_MS.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return pd.DataFrame(
        {"timestamp_ms": np.asarray([int(r["timestamp_ms"]) for r in rows], dtype=np.int64)}
        | {name: [float(r[name]) for r in rows] for name in COLUMNS[1:]}
    )


def test_plain_epoch_ms_and_iso_files_hold_the_same_bars() -> None:
    expected = plain_expected()
    assert expected["timestamp_ms"].iloc[0] == utc_ms(2025, 1, 6, 8, 0)
    from_ms = read_csv_file(PLAIN_EPOCH_MS, "5m")
    assert from_ms.file_format is CsvFormat.PLAIN
    pd.testing.assert_frame_equal(from_ms.frame, expected)
    assert from_ms.warnings == ()

    from_iso = read_csv_file(PLAIN_ISO, "5m")  # header "Datetime,Open,High,Low,Close": no volume
    pd.testing.assert_frame_equal(from_iso.frame, expected.assign(volume=0.0))
    assert from_iso.warnings == ("no volume column: volume is 0 on every bar",)


def _epoch_seconds(ts: int, row: Any) -> str:
    return f"{ts // 1000},{row.open},{row.high},{row.low},{row.close},{row.volume}"


PLAIN_FORMS: dict[str, tuple[str, Callable[[int, Any], str], tuple[str, ...]]] = {
    "epoch seconds": ("timestamp,open,high,low,close,volume", _epoch_seconds, ()),
    "ISO with offset": (
        "time,open,high,low,close,volume",
        lambda ts, r: (
            datetime.fromtimestamp(ts / 1000, tz=timezone(timedelta(hours=2))).isoformat()
            + f",{r.open},{r.high},{r.low},{r.close},{r.volume}"
        ),
        (),
    ),
    "naive ISO in --tz": (
        "DateTime,OPEN,HIGH,LOW,CLOSE,VOLUME",
        lambda ts, r: (
            (datetime.fromtimestamp(ts / 1000, tz=UTC) + timedelta(hours=2)).strftime("%Y-%m-%d %H:%M")
            + f",{r.open},{r.high},{r.low},{r.close},{r.volume}"
        ),
        ("--tz", ATHENS),
    ),
    "date and time columns, semicolons": (
        "date;time;open;high;low;close;volume",
        lambda ts, r: (
            datetime.fromtimestamp(ts / 1000, tz=UTC).strftime("%Y.%m.%d;%H:%M")
            + f";{r.open};{r.high};{r.low};{r.close};{r.volume}"
        ),
        (),
    ),
}


@pytest.mark.parametrize("form", list(PLAIN_FORMS))
def test_plain_time_forms_all_give_the_same_utc_bars(form: str, tmp_path: Path) -> None:
    header, render, extra = PLAIN_FORMS[form]
    expected = plain_expected()
    stamps = expected["timestamp_ms"].tolist()
    lines = [header] + [render(ts, r) for ts, r in zip(stamps, expected.itertuples(), strict=True)]
    path = tmp_path / "plain.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tz = extra[1] if extra else "UTC"
    parsed = read_csv_file(path, "5m", tz=tz)
    pd.testing.assert_frame_equal(parsed.frame, expected)


def test_a_date_column_of_yyyymmdd_numbers_is_read_as_dates_not_epoch_seconds(tmp_path: Path) -> None:
    path = tmp_path / "daily.csv"
    path.write_text(
        "Date,Open,High,Low,Close,Volume\n20250102,1.0353,1.0366,1.0224,1.0265,0\n"
        "20250103,1.0265,1.0311,1.0230,1.0307,0\n"
    )
    parsed = read_csv_file(path, "1d")
    assert parsed.frame["timestamp_ms"].tolist() == [utc_ms(2025, 1, 2), utc_ms(2025, 1, 3)]


# store: round trip, idempotence, merge ----------------------------------------------------------------------


def test_round_trip_through_load_ohlcv(data_root: Path) -> None:
    rows = mt5_rows(EURUSD_JAN)
    import_csv(EURUSD_JAN, source="mt5_icmarkets", symbol="EURUSD", timeframe="5m", tz=ATHENS, data_root=data_root)
    candles = load_ohlcv(*SERIES, data_root=data_root)
    assert len(candles) == 288
    pd.testing.assert_frame_equal(candles.to_frame(), expected_frame(rows, [server_time_ms(r, 2) for r in rows]))


def test_reimport_adds_nothing_and_an_overlapping_later_export_merges(data_root: Path, tmp_path: Path) -> None:
    lines = fixture_lines(EURUSD_JAN)
    earlier = write_lines(tmp_path / "earlier.csv", lines[:201])  # header + 00:00..16:35
    later = write_lines(tmp_path / "later.csv", [lines[0], *lines[151:]])  # header + 12:30..23:55

    def run(path: Path) -> tuple[int, int]:
        summary = import_csv(
            path, source="mt5_icmarkets", symbol="EURUSD", timeframe="5m", tz=ATHENS, data_root=data_root
        )
        return summary.bars_written, summary.bars_new

    assert run(earlier) == (200, 200)
    month_file = MarketStore(data_root).month_files(*SERIES)[0].path
    before = month_file.read_bytes()
    assert run(earlier) == (200, 0)
    assert month_file.read_bytes() == before
    assert run(later) == (138, 88)
    assert run(later) == (138, 0)
    rows = mt5_rows(EURUSD_JAN)
    loaded = load_ohlcv(*SERIES, data_root=data_root).to_frame()
    pd.testing.assert_frame_equal(loaded, expected_frame(rows, [server_time_ms(r, 2) for r in rows]))


# errors -----------------------------------------------------------------------------------------------------


def _edit(path: Path, line: int, edit: Callable[[list[str]], list[str]]) -> Callable[[Path], Path]:
    """A bad file: the fixture with the tab-separated fields of ``line`` (1-based) changed by ``edit``."""

    def build(tmp: Path) -> Path:
        lines = fixture_lines(path)
        lines[line - 1] = "\t".join(edit(lines[line - 1].split("\t")))
        return write_lines(tmp / "bad.csv", lines)

    return build


def _set(field: int, value: str) -> Callable[[list[str]], list[str]]:
    return lambda fields: [value if i == field else f for i, f in enumerate(fields)]


def _lines(make: Callable[[list[str]], list[str]], source: Path = EURUSD_JAN) -> Callable[[Path], Path]:
    return lambda tmp: write_lines(tmp / "bad.csv", make(fixture_lines(source)))


def _one_minute_bars(lines: list[str]) -> list[str]:
    out = [lines[0]]
    for minute, line in enumerate(lines[1:60]):
        fields = line.split("\t")
        fields[1] = f"00:{minute:02d}:00"
        out.append("\t".join(fields))
    return out


def _blank_line_then_high_below_low(lines: list[str]) -> list[str]:
    fields = lines[23].split("\t")
    fields[3], fields[4] = fields[4], fields[3]  # line 24 becomes line 25 after the blank line
    return [*lines[:5], "", *lines[5:23], "\t".join(fields), *lines[24:]]


def _bytes(data: bytes) -> Callable[[Path], Path]:
    def build(tmp: Path) -> Path:
        path = tmp / "bad.csv"
        path.write_bytes(data)
        return path

    return build


def _utf16_with_bad_number(tmp: Path) -> Path:
    lines = fixture_lines(EURUSD_APR_UTF16)
    lines[99] = lines[99].replace("\t0\t", "\tzero\t")
    path = tmp / "bad.csv"
    path.write_bytes(codecs.BOM_UTF16_LE + ("\r\n".join(lines) + "\r\n").encode("utf-16-le"))
    return path


def _plain(text: str) -> Callable[[Path], Path]:
    return _bytes(text.encode("utf-8"))


PLAIN_HEADER = "timestamp,open,high,low,close,volume\n"
BAD_INPUTS: dict[str, tuple[Callable[[Path], Path], int, str, tuple[str, ...]]] = {
    "number": (_edit(EURUSD_JAN, 7, _set(5, "1.03x28")), 7, "'1.03x28' is not a number", ()),
    "empty price": (_edit(EURUSD_JAN, 8, _set(2, "")), 8, "<OPEN> is empty", ()),
    "date form": (_edit(EURUSD_JAN, 5, _set(0, "2025/01/02")), 5, "is not a date like 2025.01.02", ()),
    "calendar date": (_edit(EURUSD_JAN, 6, _set(0, "2025.02.30")), 6, "is not a valid date and time", ()),
    "time": (_edit(EURUSD_JAN, 4, _set(1, "noon")), 4, "is not a time like 00:05:00", ()),
    "missing column": (
        _lines(lambda ls: ["\t".join(f for i, f in enumerate(x.split("\t")) if i != 5) for x in ls]),
        1,
        "missing column(s) <CLOSE>",
        (),
    ),
    "empty file": (_bytes(b""), 1, "the file is empty", ()),
    "header only": (_lines(lambda ls: ls[:1]), 1, "a header but no data rows", ()),
    "too few fields": (
        _edit(EURUSD_JAN, 9, lambda f: f[:-1]),
        9,
        "8 field(s), the header (line 1) has 9",
        (),
    ),
    "1m bars as 5m": (_lines(_one_minute_bars), 3, "is not on the 5m grid", ()),
    "5m bars as 1m": (_lines(lambda ls: ls), 3, "looks like a coarser timeframe", ("--timeframe", "1m")),
    "duplicate": (_lines(lambda ls: [*ls[:10], ls[9], *ls[10:]]), 11, "is the same bar as line 10", ()),
    "unsorted": (_lines(lambda ls: [*ls[:19], ls[20], ls[19], *ls[21:]]), 21, "must be in time order", ()),
    "high below low": (_edit(EURUSD_JAN, 30, lambda f: [*f[:3], f[4], f[3], *f[5:]]), 30, "< low", ()),
    "negative volume": (_edit(EURUSD_JAN, 40, _set(6, "-5")), 40, "negative volume", ()),
    "blank line before a bad row": (_lines(_blank_line_then_high_below_low), 25, "< low", ()),
    "skipped DST hour": (
        _edit(BTC_SPRING, 26, _set(1, "03:00:00")),
        26,
        "does not exist in Europe/Athens",
        ("--tz", ATHENS),
    ),
    "utf-16 number": (_utf16_with_bad_number, 100, "<VOL> 'zero' is not a number", ("--volume", "vol")),
    "undecodable byte": (
        _bytes(EURUSD_JAN.read_bytes().replace(b"\t1.03510\t", b"\t1.035\xe90\t", 1)),
        5,
        "not readable as utf-8",
        (),
    ),
    "forced mt5 on plain csv": (lambda tmp: PLAIN_EPOCH_MS, 1, "not an MT5 export", ("--format", "mt5")),
    "epoch units mixed": (
        _plain(PLAIN_HEADER + "1736150400,1,1,1,1,1\n1736150700000,1,1,1,1,1\n"),
        3,
        "looks like epoch milliseconds, line 2 like epoch seconds",
        (),
    ),
    "plain row too long": (
        _plain(PLAIN_HEADER + "1736150400,1,1,1,1,1\n1736150700,1,1,1,1,1,7\n"),
        3,
        "7 field(s)",
        (),
    ),
    "plain bad ISO time": (
        _plain("time,open,high,low,close\n2025-01-06T08:00:00Z,1,1,1,1\n2025-01-06T08:0500Z,1,1,1,1\n"),
        3,
        "is not an ISO-8601 date or time",
        (),
    ),
    "plain no time column": (_plain("when,open,high,low,close\n1,1,1,1,1\n"), 1, "no time column", ()),
}


def _api_kwargs(extra: tuple[str, ...]) -> dict[str, str]:
    options = dict(zip(extra[::2], extra[1::2], strict=True))
    return {
        "timeframe": options.get("--timeframe", "5m"),
        "tz": options.get("--tz", "UTC"),
        "fmt": options.get("--format", "auto"),
        "volume": options.get("--volume", "tickvol"),
    }


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_line_naming_file_and_line_and_writes_nothing(
    case: str, tmp_path: Path, data_root: Path
) -> None:
    build, line, message, extra = BAD_INPUTS[case]
    path = build(tmp_path)
    before = path.read_bytes()
    with pytest.raises(DataError) as caught:
        import_csv(path, source="mt5_icmarkets", symbol="EURUSD", data_root=data_root, **_api_kwargs(extra))
    text = str(caught.value)
    assert text.startswith(f"{path}: line {line}: "), text
    assert message in text
    assert "\n" not in text
    assert stored_files(data_root) == []

    result = run_cli(*import_args(path, data_root, *extra))
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.splitlines() == [f"error: {text}"]
    assert result.stdout == ""
    assert stored_files(data_root) == []
    assert path.read_bytes() == before


def test_a_bad_tz_is_a_config_error_naming_the_option(data_root: Path) -> None:
    with pytest.raises(ConfigError, match=r"^--tz: unknown time zone 'Europe/Athen' "):
        import_csv(
            EURUSD_JAN,
            source="mt5_icmarkets",
            symbol="EURUSD",
            timeframe="5m",
            tz="Europe/Athen",
            data_root=data_root,
        )
    result = run_cli(*import_args(EURUSD_JAN, data_root, "--tz", "Europe/Athen"))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: --tz: unknown time zone 'Europe/Athen' (expected an IANA name such as UTC or Europe/Athens)"
    ]
    assert stored_files(data_root) == []


@pytest.mark.parametrize(("option", "value"), [("fmt", "mt4"), ("volume", "real")])
def test_unknown_format_or_volume_names_the_option(option: str, value: str) -> None:
    flag = {"fmt": "--format", "volume": "--volume"}[option]
    with pytest.raises(ConfigError, match=rf"^{flag}: unknown value '{value}'"):
        read_csv_file(EURUSD_JAN, "5m", **{option: value})


def test_a_missing_file_is_a_one_line_error(tmp_path: Path, data_root: Path) -> None:
    missing = tmp_path / "EURUSD_M5_missing.csv"
    result = run_cli(*import_args(missing, data_root))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"error: {missing}: no such file"]
    assert stored_files(data_root) == []


# CLI --------------------------------------------------------------------------------------------------------


def test_cli_imports_an_mt5_export_and_a_second_run_adds_nothing(data_root: Path) -> None:
    args = import_args(EURUSD_JAN, data_root, "--tz", ATHENS)
    first = run_cli(*args)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == (
        f"{EURUSD_JAN}: mt5 file, times in Europe/Athens: 288 rows read, 288 bars written to "
        "mt5_icmarkets/EURUSD/5m (288 new), 2025-01-01 22:00 UTC .. 2025-01-02 21:55 UTC, months 2025-01"
    )
    second = run_cli(*args)
    assert second.returncode == 0, second.stderr
    assert "288 bars written to mt5_icmarkets/EURUSD/5m (0 new)" in second.stdout
    rows = mt5_rows(EURUSD_JAN)
    loaded = load_ohlcv(*SERIES, data_root=data_root).to_frame()
    pd.testing.assert_frame_equal(loaded, expected_frame(rows, [server_time_ms(r, 2) for r in rows]))
