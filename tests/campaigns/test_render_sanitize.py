"""Campaign HTML is sanitized with nh3: no scripts, event handlers, javascript: URLs or
code-running CSS, while the HTML marketers send (tables, inline styles, <style>) and their
personalization survive."""

import re

import pytest

from campaigns.rendering import sanitize_html


@pytest.mark.parametrize(
    "dirty, gone",
    [
        ("<p>a</p><script>alert(1)</script>", ["<script", "alert(1)"]),
        ('<p onclick="steal()" onmouseover="x()">a</p>', ["onclick", "onmouseover", "steal"]),
        ("<img src=x onerror=alert(1)>", ["onerror", "alert"]),
        ('<a href="javascript:alert(1)">x</a>', ["javascript:"]),
        ('<a href="JaVaScRiPt:alert(1)">x</a>', ["alert"]),
        ('<a href=" javascript:alert(1)">x</a>', ["alert"]),
        ('<a href="vbscript:msgbox(1)">x</a>', ["vbscript"]),
        ('<a href="data:text/html,<script>alert(1)</script>">x</a>', ["data:", "alert"]),
        ('<iframe src="https://evil.example/"></iframe>', ["<iframe", "evil"]),
        ('<form action="https://evil.example/"><input name="card"></form>', ["<form", "<input"]),
        ("<object data=x></object><embed src=x>", ["<object", "<embed"]),
        ("<svg onload=alert(1)></svg>", ["onload", "<svg"]),
        ('<base href="https://evil.example/">', ["<base", "evil"]),
        ('<meta http-equiv="refresh" content="0;url=https://evil.example/">', ["refresh", "evil"]),
        ('<link rel="stylesheet" href="https://evil.example/x.css">', ["<link", "evil"]),
        ('<div style="background:url(javascript:alert(1))">x</div>', ["javascript", "alert"]),
        ('<div style="width:expression(alert(1))">x</div>', ["expression"]),
        ("<style>@import url(https://evil.example/x.css); p{behavior:url(x.htc)}</style>", ["@import", "behavior"]),
        ("<!--[if mso]><script>x()</script><![endif]--><p>x</p>", ["<script", "[if mso]"]),
        ('<a href="{{ contact.properties.site }}">x</a>', ["contact.properties.site"]),
        ('<img src="{{ contact.fields.photo }}">', ["contact.fields.photo"]),
        ('<a href="java{{ contact.fields.rest }}">x</a>', ["contact.fields.rest"]),
        ('<a href="/go/{{ contact.fields.rest }}">x</a>', ["contact.fields.rest"]),
        ('<a href="{{unsubscribe_url|default:contact.fields.x}}">x</a>', ["contact.fields.x"]),
    ],
)
def test_dangerous_html_is_removed(dirty, gone):
    clean = sanitize_html(dirty)
    for piece in gone:
        assert piece.lower() not in clean.lower()


def test_email_html_is_kept():
    html = (
        '<table role="presentation" width="600" cellpadding="0" cellspacing="0" border="0" bgcolor="#ffffff" '
        'align="center"><tbody><tr><td valign="top" style="padding:16px;color:#333333" class="cell" colspan="2">'
        '<font color="#ff0000" face="Arial">Sale</font> <center>now</center> '
        '<a href="https://shop.example/?a=1&amp;b=2" target="_blank">Shop</a> '
        '<a href="mailto:help@shop.example">Mail</a> <a href="tel:+3312345678">Call</a> '
        '<img src="https://cdn.shop.example/logo.png" alt="Logo" width="120" height="40" border="0">'
        "</td></tr></tbody></table><style>@media (max-width:600px){.cell{padding:8px!important}}</style>"
    )
    assert sanitize_html(html) == html


def test_personalization_survives_sanitizing_even_between_table_rows():
    html = (
        '<table><tbody>{% for tag in contact.tags %}<tr><td>{{ tag|default:"a & b" }}</td></tr>{% endfor %}'
        '</tbody></table><a href="https://shop.example/?id={{ contact.external_id|urlencode }}">mine</a>'
        '<a href="{{ unsubscribe_url }}">leave</a><a href="{{preferences_url}}">choose</a>'
        '<a href="mailto:{{ contact.email }}?subject=hi">me</a>'
    )
    assert sanitize_html(html) == html


def test_a_whole_document_keeps_its_head_styles_title_and_body_attributes():
    document = (
        "<!DOCTYPE html><html><head><title>News & more</title><script>x()</script>"
        '<style>p { color: red; }</style><link rel="stylesheet" href="https://evil.example/x.css"></head>'
        '<body style="margin:0" onload="x()"><p>Hi {{ contact.first_name }}</p></body></html>'
    )
    clean = sanitize_html(document)
    assert "<title>News &amp; more</title>" in clean
    assert "<style>p { color: red; }</style>" in clean
    assert re.search(r'<body style="margin:0">\s*<p>Hi \{\{ contact.first_name \}\}</p>', clean)
    assert "x()" not in clean and "evil" not in clean


def test_sanitizing_is_stable():
    once = sanitize_html('<p onclick="x">a</p><table><tr><td>{% if contact.email %}b{% endif %}</td></tr></table>')
    assert sanitize_html(once) == once
