"""Sanitizing campaign HTML with nh3, its personalization intact.

The HTML tools parse HTML, and Django's template syntax is not HTML: a `{% for %}` between table
rows would be moved out of the table by any HTML5 parser, and quotes inside `{{ x|default:"y" }}`
in an attribute would be escaped. So every `{{ }}`, `{% %}` and `{# #}` is swapped for an HTML
comment token before a tool sees the HTML (comments stay where they are, even in tables) and put
back after.
"""

import re
import secrets
from html import escape, unescape

import nh3

from . import personalization

# --- Template syntax kept away from the HTML tools -------------------------------------------

# Django's own tag pattern (django.template.base.tag_re): tags do not span lines.
_TEMPLATE_SYNTAX = re.compile(r"\{%.*?%\}|\{\{.*?\}\}|\{#.*?#\}")


class ProtectedSource:
    """`text` is the source with each piece of template syntax replaced by a comment token
    (`<!--sq<nonce>-<n>-->`; a random nonce so text that looks like a token is never one)."""

    def __init__(self, source: str):
        self.nonce = secrets.token_hex(4)
        self.pieces: list[str] = []
        self._token = re.compile(rf"(?:<!--|&lt;!--)sq{self.nonce}-(\d+)(?:-->|--&gt;)|zq{self.nonce}x(\d+)xq")
        self.text = _TEMPLATE_SYNTAX.sub(lambda match: self.token(match.group()), source)

    def token(self, piece: str) -> str:
        self.pieces.append(piece)
        return f"<!--sq{self.nonce}-{len(self.pieces) - 1}-->"

    def piece_at(self, value: str) -> str | None:
        """The template syntax `value` (an attribute value) starts with, if it starts with a token."""
        match = self._token.match(value.strip())
        return self.pieces[int(match.group(1) or match.group(2))] if match else None

    def has_token(self, value: str) -> bool:
        return self._token.search(value) is not None

    def first_token(self, value: str) -> int:
        """Where the first token of `value` starts (its length when there is none)."""
        match = self._token.search(value)
        return match.start() if match else len(value)

    def as_words(self, text: str) -> str:
        """Tokens as plain words, for a tool that drops comments (html2text)."""
        return self._token.sub(lambda match: f"zq{self.nonce}x{match.group(1) or match.group(2)}xq", text)

    def restore(self, text: str) -> str:
        return self._token.sub(lambda match: self.pieces[int(match.group(1) or match.group(2))], text)


# --- Sanitizing -------------------------------------------------------------------------------

# What marketers' email HTML uses: tables for layout, inline styles, presentational attributes,
# <style> (inlined at send; media queries kept), <font> and <center> of older templates.
ALLOWED_TAGS = frozenset(nh3.ALLOWED_TAGS | {"style", "font", "center", "big", "section", "main", "tfoot"})
_EVERY_TAG_ATTRIBUTES = {
    "style",
    "class",
    "id",
    "align",
    "valign",
    "width",
    "height",
    "bgcolor",
    "border",
    "cellpadding",
    "cellspacing",
    "dir",
    "lang",
    "title",
    "role",
    "nowrap",
}
ALLOWED_ATTRIBUTES = {
    **{tag: set(attributes) for tag, attributes in nh3.ALLOWED_ATTRIBUTES.items()},
    "*": _EVERY_TAG_ATTRIBUTES,
    "a": {"href", "hreflang", "target", "name"},
    "img": {"src", "alt", "height", "width", "align", "border"},
    "font": {"color", "face", "size"},
}
URL_SCHEMES = frozenset({"http", "https", "mailto", "tel"})
_URL_ATTRIBUTES = frozenset({"href", "src"})
# CSS that runs code or loads from elsewhere in some clients; neutralized wherever CSS appears.
_UNSAFE_CSS = re.compile(r"expression\s*\(|(?:java|vb)script\s*:|behavior\s*:|-moz-binding|@import", re.IGNORECASE)
STYLE_ELEMENT = re.compile(r"(<style[^>]*>)(.*?)(</style>)", re.IGNORECASE | re.DOTALL)
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_BODY = re.compile(r"<body\b([^>]*)>(.*?)(?:</body\s*>|$)", re.IGNORECASE | re.DOTALL)
_HEAD = re.compile(r"<head\b[^>]*>(.*?)</head\s*>", re.IGNORECASE | re.DOTALL)
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
DOCUMENT = re.compile(r"<(?:html|head|body)\b", re.IGNORECASE)
_DIV_ATTRIBUTES = re.compile(r"^<div([^>]*)>")
# A piece of template syntax that is just a variable ({{ unsubscribe_url }}).
_URL_PIECE = re.compile(r"\{\{\s*(\w+)\s*\}\}")

