"""kubectl's human-readable table output: the column writer and the Table printer.

`TabWriter` ports github.com/liggitt/tabwriter (Go's text/tabwriter plus RememberWidths), configured
as cli-runtime's GetNewTabWriter: minwidth 6, padding 3, pad ' ', flags RememberWidths (cli-runtime
v0.27-v0.33 pkg/printers/tabwriter.go). Rules that shape every `kubectl get`:

- a cell is text terminated by a tab; the text after a line's last tab is not part of any column,
  so it is never padded (no trailing blanks, unless the last cell is empty);
- a column block is a run of consecutive lines that have a cell in that column; a line with fewer
  cells ends the block and the next block is sized on its own;
- column width = max(minwidth, widest cell + padding), counted in code points (Go: runes);
- a line without any tab flushes; with RememberWidths a column never shrinks after a flush.

`print_table` renders a `meta.k8s.io/v1` Table the way cli-runtime's HumanReadablePrinter does
(pkg/printers/tableprinter.go decorateTable + printTable).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

MIN_WIDTH = 6
PADDING = 3


@dataclass
class _Cell:
    text: str
    htab: bool  # terminated by '\t' (not '\v' or a line end)


@dataclass
class TabWriter:
    """Buffers text and aligns tab-terminated cells into columns on flush (or a tab-less line)."""

    minwidth: int = MIN_WIDTH
    padding: int = PADDING
    padchar: str = " "
    remember_widths: bool = True
    _lines: list[list[_Cell]] = field(default_factory=lambda: [[]])
    _pending: str = ""
    _widths: list[int] = field(default_factory=list)
    _maxwidths: list[int] = field(default_factory=list)
    _out: list[str] = field(default_factory=list)

    def write(self, text: str) -> None:
        start = 0
        for i, ch in enumerate(text):
            if ch not in "\t\v\n\f":
                continue
            self._pending += text[start:i]
            start = i + 1
            ncells = self._terminate_cell(htab=ch == "\t")
            if ch in "\n\f":
                self._lines.append([])
                # A line with a single cell cannot belong to a column block: emit what we have.
                if ch == "\f" or ncells == 1:
                    self.flush()
        self._pending += text[start:]

    def flush(self) -> None:
        if self._pending:
            self._terminate_cell(htab=False)
        self._format(0, len(self._lines))
        self._lines = [[]]
        self._pending = ""
        self._widths = []

    def getvalue(self) -> str:
        """Everything flushed so far."""
        return "".join(self._out)

    def _terminate_cell(self, htab: bool) -> int:
        line = self._lines[-1]
        line.append(_Cell(self._pending, htab))
        self._pending = ""
        return len(line)

    def _format(self, line0: int, line1: int) -> None:
        column = len(self._widths)
        this = line0
        while this < line1:
            if column >= len(self._lines[this]) - 1:
                this += 1
                continue
            # A block of lines with a cell in `column` starts here; emit the lines before it.
            self._write_lines(line0, this)
            line0 = this
            width = self.minwidth
            while this < line1 and column < len(self._lines[this]) - 1:
                width = max(width, len(self._lines[this][column].text) + self.padding)
                this += 1
            width = self._remembered(width)
            self._widths.append(width)
            self._format(line0, this)
            self._widths.pop()
            line0 = this
            this += 1  # Go's loop increment: the line that ended the block cannot start one
        self._write_lines(line0, line1)

    def _remembered(self, width: int) -> int:
        if not self.remember_widths:
            return width
        depth = len(self._widths)
        if len(self._maxwidths) < depth:
            self._maxwidths.extend(self._widths[len(self._maxwidths):])
        if len(self._maxwidths) == depth:
            self._maxwidths.append(width)
        elif self._maxwidths[depth] > width:
            width = self._maxwidths[depth]
        else:
            self._maxwidths[depth] = width
        return width

    def _write_lines(self, line0: int, line1: int) -> None:
        for i in range(line0, line1):
            for j, cell in enumerate(self._lines[i]):
                self._out.append(cell.text)
                if j < len(self._widths):
                    self._out.append(self.padchar * (self._widths[j] - len(cell.text)))
            if i + 1 < len(self._lines):
                self._out.append("\n")


def format_table(rows: list[list[str]]) -> str:
    """Align rows (header first) as kubectl does; one trailing newline per row."""
    writer = TabWriter()
    for row in rows:
        writer.write("\t".join(row) + "\n")
    writer.flush()
    return writer.getvalue()


def print_table(table: dict[str, Any], *, wide: bool = False, no_headers: bool = False,
                show_namespace: bool = False, show_kind: str | None = None) -> str:
    """Render a server-side Table like `kubectl get` (-o wide, --no-headers, -A, several kinds).

    `show_kind` is the GroupKind text kubectl prefixes names with when several kinds are printed:
    "Pod" -> `pod/nginx`, "Deployment.apps" -> `deployment.apps/nginx`.
    """
    columns, rows = _decorate(table, show_namespace, show_kind)
    visible = [i for i, column in enumerate(columns) if wide or column.get("priority", 0) == 0]
    if not rows:
        return ""  # kubectl prints no header for an empty table; the caller says "No resources found"
    lines = [] if no_headers else [[columns[i]["name"].upper() for i in visible]]
    for cells in rows:
        lines.append([cell_text(cells[i]) if i < len(cells) else "" for i in visible])
    return format_table(lines)


def _decorate(table: dict[str, Any], show_namespace: bool,
              show_kind: str | None) -> tuple[list[dict[str, Any]], list[list[Any]]]:
    columns = list(table.get("columnDefinitions") or [])
    name_column = -1
    if show_kind:
        name_column = next((i for i, c in enumerate(columns)
                            if c.get("format") == "name" and c.get("type") == "string"), -1)
    rows = []
    for row in table.get("rows") or []:
        # More cells than columns: kubectl drops the extras (issue 66379).
        cells = list(row.get("cells") or [])[:len(columns)]
        if name_column != -1:
            cells[name_column] = f"{show_kind.lower()}/{cell_text(cells[name_column])}"
        if show_namespace:
            cells.insert(0, _namespace_of(row))
        rows.append(cells)
    if show_namespace:
        columns.insert(0, {"name": "Namespace", "type": "string"})
    return columns, rows


def _namespace_of(row: dict[str, Any]) -> str | None:
    obj = row.get("object")
    if not isinstance(obj, dict):
        return None  # no object to read metadata from: kubectl leaves the cell empty
    return (obj.get("metadata") or {}).get("namespace", "")


def cell_text(value: Any) -> str:
    """A cell as kubectl writes it: nil is empty, strings are cut at a line break, others fmt.Sprint."""
    if value is None:
        return ""
    if isinstance(value, str):
        for i, ch in enumerate(value):
            if ch in "\f\n\r":
                return _escape(value[:i]) + "..."
        return _escape(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _go_float(value)
    return _escape(str(value))


def _escape(text: str) -> str:
    # cli-runtime WriteEscaped: defuse terminal escape sequences (issue 101695).
    return text.replace("\x1b", "^[").replace("\r", "\\r")


def _go_float(value: float) -> str:
    """Go's %v for float64: shortest digits, exponent form outside [1e-4, 1e21)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1, value) < 0 else "0"
    exact = Decimal(repr(value))
    exponent = exact.adjusted()
    if -4 <= exponent < 21:
        text = format(exact, "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    digits = exact.as_tuple().digits
    mantissa = str(digits[0]) + ("." + "".join(map(str, digits[1:])).rstrip("0") if len(digits) > 1 else "")
    mantissa = mantissa.rstrip(".")
    sign = "-" if value < 0 else ""
    return f"{sign}{mantissa}e{'+' if exponent >= 0 else '-'}{abs(exponent):02d}"
