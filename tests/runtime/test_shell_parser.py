"""Parser: structure, syntax errors with lines, and properties (hypothesis)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from conftest import make_host, run_program
from hypothesis import given, settings
from hypothesis import strategies as st

from meshrepro.runtime.shell import ShellSyntaxError, dash, parse
from meshrepro.runtime.shell import bash as bash_program
from meshrepro.runtime.shell.nodes import For, If, Quoted, Redirected, Simple

TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)


def single_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def only_simple(script: str) -> Simple:
    command = parse(script).items[0].first.commands[0]
    assert isinstance(command, Simple)
    return command


@given(TEXT)
def test_single_quoted_text_is_one_word_with_that_text(text: str) -> None:
    command = only_simple("echo " + single_quote(text))
    assert len(command.words) == 2
    parts = command.words[1].parts
    assert "".join(p.text for p in parts if isinstance(p, Quoted)) == text
    assert all(isinstance(p, Quoted) for p in parts)


BODY_LINE = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"),
                    max_size=30).filter(lambda line: line != "EOF")


@given(st.lists(BODY_LINE, max_size=6))
def test_quoted_here_document_body_is_verbatim(lines: list[str]) -> None:
    body = "".join(line + "\n" for line in lines)
    command = only_simple(f"cat <<'EOF'\n{body}EOF\n")
    doc = command.redirs[0].heredoc
    assert doc is not None and doc.body is not None
    assert doc.body.parts == (Quoted(body),)


def _python_status(tokens: list[str], ops: list[str]) -> int:
    status = 0 if tokens[0] == "true" else 1
    for op, token in zip(ops, tokens[1:]):
        value = 0 if token == "true" else 1
        if op == ";" or (op == "&&" and status == 0) or (op == "||" and status != 0):
            status = value
    return status


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["true", "false"]), min_size=1, max_size=6), st.data())
def test_and_or_lists_give_the_status_python_computes(tokens: list[str], data: st.DataObject) -> None:
    ops = data.draw(st.lists(st.sampled_from(["&&", "||", ";"]), min_size=len(tokens) - 1,
                             max_size=len(tokens) - 1))
    script = tokens[0] + "".join(f" {op} {token}" for op, token in zip(ops, tokens[1:]))
    result = run_program(make_host(), dash, ["sh", "-c", script])
    assert result.status == _python_status(tokens, ops)


def test_compound_commands_parse_into_their_nodes() -> None:
    script = parse("if a; then b; fi\nfor x in 1 2; do echo $x; done > /tmp/out\n")
    assert isinstance(script.items[0].first.commands[0], If)
    loop = script.items[1].first.commands[0]
    assert isinstance(loop, Redirected) and isinstance(loop.command, For)
    assert [w.raw for w in loop.command.words or []] == ["1", "2"]


def test_prefix_assignments_are_not_words() -> None:
    command = only_simple('A=1 B="x y" env')
    assert [name for name, _ in command.assigns] == ["A", "B"]
    assert [w.raw for w in command.words] == ["env"]


def test_two_here_documents_on_one_line() -> None:
    script = parse("cat <<A; cat <<B\none\nA\ntwo\nB\n")
    bodies = []
    for item in script.items:
        command = item.first.commands[0]
        assert isinstance(command, Simple) and command.redirs[0].heredoc is not None
        body = command.redirs[0].heredoc.body
        assert body is not None
        bodies.append(body.raw)
    assert bodies == ["one\n", "two\n"]


@pytest.mark.parametrize(
    ("script", "line", "kind", "token", "expecting"),
    [
        ("echo a\nif true; then\n  echo b\n", 4, "eof", "", "fi"),
        ("echo a\nfi\n", 2, "unexpected", "fi", ""),
        ("echo 'open\n", 2, "unterminated", "'", ""),
        ("case x in\n", 2, "eof", "", ")"),
        ("echo $((1+2", 1, "arith", "", ""),
    ],
)
def test_syntax_errors_carry_line_and_kind(script: str, line: int, kind: str, token: str, expecting: str) -> None:
    with pytest.raises(ShellSyntaxError) as info:
        parse(script)
    err = info.value
    assert (err.line, err.kind, err.token, err.expecting) == (line, kind, token, expecting)


def test_dash_has_no_ampersand_redirection() -> None:
    bash_cmd = only_simple("echo a &>/dev/null")
    assert bash_cmd.redirs[0].op == "&>"
    dash_items = parse("echo a &>/dev/null", "dash").items
    assert len(dash_items) == 2  # `echo a &` then `>/dev/null`


def test_line_numbers_follow_continuations_and_here_documents(make_host: Callable[..., Any],
                                                              run: Callable[..., Any]) -> None:
    script = "cat <<EOF\nx\nEOF\necho a \\\n  b\nnope\n"
    result = run(make_host(), dash, ["sh", "-c", script])
    assert result.stderr == "sh: 6: nope: not found\n"


@pytest.mark.parametrize(
    ("program", "name", "expected"),
    [(dash, "dash", "dash: 1: Bad substitution\n"), (bash_program, "bash", "bash: ${x!}: bad substitution\n")],
)
def test_bad_substitution(program: Any, name: str, expected: str) -> None:
    result = run_program(make_host(), program, [name, "-c", "echo ${x!}"])
    assert (result.output, result.status) == (expected, 2)
