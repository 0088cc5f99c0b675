"""The entry script of ``stratlab ui`` (``streamlit run``): page setup and navigation only."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

VIEWS = Path(__file__).parent / "views"  # not "pages/": Streamlit would list that folder a second time

st.set_page_config(page_title="stratlab", page_icon="📈", layout="wide")
data_page = st.Page(VIEWS / "data.py", title="Data", url_path="data")


def home() -> None:
    """The app's root (``/``) opens the Data page. Streamlit serves its default page at ``/`` only, whatever its
    url_path says, so Data itself is not the default: it would answer on ``/`` and "Page not found" on ``/data``."""
    st.switch_page(data_page, query_params=st.query_params.to_dict())  # a shared ?run= link keeps its run


navigation = st.navigation(
    [
        st.Page(home, title="Home", url_path="home", default=True, visibility="hidden"),
        data_page,
        st.Page(VIEWS / "launch.py", title="Launch", url_path="launch"),
        st.Page(VIEWS / "monitor.py", title="Monitor", url_path="monitor"),
        st.Page(VIEWS / "analyze.py", title="Analyze", url_path="analyze"),
        st.Page(VIEWS / "portfolio.py", title="Portfolio", url_path="portfolio"),
        st.Page(VIEWS / "paper.py", title="Paper", url_path="paper"),
        st.Page(VIEWS / "research.py", title="Research", url_path="research"),
    ]
)
navigation.run()
