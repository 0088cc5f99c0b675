"""The Data page's order-book section through Streamlit's AppTest: a one-line notice without order books; with one,
its table, the series and day selectors and the depth and imbalance chart, labelled in UTC with units."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from stratlab.data.dates import day_start_ms
from stratlab.data.orderbook.store import OrderBookStore
from stratlab.ui.charts import order_book_figure
from stratlab.ui.orderbook import MAX_POINTS, thinned_for_display
from tests.data.test_orderbook_store import simple

APP = Path(__file__).parents[2] / "src" / "stratlab" / "ui" / "app.py"
DAY = day_start_ms("2025-03-10")


def data_page(monkeypatch: pytest.MonkeyPatch, data_root: Path, runs_root: Path) -> AppTest:
    monkeypatch.setenv("STRATLAB_DATA_ROOT", str(data_root))
    monkeypatch.setenv("STRATLAB_RUNS_ROOT", str(runs_root))
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_without_order_books_the_page_says_so_in_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    at = data_page(monkeypatch, tmp_path / "market_data", tmp_path / "runs")
    notes = [i.value for i in at.info if "order book" in i.value]
    assert len(notes) == 1 and "stratlab data orderbook record" in notes[0]
    assert "Order book" not in {s.label for s in at.selectbox}


def test_a_recorded_order_book_is_listed_and_charted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    data_root = tmp_path / "market_data"
    store = OrderBookStore(data_root)
    store.write_snapshots("hyperliquid_perps", "BTC", [simple(DAY + i * 5_000, shift=i % 3 * 0.1) for i in range(30)])
    store.write_snapshots("hyperliquid_perps", "BTC", [simple(DAY + 86_400_000 + 1_000)])
    at = data_page(monkeypatch, data_root, tmp_path / "runs")
    assert not [i.value for i in at.info if "order book" in i.value]
    table = next(frame.value for frame in at.dataframe if "snapshots" in frame.value.columns)
    assert table.to_dict("records") == [
        {"source": "hyperliquid_perps", "symbol": "BTC", "first snapshot": "2025-03-10 00:00:00 UTC",
         "last snapshot": "2025-03-11 00:00:01 UTC", "days": 2, "snapshots": 31, "problems": 0},
    ]  # fmt: skip
    selectors = {s.label: s for s in at.selectbox}
    assert selectors["Order book"].options == ["hyperliquid_perps / BTC"]
    assert selectors["Day (UTC)"].options == ["2025-03-11", "2025-03-10"]  # newest first
    selectors["Day (UTC)"].set_value(DAY).run()
    assert not at.exception, [e.value for e in at.exception]
    chart = json.loads(at.get("plotly_chart")[-1].proto.spec)
    assert chart["layout"]["title"]["text"] == "hyperliquid_perps/BTC on 2025-03-10: 30 snapshots"
    names = [trace["name"] for trace in chart["data"]]
    assert names == ["bids within 10 bps", "asks within 10 bps", "imbalance"]


def test_a_damaged_day_is_a_warning_and_an_error_naming_its_file_not_a_crash(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data_root = tmp_path / "market_data"
    store = OrderBookStore(data_root)
    store.write_snapshots("hyperliquid_perps", "BTC", [simple(DAY + i * 5_000) for i in range(10)])
    store.write_snapshots("hyperliquid_perps", "BTC", [simple(DAY + 86_400_000 + 1_000)])
    path = store.day_files("hyperliquid_perps", "BTC")[-1].path  # the newest day, the one charted first
    path.write_bytes(path.read_bytes()[:100])
    at = data_page(monkeypatch, data_root, tmp_path / "runs")
    table = next(frame.value for frame in at.dataframe if "snapshots" in frame.value.columns)
    assert table.to_dict("records")[0]["problems"] == 1 and table.to_dict("records")[0]["snapshots"] == 10
    assert [w.value for w in at.warning if str(path) in w.value]
    assert [e.value for e in at.error if e.value.startswith(f"hyperliquid_perps/BTC: {path}: unreadable")]
    selectors = {s.label: s for s in at.selectbox}
    selectors["Day (UTC)"].set_value(DAY).run()  # the undamaged day still charts
    assert not at.exception, [e.value for e in at.exception]
    chart = json.loads(at.get("plotly_chart")[-1].proto.spec)
    assert chart["layout"]["title"]["text"] == "hyperliquid_perps/BTC on 2025-03-10: 10 snapshots"


def test_the_chart_is_labelled_in_utc_with_units_and_thousands_separators() -> None:
    frame = pd.DataFrame(
        {"time": pd.to_datetime([DAY, DAY + 5_000], unit="ms"), "depth_bid_quote": [1_234_567.0, 2e6],
         "depth_ask_quote": [3e6, 4e6], "imbalance": [0.25, -0.5]}
    )  # fmt: skip
    figure = order_book_figure(frame, "t", 25.0, 5)
    assert figure.layout.yaxis.title.text == "depth within 25 bps (quote)" and figure.layout.yaxis.tickformat == ",.0f"
    assert figure.layout.yaxis2.title.text == "imbalance, top 5 levels"
    assert figure.layout.xaxis2.title.text == "time (UTC)"
    assert "UTC" in figure.data[0].hovertemplate and "%{y:,.0f} quote" in figure.data[0].hovertemplate


def test_a_long_day_is_thinned_to_bucket_means_for_display() -> None:
    frame = pd.DataFrame({"value": np.arange(MAX_POINTS * 3 + 1, dtype=np.float64)})
    thinned, per_point = thinned_for_display(frame, MAX_POINTS)
    assert per_point == 4 and len(thinned) <= MAX_POINTS
    assert thinned["value"].iloc[0] == 1.5  # mean of 0, 1, 2, 3