DOCUMENT_HEAD = (
    '<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n'
    '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
)


def _neutral_css(css: str) -> str:
    return _UNSAFE_CSS.sub("removed-", css)


def _clean_fragment(html: str, protected: ProtectedSource) -> str:
    def attribute_filter(tag: str, attribute: str, value: str) -> str | None:
        if attribute == "style" and _UNSAFE_CSS.search(value):
            return None
        if attribute in _URL_ATTRIBUTES and protected.has_token(value):
            # Personalization in a URL: after a written scheme (which nh3 checked), or as the
            # recipient's own link; anywhere else it could make the scheme (javascript:).
            piece = protected.piece_at(value)
            variable = _URL_PIECE.fullmatch(piece) if piece is not None else None
            if variable is not None and variable.group(1) in personalization.LINK_VARIABLES:
                return value
            if ":" not in value[: protected.first_token(value)]:
                return None
        return value

    cleaned = nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        clean_content_tags={"script"},
        attributes=ALLOWED_ATTRIBUTES,
        attribute_filter=attribute_filter,
        url_schemes=set(URL_SCHEMES),
        strip_comments=False,
        link_rel=None,
    )
    # Comments were kept for the tokens only; the author's own (Outlook's conditional comments
    # included, which Outlook renders as HTML) go.
    cleaned = _COMMENT.sub(lambda match: match.group() if protected.has_token(match.group()) else "", cleaned)
    return STYLE_ELEMENT.sub(lambda m: m.group(1) + _neutral_css(m.group(2)) + m.group(3), cleaned)


def sanitize_html(html: str) -> str:
    """The HTML without scripts, event handlers, javascript: URLs or code-running CSS, with its
    personalization intact. A whole document keeps its <head>'s <style> and <title> and its
    <body> attributes; a fragment stays a fragment."""
    protected = ProtectedSource(html)
    source = protected.text
    if not DOCUMENT.search(source):
        return protected.restore(_clean_fragment(source, protected))
    head = _HEAD.search(source)
    head_html = head.group(1) if head else ""
    body = _BODY.search(source)
    if body:
        body_attributes, body_html = body.group(1), body.group(2)
    else:
        body_attributes = ""
        body_html = re.sub(r"</?html\b[^>]*>|<!DOCTYPE[^>]*>", "", _HEAD.sub("", source), flags=re.IGNORECASE)
    styles = "".join(f"<style>{_neutral_css(content)}</style>\n" for _, content, _ in STYLE_ELEMENT.findall(head_html))
    title = _TITLE.search(head_html)
    title_html = f"<title>{escape(unescape(title.group(1)), quote=False)}</title>\n" if title else ""
    cleaned_attributes = _DIV_ATTRIBUTES.match(_clean_fragment(f"<div{body_attributes}></div>", protected))
    document = (
        f"{DOCUMENT_HEAD}{title_html}{styles}</head>\n"
        f"<body{cleaned_attributes.group(1) if cleaned_attributes else ''}>\n"
        f"{_clean_fragment(body_html, protected)}\n</body>\n</html>\n"
    )
    return protected.restore(document)
