"""The entry script of ``stratlab ui`` (``streamlit run``): page setup and navigation only."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

PAGES = Path(__file__).parent / "pages"

st.set_page_config(page_title="stratlab", page_icon="📈", layout="wide")
navigation = st.navigation(
    [
        st.Page(PAGES / "data.py", title="Data", url_path="data", default=True),
        st.Page(PAGES / "launch.py", title="Launch", url_path="launch"),
        st.Page(PAGES / "monitor.py", title="Monitor", url_path="monitor"),
        st.Page(PAGES / "analyze.py", title="Analyze", url_path="analyze"),
    ]
)
navigation.run()
