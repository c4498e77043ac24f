"""CLIP zero-shot: classify any photo with "a photo of a {object}", see the contrastive objective as an
image × caption matrix, and compare zero-shot with a linear probe on frozen features."""

import numpy as np
import streamlit as st

from models import zero_shot as zs
from models.images import UPLOAD_TYPES, LoadedImage, gallery, load_gallery_photo
from models.limits import (
    MAX_IMAGES_IN_MATRIX,
    MAX_LABEL_LIST_CHARS,
    MAX_LABELS,
    MAX_TEMPLATE_CHARS,
    MAX_PROBE_UPLOADS,
    MAX_TEMPLATES,
    MAX_UPLOAD_MB,
    PROBE_IMAGE_SIDE,
)
from models.loading import LoadedModel
from models.registry import get_entry, models_of
from ui import clip_charts as charts
from ui.figures import show_figure
from ui.lecture import demo_columns, lecture_mode, page_lead
from ui.loaders import require_model
from ui.share import run_from_link
from ui.shared_store import SharedStore
from ui.uploads import read_upload, read_uploads, uploaded_files
from ui.url_state import UrlState

CLIP_KEYS = [entry.key for entry in models_of("clip")]
TEMPLATES = zs.shipped_templates()
PHOTOS = {photo.file: photo for photo in gallery()}
DEFAULT_LABELS = "\n".join([*(photo.label for photo in PHOTOS.values()), "dog", "car"])
SOURCES = {"gallery": "📷 Gallery", "upload": "⬆️ Upload", "camera": "🤳 Camera"}
PROBE_DATA = {"digits": "Handwritten digits (scikit-learn)", "uploads": "My labelled photos"}
MATRIX_PHOTOS = list(PHOTOS)[:5]
TABS = ["Zero-shot", "Similarity matrix", "Linear probe"]
MAX_STORED_FEATURE_SETS = 8

INTRO = """
**CLIP** (Contrastive Language–Image Pre-training, Radford et al. 2021) trains an image encoder and a text
encoder on 400 million (image, caption) pairs so that the embeddings of an image and *its* caption are close,
and mismatched pairs are pushed apart. At test time any list of labels becomes a classifier: write each as
**"a photo of a {object}"**, embed it, and pick the label whose text is closest to the image. No training
example of those classes is needed: this is **zero-shot** learning.
"""

RECIPE = """
**The recipe.** Both encoders output unit vectors, so their dot product is the **cosine similarity**.
CLIP multiplies it by its learned temperature (the *logit scale*, about 100 in trained models) and takes a
**softmax over the labels**: probabilities that always sum to 1 over the labels *you* gave, so they say which
label fits best, not whether any fits. The cosines on the right are the raw scores before that.
"""

MATRIX_TEXT = """
**The contrastive objective, made visible.** In training, CLIP sees a batch of N images with their N captions
and is rewarded when each image is most similar to its own caption (the diagonal) and less similar to the
N − 1 others: a cross-entropy over each row (image → caption) and each column (caption → image).
"""


# ---------------------------------------------------------------------------------------
# Cached work: text vectors per (model, labels, templates); image vectors per (model, image)


@st.cache_resource(show_spinner=False)
def gallery_images() -> dict[str, LoadedImage]:
    return {file: load_gallery_photo(photo) for file, photo in PHOTOS.items()}


@st.cache_data(max_entries=64, show_spinner="Encoding the prompts…")
def label_vectors(
    model_key: str, device: str, labels: tuple[str, ...], templates: tuple[str, ...], _loaded: LoadedModel
) -> zs.LabelEmbeddings:
    return zs.embed_labels(_loaded, labels, templates)


@st.cache_data(max_entries=256, show_spinner="Encoding the photo…")
def image_vector(identity: str, digest: str, _loaded: LoadedModel, _image) -> np.ndarray:
    """(dim,) unit vector of one image, keyed on its bytes' digest."""
    return zs.encode_images(_loaded, [_image])[0]


@st.cache_resource(show_spinner=False)
def digits() -> zs.LabelledImages:
    return zs.digits_dataset()


@st.cache_resource(show_spinner=False)
def probe_features() -> SharedStore[tuple[str, str, str], np.ndarray]:
    """Frozen image features of the probe's data sets, shared by every session: extracted once per
    (model, device, data set), with a progress bar, so they cannot live in a plain cached function."""
    return SharedStore(MAX_STORED_FEATURE_SETS)


