"""The one place that renders user text and tokens. Everything is escaped first.

User text is shown with st.text / st.code where possible; where colour is needed
(tokens shaded by a score) it goes through `token_chips_html`, which escapes every piece.
"""

from __future__ import annotations

import html
import re
from typing import Sequence

import streamlit as st


def visible_token(piece: str) -> str:
    """Make whitespace in a token visible: a space as '␣', a newline as '⏎'."""
    return piece.replace(" ", "␣").replace("\n", "⏎").replace("\t", "⇥") or "∅"


# Characters that end a line or act on a terminal: inside Markdown they could end a code span.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def markdown_literal(text: str) -> str:
    """`text` for a Streamlit label that renders Markdown (pills, messages): every ASCII punctuation
    mark backslash-escaped, so "##ing", "**", "[x](y)", ":smile:" or "$x$" show as typed."""
    return re.sub(r"([!-/:-@\[-`{-~])", r"\\\1", visible_token(text))


def markdown_text(text: str) -> str:
    """A sentence from outside the app (a server's message) inside a Markdown message: its punctuation escaped, so it
    shows as written and never becomes a link or formatting; unlike `markdown_literal`, spaces stay spaces."""
    return re.sub(r"([!-/:-@\[-`{-~])", r"\\\1", _CONTROL.sub(" ", text.replace("\n", " ")))


def inline_code(text: str, limit: int = 40) -> str:
    """`text` (shortened to `limit` characters) as a Markdown code span that nothing inside can end.

    A code span shows its content as typed: no bold, links, images, LaTeX or emoji. Only a backtick or
    a blank line can end it early, so backticks become ' and line breaks and control characters
    become visible marks. For values from a link or a form, which anyone can write."""
    shown = text.replace("`", "'").replace("\r\n", "\n").replace("\n", "⏎").replace("\r", "⏎").replace("\t", "⇥")
    shown = _CONTROL.sub("�", shown)
    if len(shown) > limit:
        shown = shown[:limit] + "…"
    return f"`{shown.strip() or '∅'}`"


def token_chips_html(
    pieces: Sequence[str], scores: Sequence[float] | None = None, titles: Sequence[str] | None = None
) -> str:
    """Tokens as coloured chips; `scores` in [0, 1] shade them, `titles` become hover text."""
    chips = []
    for index, piece in enumerate(pieces):
        shade = ""
        if scores is not None:
            score = min(max(float(scores[index]), 0.0), 1.0)
            # White to a saturated blue; text turns white when the background gets dark.
            shade = f"background: rgba(31, 78, 156, {score:.3f}); color: {'#fff' if score > 0.55 else '#000'};"
        title = f' title="{html.escape(titles[index], quote=True)}"' if titles is not None else ""
        chips.append(f'<span class="ll-token" style="{shade}"{title}>{html.escape(visible_token(piece))}</span>')
    return (
        '<div class="ll-tokens" style="line-height: 2.2; font-family: monospace;">'
        + "".join(chips)
        + "</div><style>.ll-token{border:1px solid #999;border-radius:4px;padding:2px 4px;margin:1px;"
        "white-space:pre;}</style>"
    )


def show_tokens(
    pieces: Sequence[str], scores: Sequence[float] | None = None, titles: Sequence[str] | None = None
) -> None:
    st.markdown(token_chips_html(pieces, scores, titles), unsafe_allow_html=True)


def plotly_safe(text: str) -> str:
    """Escape text for plotly labels and hover text, which interpret a subset of HTML tags."""
    return html.escape(visible_token(text), quote=False)


def plotly_label(text: str) -> str:
    """Escape user text (a label, a caption, a sentence) for plotly, which interprets a subset of HTML tags. Unlike
    `plotly_safe`, spaces stay spaces: these are words to read, not tokens whose whitespace matters."""
    return html.escape(text, quote=False)
