"""Home: what each demo teaches, the models and their status, and how to prepare a classroom."""

import pandas as pd
import streamlit as st

from models.loading import MODEL_DIR_ENV, PREFETCH_COMMAND, find_local_source
from models.registry import MODELS
from ui.catalogue import DEMOS
from ui.loaders import all_model_status, current_device

st.title("🎓 Lecture Lab")
st.markdown(
    "Live demos for the course on **transfer learning and autoregressive LLMs**, on real models: "
    "pre-training and fine-tuning, self-attention, BERT against GPT, in-context learning, CLIP, "
    "and the bias–variance trade-off with double descent."
)

columns = st.columns(len(DEMOS) if len(DEMOS) <= 3 else 3)
for index, demo in enumerate(DEMOS):
    with columns[index % len(columns)].container(border=True):
        st.page_link(demo.script, label=f"**{demo.title}**", icon=demo.icon)
        st.caption(demo.teaches)

st.subheader("Models")
_WHERE = {
    "local-dir": "on disk (local folder)",
    "package": "on disk (installed package)",
    "cache": "on disk (Hugging Face cache)",
}
statuses = all_model_status()
rows = []
for entry in MODELS:
    source, problem = find_local_source(entry)
    rows.append(
        {
            "Model": entry.display_name,
            "Used for": entry.role,
            "Size (MB)": entry.size_mb,
            "Licence": entry.licence,
            "On this machine": _WHERE[source.kind] if source else "not yet: downloads on first use",
            "Status": statuses[entry.key].describe(),
        }
    )
st.dataframe(
    pd.DataFrame(rows),
    hide_index=True,
    width="stretch",
    column_config={
        "Model": st.column_config.TextColumn(width="medium"),
        "Used for": st.column_config.TextColumn(width="medium"),
        "Status": st.column_config.TextColumn(width="medium"),
        "Size (MB)": st.column_config.NumberColumn(width="small"),
        "Licence": st.column_config.TextColumn(width="small"),
    },
)
st.caption(
    f"Models run on: {current_device().label}. Default models together: "
    f"{sum(e.size_mb for e in MODELS if e.is_default):,} MB of weights."
)

st.subheader("Before class: prefetch the models")
st.markdown(
    "Classroom Wi-Fi is the weakest link. On a machine with internet, download every default model once; "
    "the app then starts without touching the network:"
)
st.code(
    f"{PREFETCH_COMMAND}                      # into the Hugging Face cache\n"
    f"{PREFETCH_COMMAND} --dir ./local_models  # or into a folder you can copy to a USB stick\n"
    f"{MODEL_DIR_ENV}=./local_models streamlit run app.py",
    language="bash",
)