@st.cache_data(max_entries=16, show_spinner="Training the linear probes…")
def probe_result(
    model_key: str,
    device: str,
    data_id: str,
    prompt: str,
    _features: np.ndarray,
    _data: zs.LabelledImages,
    _loaded: LoadedModel,
) -> zs.ProbeResult:
    class_vectors = label_vectors(model_key, device, _data.class_names, (prompt,), _loaded)
    return zs.probe_against_zero_shot(_features, _data, class_vectors)


def vectors_of(loaded: LoadedModel, images: list[LoadedImage]) -> np.ndarray:
    return np.stack([image_vector(loaded.identity, im.digest, loaded, im.image) for im in images])


# ---------------------------------------------------------------------------------------
# Small display helpers (user text is always shown with st.text / st.code)


def show_notices(notices: tuple[zs.Notice, ...]) -> None:
    for notice in notices:
        st.warning(notice.message, icon="✏️")
        if notice.examples:
            st.code("\n".join(notice.examples), language=None, wrap_lines=True)


def display_name(key: str) -> str:
    return get_entry(key).display_name


# ---------------------------------------------------------------------------------------
# Sections

PRESENTER_PHOTO_WIDTH = 300  # px: the photo leaves room for the labels on the projector's first screen
PRESENTER_CHART_ROOM = 440  # px below the model settings and the tabs, on a 1280 × 720 projector


def controls(url: UrlState) -> str:
    """Model and template-ensemble controls, folded: the default model answers; on a phone they would push the
    answer past the second screen. Returns the model key."""
    with st.expander("Model and template ensembling", icon="⚙️"):
        left, right = st.columns([1, 2])
        model_key = left.selectbox(
            "CLIP model", CLIP_KEYS, format_func=display_name, key=url.choice("model", CLIP_KEYS[0], CLIP_KEYS)
        )
        right.toggle(
            "Template ensembling",
            key=url.bool("ensemble", False),
            help="Average each label's unit text vectors over several templates, then renormalise "
            "(the CLIP paper's prompt ensembling).",
        )
        # Full width: in the narrow column beside the model picker, the chosen templates' chips ran out of their box.
        st.multiselect(
            f"Templates to add to yours (up to {MAX_TEMPLATES} in all)",
            list(range(len(TEMPLATES.templates))),
            format_func=lambda index: TEMPLATES.templates[index],
            key=url.multi(
                "ens",
                [TEMPLATES.templates.index(t) for t in TEMPLATES.default_ensemble],
                list(range(len(TEMPLATES.templates))),
            ),
            disabled=not st.session_state[url.key("ensemble")],
            help="The default is the CLIP notebook's best 7 of its 80 ImageNet templates.",
        )
    return model_key


def pick_image(url: UrlState, shown: bool) -> LoadedImage | None:
    """The photo to classify. Drawn only when its tab is `shown`; the widgets are always there, so an upload
    stays when the student looks at another tab."""
    source = st.radio(
        "Image from",
        list(SOURCES),
        format_func=SOURCES.get,
        horizontal=True,
        key=url.choice("source", "gallery", list(SOURCES)),
    )
    if source == "gallery":
        file = st.selectbox(
            "Photo",
            list(PHOTOS),
            format_func=lambda f: PHOTOS[f].title,
            key=url.choice("photo", "chelsea.jpg", list(PHOTOS)),
        )
        image = gallery_images()[file]
        if shown:
            st.image(image.image, width=PRESENTER_PHOTO_WIDTH if lecture_mode() else "stretch")
            st.caption(f"Source: {PHOTOS[file].source}. Licence: {PHOTOS[file].licence}.")
        return image
    if source == "upload":
        st.file_uploader(
            f"Upload a photo (JPEG, PNG, WebP or GIF; up to {MAX_UPLOAD_MB} MB)",
            type=list(UPLOAD_TYPES),
            key="clip__upload",
            max_upload_size=MAX_UPLOAD_MB,
        )
        files = uploaded_files("clip__upload")
        if not files:
            st.info("Choose an image file, or drag one here.", icon="⬆️")
            return None
        image = read_upload("clip__upload", files[0])
    else:
        st.camera_input("Take a photo", key="clip__camera")
        shots = uploaded_files("clip__camera")
        if not shots:
            st.info("Allow the camera in your browser, then take a photo.", icon="🤳")
            return None
        image = read_upload("clip__camera", shots[0])
    if image is not None and shown:
        if source == "upload":  # the camera widget already shows the photo it took
            st.image(image.image, width="stretch")
            st.text(f"File: {image.name}")
        for note in image.notes:
            st.caption(note)
    return image


