"""Recursive-descent parser for the POSIX shell grammar (the parts scripts in pods and READMEs use)."""

from __future__ import annotations

from collections.abc import Callable

from meshrepro.runtime.shell.lexer import Lexer, ShellSyntaxError, Token, is_name, unexpected
from meshrepro.runtime.shell.nodes import (
    AndOr,
    Case,
    CaseItem,
    Command,
    For,
    FuncDef,
    Group,
    HereDoc,
    If,
    Lit,
    Loop,
    Part,
    Pipeline,
    Quoted,
    Redir,
    Redirected,
    Script,
    Simple,
    Subshell,
    Tilde,
    Word,
)

RESERVED = frozenset({"if", "then", "else", "elif", "fi", "do", "done", "case", "esac", "while", "until",
                      "for", "in", "{", "}", "!"})
REDIR_OPS = frozenset({">", ">>", "<", ">&", "<&", "&>", "&>>", "<<", "<<-", "<>", ">|"})
DECLARATIONS = frozenset({"export", "local", "readonly"})
LIST_END = frozenset({"then", "else", "elif", "fi", "do", "done", "esac", "}"})


class Parser:
    def __init__(self, src: str, *, bash_redirs: bool = True) -> None:
        self.lexer = Lexer(src, _parse_substitution, bash_redirs=bash_redirs)
        self._tok: Token | None = None

    @classmethod
    def on(cls, lexer: Lexer) -> Parser:
        parser = cls.__new__(cls)
        parser.lexer = lexer
        parser._tok = None
        return parser

    # -- tokens ------------------------------------------------------------------------------
    def peek(self) -> Token:
        if self._tok is None:
            self._tok = self.lexer.next_token()
        return self._tok

    def advance(self) -> Token:
        tok = self.peek()
        self._tok = None
        return tok

    def is_reserved(self, *words: str) -> bool:
        tok = self.peek()
        return tok.kind == "word" and tok.word is not None and tok.word.is_plain and tok.text in words

    def is_op(self, *ops: str) -> bool:
        tok = self.peek()
        return tok.kind == "op" and tok.text in ops

    def fail(self, expecting: str = "") -> ShellSyntaxError:
        tok = self.peek()
        return unexpected(tok.text, tok.line if tok.kind != "eof" else self.lexer.line, expecting)

    def expect_reserved(self, word: str) -> None:
        if not self.is_reserved(word):
            raise self.fail(word)
        self.advance()

    def skip_newlines(self) -> None:
        while self.peek().kind == "newline":
            self.advance()

    # -- entry points ------------------------------------------------------------------------
    def parse_all(self) -> Script:
        items = []
        while (chunk := self.next_chunk()) is not None:
            items.extend(chunk.items)
        return Script(items)

    def next_chunk(self) -> Script | None:
        """The next top-level line of commands, or None at the end: shells run a line before reading on."""
        self.skip_newlines()
        if self.peek().kind == "eof":
            return None
        items = [self.parse_and_or()]
        while self.is_op(";", "&"):
            self.advance()
            if self.peek().kind in ("newline", "eof"):
                break
            items.append(self.parse_and_or())
        if self.peek().kind not in ("newline", "eof"):
            raise self.fail()
        if self.peek().kind == "newline":
            self.advance()
        return Script(items)

    # -- lists -------------------------------------------------------------------------------
    def parse_list(self, *, required: bool = True) -> Script:
        """A compound list, ending before a reserved word that closes the construct, `)` or `;;`."""
        self.skip_newlines()
        items = []
        while not (self.is_reserved(*LIST_END) or self.is_op(")", ";;") or self.peek().kind == "eof"):
            items.append(self.parse_and_or())
            if self.is_op(";", "&"):
                self.advance()
            elif self.peek().kind != "newline":
                break
            self.skip_newlines()
        if required and not items:
            raise self.fail()
        return Script(items)

    def parse_and_or(self) -> AndOr:
        node = AndOr(self.parse_pipeline())
        while self.is_op("&&", "||"):
            op = self.advance().text
            self.skip_newlines()
            node.rest.append((op, self.parse_pipeline()))
        return node

    def parse_pipeline(self) -> Pipeline:
        line = self.peek().line
        negate = self.is_reserved("!")
        if negate:
            self.advance()
        commands = [self.parse_command()]
        while self.is_op("|"):
            self.advance()
            self.skip_newlines()
            commands.append(self.parse_command())
        return Pipeline(commands, negate, line)

    # -- commands ----------------------------------------------------------------------------
    def parse_command(self) -> Command:
        tok = self.peek()
        compound: dict[str, Callable[[], Command]] = {"if": self.parse_if, "while": self.parse_loop, "until": self.parse_loop,
                    "for": self.parse_for, "case": self.parse_case, "{": self.parse_group}
        if self.is_reserved(*compound):
            return self.with_redirs(compound[tok.text]())
        if self.is_reserved(*RESERVED):
            raise self.fail()
        if self.is_op("("):
            return self.with_redirs(self.parse_subshell())
        if tok.kind == "word":
            self.advance()
            if self.is_op("(") and tok.word is not None and tok.word.is_plain and is_name(tok.text):
                return self.parse_function(tok)
            return self.parse_simple(tok)
        if tok.kind == "ionum" or (tok.kind == "op" and tok.text in REDIR_OPS):
            return self.parse_simple(None)
        raise self.fail()

    def with_redirs(self, command: Command) -> Command:
        redirs = []
        while self.peek().kind == "ionum" or self.is_op(*REDIR_OPS):
            redirs.append(self.parse_redir())
        return Redirected(command, redirs) if redirs else command

    def parse_simple(self, first: Token | None) -> Simple:
        line = first.line if first else self.peek().line
        node = Simple([], [], [], line)
        if first is not None:
            self.add_word(node, first)
        while True:
            tok = self.peek()
            if tok.kind == "ionum" or self.is_op(*REDIR_OPS):
                node.redirs.append(self.parse_redir())
            elif tok.kind == "word":
                self.add_word(node, self.advance())
            else:
                return node

    @staticmethod
    def add_word(node: Simple, tok: Token) -> None:
        assert tok.word is not None
        assignment = split_assignment(tok.word)
        if assignment and not node.words:
            node.assigns.append(assignment)
        elif assignment and node.words[0].raw in DECLARATIONS:
            name, value = assignment  # `export X=~/y` expands the tilde like an assignment
            node.words.append(Word((Lit(name + "="), *value.parts), tok.word.raw))
        else:
            node.words.append(tok.word)

    def parse_redir(self) -> Redir:
        fd = int(self.advance().text) if self.peek().kind == "ionum" else None
        op = self.advance().text
        target = self.peek()
        if target.kind != "word" or target.word is None:
            raise self.fail()
        self.advance()
        default_fd = 0 if op.startswith("<") else 1
        redir = Redir(default_fd if fd is None else fd, op, target.word)
        if op in ("<<", "<<-"):
            redir.heredoc = heredoc(target.word, strip_tabs=op == "<<-")
            self.lexer.pending.append(redir.heredoc)
        return redir

    def parse_function(self, name: Token) -> FuncDef:
        self.advance()
        if not self.is_op(")"):
            raise self.fail()
        self.advance()
        self.skip_newlines()
        return FuncDef(name.text, self.parse_command(), name.line)

    def parse_if(self) -> If:
        self.advance()
        branches = []
        orelse = None
        while True:
            cond = self.parse_list()
            self.expect_reserved("then")
            branches.append((cond, self.parse_list()))
            if self.is_reserved("elif"):
                self.advance()
                continue
            if self.is_reserved("else"):
                self.advance()
                orelse = self.parse_list()
            self.expect_reserved("fi")
            return If(branches, orelse)

    def parse_loop(self) -> Loop:
        until = self.advance().text == "until"
        cond = self.parse_list()
        return Loop(until, cond, self.parse_do())

    def parse_do(self) -> Script:
        self.expect_reserved("do")
        body = self.parse_list()
        self.expect_reserved("done")
        return body

    def parse_for(self) -> For:
        self.advance()
        name = self.peek()
        if name.kind != "word" or not is_name(name.text):
            raise self.fail()
        self.advance()
        self.skip_newlines()
        words: list[Word] | None = None
        if self.is_reserved("in"):
            self.advance()
            words = []
            while self.peek().kind == "word":
                word = self.advance().word
                assert word is not None
                words.append(word)
            if not self.is_op(";") and self.peek().kind != "newline":
                raise self.fail("do")
        if self.is_op(";"):
            self.advance()
        self.skip_newlines()
        return For(name.text, words, self.parse_do())

    def parse_case(self) -> Case:
        self.advance()
        subject = self.peek()
        if subject.kind != "word" or subject.word is None:
            raise self.fail()
        self.advance()
        self.skip_newlines()
        self.expect_reserved("in")
        self.skip_newlines()
        items = []
        while not self.is_reserved("esac"):
            items.append(self.parse_case_item())
            self.skip_newlines()
        self.advance()
        return Case(subject.word, items)

    def parse_case_item(self) -> CaseItem:
        if self.is_op("("):
            self.advance()
        patterns = []
        while True:
            tok = self.peek()
            if tok.kind != "word" or tok.word is None:
                raise self.fail(")")
            patterns.append(tok.word)
            self.advance()
            if not self.is_op("|"):
                break
            self.advance()
        if not self.is_op(")"):
            raise self.fail(")")
        self.advance()
        body = self.parse_list(required=False)
        if self.is_op(";;"):
            self.advance()
        elif not self.is_reserved("esac"):
            raise self.fail("esac") if self.peek().kind == "eof" else self.fail()
        return CaseItem(patterns, body)

    def parse_group(self) -> Group:
        self.advance()
        body = self.parse_list()
        self.expect_reserved("}")
        return Group(body)

    def parse_subshell(self) -> Subshell:
        self.advance()
        body = self.parse_list()
        if not self.is_op(")"):
            raise self.fail(")")
        self.advance()
        return Subshell(body)


