"""A figure of `make bench`: its rows (what was measured, the number, the goal), and what it means."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Row:
    """One measured number with its unit and, when the issue sets one, its goal and whether it is met."""

    what: str
    value: str
    goal: str = ""
    met: bool | None = None
    """None when the row has no goal."""


@dataclass
class Figure:
    """One of the issue's seven figures: rows, a one-line reading for a user, and missed goals."""

    number: int
    title: str
    rows: list[Row] = field(default_factory=list)
    reading: str = ""
    notes: list[str] = field(default_factory=list)
    """How it was measured, what it leaves out."""

    def add(self, what: str, value: str, goal: str = "", met: bool | None = None) -> None:
        self.rows.append(Row(what, value, goal, met))

    @property
    def missed(self) -> list[Row]:
        """Rows whose goal is not met."""
        return [row for row in self.rows if row.met is False]


def seconds(value: float) -> str:
    return f"{value:.2f} s"


def ratio(value: float) -> str:
    return f"{value:.2f}x"
