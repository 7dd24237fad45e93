"""What GitHub shows for our escaped Markdown: rendered by cmark-gfm, the
renderer GitHub's Markdown is built on (with its table, autolink and
strikethrough extensions), hostile text must come out as its own text, with
no link, image, emphasis, code or HTML of its own."""

from __future__ import annotations

import html
import re

import cmarkgfm
import pytest
from cmarkgfm.cmark import Options

from tracker.markdown import md_code, md_text

HOSTILE = [
    "<img src=x onerror=alert(1)> <script>alert(1)</script> <!-- hidden -->",
    "[click](https://evil.example) ![pixel](https://evil.example/p.png) <https://evil.example>",
    "see https://evil.example/phish or www.evil.example/reset or HTTP://EVIL.EXAMPLE",
    "feature_www.evil.example/reset and x_https://evil.example",
    "mail x@evil.example, ping @octocat and @org/team, fixes #12 and GH-1",
    "*bold* _it_ **b** __b__ ~~gone~~ `code` ``more``",
    "a | b | c \\| d \\*e\\* \\\\",
    "costs $x$ and $$y$$ and $`z`$",
    "&lt; &amp; &#60; &copy; literal entities",
    "boom \x1b]0;TITLE\x07\x1b[2J\x1b[1;31mALL PASSED\x1b[0m \x9b31m",
    "ftp://files.example xmpp:me@jabber.example mailto:me@mail.example",
]

_TAG = re.compile(r"</?([a-z0-9]+)[^>]*>")


def render(markdown: str) -> str:
    # UNSAFE keeps raw HTML in the output, so that any the text let through shows.
    return str(cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE))


def shown(rendered: str) -> str:
    """The text a reader sees: tags gone, entities decoded, no zero-width spaces."""
    return html.unescape(_TAG.sub("", rendered)).replace("\u200b", "").strip()


def as_itself(text: str) -> str:
    """What md_text promises to show: one line, control characters as ``?``."""
    flat = " ".join(text.split())
    return re.sub(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]", "?", flat)


@pytest.mark.parametrize("text", HOSTILE)
def test_text_renders_as_itself_and_nothing_else(text: str) -> None:
    rendered = render(md_text(text))
    assert set(_TAG.findall(rendered)) <= {"p", "span"}, rendered
    assert shown(rendered) == as_itself(text)


@pytest.mark.parametrize("text", HOSTILE)
def test_code_renders_as_one_code_span(text: str) -> None:
    rendered = render(md_code(text))
    assert _TAG.findall(rendered) == ["p", "code", "code", "p"], rendered
    # Pipes become U+2758 (a pipe would end a table cell), controls "?".
    assert shown(rendered) == as_itself(text).replace("|", "\u2758")


def test_table_cells_keep_their_text() -> None:
    row = "| " + " | ".join(md_text(t) for t in HOSTILE) + " |"
    table = "| " + " | ".join("h" for _ in HOSTILE) + " |\n|" + "---|" * len(HOSTILE) + "\n" + row + "\n"
    cells = re.findall(r"<td>(.*?)</td>", render(table), re.S)
    assert [shown(cell) for cell in cells] == [as_itself(t) for t in HOSTILE]
