"""Hostile and broken input across every page, as one table: what a class of students may type or paste,
or put in a shared link, and what each page must answer.

Every row names a page, how the input arrives (query parameters in the link, then optional widget
values, uploads and a button press), and what must be shown: a clear message (a fragment of a
warning, info, error or caption) or a valid result (a chart). No row may end in an exception.

The pages' own tests cover their named bad inputs (empty text, the limits, the five classic hostile
strings); these rows add what else breaks things: text at and past the character limit, control and
escape characters, zero-width and joiner characters, bidirectional overrides, combining marks, mixed
scripts, numbers where words are expected, typed special tokens, deeply nested or mistyped JSON, and
query parameters that are empty, of the wrong type, out of range or spelled in unusual ways.
"""

from __future__ import annotations

import io
import json
import re
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from models.limits import MAX_FEW_SHOT_EXAMPLES, MAX_LABELS, MAX_MASKS, MAX_TEXT_CHARS, MAX_UPLOAD_MB
from tests.conftest import REPO_ROOT

ATTENTION, GENERATION, CLIP, FILL_MASK, DOUBLE_DESCENT, APP = (
    "demos/attention.py",
    "demos/generation.py",
    "demos/clip_zero_shot.py",
    "demos/fill_mask.py",
    "demos/double_descent.py",
    "app.py",
)

# Characters that break naive text handling.
ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"  # zero-width space, non-joiner, joiner, word joiner, BOM
FAMILY = "👩\u200d👩\u200d👧\u200d👦"  # four emoji glued by zero-width joiners into one glyph
RTL_OVERRIDE = "\u202eevil.exe\u202c"  # right-to-left override: text shows reversed
ZALGO = "Z\u0334\u0321\u031b\u0356a\u0337\u0322l\u0336g\u0338o\u0335"  # stacked combining marks
ANSI = "\x1b[31mred\x1b[0m \x1b[2J\x07\x08\r\n"  # terminal escapes, bell, backspace, CR LF
MIXED = "Hello 世界 مرحبا שלום Привет नमस्ते 🌍"
XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=1</script>'