def checked_prompts(url: UrlState, loaded: LoadedModel) -> tuple[zs.Checked, zs.Checked]:
    """The label and template widgets, checked against the tokenizer; returns (labels, templates)."""
    labels_text = st.text_area(
        f"Labels: one per line, or separated by commas (up to {MAX_LABELS})",
        key=url.text("labels", DEFAULT_LABELS, max_chars=MAX_LABEL_LIST_CHARS),
        height=150 if lecture_mode() else 200,
        max_chars=MAX_LABEL_LIST_CHARS,
    )
    template = st.text_input(
        'Prompt template: "{}" is where each label goes',
        key=url.text("template", zs.DEFAULT_TEMPLATE, max_chars=MAX_TEMPLATE_CHARS),
        max_chars=MAX_TEMPLATE_CHARS,
    )
    raw_templates = [template]
    if st.session_state[url.key("ensemble")]:
        raw_templates += [TEMPLATES.templates[i] for i in st.session_state[url.key("ens")]]
    context = loaded.entry.context_length
    templates = zs.check_templates(raw_templates, loaded.tokenizer, context)
    labels = zs.check_labels(zs.parse_lines(labels_text), loaded.tokenizer, templates.items, context)
    return labels, templates


def zero_shot_section(url: UrlState, loaded: LoadedModel, shown: bool) -> LoadedImage | None:
    """Inputs always (their values live in them), the model's answer only when the tab is `shown`."""
    inputs, answer = demo_columns()
    with inputs:
        image = pick_image(url, shown)
        labels, templates = checked_prompts(url, loaded)
    if not shown:
        return image
    with answer:
        show_answer(loaded, image, labels, templates)
    return image


def show_answer(loaded: LoadedModel, image: LoadedImage | None, labels: zs.Checked, templates: zs.Checked) -> None:
    """CLIP's probabilities for the photo over the labels, and how they were computed."""
    show_notices(templates.notices + labels.notices)
    if not labels.items:
        st.info("Type at least one label, for example cat, dog, car.", icon="✏️")
        return
    if image is None:
        st.info("The answer appears here once there is a photo.", icon="🖼️")
        return
    embeddings = label_vectors(loaded.entry.key, loaded.device, labels.items, templates.items, loaded)
    result = zs.zero_shot(vectors_of(loaded, [image]), embeddings, zs.logit_scale(loaded))
    show_figure(
        charts.probability_figure(result),
        name=f"clip_zero_shot_{loaded.entry.key}",
        table=charts.probability_table(result),
        key="clip_probabilities",
        main=True,
        room=PRESENTER_CHART_ROOM,
    )
    st.markdown(RECIPE)
    count = len(templates.items)
    st.caption(
        f"{len(labels.items)} labels × {count} template{'s' if count > 1 else ''} = "
        f"{len(labels.items) * count} prompts · {display_name(loaded.entry.key)} on {loaded.device}"
        + (" · each label's vector is the mean of its templates' unit vectors, renormalised" if count > 1 else "")
    )
    if not lecture_mode():
        with st.expander("The prompts CLIP read"):
            st.code("\n".join(zs.fill(t, label) for label in labels.items for t in templates.items), language=None)


def matrix_section(url: UrlState, loaded: LoadedModel, own_image: LoadedImage | None) -> None:
    st.markdown(MATRIX_TEXT)
    chosen = st.multiselect(
        f"Photos: the rows (up to {MAX_IMAGES_IN_MATRIX})",
        list(PHOTOS),
        format_func=lambda f: PHOTOS[f].title,
        max_selections=MAX_IMAGES_IN_MATRIX,
        key=url.multi("matrix_photos", MATRIX_PHOTOS, list(PHOTOS)),
    )
    images = [gallery_images()[file] for file in chosen]
    default_captions = [PHOTOS[file].caption for file in chosen]
    if own_image is not None and st.toggle("Add my photo as the last row", key="clip__matrix_own"):
        images.append(own_image)
        default_captions.append("a photo of my own")
    if not images:
        st.info("Choose at least one photo.", icon="📷")
        return
    st.image([image.image for image in images], width=110)
    # Keyed on the rows, so the captions follow the photos when the choice changes.
    captions_key = "clip__captions__" + "|".join(image.digest[:12] for image in images)
    if captions_key not in st.session_state:
        st.session_state[captions_key] = linked_captions() or "\n".join(default_captions)
    captions_text = st.text_area(
        "Captions: the columns, one per line, in the same order as the photos (add more as distractors)",
        key=captions_key,
        height=200,
        max_chars=MAX_LABEL_LIST_CHARS,
    )
    keep_captions_in_link(captions_text, "\n".join(default_captions))
    captions = zs.check_captions(
        [line for line in captions_text.splitlines()], loaded.tokenizer, loaded.entry.context_length, MAX_LABELS
    )
    show_notices(captions.notices)
    if not captions.items:
        st.info("Type at least one caption.", icon="✏️")
        return
    view = st.radio(
        "Show",
        list(charts.MATRIX_VIEWS),
        format_func=charts.MATRIX_VIEWS.get,
        horizontal=True,
        key=url.choice("matrix_view", next(iter(charts.MATRIX_VIEWS)), list(charts.MATRIX_VIEWS)),
    )
    show_matrix(loaded, images, captions.items, view)


