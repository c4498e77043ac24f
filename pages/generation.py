import streamlit as st

st.title("Coming soon")
st.info("This demo is being built.")
