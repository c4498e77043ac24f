"""Keep a page's inputs in its URL, so a lecturer can share a link to an exact view.

Usage in a page:

    url = UrlState("gen")                       # one per page; prefixes widget keys
    prompt = st.text_area("Prompt", key=url.text("prompt", default=PRESET))
    seed = st.number_input("Seed", key=url.int("seed", default=0, lo=0, hi=2**31 - 1))
    url.write()                                 # after the widgets: mirror values into the URL
    url.show_link_notes()                       # say which URL values were malformed or left out

Each `url.X(...)` call returns the widget key. On a session's first run the widget's value
comes from the query string when it is valid, else from `default`; a malformed value is
ignored and reported, never raised. A link stays under MAX_LINK_CHARS: the longest values are
left out of it when they would not fit, and the page says which.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence
from urllib.parse import quote

import streamlit as st

from models.limits import MAX_LINK_CHARS, MAX_TEXT_CHARS
from ui.text import inline_code

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_SHOWN_CHARS = 40  # of an ignored value


class UrlState:
    def __init__(self, page: str) -> None:
        self.page = page
        self._defaults: dict[str, Any] = {}
        self._encoders: dict[str, Callable[[Any], str]] = {}

    @property
    def ignored(self) -> list[str]:
        """URL values that were malformed on this session's first visit (kept for its reruns)."""
        return st.session_state.setdefault(f"{self.page}__ignored_url_values", [])

    def key(self, name: str) -> str:
        return f"{self.page}__{name}"

    # -- binders ---------------------------------------------------------------------
    def _bind(self, name: str, default: Any, parse: Callable[[str], Any], encode: Callable[[Any], str] = str) -> str:
        key = self.key(name)
        self._defaults[name] = default
        self._encoders[name] = encode
        if key not in st.session_state:
            raw = st.query_params.get(name)
            value = default
            if raw is not None:
                try:
                    value = parse(raw)
                except (ValueError, TypeError, OverflowError):
                    # Shown as a code span: a link is anyone's text, and must not become Markdown.
                    self.ignored.append(inline_code(f"{name}={raw}", limit=len(name) + 1 + _SHOWN_CHARS))
            st.session_state[key] = value
        return key

    def text(self, name: str, default: str, max_chars: int = MAX_TEXT_CHARS) -> str:
        def parse(raw: str) -> str:
            return raw[:max_chars]

        return self._bind(name, default, parse)

    def int(self, name: str, default: int, lo: int, hi: int) -> str:
        def parse(raw: str) -> int:
            value = int(raw.strip())
            if not lo <= value <= hi:
                raise ValueError(f"{value} outside [{lo}, {hi}]")
            return value

        return self._bind(name, default, parse)

    def float(self, name: str, default: float, lo: float, hi: float) -> str:
        def parse(raw: str) -> float:
            value = float(raw.strip())
            if not math.isfinite(value) or not lo <= value <= hi:
                raise ValueError(f"{value} outside [{lo}, {hi}]")
            return value

        return self._bind(name, default, parse, encode=lambda v: f"{v:g}")

    def choice(self, name: str, default: Any, options: Sequence[Any]) -> str:
        by_text = {str(option): option for option in options}

        def parse(raw: str) -> Any:
            if raw not in by_text:
                raise ValueError(f"{raw!r} is not one of {list(by_text)}")
            return by_text[raw]

        return self._bind(name, default, parse)

    def bool(self, name: str, default: bool) -> str:
        def parse(raw: str) -> bool:
            word = raw.strip().lower()
            if word in _TRUE:
                return True
            if word in _FALSE:
                return False
            raise ValueError(raw)

        return self._bind(name, default, parse, encode=lambda v: "1" if v else "0")

    def multi(self, name: str, default: Sequence[Any], options: Sequence[Any]) -> str:
        """A list of options (a multiselect), written to the URL comma-separated."""
        by_text = {str(option): option for option in options}

        def parse(raw: str) -> list[Any]:
            picked = [part for part in raw.split(",") if part]
            if any(part not in by_text for part in picked):
                raise ValueError(raw)
            return [by_text[part] for part in picked]

        return self._bind(name, list(default), parse, encode=lambda v: ",".join(map(str, v)))

    # -- after the widgets -------------------------------------------------------------
    def value(self, name: str) -> Any:
        return st.session_state.get(self.key(name), self._defaults.get(name))

    def write(self) -> None:
        """Mirror the bound values into the query string; defaults are left out to keep links short, and so are
        values too long for a link (the longest first, until the link fits in MAX_LINK_CHARS)."""
        wanted: dict[str, str] = {}
        for name, default in self._defaults.items():
            value = self.value(name)
            if value != default:
                wanted[name] = self._encoders[name](value)
        others = sum(
            _link_chars(name, str(value)) for name, value in st.query_params.items() if name not in self._defaults
        )
        left_out = []
        while wanted and others + sum(_link_chars(name, value) for name, value in wanted.items()) > MAX_LINK_CHARS:
            longest = max(wanted, key=lambda name: _link_chars(name, wanted[name]))
            left_out.append(f"{longest} ({_link_chars(longest, wanted.pop(longest)):,} characters in a link)")
        st.session_state[f"{self.page}__left_out_of_link"] = left_out
        current = {name: st.query_params.get(name) for name in self._defaults}
        for name in self._defaults:
            if name in wanted and current[name] != wanted[name]:
                st.query_params[name] = wanted[name]
            elif name not in wanted and current[name] is not None:
                del st.query_params[name]

    def show_link_notes(self) -> None:
        """Say which link values were malformed (so the default is used) and which are too long for a link."""
        if self.ignored:
            st.caption("Ignored from the link (not valid here, so the default is used): " + ", ".join(self.ignored))
        left_out = st.session_state.get(f"{self.page}__left_out_of_link", [])
        if left_out:
            st.caption(
                f"Too long for a link (the limit is {MAX_LINK_CHARS:,} characters), so not in this page's address: "
                + ", ".join(inline_code(name, limit=80) for name in left_out)
                + ". A shared link or a reload opens with the default there: paste the text to share it."
            )


def _link_chars(name: str, value: str) -> int:
    """Characters that `name=value` takes in a link, percent-encoded as the browser shows it."""
    return len(name) + 2 + len(quote(value, safe=""))
