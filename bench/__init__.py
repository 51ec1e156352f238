"""Benchmarks of the hub: each entry measures one of the hub's figures and, in the same run on the
same machine, the limit it is up against (a bare client doing only the essential work), and
reports both with their ratio. `python -m bench` runs them all and prints one table; see
bench/README.md."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the results table. `limit` is None for figures given as information only;
    `target` is the lowest acceptable ratio, when there is one."""

    figure: str
    unit: str
    value: float
    limit: float | None = None
    target: float | None = None

    @property
    def ratio(self) -> float | None:
        """value / limit, or None without a limit."""
        if self.limit is None or self.limit == 0:
            return None
        return self.value / self.limit

    @property
    def meets_target(self) -> bool | None:
        """Whether the ratio reaches the target; None without one."""
        ratio = self.ratio
        if self.target is None or ratio is None:
            return None
        return ratio >= self.target

    def as_dict(self) -> dict[str, object]:
        """For the JSON results."""
        return {
            "figure": self.figure,
            "unit": self.unit,
            "value": self.value,
            "limit": self.limit,
            "ratio": self.ratio,
            "target": self.target,
            "meets_target": self.meets_target,
        }


@dataclass
class BenchResult:
    """What one benchmark entry hands back: the rows to print, the full details for its JSON
    file, the problems that make the run a failure (lost readings, a stalled run), and notes
    to print after the table (a profile)."""

    name: str
    rows: list[Row]
    details: dict[str, object]
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:,.1f}"


def ratio_text(row: Row) -> str:
    """The ratio with two decimals, or with as many as it takes to show that it misses its target
    (19,999 of 20,000 readings is 0.99995, not 1.00)."""
    ratio = row.ratio
    if ratio is None:
        return "-"
    for decimals in (2, 4, 6, 8):
        text = f"{ratio:.{decimals}f}"
        if row.target is None or ratio >= row.target or float(text) < row.target:
            return text
    return text


def format_table(rows: list[Row]) -> str:
    """The rows as a plain-text table: figure, unit, our value, limit, ratio."""
    header = ("figure", "unit", "our value", "limit (same run)", "ratio")
    lines = [
        (
            row.figure,
            row.unit,
            _number(row.value),
            _number(row.limit),
            ratio_text(row) + ("" if row.meets_target is None else (" ok" if row.meets_target else " LOW")),
        )
        for row in rows
    ]
    widths = [max(len(text) for text in column) for column in zip(header, *lines, strict=True)]
    out = []
    for index, cells in enumerate([header, *lines]):
        out.append(
            "  ".join(
                cell.ljust(width) if column < 2 else cell.rjust(width)
                for column, (cell, width) in enumerate(zip(cells, widths, strict=True))
            ).rstrip()
        )
        if index == 0:
            out.append("  ".join("-" * width for width in widths))
    return "\n".join(out)