def show_matrix(loaded: LoadedModel, images: list[LoadedImage], captions: tuple[str, ...], view: str) -> None:
    """The photos × captions matrix, and CLIP's training loss on it when every photo has its caption."""
    caption_vectors = label_vectors(loaded.entry.key, loaded.device, captions, (zs.LABEL_SLOT,), loaded)
    matrix = zs.similarity_matrix(
        vectors_of(loaded, images),
        [image.name for image in images],
        caption_vectors.vectors,
        captions,
        zs.logit_scale(loaded),
    )
    show_figure(
        charts.similarity_figure(matrix, view),
        name=f"clip_similarity_{loaded.entry.key}",
        table=charts.similarity_table(matrix),
        key="clip_matrix",
    )
    if matrix.contrastive_loss is not None:
        n = len(images)
        st.caption(
            f"CLIP's training loss on this batch: {matrix.contrastive_loss:.3f} (symmetric cross-entropy with the "
            f"diagonal as targets). 0 would be perfect; a blind guess among {n} scores ln {n} = {np.log(n):.3f}."
        )
    else:
        st.caption("The training loss needs as many captions as photos (one matching caption per photo).")


def linked_captions() -> str | None:
    """The matrix's captions from the link, on the session's first matrix only (later photo choices get their own
    default captions)."""
    if st.session_state.get("clip__captions_link_used"):
        return None
    st.session_state["clip__captions_link_used"] = True
    linked = st.query_params.get("captions")
    return linked[:MAX_LABEL_LIST_CHARS] if linked else None


def keep_captions_in_link(captions: str, defaults: str) -> None:
    """Edited captions go into the link (the photos' own captions are the default, left out)."""
    if captions != defaults:
        if st.query_params.get("captions") != captions:
            st.query_params["captions"] = captions
    elif "captions" in st.query_params:
        del st.query_params["captions"]


def probe_data(shown: bool) -> tuple[str, zs.LabelledImages | None]:
    """The chosen labelled set and an identifier for caching, or None (with a message) if unusable. Uploads are
    decoded only when the tab is `shown`."""
    # Its own link binding: this runs in the probe's fragment, which reruns without the rest of the page.
    url = UrlState("clip")
    choice = st.radio(
        "Labelled images",
        list(PROBE_DATA),
        format_func=PROBE_DATA.get,
        horizontal=True,
        key=url.choice("probe_data", "digits", list(PROBE_DATA)),
    )
    url.write()
    if choice == "digits":
        return "digits", digits()
    st.file_uploader(
        f"Photos named by class, e.g. cat_1.jpg, cat_2.jpg, dog_1.jpg (at least 2 classes × 2 photos; "
        f"up to {MAX_PROBE_UPLOADS} files)",
        type=list(UPLOAD_TYPES),
        accept_multiple_files=True,
        key="clip__probe_uploads",
        max_upload_size=MAX_UPLOAD_MB,
    )
    uploads = uploaded_files("clip__probe_uploads")
    if not uploads:
        st.info("Upload a few photos of each class; the part of the name before _ or - or a digit is the label.")
        return "uploads", None
    if not shown:
        return "uploads", None
    if len(uploads) > MAX_PROBE_UPLOADS:
        st.warning(f"Only the first {MAX_PROBE_UPLOADS} files are used (the limit).", icon="✏️")
    good = read_uploads("clip__probe_uploads", uploads[:MAX_PROBE_UPLOADS], PROBE_IMAGE_SIDE)
    try:
        data = zs.labelled_from_names([image.image for image in good], [image.name for image in good])
    except ValueError as error:
        st.warning(str(error), icon="✏️")
        return "uploads", None
    return "uploads:" + ",".join(sorted(image.digest[:16] for image in good)), data


