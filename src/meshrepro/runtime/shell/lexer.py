"""Tokens of the shell language. Words are lexed into parts here, since quoting decides their meaning."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from meshrepro.runtime.shell.nodes import (
    DQ,
    Arith,
    CmdSub,
    HereDoc,
    Lit,
    Param,
    Part,
    Quoted,
    Script,
    Tilde,
    Word,
)


class ShellSyntaxError(Exception):
    """A script the shell refuses to run. Each dialect words it differently (see `dialects`).

    kind: "unexpected" (a token where it cannot be), "eof" (the script ended inside a construct),
    "unterminated" (an open quote; `token` is the quote), "arith" (`$((` without `))`).
    """

    def __init__(
        self,
        message: str,
        line: int,
        *,
        kind: str = "unexpected",
        token: str = "",
        expecting: str = "",
        start_line: int = 0,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.kind = kind
        self.token = token
        self.expecting = expecting
        self.start_line = start_line or line


def unexpected(token: str, line: int, expecting: str = "") -> ShellSyntaxError:
    shown = "end of file" if token == "" else ("newline" if token == "\n" else f'"{token}"')
    kind = "eof" if token == "" else "unexpected"
    suffix = f' (expecting "{expecting}")' if expecting else ""
    return ShellSyntaxError(f"syntax error: {shown} unexpected{suffix}", line, kind=kind, token=token,
                            expecting=expecting)


@dataclass(frozen=True)
class Token:
    kind: str  # "word" | "op" | "ionum" | "newline" | "eof"
    text: str
    line: int
    word: Word | None = None


METACHARS = frozenset(" \t\n;&|()<>")
OPERATORS = ("&>>", "<<-", "&&", "||", ";;", "<<", ">>", ">&", "<&", ">|", "<>", "&>",
             ";", "&", "|", "(", ")", "<", ">")
BASH_ONLY_OPERATORS = frozenset({"&>", "&>>"})
SPECIAL_PARAMS = frozenset("@*#?$!-0123456789")
TILDE_ENDS = METACHARS | {"", "/"}

SubParser = Callable[["Lexer", bool], Script]  # (lexer, ends at ")")


def is_name(text: str) -> bool:
    return bool(text) and (text[0].isalpha() or text[0] == "_") and all(c.isalnum() or c == "_" for c in text)


class Lexer:
    """Reads tokens on demand; here-document bodies are read when the line that opened them ends."""

    def __init__(self, src: str, subparser: SubParser, *, bash_redirs: bool = True, line: int = 1) -> None:
        self.src = src
        self.pos = 0
        self.line = line
        self.subparser = subparser
        self.bash_redirs = bash_redirs
        self.pending: list[HereDoc] = []

    # -- characters --------------------------------------------------------------------------
    def _peek(self, offset: int = 0) -> str:
        i = self.pos + offset
        return self.src[i] if i < len(self.src) else ""

    def _take(self) -> str:
        c = self.src[self.pos]
        self.pos += 1
        if c == "\n":
            self.line += 1
        return c

    def _skip_blanks(self) -> None:
        while True:
            c = self._peek()
            if c in (" ", "\t"):
                self.pos += 1
            elif c == "\\" and self._peek(1) == "\n":
                self.pos += 2
                self.line += 1
            elif c == "#":
                while self._peek() not in ("", "\n"):
                    self.pos += 1
            else:
                return

    # -- tokens ------------------------------------------------------------------------------
    def next_token(self) -> Token:
        self._skip_blanks()
        line = self.line
        c = self._peek()
        if c == "":
            self._read_heredocs()
            return Token("eof", "", line)
        if c == "\n":
            self._take()
            self._read_heredocs()
            return Token("newline", "\n", line)
        for op in OPERATORS:
            if self.src.startswith(op, self.pos) and (self.bash_redirs or op not in BASH_ONLY_OPERATORS):
                self.pos += len(op)
                return Token("op", op, line)
        word = self.read_word()
        if word.raw.isdigit() and self._peek() in ("<", ">"):
            return Token("ionum", word.raw, line)
        return Token("word", word.raw, line, word)

    def read_word(self) -> Word:
        start = self.pos
        parts: list[Part] = []
        lit: list[str] = []

        def flush() -> None:
            if lit:
                parts.append(Lit("".join(lit)))
                lit.clear()

        while True:
            c = self._peek()
            if c == "" or c in METACHARS:
                break
            if c == "\\":
                self.pos += 1
                nxt = self._peek()
                if nxt == "\n":
                    self._take()
                elif nxt:
                    flush()
                    parts.append(Quoted(self._take()))
                else:
                    lit.append("\\")
            elif c == "'":
                flush()
                parts.append(Quoted(self._single_quoted()))
            elif c == '"':
                flush()
                parts.append(self._double_quoted())
            elif c in ("$", "`"):
                flush()
                parts.append(self._expansion(in_dq=False))
            elif c == "~" and self.pos == start and self._peek(1) in TILDE_ENDS:
                self.pos += 1
                parts.append(Tilde())
            else:
                lit.append(self._take())
        flush()
        return Word(tuple(parts), self.src[start:self.pos])

    def _single_quoted(self) -> str:
        line = self.line
        end = self.src.find("'", self.pos + 1)
        if end < 0:
            raise self._unterminated("'", line)
        text = self.src[self.pos + 1:end]
        self.line += text.count("\n")
        self.pos = end + 1
        return text

    def _unterminated(self, quote: str, start_line: int) -> ShellSyntaxError:
        eof_line = self.line + self.src.count("\n", self.pos)
        return ShellSyntaxError("syntax error: unterminated quoted string", eof_line, kind="unterminated",
                                token=quote, start_line=start_line)

    def _double_quoted(self) -> DQ:
        line = self.line
        self.pos += 1
        parts = self.read_dq_parts('"')
        if self._peek() != '"':
            raise self._unterminated('"', line)
        self.pos += 1
        return DQ(tuple(parts))

    def read_dq_parts(self, stop: str, *, heredoc: bool = False) -> list[Part]:
        """Text as inside double quotes (or a here-document body when `heredoc`), up to `stop`."""
        escapable = "$`\\\n" if heredoc else '$`"\\\n'
        parts: list[Part] = []
        lit: list[str] = []
        while True:
            c = self._peek()
            if c == "" or (stop and c == stop):
                break
            if c == "\\" and self._peek(1) and self._peek(1) in escapable:
                self.pos += 1
                ch = self._take()
                if ch != "\n":
                    lit.append(ch)
            elif c in ("$", "`"):
                if lit:
                    parts.append(Lit("".join(lit)))
                    lit.clear()
                parts.append(self._expansion(in_dq=True))
            else:
                lit.append(self._take())
        if lit:
            parts.append(Lit("".join(lit)))
        return parts

    # -- expansions --------------------------------------------------------------------------
    def _expansion(self, in_dq: bool) -> Part:
        if self._peek() == "`":
            return self._backtick(in_dq)
        nxt = self._peek(1)
        if nxt == "{":
            return self._braced_param(in_dq)
        if nxt == "(" and self._peek(2) == "(":
            return self._arith()
        if nxt == "(":
            self.pos += 2
            return CmdSub(self.subparser(self, True))
        if nxt and nxt in SPECIAL_PARAMS:
            self.pos += 2
            return Param(nxt)
        if nxt and (nxt.isalpha() or nxt == "_"):
            self.pos += 1
            start = self.pos
            while self._peek() and (self._peek().isalnum() or self._peek() == "_"):
                self.pos += 1
            return Param(self.src[start:self.pos])
        self.pos += 1
        return Lit("$")

    def _braced_param(self, in_dq: bool) -> Param:
        line = self.line
        self.pos += 2
        length = self._peek() == "#" and self._peek(1) not in ("}", "")
        if length:
            self.pos += 1
        start = self.pos
        if self._peek() and self._peek() in SPECIAL_PARAMS:
            self.pos += 1
        while self._peek() and (self._peek().isalnum() or self._peek() == "_"):
            self.pos += 1
        name = self.src[start:self.pos]
        op = ""
        for candidate in (":-", ":=", ":+", ":?", "-", "=", "+", "?"):
            if not length and self.src.startswith(candidate, self.pos):
                op = candidate
                self.pos += len(candidate)
                break
        arg: Word | None = None
        if op:
            arg_start = self.pos
            arg = Word(tuple(self._brace_arg(in_dq)), "")
            arg = Word(arg.parts, self.src[arg_start:self.pos])
        if self._peek() != "}" or not name:
            if self._peek() == "":
                raise ShellSyntaxError("syntax error: missing '}'", line, kind="eof", expecting="}")
            close = self.src.find("}", self.pos)
            shown = self.src[start - 2 - int(length):close + 1 if close >= 0 else len(self.src)]
            raise ShellSyntaxError("bad substitution", line, kind="badsubst", token=shown)
        self.pos += 1
        return Param(name, op, arg, length)

    def _brace_arg(self, in_dq: bool) -> list[Part]:
        if in_dq:
            return self.read_dq_parts("}")
        parts: list[Part] = []
        while self._peek() not in ("", "}"):
            c = self._peek()
            if c == "'":
                parts.append(Quoted(self._single_quoted()))
            elif c == '"':
                parts.append(self._double_quoted())
            elif c in ("$", "`"):
                parts.append(self._expansion(in_dq=False))
            elif c == "\\" and self._peek(1):
                self.pos += 1
                parts.append(Quoted(self._take()))
            else:
                parts.append(Lit(self._take()))
        return parts

    def _arith(self) -> Arith:
        line = self.line
        self.pos += 3
        depth = 0
        i = self.pos
        while i < len(self.src):
            c = self.src[i]
            if c == "(":
                depth += 1
            elif c == ")":
                if depth == 0:
                    break
                depth -= 1
            i += 1
        if not self.src.startswith("))", i):
            raise ShellSyntaxError("syntax error: missing '))'", line, kind="arith")
        inner = Lexer(self.src[self.pos:i], self.subparser, bash_redirs=self.bash_redirs, line=self.line)
        parts = inner.read_dq_parts("", heredoc=True)
        raw = self.src[self.pos:i]
        self.line += raw.count("\n")
        self.pos = i + 2
        return Arith(Word(tuple(parts), raw))

    def _backtick(self, in_dq: bool) -> CmdSub:
        line = self.line
        self.pos += 1
        inner: list[str] = []
        unescape = "$`\\" + ('"' if in_dq else "")
        while True:
            c = self._peek()
            if c == "":
                raise ShellSyntaxError("syntax error: unterminated quoted string", self.line,
                                       kind="unterminated", token="`", start_line=line)
            self._take()
            if c == "`":
                break
            if c == "\\" and self._peek() and self._peek() in unescape:
                inner.append(self._take())
            else:
                inner.append(c)
        sub = Lexer("".join(inner), self.subparser, bash_redirs=self.bash_redirs, line=line)
        return CmdSub(self.subparser(sub, False))

    # -- here-documents ----------------------------------------------------------------------
    def _read_heredocs(self) -> None:
        pending, self.pending = self.pending, []
        for doc in pending:
            doc.body = self._heredoc_body(doc)

    def _heredoc_body(self, doc: HereDoc) -> Word:
        lines: list[str] = []
        while self.pos < len(self.src):
            end = self.src.find("\n", self.pos)
            end = len(self.src) if end < 0 else end
            line = self.src[self.pos:end]
            self.pos = min(end + 1, len(self.src))
            self.line += 1
            if doc.strip_tabs:
                line = line.lstrip("\t")
            if line == doc.delimiter:
                break
            lines.append(line + "\n")
        text = "".join(lines)
        if doc.quoted:
            return Word((Quoted(text),), text)
        body = Lexer(text, self.subparser, bash_redirs=self.bash_redirs)
        return Word(tuple(body.read_dq_parts("", heredoc=True)), text)
