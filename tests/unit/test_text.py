"""ui/text.py: the one place that turns anyone's text into something the page draws."""

from __future__ import annotations

import re

import pytest

from ui.text import inline_code, markdown_literal

HOSTILE = [
    "\n\n**HACKED** [log in](https://e.co)",
    "$$\\color{red}\\Huge PWNED$$",
    "![x](https://e.co/p.png)",
    "`` closing ` backticks ``",
    "a\r\nb\u2028c\u2029d\x0be\x0cf\x85g",
    "\x1b[31mred\x1b[0m\x00",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_inline_code_is_one_code_span_on_one_line(text):
    span = inline_code(text, limit=200)
    assert re.fullmatch(r"`[^`]*`", span), span
    assert not re.search(r"[\n\r\x0b\x0c\x85\u2028\u2029\x00-\x08\x1b]", span)


def test_inline_code_keeps_the_text_readable_and_short():
    assert inline_code("layer=**x**") == "`layer=**x**`"  # as typed: a code span shows it literally
    assert inline_code("a\nb") == "`a⏎b`"
    assert inline_code("it's `x`") == "`it's 'x'`"
    assert inline_code("y" * 100, limit=10) == "`" + "y" * 10 + "…`"
    assert inline_code("") == "`∅`" and inline_code("   ") == "`∅`"


def test_markdown_literal_escapes_every_markdown_sign():
    assert markdown_literal("##ing") == r"\#\#ing"
    assert markdown_literal("$x$") == r"\$x\$"
    assert markdown_literal("[a](b)") == r"\[a\]\(b\)"


def test_a_servers_message_keeps_its_spaces_and_cannot_become_markdown():
    from ui.text import markdown_text

    message = "the server at 127.0.0.1:8000 said [click](javascript:alert(1)) **now**\nand <b>more</b>"
    shown = markdown_text(message)
    assert "␣" not in shown and "\n" not in shown
    assert re.sub(r"\\(.)", r"\1", shown) == message.replace("\n", " ")  # what the reader sees: the words as sent
    assert "](" not in shown and "**" not in shown and "<b>" not in shown
