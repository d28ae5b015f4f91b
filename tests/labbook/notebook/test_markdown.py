"""Markdown of notebook entries: chemists' sub- and superscripts (pymdown-extensions' tilde and
caret), still sanitised by nh3 (links stay safe, raw HTML stays text)."""

import pytest

from labbook.notebook.models import render_markdown


@pytest.mark.parametrize(
    ("text", "html"),
    [
        ("CH~3~NH~3~PbI~3~", "<p>CH<sub>3</sub>NH<sub>3</sub>PbI<sub>3</sub></p>"),
        ("x^2^ and cm^-1^", "<p>x<sup>2</sup> and cm<sup>-1</sup></p>"),
        ("MAPb(I~1-x~Cl~x~)~3~", "<p>MAPb(I<sub>1-x</sub>Cl<sub>x</sub>)<sub>3</sub></p>"),
        ("~~wrong~~ ^^added^^", "<p><del>wrong</del> <ins>added</ins></p>"),
        ("2 ~ 3 and a ^ b", "<p>2 ~ 3 and a ^ b</p>"),  # spaced: plain text
    ],
)
def test_sub_and_superscripts(text, html):
    assert render_markdown(text) == html


def test_sanitising_still_holds_around_them():
    html = render_markdown(
        "H~2~O [x](javascript:alert(1)) <script>alert(2)</script> ![i](data:image/png;base64,AA) "
        "[ok](https://example.org/a^2^)"
    )
    assert "<sub>2</sub>" in html and "<script>" not in html and "&lt;script&gt;" in html
    assert "javascript:" not in html and "data:" not in html
    assert 'href="https://example.org/a^2^"' in html or 'href="https://example.org/a%5E2%5E"' in html
    assert 'rel="noopener noreferrer nofollow"' in html


def test_sub_and_superscript_tags_cannot_carry_attributes():
    html = render_markdown('H~2~O <sub onclick="x()">2</sub>')
    assert "<sub onclick" not in html and "&lt;sub onclick" in html  # raw HTML stays text
