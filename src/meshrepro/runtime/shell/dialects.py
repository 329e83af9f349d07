"""How dash, bash and busybox ash word the same failures. These lines end up in pasted container logs.

Checked against dash 0.5.12, bash 5.2 and busybox 1.35 ash.
"""

from __future__ import annotations

from dataclasses import dataclass

from meshrepro.runtime.fs import FsError
from meshrepro.runtime.shell.lexer import ShellSyntaxError


@dataclass(frozen=True)
class Dialect:
    name: str  # "dash" | "bash" | "ash"
    echo_escapes: bool  # dash's echo always interprets backslash escapes
    echo_flags: str  # the options its echo accepts
    xtrace_quotes: bool  # set -x quotes words that need it
    xtrace_split_assigns: bool  # bash traces `A=1 cmd` as two lines
    pipefail: bool  # `set -o pipefail` exists
    bash_redirs: bool  # `&>` is a redirection, not `&` then `>`
    fatal_status: int  # exit status after an expansion error (unset variable, ${x?})
    redirect_status: int  # status of a command whose redirection failed
    cd_status: int
    xtrace_safe: str  # characters set -x leaves unquoted besides letters and digits


DASH = Dialect("dash", True, "n", False, False, False, False, 2, 2, 2, "")
BASH = Dialect("bash", False, "neE", True, True, True, True, 127, 1, 1, "@%+=:,./-_")
ASH = Dialect("ash", False, "neE", True, False, True, True, 2, 1, 2, "@%+:,./-_]")
DIALECTS = {"dash": DASH, "bash": BASH, "ash": ASH}


@dataclass(frozen=True)
class Speaker:
    """Who is talking: the shell's $0, how it was started, and where it is in the script."""

    dialect: Dialect
    arg0: str
    mode: str  # "c" | "file" | "stdin" | "interactive"
    commandname: bool  # busybox: a script file, or `-c` with an explicit $0, adds `line N:`
    program: str = "sh"  # the shell's own argv[0]: busybox applets report under it

    def prefix(self, line: int, builtin: str = "") -> str:
        """Everything before the message proper."""
        b = f"{builtin}: " if builtin else ""
        name = self.dialect.name
        if name == "dash":
            return f"{self.arg0}: {line}: {b}"
        if name == "bash":
            return f"bash: {b}" if self.mode == "interactive" else f"{self.arg0}: line {line}: {b}"
        ash_line = line - 1 if self.mode == "c" else line  # busybox counts -c lines from 0
        if builtin:
            return f"{self.arg0}: {builtin}: line {ash_line}: "
        return f"{self.arg0}: line {ash_line}: " if self.commandname else f"{self.arg0}: "

    def not_found(self, name: str) -> str:
        if self.dialect.name == "bash":
            return f"{name}: No such file or directory" if "/" in name else f"{name}: command not found"
        return f"{name}: not found"

    def cd_failed(self, target: str, error: FsError) -> str:
        if self.dialect.name == "bash":
            return f"{target}: {error.c_message}"
        if self.dialect.name == "dash":
            return f"can't cd to {target}"
        return f"can't cd to {target}: {error.c_message}"

    def cannot_create(self, path: str, error: FsError) -> str:
        missing = error.errno in ("ENOENT", "ENOTDIR")
        if self.dialect.name == "bash":
            return f"{path}: {error.c_message}"
        if self.dialect.name == "dash":
            return f"cannot create {path}: " + ("Directory nonexistent" if missing else error.c_message)
        return f"can't create {path}: " + ("nonexistent directory" if missing else error.c_message)

    def cannot_open(self, path: str, error: FsError) -> str:
        missing = error.errno in ("ENOENT", "ENOTDIR")
        if self.dialect.name == "bash":
            return f"{path}: {error.c_message}"
        if self.dialect.name == "dash":
            return f"cannot open {path}: " + ("No such file" if missing else error.c_message)
        return f"can't open {path}: " + ("no such file" if missing else error.c_message)

    def unbound(self, name: str) -> str:
        return f"{name}: unbound variable" if self.dialect.name == "bash" else f"{name}: parameter not set"

    def param_unset(self, name: str, colon: bool) -> str:
        if not colon:
            return f"{name}: parameter not set"
        null = "parameter null or not set" if self.dialect.name == "bash" else "parameter not set or null"
        return f"{name}: {null}"

    def bad_number(self, builtin: str, arg: str) -> str:
        if self.dialect.name == "bash":
            return f"{arg}: numeric argument required"
        return f"Illegal number: {arg}"

    def syntax_error(self, err: ShellSyntaxError, source: str) -> list[str]:
        """The line(s) a shell prints for a script it cannot parse."""
        if self.dialect.name == "bash":
            return self._bash_syntax(err, source)
        body = _ash_syntax_body(err) if self.dialect.name == "ash" else _dash_syntax_body(err)
        return [self.prefix(err.line) + body]

    def _bash_syntax(self, err: ShellSyntaxError, source: str) -> list[str]:
        lines = source.split("\n")
        line = err.line
        if err.kind == "eof":
            line = len(source.rstrip("\n").split("\n")) + 1 if source.strip() else 1
            text = "syntax error: unexpected end of file"
        elif err.kind == "unterminated":
            line = err.start_line
            text = f"unexpected EOF while looking for matching `{err.token}'"
        elif err.kind == "arith":
            text = "unexpected EOF while looking for matching `)'"
        elif err.kind == "badsubst":
            return [f"{self.arg0}: {err.token}: bad substitution"]
        else:
            token = "newline" if err.token == "\n" else err.token
            text = f"syntax error near unexpected token `{token}'"
        if self.mode == "interactive":
            return [f"bash: {text}"]
        where = f"{self.arg0}: -c: line {line}: " if self.mode == "c" else f"{self.arg0}: line {line}: "
        out = [where + text]
        if err.kind == "unexpected":
            out.append(where + f"`{lines[line - 1] if line <= len(lines) else ''}'")
        return out


def _dash_syntax_body(err: ShellSyntaxError) -> str:
    if err.kind == "unterminated":
        return "Syntax error: Unterminated quoted string"
    if err.kind == "arith":
        return "Syntax error: Missing '))'"
    if err.kind == "badsubst":
        return "Bad substitution"
    if err.kind == "eof":
        shown = "end of file unexpected"
    else:
        shown = "newline unexpected" if err.token == "\n" else f'"{err.token}" unexpected'
    suffix = f' (expecting "{err.expecting}")' if err.expecting else ""
    return f"Syntax error: {shown}{suffix}"


def _ash_syntax_body(err: ShellSyntaxError) -> str:
    if err.kind == "unterminated":
        return "syntax error: unterminated quoted string"
    if err.kind == "arith":
        return "syntax error: missing '))'"
    if err.kind == "badsubst":
        return "bad substitution"
    if err.kind == "eof":
        suffix = f' (expecting "{err.expecting}")' if err.expecting else ""
        return f"syntax error: unexpected end of file{suffix}"
    shown = "newline" if err.token == "\n" else f'"{err.token}"'
    return f"syntax error: unexpected {shown}"
