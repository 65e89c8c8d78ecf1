"""A small HTML tree for the dashboard tests (stdlib ``html.parser``).

``parse(text)`` gives the document; ``find``/``find_all`` select elements by
tag and attributes (``class_`` matches one class), ``text`` is the visible
text with whitespace collapsed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

VOID = {"area", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source"}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[Element | str] = field(default_factory=list)

    @property
    def text(self) -> str:
        parts: list[str] = []
        for child in self.children:
            parts.append(child if isinstance(child, str) else " " + child.text + " ")
        return re.sub(r"\s+", " ", "".join(parts)).strip()

    def iter(self) -> list[Element]:
        found = [self]
        for child in self.children:
            if isinstance(child, Element):
                found.extend(child.iter())
        return found

    def find_all(self, tag: str | None = None, **attrs: str) -> list[Element]:
        wanted = {k.rstrip("_").replace("_", "-"): v for k, v in attrs.items()}
        return [e for e in self.iter()[1:] if _matches(e, tag, wanted)]

    def find(self, tag: str | None = None, **attrs: str) -> Element | None:
        found = self.find_all(tag, **attrs)
        return found[0] if found else None

    def get(self, tag: str | None = None, **attrs: str) -> Element:
        found = self.find(tag, **attrs)
        assert found is not None, f"no <{tag or '*'} {attrs}>"
        return found


def _matches(e: Element, tag: str | None, wanted: dict[str, str]) -> bool:
    if tag is not None and e.tag != tag:
        return False
    for name, value in wanted.items():
        if name == "class":
            if value not in e.attrs.get("class", "").split():
                return False
        elif e.attrs.get(name) != value:
            return False
    return True


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document")
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(element)
        if tag not in VOID:
            self.stack.append(element)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(text: str) -> Element:
    builder = _Builder()
    builder.feed(text)
    builder.close()
    return builder.root
