"""The Streamlit face of stratlab: it launches the headless runner and reads run directories, never optimises itself.

``app.py`` is the script ``streamlit run`` executes (``stratlab ui``); ``views/`` holds one script per page. The
modules beside them hold no Streamlit code: ``runs`` reads run directories safely, ``jobs`` starts background
processes, ``charts`` builds plotly figures, ``analysis`` replays and summarises a run.
"""