def png(width: int = 32, height: int = 24) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (120, 30, 200)).save(buffer, "PNG")
    return buffer.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims `width` × `height` pixels: a decompression bomb."""
    data = bytearray(png(8, 8))
    struct.pack_into(">II", data, 16, width, height)
    struct.pack_into(">I", data, 29, zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def encoded(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


SVG_WITH_SCRIPT = (
    b'<svg xmlns="http://www.w3.org/2000/svg" onload="window.__xss=1"><script>window.__xss=1</script></svg>'
)
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@dataclass(frozen=True)
class Case:
    """One hostile input and what the page must show.

    `query`: the link's parameters; `widgets`: (kind, key, value) set one after another after the first
    run, each followed by a run, as in a browser; `click`: a button key pressed last. `shows`: (where,
    fragment) pairs, where is an element list of AppTest ("warning", "info", "error", "caption", "code",
    "text", "markdown", "title") or "chart" (fragment: how many charts at least, as text). `never`:
    fragments that must not appear in any markdown (raw HTML).
    """

    id: str
    page: str
    shows: tuple[tuple[str, str], ...]
    query: dict[str, str] = field(default_factory=dict)
    widgets: tuple[tuple[str, str, Any], ...] = ()
    click: str | None = None
    never: tuple[str, ...] = ("<script", "<img")
    literal: tuple[str, ...] = ()  # fragments that must only ever appear inside a one-line code span


def chart(count: int = 1) -> tuple[str, str]:
    return ("chart", str(count))


IGNORED = "Ignored from the link"

# Link values that are Markdown: a blank line to leave the note's code span, then bold text and a live link;
# LaTeX; an outside image every visitor's browser would fetch.
MARKDOWN_BREAKOUT = "\n\n**HACKED** [log in](https://e.co)"
LATEX = "$$\\color{red}\\Huge PWNED$$"
OUTSIDE_IMAGE = "![x](https://e.co/p.png)"
INJECTED = ("HACKED", "PWNED", "e.co/p.png")


def link_injection(page: str, *names: str) -> Case:
    """The three Markdown payloads, one in each of three parameters the page validates (so all are ignored)."""
    query = dict(zip(names, (MARKDOWN_BREAKOUT, LATEX, OUTSIDE_IMAGE)))
    return Case(
        f"{page.split('/')[-1][:-3]}-link-injects-markdown-latex-and-an-outside-image",
        page,
        (("caption", IGNORED),),
        query=query,
        literal=INJECTED,
    )


CASES = [
    # -- attention: text ----------------------------------------------------------------------------
    Case(
        "attention-text-at-the-character-limit",
        ATTENTION,
        (("warning", "dropped"), chart()),
        widgets=(("text_area", "attn__text", ("unicorn " * MAX_TEXT_CHARS)[:MAX_TEXT_CHARS]),),
    ),
    Case(
        "attention-link-text-past-the-character-limit",
        ATTENTION,
        (("warning", "dropped"), chart()),
        query={"text": "valley " * 10_000, "model": "gpt2"},
    ),
    Case("attention-terminal-escapes-and-control-characters", ATTENTION, (chart(),), query={"text": ANSI + "the end"}),
    Case("attention-only-zero-width-characters", ATTENTION, (("warning", "no tokens"),), query={"text": ZERO_WIDTH}),
    Case(
        "attention-zero-width-joiner-emoji-on-gpt2",
        ATTENTION,
        (chart(),),
        query={"text": f"{FAMILY} went to the valley", "model": "gpt2", "merge": "1"},
    ),
    Case(
        "attention-rtl-override-and-mixed-scripts",
        ATTENTION,
        (chart(),),
        query={"text": f"{RTL_OVERRIDE} {MIXED}", "merge": "1", "hide": "1"},
    ),
    Case("attention-combining-marks-model-view", ATTENTION, (chart(2),), query={"text": ZALGO * 30, "view": "model"}),
    Case("attention-numbers-only", ATTENTION, (chart(),), query={"text": "3.14159 2.71828 42 -7 1e10"}),
    Case(
        "attention-typed-special-tokens-bert",
        ATTENTION,
        (chart(),),
        query={"text": "[CLS] [SEP] [PAD] [MASK] [UNK] hello", "hide": "1"},
    ),
    Case(
        "attention-typed-end-of-text-gpt2",
        ATTENTION,
        (chart(),),
        query={"text": "<|endoftext|><|endoftext|> hello", "model": "gpt2", "view": "rollout"},
    ),
    Case("attention-hostile-text-compare-view", ATTENTION, (chart(2),), query={"text": XSS, "view": "compare"}),
    # -- attention: link ------------------------------------------------------------------------------
    Case(
        "attention-link-negative-layer-unknown-head-empty-view",
        ATTENTION,
        (("caption", IGNORED), chart()),
        query={"layer": "-1", "head": "99", "view": ""},
    ),
    Case(
        "attention-link-path-as-preset-and-float-period",
        ATTENTION,
        (("caption", "preset=../../etc/passwd"), chart(3)),
        query={"preset": "../../etc/passwd", "view": "induction", "period": "1e2", "seed": "0x10"},
    ),
    # -- generation -----------------------------------------------------------------------------------
    Case(
        "generation-deeply-nested-examples-json",
        GENERATION,
        (("caption", "examples"), chart()),
        query={"examples": "[" * 5000 + "]" * 5000},
    ),
    Case(
        "generation-numbers-instead-of-example-strings",
        GENERATION,
        (("caption", "examples"), chart()),
        query={"examples": "[[1, 2], [3.5, null]]"},
    ),
    Case(
        "generation-more-examples-than-the-limit",
        GENERATION,
        (("warning", f"Only the first {MAX_FEW_SHOT_EXAMPLES} examples"), chart()),
        query={"examples": json.dumps([[f"word {n}", f"mot {n}"] for n in range(40)]), "shots": "few", "k": "16"},
    ),
    Case(
        "generation-half-empty-example-rows",
        GENERATION,
        (("caption", "without both an input and an output"), chart()),
        query={"examples": json.dumps([["", ""], ["cheese", ""], ["", "fromage"], ["sea otter", "loutre de mer"]])},
    ),
    Case(
        "generation-control-characters-in-query-then-generate",
        GENERATION,
        (("caption", "tokens · stopped at"),),
        query={"query": "\x00\x1b[2J\x07 cheese", "max_new": "3"},
        click="gen__generate",
    ),
    Case(
        "generation-zero-width-and-rtl-task-then-generate",
        GENERATION,
        (("caption", "tokens · stopped at"),),
        query={"task": f"{ZERO_WIDTH}{RTL_OVERRIDE} {MIXED}", "max_new": "3", "stop_nl": "0"},
        click="gen__generate",
    ),
    Case(
        "generation-typed-end-of-text-tokens",
        GENERATION,
        (chart(),),
        query={"task": "<|endoftext|>" * 50, "shots": "zero"},
    ),
    Case("generation-whitespace-separator", GENERATION, (chart(),), query={"sep": "   "}),
    Case(
        "generation-numbers-as-query-and-answer-compare",
        GENERATION,
        (("text", "P(expected"),),
        query={"query": "12345", "answer": "67890", "max_new": "2"},
        click="gen__compare",
    ),
    Case(
        "generation-link-out-of-range-numbers",
        GENERATION,
        (("caption", IGNORED), chart()),
        query={"max_new": "0", "seed": "-1", "temp": "-0.5", "top_k": "1e9", "rep": "0", "top_p": "inf"},
    ),
    Case(
        "generation-link-empty-and-padded-values",
        GENERATION,
        (("caption", "k="), chart()),
        query={"k": "", "step": " ", "decode": "GREEDY", "shots": " few"},
    ),
    Case(
        "generation-task-at-the-character-limit",
        GENERATION,
        (("warning", "left-truncated"), chart()),
        query={"task": "zero-shot " * 2_000 + "x" * 5_000, "max_new": "200"},
    ),
    # -- fill-mask ------------------------------------------------------------------------------------
    Case(
        "fill-mask-character-limit-of-masks",
        FILL_MASK,
        (("warning", f"at most {MAX_MASKS} masks"), chart()),
        widgets=(("text_area", "fm__text", ("[MASK] " * MAX_TEXT_CHARS)[:MAX_TEXT_CHARS]),),
    ),
    Case(
        "fill-mask-zero-width-around-the-mask",
        FILL_MASK,
        (chart(),),
        query={"text": f"The{ZERO_WIDTH}[MASK]{ZERO_WIDTH} sky."},
    ),
    Case(
        "fill-mask-mixed-scripts-both-models",
        FILL_MASK,
        (chart(2),),
        query={"text": f"{MIXED} [MASK] {FAMILY}", "compare": "1"},
    ),
    Case("fill-mask-numbers-only", FILL_MASK, (chart(),), query={"text": "1 2 3 [MASK] 5"}),
    Case("fill-mask-typed-special-tokens", FILL_MASK, (chart(),), query={"text": "[CLS] [SEP] [PAD] the [MASK] [SEP]"}),
    Case(
        "fill-mask-glued-and-bracketed-masks",
        FILL_MASK,
        (("warning", "stuck"),),
        query={"text": "[[MASK]] un[MASK]able [MASK][MASK]"},
    ),
    Case(
        "fill-mask-click-view-long-sentence",
        FILL_MASK,
        (("caption", "Only the first"),),
        query={"view": "click", "sentence": "token " * 3_000},
    ),
    Case(
        "fill-mask-click-view-control-characters-only",
        FILL_MASK,
        (("info", "Type a sentence"),),
        query={"view": "click", "sentence": "\x00\x01\x02" + ZERO_WIDTH},
    ),
    Case(
        "fill-mask-mlm-view-out-of-range-seed-and-rate",
        FILL_MASK,
        (("caption", "seed=2147483648"), chart()),
        query={"view": "mlm", "seed": "2147483648", "rate": "51", "sentence": ANSI + MIXED},
    ),
    Case(
        "fill-mask-bias-probe-hostile-and-two-masks",
        FILL_MASK,
        (("caption", "first mask"), ("code", XSS)),
        query={"view": "bias", "probe_a": XSS + " [MASK] and [MASK]", "probe_b": "[MASK]"},
    ),
    # -- CLIP -----------------------------------------------------------------------------------------
    Case(
        "clip-labels-at-the-character-limit",
        CLIP,
        (("warning", f"Only the first {MAX_LABELS} labels"), chart()),
        widgets=(("text_area", "clip__labels", ", ".join(f"thing {n}" for n in range(3_000))[:MAX_TEXT_CHARS]),),
    ),
    Case("clip-numbers-as-labels", CLIP, (chart(),), query={"labels": "1\n2\n3.5\n-7\n1e10"}),
    Case(
        "clip-zero-width-duplicates-mixed-scripts",
        CLIP,
        (chart(),),
        query={"labels": f"cat\ncat{ZERO_WIDTH}\n{FAMILY}\n{MIXED}\n{ZALGO}\n{RTL_OVERRIDE}"},
    ),
    Case(
        "clip-template-with-several-slots-and-stray-braces",
        CLIP,
        (chart(),),
        query={"template": "{} {0} {label} { }} {{}} %s {}"},
    ),
    Case(
        "clip-template-at-the-character-limit",
        CLIP,
        (("warning", "at most"), chart()),
        query={"template": "a photo of a {} " + "very " * 4_000},
    ),
    Case("clip-template-of-control-characters", CLIP, (chart(),), query={"template": ANSI + "{}"}),
    Case(
        "clip-link-wrong-types",
        CLIP,
        (("caption", IGNORED), chart()),
        query={"source": "camera\x00", "photo": "../../secret.jpg", "ensemble": "2", "ens": "-1"},
    ),
    # -- CLIP: uploads ----------------------------------------------------------------------------------
    Case(
        "clip-upload-svg-with-script",
        CLIP,
        (("warning", "not"),),
        query={"source": "upload"},
        widgets=(("file_uploader", "clip__upload", ("evil.png", SVG_WITH_SCRIPT, "image/svg+xml")),),
    ),
    Case(
        "clip-upload-bmp-renamed-png",
        CLIP,
        (("warning", "Use a JPEG, PNG, WebP or GIF"),),
        query={"source": "upload"},
        widgets=(
            ("file_uploader", "clip__upload", ("photo.png", encoded(Image.new("RGB", (20, 20)), "BMP"), "image/png")),
        ),
    ),
    # Named .png: the browser refuses other extensions before sending (tests/e2e/test_xss_e2e.py).
    Case(
        "clip-upload-pdf-named-png",
        CLIP,
        (("warning", "not an image"),),
        query={"source": "upload"},
        widgets=(("file_uploader", "clip__upload", ("paper.png", PDF, "image/png")),),
    ),
    Case(
        "clip-upload-over-the-size-cap",
        CLIP,
        (("warning", f"limit is {MAX_UPLOAD_MB} MB"),),
        query={"source": "upload"},
        widgets=(
            ("file_uploader", "clip__upload", ("big.png", png() + b"\0" * (MAX_UPLOAD_MB * 2**20 + 1), "image/png")),
        ),
    ),
    Case(
        "clip-upload-wide-decompression-bomb",
        CLIP,
        (("warning", "decompression bomb"),),
        query={"source": "upload"},
        widgets=(("file_uploader", "clip__upload", ("wide.png", png_claiming(1_000_000, 100), "image/png")),),
    ),
    Case(
        "clip-upload-colour-png-too-large-to-decode-for-a-shared-server",
        CLIP,
        (("warning", "the whole class shares"),),
        query={"source": "upload"},
        widgets=(("file_uploader", "clip__upload", ("poster.png", png_claiming(6300, 6300), "image/png")),),
    ),
    Case(
        "clip-probe-uploads-with-a-bomb-and-a-fake",
        CLIP,
        (("warning", "decompression bomb"), ("warning", "not an image")),
        query={"clip_tab": "Linear probe"},
        widgets=(
            ("radio", "clip__probe_data", "uploads"),
            (
                "file_uploader",
                "clip__probe_uploads",
                [
                    ("cat_1.png", png_claiming(20_000, 20_000), "image/png"),
                    ("cat_2.png", PDF, "image/png"),
                    ("dog_1.png", png(), "image/png"),
                    ("dog_2.png", png(40, 40), "image/png"),
                ],
            ),
        ),
    ),
    # -- double descent: numbers from the link -----------------------------------------------------------
    Case(
        "double-descent-empty-and-fractional-counts",
        DOUBLE_DESCENT,
        (("caption", "bv_n=3.5"), chart(2)),
        query={"bv_n": "3.5", "bv_sets": "", "bv_curves": "0x10"},
    ),
    Case(
        "double-descent-padded-and-unicode-digits",
        DOUBLE_DESCENT,
        (chart(2),),
        query={"bv_n": "  12  ", "bv_degree": "\uff13"},
    ),  # full-width 3: Python reads it as a digit
    Case(
        "double-descent-underflowing-ridge-and-negative-zero",
        DOUBLE_DESCENT,
        (chart(),),
        query={"view": "dd", "rf_ridge": "1e-400", "rf_noise": "-0", "rf_n": "20", "rf_max_p": "40", "rf_repeats": "2"},
    ),
    Case(
        "double-descent-hostile-view-and-huge-seed",
        DOUBLE_DESCENT,
        (("caption", IGNORED), chart(2)),
        query={"view": XSS, "bv_seed": "9" * 400},
    ),
    # -- Markdown, LaTeX and outside images in a link, on every page --------------------------------------
    link_injection(ATTENTION, "layer", "head", "view"),
    link_injection(GENERATION, "max_new", "seed", "temp"),
    link_injection(CLIP, "source", "model", "ensemble"),
    link_injection(FILL_MASK, "view", "model", "k"),
    link_injection(DOUBLE_DESCENT, "view", "bv_n", "bv_sets"),
    # -- the router --------------------------------------------------------------------------------------
    Case("app-hostile-lecture-flag", APP, (("title", "Lecture Lab"),), query={"lecture": XSS}),
]


def run_case(case: Case) -> AppTest:
    at = AppTest.from_file(str(REPO_ROOT / case.page), default_timeout=120)
    for name, value in case.query.items():
        at.query_params[name] = value
    at.run()
    for kind, key, value in case.widgets:
        getattr(at, kind)(key=key).set_value(value)
        at.run()
    if case.click and not at.exception:
        at.button(key=case.click).click().run()
    return at


def shown(at: AppTest, where: str) -> str:
    return "\n".join(str(element.value) for element in getattr(at, where))


MARKDOWN_ELEMENTS = ("markdown", "caption", "warning", "info", "error", "success", "title", "header", "subheader")


def outside_code_spans(markdown: str) -> str:
    """What Streamlit would parse as Markdown: everything but one-line code spans."""
    return re.sub(r"`[^`\n]*`", "", markdown)


def describe(at: AppTest) -> str:
    """Everything the page said, for a failing assertion's message."""
    parts = {where: shown(at, where) for where in ("warning", "info", "error", "caption")}
    return json.dumps(parts, ensure_ascii=False)[:3000]


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # PIL warns; the page refuses
@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_hostile_input_gets_a_message_or_a_result(case, with_tiny_models, fresh_app_state):
    at = run_case(case)
    assert not at.exception, [exception.value for exception in at.exception]
    for where, fragment in case.shows:
        if where == "chart":
            assert len(at.get("plotly_chart")) >= int(fragment), describe(at)
        else:
            assert fragment in shown(at, where), describe(at)
    raw = shown(at, "markdown")
    for fragment in case.never:
        assert fragment not in raw, f"{fragment!r} reached markdown unescaped"
    everything = "\n".join(shown(at, where) for where in MARKDOWN_ELEMENTS)
    for fragment in case.literal:
        assert fragment in everything, describe(at)  # shown, so the student knows what was ignored
        assert fragment not in outside_code_spans(everything), f"{fragment!r} was rendered as Markdown"


