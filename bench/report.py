"""Tables for the console and Markdown, from the same rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    name: str
    value: str
    target: str = "—"
    meets: bool | None = None  # None: no target, or not measured

    @property
    def verdict(self) -> str:
        if self.meets is None:
            return "—" if self.target == "—" else "n/a"
        return "yes" if self.meets else "NO"

    def as_dict(self) -> dict:
        return {"name": self.name, "value": self.value, "target": self.target, "meets": self.meets}


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    line = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def render(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    return "\n".join([line, render(header), line, *(render(r) for r in rows), line])


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    def render(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    return "\n".join([render(header), render(["---"] * len(header)), *(render(r) for r in rows)])


FIGURE_HEADER = ("Figure", "Value", "Target", "Meets")


def figure_rows(figures: Sequence[Figure]) -> list[tuple[str, str, str, str]]:
    return [(f.name, f.value, f.target, f.verdict) for f in figures]