def split_assignment(word: Word) -> tuple[str, Word] | None:
    """`NAME=value` as (NAME, value word), when the name part is unquoted."""
    first = word.parts[0] if word.parts else None
    if not isinstance(first, Lit) or "=" not in first.text:
        return None
    name, _, rest = first.text.partition("=")
    if not is_name(name):
        return None
    head: tuple[Part, ...] = (Lit(rest),) if rest else ()
    if rest == "~" or rest.startswith("~/"):  # tilde expansion applies right after `=`
        head = (Tilde(),) + ((Lit(rest[1:]),) if rest[1:] else ())
    return name, Word(head + word.parts[1:], word.raw[len(name) + 1:])


def heredoc(delimiter: Word, *, strip_tabs: bool) -> HereDoc:
    quoted = any(not isinstance(p, Lit) for p in delimiter.parts)
    text = "".join(p.text if isinstance(p, (Lit, Quoted)) else _plain(p) for p in delimiter.parts)
    return HereDoc(text, quoted, strip_tabs)


def _plain(part: object) -> str:
    """The literal text of a quoted delimiter part such as "EOF"."""
    inner = getattr(part, "parts", ())
    return "".join(p.text for p in inner if isinstance(p, Lit))


def _parse_substitution(lexer: Lexer, closing: bool) -> Script:
    """`$(...)` (lexer just past the `(`, `closing`) or a backquoted body (a lexer of its own)."""
    parser = Parser.on(lexer)
    body = parser.parse_list(required=False)
    if closing:
        if not parser.is_op(")"):
            raise parser.fail(")")
        parser.advance()
    elif parser.peek().kind != "eof":
        raise parser.fail()
    return body


def parse(script: str, dialect: str = "bash") -> Script:
    """The whole script, or ShellSyntaxError at the first error. `dialect` "dash" has no `&>`."""
    return Parser(script, bash_redirs=dialect != "dash").parse_all()