def test_the_table_covers_every_page_with_at_least_40_cases():
    assert len(CASES) >= 40
    assert {case.page for case in CASES} == {ATTENTION, GENERATION, CLIP, FILL_MASK, DOUBLE_DESCENT, APP}
    assert len({case.id for case in CASES}) == len(CASES)


# -- the upload cap: in the server's config and in the page's uploaders ------------------------------


def test_the_server_refuses_uploads_over_the_cap():
    import tomllib

    config = tomllib.loads((REPO_ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["server"]["maxUploadSize"] == MAX_UPLOAD_MB


def test_every_clip_uploader_has_the_cap_and_accepts_images_only(with_tiny_models, fresh_app_state):
    at = run_case(Case("uploaders", CLIP, (), query={"source": "upload"}))
    at.radio(key="clip__probe_data").set_value("uploads").run()  # the linear probe's labelled photos
    uploaders = at.get("file_uploader")
    assert len(uploaders) == 2
    for uploader in uploaders:
        assert uploader.proto.max_upload_size_mb == MAX_UPLOAD_MB
        assert set(uploader.proto.type) == {".jpg", ".jpeg", ".png", ".webp", ".gif"}


# -- long text and the link: a page's address stays short enough to reload and to share ---------------------

LONG_TEXT = "Привет, мир! Единорог говорит по-английски. " * 60  # 2,640 characters; over 20,000 in a link
LONG_TEXT_FIELDS = [
    (ATTENTION, "text_area", "attn__text", "text"),
    (GENERATION, "text_area", "gen__task", "task"),
    (FILL_MASK, "text_area", "fm__text", "text"),
    (CLIP, "text_area", "clip__labels", "labels"),
]


@pytest.mark.parametrize(
    "page, kind, key, name", LONG_TEXT_FIELDS, ids=[row[3] + "@" + row[0] for row in LONG_TEXT_FIELDS]
)
def test_a_value_too_long_for_a_link_is_left_out_and_the_page_says_so(
    page, kind, key, name, with_tiny_models, fresh_app_state
):
    from urllib.parse import urlencode

    from models.limits import MAX_LINK_CHARS

    at = AppTest.from_file(str(REPO_ROOT / page), default_timeout=120).run()
    getattr(at, kind)(key=key).set_value(LONG_TEXT + " [MASK] {}").run()
    assert not at.exception, [exception.value for exception in at.exception]
    link = urlencode({name: value for name, value in at.query_params.items()})
    assert len(link) <= MAX_LINK_CHARS
    assert name not in at.query_params
    note = shown(at, "caption")
    assert "Too long for a link" in note and f"`{name} (" in note, describe(at)
    getattr(at, kind)(key=key).set_value("short [MASK] {}").run()  # short again: back in the link, no note
    assert at.query_params[name] == "short [MASK] {}"
    assert "Too long for a link" not in shown(at, "caption")
