"""Lecture Lab: the router. Page config, the shared sidebar and navigation; nothing else.

The demo scripts live in demos/, not pages/: with a pages/ folder beside the entry file,
Streamlit 1.67 serves a fresh server's first visitor in its legacy multipage mode (the page
script alone, no sidebar, a "Page not found" dialog) until someone opens the home page.
"""

import streamlit as st

from ui.catalogue import DEMOS
from ui.engine_wait import model_requests
from ui.lecture import apply_lecture_style
from ui.sidebar import render_sidebar

# A link in lecture mode opens with the sidebar folded away: the projector's first screen is the demo.
lecture_link = st.query_params.get("lecture", "") in ("1", "true", "on")
st.set_page_config(
    page_title="Lecture Lab",
    page_icon="🎓",
    layout="wide",
    initial_sidebar_state="collapsed" if lecture_link else "auto",
)

home = st.Page("demos/home.py", title="Home", icon="🎓", default=True)
demos = [st.Page(demo.script, title=demo.title, icon=demo.icon, url_path=demo.url_path) for demo in DEMOS]
page = st.navigation({"Lecture Lab": [home], "Demos": demos})

show_model_status = render_sidebar()
apply_lecture_style()
try:
    with model_requests():  # the page's model calls are this session's, and a long wait is shown
        page.run()
finally:  # also when the page stops early (st.stop) or asks for a rerun
    show_model_status()
