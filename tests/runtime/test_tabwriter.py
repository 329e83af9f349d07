"""kubectl's column writer (liggitt/tabwriter as cli-runtime configures it) and Table printer."""

import itertools

from hypothesis import given
from hypothesis import strategies as st

from meshrepro.runtime.tabwriter import TabWriter, cell_text, format_table, print_table


def test_pod_table_spacing() -> None:
    text = format_table(
        [
            ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
            ["nginx-7c5ddbdf54-abcde", "0/1", "Init:0/1", "0", "20s"],
            ["web-1", "1/1", "Running", "3 (12s ago)", "5m"],
        ]
    )
    assert text == (
        "NAME                     READY   STATUS     RESTARTS      AGE\n"
        "nginx-7c5ddbdf54-abcde   0/1     Init:0/1   0             20s\n"
        "web-1                    1/1     Running    3 (12s ago)   5m\n"
    )


def test_min_width_is_six_including_padding() -> None:
    assert format_table([["A", "B"], ["x", "y"]]) == "A     B\nx     y\n"
    assert format_table([["ABCD", "B"]]) == "ABCD   B\n"  # 4 + 3 padding > 6


def test_trailing_cell_is_not_padded_but_empty_last_cell_pads_the_previous_one() -> None:
    assert format_table([["a", "b"], ["long-name", "c"]]) == "a           b\nlong-name   c\n"
    # "x\t\n": the empty last cell leaves x padded - real kubectl prints these trailing blanks too.
    assert format_table([["NAME", "X"], ["x", ""]]) == "NAME   X\nx      \n"


def test_column_block_ends_at_a_line_with_fewer_cells() -> None:
    writer = TabWriter(remember_widths=False)
    writer.write("a\tb\tc\nlonger-a\tb\nz\tlong-b-value\tc\n")
    writer.flush()
    # Column 1 (b) spans only lines 1 and 3 separately: line 2 has b as its last cell.
    assert writer.getvalue() == ("a          b     c\nlonger-a   b\nz          long-b-value   c\n")


def test_tabless_line_flushes_and_widths_are_remembered() -> None:
    remembering = TabWriter()
    remembering.write("abcdefghij\tx\n\nab\ty\n")
    remembering.flush()
    assert remembering.getvalue() == "abcdefghij   x\n\nab           y\n"
    forgetting = TabWriter(remember_widths=False)
    forgetting.write("abcdefghij\tx\n\nab\ty\n")
    forgetting.flush()
    assert forgetting.getvalue() == "abcdefghij   x\n\nab    y\n"


def test_width_counts_code_points() -> None:
    assert format_table([["héllo", "x"], ["abc", "y"]]) == "héllo   x\nabc     y\n"


cells = st.text(
    alphabet=st.characters(blacklist_characters="\t\n\v\f\r", blacklist_categories=("Cs",)),
    min_size=0,
    max_size=12,
)


@given(
    st.integers(min_value=1, max_value=6).flatmap(
        lambda n: st.lists(st.lists(cells, min_size=n, max_size=n), min_size=1, max_size=8)
    )
)
def test_columns_line_up_and_lines_have_no_trailing_blanks(rows: list[list[str]]) -> None:
    rows = [[c.strip() or "-" for c in row] for row in rows]  # non-empty cells without edge blanks
    lines = format_table(rows).split("\n")
    assert lines[-1] == "" and len(lines) == len(rows) + 1
    starts = None
    for row, line in zip(rows, lines):
        assert line == line.rstrip(" ")
        offsets, pos = [], 0
        for cell in row:
            assert line[pos : pos + len(cell)] == cell
            offsets.append(pos)
            pos += len(cell)
            pos += len(line[pos:]) - len(line[pos:].lstrip(" "))
        assert pos == len(line)
        starts = starts or offsets
        assert offsets == starts
    widths = [b - a for a, b in itertools.pairwise(starts)]
    for i, width in enumerate(widths):
        assert width == max(6, max(len(r[i]) for r in rows) + 3)


TABLE = {
    "kind": "Table",
    "apiVersion": "meta.k8s.io/v1",
    "metadata": {"resourceVersion": "7"},
    "columnDefinitions": [
        {"name": "Name", "type": "string", "format": "name", "description": "", "priority": 0},
        {"name": "Ready", "type": "string", "format": "", "description": "", "priority": 0},
        {"name": "Count", "type": "integer", "format": "", "description": "", "priority": 0},
        {"name": "Node", "type": "string", "format": "", "description": "", "priority": 1},
    ],
    "rows": [
        {
            "cells": ["nginx", "1/1", 3, "kind-control-plane"],
            "object": {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": {"name": "nginx", "namespace": "default"},
            },
        },
        {
            "cells": ["coredns-5d78c9869d-abcde", "0/1", 0, None],
            "object": {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": {"name": "coredns-5d78c9869d-abcde", "namespace": "kube-system"},
            },
        },
    ],
}


def test_print_table_default_hides_wide_columns() -> None:
    assert print_table(TABLE) == (
        "NAME                       READY   COUNT\n"
        "nginx                      1/1     3\n"
        "coredns-5d78c9869d-abcde   0/1     0\n"
    )


def test_print_table_wide_namespace_kind_no_headers() -> None:
    assert print_table(TABLE, wide=True, show_namespace=True, show_kind="Pod") == (
        "NAMESPACE     NAME                           READY   COUNT   NODE\n"
        "default       pod/nginx                      1/1     3       kind-control-plane\n"
        "kube-system   pod/coredns-5d78c9869d-abcde   0/1     0       \n"
    )
    assert print_table(TABLE, no_headers=True, show_kind="Deployment.apps") == (
        "deployment.apps/nginx                      1/1   3\n"
        "deployment.apps/coredns-5d78c9869d-abcde   0/1   0\n"
    )


def test_print_table_without_rows_prints_nothing() -> None:
    assert print_table({**TABLE, "rows": []}) == ""
    assert print_table({**TABLE, "rows": None}, no_headers=True) == ""


def test_namespace_cell_is_empty_without_row_object() -> None:
    table = {**TABLE, "rows": [{"cells": ["x", "1/1", 1, None], "object": None}]}
    assert (
        print_table(table, show_namespace=True)
        == "NAMESPACE   NAME   READY   COUNT\n            x      1/1     1\n"
    )


def test_cell_text_follows_go_fmt_and_kubectl_escaping() -> None:
    assert cell_text(None) == ""
    assert cell_text(True) == "true"
    assert cell_text(7) == "7"
    assert cell_text(2.0) == "2"
    assert cell_text(0.25) == "0.25"
    assert cell_text(1e21) == "1e+21"
    assert cell_text(1.5e-05) == "1.5e-05"
    assert cell_text("line one\nline two") == "line one..."
    assert cell_text("\x1b[31mred") == "^[[31mred"
