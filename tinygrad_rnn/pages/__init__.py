"""The HTML, CSS and JavaScript of the pages the package writes or serves (the graph explorer,
the live training page), kept as package data and put together into one self-contained page.

``page(name, **fields)`` reads ``name.html`` and puts ``name.css`` and ``name.js`` inline where
the HTML says ``%%CSS%%`` and ``%%JS%%``; each other ``%%FIELD%%`` is replaced by ``fields``'
value (already escaped by the caller). Nothing in a page loads from the network.
"""
from __future__ import annotations

from importlib import resources


def read(filename: str) -> str:
    """The text of one page file shipped with the package."""
    return resources.files(__name__).joinpath(filename).read_text(encoding="utf-8")


def page(name: str, **fields) -> str:
    """``name.html`` with its stylesheet and script inline and ``%%FIELD%%`` placeholders filled."""
    html, css, js = read(name + ".html"), read(name + ".css"), read(name + ".js")
    if "</script" in js.lower():
        raise ValueError(f"pages: {name}.js contains '</script', which would end the inline "
                         f"script early")
    # fields first: their values (a graph's SVG, JSON) never hold a placeholder we put in later
    for key, value in fields.items():
        html = html.replace(f"%%{key.upper()}%%", value)
    return html.replace("%%CSS%%", css).replace("%%JS%%", js)
