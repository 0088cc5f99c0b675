"""The UI's figures, checked on frames built by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd

from stratlab.ui.charts import monthly_figure, pareto_figure


def test_monthly_heat_map_labels_years_as_years() -> None:
    """Two years as numbers would make plotly put a tick at 2,024.5; as categories each row is its year."""
    table = pd.DataFrame(
        [[1.5, -2.0, *[np.nan] * 10], [0.5, 3.0, *[np.nan] * 10]], index=pd.Index([2024, 2025], name="year"),
        columns=pd.Index(range(1, 13), name="month"),
    )  # fmt: skip
    figure = monthly_figure(table)
    assert figure.layout.yaxis.type == "category"
    assert list(figure.layout.yaxis.categoryarray) == ["2024", "2025"]
    assert list(figure.data[0].y) == ["2024", "2025"]
    assert len(figure.data[0].x) == 12 and list(figure.data[0].x[:2]) == ["Jan", "Feb"]
    assert figure.data[0].text[1][1] == "+3.0%"


def test_the_drawdown_threshold_is_drawn_on_the_selection_panel_only() -> None:
    candidates = pd.DataFrame(
        {
            "strategy": ["ma_cross", "ma_cross"], "trial": [1, 2], "params": ["{}", "{}"],
            "train_return_pct": [10.0, 20.0], "train_max_drawdown_pct": [5.0, 12.0],
            "test_return_pct": [3.0, -1.0], "test_max_drawdown_pct": [4.0, 25.0],
        }
    )  # fmt: skip
    figure = pareto_figure(candidates, "test", ("ma_cross", 1), 20.0)
    lines = [shape for shape in figure.layout.shapes if shape.type == "line"]
    assert len(lines) == 1 and lines[0].x0 == lines[0].x1 == 20.0
    assert lines[0].xref == "x2"  # the right-hand panel: the selection part, where the rule applies
    assert "DD threshold 20 %" in figure.layout.annotations[-1].text
    assert not [s for s in pareto_figure(candidates, "test", None).layout.shapes if s.type == "line"]
