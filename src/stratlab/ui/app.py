"""The entry script of ``stratlab ui`` (``streamlit run``): page setup and navigation only."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

VIEWS = Path(__file__).parent / "views"  # not "pages/": Streamlit would list that folder a second time

st.set_page_config(page_title="stratlab", page_icon="📈", layout="wide")
navigation = st.navigation(
    [
        st.Page(VIEWS / "data.py", title="Data", url_path="data", default=True),
        st.Page(VIEWS / "launch.py", title="Launch", url_path="launch"),
        st.Page(VIEWS / "monitor.py", title="Monitor", url_path="monitor"),
        st.Page(VIEWS / "analyze.py", title="Analyze", url_path="analyze"),
    ]
)
navigation.run()
