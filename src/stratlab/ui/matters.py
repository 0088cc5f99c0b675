"""What matters, on a page: a surrogate's quality in words, SHAP importance and summary, a dependence plot and, on
request, the UMAP map of the trials (the Research page per strategy of an experiment, Analyze per strategy of a run)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import streamlit as st

from stratlab.errors import StratlabError
from stratlab.research.explain import Explanation
from stratlab.research.surrogate import (
    dependence_figure,
    importance,
    importance_figure,
    shap_summary_figure,
    strongest_interaction,
    umap_figure,
)


def show_what_matters(explained: Explanation, score_name: str, key: str, embedding: Callable[[], np.ndarray]) -> None:
    """The section's body for one strategy's ``explained`` surrogate; ``embedding`` computes (and caches) its map."""
    st.markdown(
        f"A LightGBM model of the {score_name} from {explained.strategy}'s parameters and searched settings, over "
        f"{len(explained.score):,} trials: {explained.surrogate.quality.summary}. SHAP says how much each knob moved "
        "each trial's prediction."
    )
    ranking = importance(explained.shap)
    left, right = st.columns(2)
    left.plotly_chart(importance_figure(ranking), width="stretch", key=f"{key}-importance")
    right.plotly_chart(shap_summary_figure(explained.shap), width="stretch", key=f"{key}-shap")
    feature = st.selectbox("Dependence of", list(ranking.index), key=f"{key}-dependence")
    st.plotly_chart(
        dependence_figure(explained.shap, feature, strongest_interaction(explained.shap, feature)),
        width="stretch", key=f"{key}-dependence-figure",
    )  # fmt: skip
    if st.checkbox("Map the trials by what drives them (UMAP of the SHAP values)", key=f"{key}-umap"):
        try:
            mapped = embedding()
        except StratlabError as exc:
            st.error(str(exc))
            return
        st.plotly_chart(umap_figure(mapped, explained.shap, explained.score, score_name), width="stretch",
                        key=f"{key}-umap-figure")  # fmt: skip


__all__ = ["show_what_matters"]