@st.fragment
def probe_section(model_key: str, template: str, shown: bool) -> None:
    """The linear probe: its controls rerun this part only. Keys as arguments: they stay with the session.
    Its widgets are always there (an upload stays while another tab is open); the work runs when `shown`."""
    loaded = require_model(model_key)
    st.markdown(
        "**Transfer learning in one chart.** Keep CLIP's image encoder frozen and fit only a new output layer "
        "(logistic regression) on a few labelled examples per class, then compare with zero-shot CLIP, "
        "which saw no labelled example at all."
    )
    data_id, data = probe_data(shown)
    if data is None or not shown:
        return
    is_digits = data_id == "digits"
    prompt = TEMPLATES.digits_template if is_digits else template
    st.caption(
        f"Data: {data.description}. Zero-shot prompt: "
        + ("the CLIP paper's MNIST template." if is_digits else "your template.")
    )
    if is_digits:
        st.image([data.images[np.flatnonzero(data.targets == c)[0]] for c in range(len(data.class_names))], width=56)
    store = probe_features()
    key = (loaded.entry.key, loaded.device, data_id)
    features = store.get(key)
    if features is None:
        start = st.empty()
        pressed = start.button("Extract features and train the probe", key="clip__probe_run", icon="▶️", type="primary")
        if not (run_from_link("probe", "Extract features and train the probe") or pressed):
            st.caption(f"CLIP encodes {len(data.images)} images once (a progress bar shows how far it is).")
            return
        start.empty()
        bar = st.progress(0.0, text="Extracting frozen CLIP image features…")
        features = zs.encode_images(
            loaded,
            list(data.images),
            progress=lambda done, total: bar.progress(
                done / total, text=f"Extracting CLIP features: {done}/{total} images"
            ),
        )
        bar.empty()
        store.put(key, features)  # bounded: the oldest set goes, so a shared server's memory stays flat
    result = probe_result(*key, prompt, features, data, loaded)
    show_figure(
        charts.probe_figure(result),
        name=f"clip_linear_probe_{loaded.entry.key}",
        table=charts.probe_table(result),
        key="clip_probe",
    )
    st.markdown(probe_sentences(result))


def probe_sentences(result: zs.ProbeResult) -> str:
    """Two sentences: what the chart shows, and what this run found."""
    most = result.shots[-1]
    general = (
        "Each point is a logistic regression trained on frozen CLIP features from k labelled images per class "
        "(the transfer-learning recipe: reuse the pre-trained encoder, fit only the output layer); the dashed "
        "line is zero-shot CLIP, which got its classifier from the label text alone."
    )
    needed = result.shots_to_beat_zero_shot()
    best = result.mean_accuracy[-1]
    if needed is None:
        found = (
            f"Here even {most} examples per class do not beat zero-shot ({best:.0%} against "
            f"{result.zero_shot_accuracy:.0%}): the words were worth more than that many labelled images."
        )
    else:
        found = (
            f"Here the probe needs {needed} example{'s' if needed > 1 else ''} per class to beat zero-shot, "
            f"and reaches {best:.0%} with {most} (zero-shot: {result.zero_shot_accuracy:.0%})."
        )
    return f"{general} {found}"


def keep_matrix_choices() -> None:
    """Keep the matrix's photos, captions and view while another tab is open (Streamlit forgets the values of
    widgets a run does not draw)."""
    for key in [key for key in st.session_state if str(key).startswith(("clip__matrix_", "clip__captions__"))]:
        st.session_state[key] = st.session_state[key]


# ---------------------------------------------------------------------------------------
# The page


def page() -> None:
    """Lay out the page. A function, not module code: widget callbacks keep the page's globals alive
    for as long as the student's session lasts, and a model held there could never be let go."""
    page_lead("🖼️ CLIP zero-shot", INTRO)
    url = UrlState("clip")
    model_key = controls(url)
    loaded = require_model(model_key)
    # Bound to the URL, so a link can open the matrix or the probe directly, and the chosen tab survives
    # reruns. Only the open tab does its work (a student's rerun costs one tab, not three); the zero-shot and
    # probe inputs are drawn in every run so that uploads stay, and the matrix's choices are kept for it.
    keep_matrix_choices()
    zero_tab, matrix_tab, probe_tab = st.tabs(TABS, key="clip_tab", bind="query-params")
    with zero_tab:
        own = zero_shot_section(url, loaded, shown=zero_tab.open)
    with matrix_tab:
        if matrix_tab.open:
            matrix_section(url, loaded, own if st.session_state[url.key("source")] != "gallery" else None)
    with probe_tab:
        your_template = zs.check_templates(
            [st.session_state[url.key("template")]], loaded.tokenizer, loaded.entry.context_length
        ).items[0]
        probe_section(model_key, your_template, shown=probe_tab.open)
    url.write()
    url.show_link_notes()


page()
