"""Reading a report back: an ``html.parser`` walk that collects what the tests check."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class ReportDoc:
    sections: list[str] = field(default_factory=list)
    stats: dict[str, str] = field(default_factory=dict)  # data-stat -> text
    missing: dict[str, str] = field(default_factory=dict)  # data-missing -> text
    config: dict[str, str] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    images: list[tuple[str, str]] = field(default_factory=list)  # (alt, src)
    sheet_keys: list[str] = field(default_factory=list)
    tags: set[str] = field(default_factory=set)
    outside_refs: list[str] = field(default_factory=list)  # src/href not data: or #anchor
    error_box: str | None = None
    text: str = ""

    def num(self, name: str) -> float:
        return float(self.stats[name].replace(",", ""))

    def image(self, alt: str) -> bytes:
        for a, src in self.images:
            if a == alt:
                return base64.b64decode(src.split(",", 1)[1])
        raise KeyError(alt)


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.doc = ReportDoc()
        self.capture: list[tuple[str, str, str, list[str]]] = []  # (tag, kind, name, parts)
        self.texts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.doc.tags.add(tag)
        if tag == "section" and "id" in a:
            self.doc.sections.append(a["id"])
        if tag == "img":
            self.doc.images.append((a.get("alt", ""), a.get("src", "")))
        for attr in ("src", "href"):
            ref = a.get(attr)
            if ref and not ref.startswith(("data:", "#")):
                self.doc.outside_refs.append(ref)
        if "data-key" in a:
            self.doc.sheet_keys.append(a["data-key"])
        if a.get("id") == "read-errors":
            self.capture.append((tag, "errors", "", []))
        for kind in ("data-stat", "data-missing", "data-config", "data-version"):
            if kind in a:
                self.capture.append((tag, kind, a[kind], []))

    def handle_endtag(self, tag: str) -> None:
        if self.capture and self.capture[-1][0] == tag:
            _, kind, name, parts = self.capture.pop()
            text = " ".join("".join(parts).split())
            if kind == "data-stat":
                self.doc.stats[name] = text
            elif kind == "data-missing":
                self.doc.missing[name] = text
            elif kind == "data-config":
                self.doc.config[name] = text
            elif kind == "data-version":
                self.doc.versions[name] = text
            else:
                self.doc.error_box = text

    def handle_data(self, data: str) -> None:
        self.texts.append(data)
        for entry in self.capture:
            entry[3].append(data)


def parse_report(html: str) -> ReportDoc:
    p = _Parser()
    p.feed(html)
    p.close()
    p.doc.text = " ".join("".join(p.texts).split())
    return p.doc
