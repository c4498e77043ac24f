"""Uploaded pictures, decoded once per session and kept small. Streamlit glue shared by pages.

Streamlit keeps every uploaded file's bytes in the server's memory for as long as the widget holds it:
a student's 200 probe photos of up to 10 MB each could hold 2 GB of a server the class shares. So each
upload is decoded once (keyed by its upload id), only the small picture is kept, and the file's bytes are
then handed back to Streamlit's upload store. From then on the widget's return value leaves the file out,
but its state (`st.session_state[key]`) still lists it, as a placeholder with the same id: pages read
their files with `uploaded_files(key)`. A session's kept pictures together stay under MAX_SESSION_IMAGES_MB.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import streamlit as st
from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

from models.images import ImageRejected, LoadedImage, load_image
from models.limits import MAX_IMAGE_SIDE, MAX_SESSION_IMAGES_MB

_STORES_KEY = "uploads__decoded"


@dataclass(frozen=True)
class Decoded:
    """One upload, decoded: the picture, or why it was refused (with the file's name, its bytes being gone)."""

    name: str
    image: LoadedImage | None
    rejected: ImageRejected | None = None


def uploaded_files(key: str) -> list:
    """The files an uploader (or camera) with widget key `key` holds, those whose bytes were let go included."""
    value = st.session_state.get(key)
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _stores() -> dict[str, dict[str, Decoded]]:
    return st.session_state.setdefault(_STORES_KEY, {})


def held_mb() -> float:
    """Memory the session's kept pictures take, all widgets together."""
    return sum(
        _image_mb(item.image) for store in _stores().values() for item in store.values() if item.image is not None
    )


def _image_mb(image: LoadedImage) -> float:
    return image.image.width * image.image.height * 3 / 2**20


def _release(file_id: str) -> None:
    """Hand an upload's bytes back: the widget keeps showing the file, the server no longer holds it."""
    ctx = get_script_run_ctx()
    if ctx is not None:
        ctx.uploaded_file_mgr.remove_file(ctx.session_id, file_id)


def read_uploads(widget: str, uploads: Sequence, max_side: int = MAX_IMAGE_SIDE) -> list[LoadedImage]:
    """The pictures of one uploader's files, in order; refusals are shown with their reason. Files the student
    removed are forgotten; past the session's memory bound the rest wait, with a message."""
    stores = _stores()
    previous = stores.get(widget, {})
    others = held_mb() - sum(_image_mb(item.image) for item in previous.values() if item.image is not None)
    current: dict[str, Decoded] = {}
    held = others
    for upload in uploads:
        item = previous.get(upload.file_id)
        if item is None:
            if not hasattr(upload, "getvalue"):  # its bytes were let go and its picture forgotten: ask again
                st.warning("A file was uploaded before a restart of this page's memory: upload it again.", icon="⬆️")
                continue
            if held >= MAX_SESSION_IMAGES_MB:
                st.warning(
                    f"Only the first {len(current)} photos are used: together they hold {held:.0f} MB, the most "
                    "one student's photos may take on this shared server. Remove some to use others.",
                    icon="✏️",
                )
                break
            try:
                item = Decoded(upload.name, load_image(upload.getvalue(), upload.name, max_side=max_side))
            except ImageRejected as error:
                item = Decoded(upload.name, None, error)
            _release(upload.file_id)
        current[upload.file_id] = item
        if item.image is not None:
            held += _image_mb(item.image)
    stores[widget] = current
    for item in current.values():
        if item.rejected is not None:
            st.warning(item.rejected.reason, icon="🚫")
            st.text(f"File: {item.name}")
    return [item.image for item in current.values() if item.image is not None]


def read_upload(widget: str, upload) -> LoadedImage | None:
    images = read_uploads(widget, [upload])
    return images[0] if images else None
