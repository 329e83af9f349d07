"""The shell's syntax tree: words made of parts, commands made of words."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Lit:
    """Unquoted literal text (backslashes already removed)."""

    text: str


@dataclass(frozen=True)
class Quoted:
    """Text protected from expansion: single quotes or a backslash escape."""

    text: str


@dataclass(frozen=True)
class DQ:
    """A double-quoted region: its expansions are not field-split."""

    parts: tuple[Part, ...]


@dataclass(frozen=True)
class Param:
    """`$name`, `${name}`, `${name<op>arg}` or `${#name}`."""

    name: str
    op: str = ""  # "", ":-", "-", ":=", "=", ":+", "+", ":?", "?"
    arg: Word | None = None
    length: bool = False


@dataclass(frozen=True)
class CmdSub:
    body: Script


@dataclass(frozen=True)
class Arith:
    expr: Word


@dataclass(frozen=True)
class Tilde:
    """A leading unquoted `~`: $HOME."""


Part = Lit | Quoted | DQ | Param | CmdSub | Arith | Tilde


@dataclass(frozen=True)
class Word:
    parts: tuple[Part, ...]
    raw: str  # the source text, to recognise reserved words and assignments

    @property
    def is_plain(self) -> bool:
        """True when the word is one unquoted literal (a candidate reserved word)."""
        return len(self.parts) == 1 and isinstance(self.parts[0], Lit)


@dataclass
class HereDoc:
    delimiter: str
    quoted: bool
    strip_tabs: bool
    body: Word | None = None  # filled in when the lexer reaches the end of the line


@dataclass
class Redir:
    fd: int
    op: str  # ">", ">>", "<", ">&", "<&", "&>", "&>>", "<<", "<>", ">|"
    target: Word | None = None
    heredoc: HereDoc | None = None


@dataclass
class Simple:
    assigns: list[tuple[str, Word]]
    words: list[Word]
    redirs: list[Redir]
    line: int


@dataclass
class Pipeline:
    commands: list[Command]
    negate: bool
    line: int


@dataclass
class AndOr:
    first: Pipeline
    rest: list[tuple[str, Pipeline]] = field(default_factory=list)  # ("&&" | "||", pipeline)


@dataclass
class Script:
    items: list[AndOr]


@dataclass
class If:
    branches: list[tuple[Script, Script]]
    orelse: Script | None


@dataclass
class Loop:
    until: bool
    cond: Script
    body: Script


@dataclass
class For:
    var: str
    words: list[Word] | None  # None: "$@"
    body: Script


@dataclass
class CaseItem:
    patterns: list[Word]
    body: Script


@dataclass
class Case:
    word: Word
    items: list[CaseItem]


@dataclass
class Group:
    body: Script


@dataclass
class Subshell:
    body: Script


@dataclass
class FuncDef:
    name: str
    body: Command
    line: int


@dataclass
class Redirected:
    """A compound command with redirections after it (`while ...; done < file`)."""

    command: Command
    redirs: list[Redir]


Command = Simple | If | Loop | For | Case | Group | Subshell | FuncDef | Redirected
