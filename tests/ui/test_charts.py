"""The UI's figures, checked on frames built by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd

from stratlab.ui.charts import monthly_figure


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
