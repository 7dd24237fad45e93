r"""Safe Markdown from untrusted text (branch, stage, step and skill names,
failure messages): no HTML, no mentions, no links, no math, no terminal
escapes, no broken tables.

>>> md_text("<img src=x> @octocat fix *all* | now")
'&lt;img src=x&gt; @\u200boctocat fix \\*all\\* \\| now'
>>> md_text("costs $x$")
'costs <span>$</span>x<span>$</span>'
>>> md_text("see https://evil.example or www.evil.example")
'see https:\u200b//evil.example or www\u200b.evil.example'
>>> md_code("a `b` c")
'`` a `b` c ``'
"""

from __future__ import annotations

import re

# Mid-line, only these can start Markdown: emphasis, code, links, tables,
# strikethrough. (Our text never starts a line, so list and heading markers
# need no escape.)
_PUNCTUATION = re.compile(r"([\\`*_\[\]|~])")
_ZWSP = "\u200b"
# GitHub renders $…$ and $$…$$ as math, and a backslash before the dollar
# does not stop it outside math. Its documented way to show a literal
# dollar there: wrap it in a span (our own HTML, added after escaping).
_DOLLAR = "<span>$</span>"
# GitHub links bare URLs itself ("extended autolinks"): a zero-width space
# after the scheme's colon, or after "www", leaves the text as it reads.
_AUTOLINK = re.compile(r"(?i)(:)(?=//)|(?<![0-9a-z])(www)(?=\.)")  # "_www." links too
#: Control characters (C0 but none of the whitespace ``split`` removes, DEL,
#: C1): names and failure messages come from CI logs, where colour codes are
#: common, and an escape sequence printed to a terminal can rewrite what it
#: shows. They read as ``?``.
CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")
_MAX_INLINE = 300


def _one_line(text: str, limit: int) -> str:
    flat = CONTROL.sub("?", " ".join(str(text).split()))
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def md_text(text: str, *, limit: int = _MAX_INLINE) -> str:
    """Text shown as itself in Markdown (tables, lists, headings): one line,
    HTML entities for ``<>&``, backslashes before Markdown punctuation, a
    zero-width space after ``@`` and ``#`` so no one is mentioned and no
    issue linked, and in bare URLs so none is linked, each ``$`` in a span
    so that GitHub shows no math, ``?`` for control characters."""
    flat = _one_line(text, limit)
    flat = flat.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    flat = _PUNCTUATION.sub(r"\\\1", flat)
    # A zero-width space keeps "@user" from mentioning and "#12" from linking.
    flat = re.sub(r"([@#])(?=\w)", "\\1" + _ZWSP, flat)
    flat = _AUTOLINK.sub(lambda m: m.group(0) + _ZWSP, flat)
    return flat.replace("$", _DOLLAR)


def md_code(text: str, *, limit: int = _MAX_INLINE) -> str:
    """Text in an inline code span, whatever backticks it holds (GitHub
    neither links nor mentions inside one); ``?`` for control characters."""
    flat = _one_line(text, limit).replace("|", "\u2758")  # a pipe would end a table cell
    longest = max((len(m) for m in re.findall(r"`+", flat)), default=0)
    fence = "`" * (longest + 1)
    if longest:
        return f"{fence} {flat} {fence}"
    return f"{fence}{flat}{fence}"
