"""Runs parsed scripts against a Process: expansions, redirections, control flow, `set -e`.

Simplifications (simulated machine, sequential processes):
- `cmd &` runs `cmd` to completion before going on; `wait` is a no-op.
- A pipeline runs its stages one after another, each stage's output buffered into the next stage's
  stdin, each stage in a subshell. `$?` is the last stage's status (the last failing one with pipefail).
- No globbing: a `*` stays literal. Field splitting uses IFS whitespace only.
- `trap` is accepted and ignored: nothing here delivers signals.
"""

from __future__ import annotations

import copy
import inspect
import re
from collections.abc import Generator
from typing import Any

import simpy

from meshrepro.runtime.fs import FsError
from meshrepro.runtime.process import Buffer, Output, Process, Program
from meshrepro.runtime.shell.arith import ArithError, evaluate
from meshrepro.runtime.shell.dialects import Speaker
from meshrepro.runtime.shell.lexer import ShellSyntaxError
from meshrepro.runtime.shell.nodes import (
    DQ,
    AndOr,
    Arith,
    Case,
    CmdSub,
    Command,
    For,
    FuncDef,
    Group,
    If,
    Lit,
    Loop,
    Param,
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
from meshrepro.runtime.shell.parser import Parser
from meshrepro.runtime.shell.patterns import matches

Run = Generator[simpy.Event, Any, int]
Expansion = Generator[simpy.Event, Any, str]
IFS_WHITESPACE = " \t\n"


class ExitShell(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class FunctionReturn(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class LoopControl(Exception):
    def __init__(self, kind: str, levels: int) -> None:
        super().__init__(kind)
        self.kind = kind  # "break" | "continue"
        self.levels = levels


class FatalError(Exception):
    """An error that ends a non-interactive shell (unset variable under -u, ${x?}, bad arithmetic)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class Input:
    """A readable stream: `read` takes lines from it, a program takes the rest."""

    def __init__(self, text: str = "") -> None:
        self.text = text
        self.pos = 0

    def readline(self) -> str | None:
        if self.pos >= len(self.text):
            return None
        end = self.text.find("\n", self.pos)
        end = len(self.text) if end < 0 else end + 1
        line = self.text[self.pos:end]
        self.pos = end
        return line

    def rest(self) -> str:
        text = self.text[self.pos:]
        self.pos = len(self.text)
        return text


class NullOutput:
    def write(self, text: str) -> None:
        """/dev/null: discard."""


class FileOutput:
    """Output appended to a file as it is written, so `cat` of it afterwards sees it."""

    def __init__(self, proc: Process, path: str, cwd: str) -> None:
        self.proc = proc
        self.path = path
        self.cwd = cwd

    def write(self, text: str) -> None:
        if text:
            self.proc.host.fs.write(self.path, text, append=True, uid=self.proc.uid, gid=self.proc.gid,
                                    cwd=self.cwd)


Stream = Input | Output


def shell_quote(word: str, safe_chars: str) -> str:
    """How bash and busybox show a word in `set -x` output."""
    safe = all(c.isalnum() or c in safe_chars for c in word)
    return word if word and safe else "'" + word.replace("'", "'\\''") + "'"


def ifs_split(value: str, ifs: str) -> list[str]:
    """Field splitting: IFS whitespace runs and single other IFS characters separate fields."""
    if not ifs:
        return [value] if value else []
    white = "".join(c for c in ifs if c in IFS_WHITESPACE)
    other = "".join(c for c in ifs if c not in IFS_WHITESPACE)
    w = f"[{re.escape(white)}]*" if white else ""
    separator = f"{w}[{re.escape(other)}]{w}" + (f"|[{re.escape(white)}]+" if white else "") if other \
        else f"[{re.escape(white)}]+"
    stripped = value.strip(white)
    fields = re.split(separator, stripped) if stripped else []
    return fields[:-1] if fields and fields[-1] == "" else fields


class Shell:
    def __init__(self, proc: Process, speaker: Speaker, positional: list[str] | None = None) -> None:
        self.proc = proc
        self.speaker = speaker
        self.dialect = speaker.dialect
        self.vars: dict[str, str] = dict(proc.env)
        self.exported: set[str] = set(proc.env)
        self.positional = list(positional or [])
        self.functions: dict[str, Command] = {}
        self.options: set[str] = set()  # "errexit", "xtrace", "nounset", "pipefail"
        self.status = 0
        self.cwd = proc.cwd
        self.fds: dict[int, Stream] = {0: Input(""), 1: proc.stdout, 2: proc.stderr}
        self.line = 1
        self.conditions = 0  # > 0 while running a condition: set -e does not apply there
        self.function_depth = 0
        self.loop_depth = 0
        self.locals: list[dict[str, str | None]] = []
        self.subst_status: int | None = None
        self.trace_prefix = "+"  # bash adds a `+` per level of command substitution

    # -- plumbing ----------------------------------------------------------------------------
    @property
    def stdout(self) -> Output:
        out = self.fds[1]
        return out if not isinstance(out, Input) else NullOutput()

    @property
    def stderr(self) -> Output:
        err = self.fds[2]
        return err if not isinstance(err, Input) else NullOutput()

    @property
    def stdin(self) -> Input:
        source = self.fds[0]
        return source if isinstance(source, Input) else Input()

    def error(self, message: str, builtin: str = "") -> None:
        self.stderr.write(self.speaker.prefix(self.line, builtin) + message + "\n")

    def subshell(self) -> Shell:
        clone = copy.copy(self)
        clone.vars = dict(self.vars)
        clone.exported = set(self.exported)
        clone.functions = dict(self.functions)
        clone.options = set(self.options)
        clone.positional = list(self.positional)
        clone.fds = dict(self.fds)
        clone.locals = [dict(frame) for frame in self.locals]
        return clone

    def setvar(self, name: str, value: str) -> None:
        self.vars[name] = value

    def child_env(self, extra: list[tuple[str, str]] = ()) -> dict[str, str]:  # type: ignore[assignment]
        env = {k: v for k, v in self.vars.items() if k in self.exported}
        env.update(extra)
        return env

    # -- scripts -----------------------------------------------------------------------------
    def run_text(self, source: str) -> Run:
        """Parse and run `source` one line at a time, as shells do: earlier lines run before a later
        syntax error is found."""
        parser = Parser(source, bash_redirs=self.dialect.bash_redirs)
        while True:
            try:
                chunk = parser.next_chunk()
            except ShellSyntaxError as err:
                for line in self.speaker.syntax_error(err, source):
                    self.stderr.write(line + "\n")
                self.status = 2
                return 2
            if chunk is None:
                return self.status
            try:
                yield from self.run_script(chunk)
            except ExitShell as done:
                return done.status
            except FunctionReturn as ret:
                return ret.status
            except FatalError as fatal:
                self.stderr.write(fatal.message + "\n")
                self.status = fatal.status
                if self.speaker.mode != "interactive":
                    return fatal.status

    def run_isolated(self, body: Script | Command) -> Run:
        """Run in this (already copied) shell as a subshell: `exit` ends only it."""
        try:
            if isinstance(body, Script):
                return (yield from self.run_script(body))
            return (yield from self.run_command(body))
        except ExitShell as done:
            return done.status
        except FunctionReturn as ret:
            return ret.status
        except FatalError as fatal:
            self.stderr.write(fatal.message + "\n")
            return fatal.status

    def run_script(self, script: Script) -> Run:
        for item in script.items:
            yield from self.run_and_or(item)
        return self.status

    def run_condition(self, script: Script) -> Run:
        self.conditions += 1
        try:
            return (yield from self.run_script(script))
        finally:
            self.conditions -= 1

    def run_and_or(self, node: AndOr) -> Run:
        steps = [("", node.first), *node.rest]
        for index, (op, pipeline) in enumerate(steps):
            if (op == "&&" and self.status != 0) or (op == "||" and self.status == 0):
                continue
            last = index == len(steps) - 1
            self.conditions += 0 if last else 1
            try:
                yield from self.run_pipeline(pipeline)
            finally:
                self.conditions -= 0 if last else 1
        return self.status

    def run_pipeline(self, pipeline: Pipeline) -> Run:
        if pipeline.negate:
            self.conditions += 1
        try:
            if len(pipeline.commands) == 1:
                status = yield from self.run_command(pipeline.commands[0])
            else:
                status = yield from self._run_stages(pipeline.commands)
        finally:
            if pipeline.negate:
                self.conditions -= 1
        if pipeline.negate:
            status = int(status == 0)
        self.status = status
        if status != 0 and not pipeline.negate and "errexit" in self.options and self.conditions == 0:
            raise ExitShell(status)
        return status

    def _run_stages(self, commands: list[Command]) -> Run:
        source: Input = self.stdin
        statuses = []
        for index, command in enumerate(commands):
            stage = self.subshell()
            buffer = Buffer()
            last = index == len(commands) - 1
            stage.fds[0] = source
            stage.fds[1] = self.fds[1] if last else buffer
            statuses.append((yield from stage.run_isolated(command)))
            source = Input(buffer.getvalue())
        if "pipefail" in self.options:
            return next((s for s in reversed(statuses) if s != 0), 0)
        return statuses[-1]

    # -- commands ----------------------------------------------------------------------------
    def run_command(self, command: Command) -> Run:
        if isinstance(command, Simple):
            status = yield from self.run_simple(command)
        elif isinstance(command, Redirected):
            status = yield from self._run_redirected(command)
        elif isinstance(command, If):
            status = yield from self._run_if(command)
        elif isinstance(command, Loop):
            status = yield from self._run_loop(command)
        elif isinstance(command, For):
            status = yield from self._run_for(command)
        elif isinstance(command, Case):
            status = yield from self._run_case(command)
        elif isinstance(command, Group):
            status = yield from self.run_script(command.body)
        elif isinstance(command, Subshell):
            status = yield from self.subshell().run_isolated(command.body)
        else:
            assert isinstance(command, FuncDef)
            self.functions[command.name] = command.body
            status = 0
        self.status = status
        return status

    def _run_redirected(self, node: Redirected) -> Run:
        fds = yield from self.open_redirs(node.redirs)
        if fds is None:
            return self.dialect.redirect_status
        saved, self.fds = self.fds, fds
        try:
            return (yield from self.run_command(node.command))
        finally:
            self.fds = saved

    def _run_if(self, node: If) -> Run:
        for cond, body in node.branches:
            if (yield from self.run_condition(cond)) == 0:
                return (yield from self.run_script(body))
        if node.orelse is not None:
            return (yield from self.run_script(node.orelse))
        return 0

    def _run_loop(self, node: Loop) -> Run:
        status = 0
        while True:
            cond = yield from self.run_condition(node.cond)
            if (cond == 0) == node.until:
                return status
            outcome = yield from self._loop_body(node.body)
            status = self.status
            if outcome == "break":
                return status

    def _loop_body(self, body: Script) -> Generator[simpy.Event, Any, str]:
        """Run one iteration; "break" when the loop must end here."""
        self.loop_depth += 1
        try:
            yield from self.run_script(body)
        except LoopControl as ctl:
            if ctl.levels > 1:
                ctl.levels -= 1
                raise
            return ctl.kind
        finally:
            self.loop_depth -= 1
        return ""

    def _run_for(self, node: For) -> Run:
        if node.words is None:
            values = list(self.positional)
        else:
            values = []
            for word in node.words:
                values.extend((yield from self.expand_fields(word)))
        self.status = 0
        for value in values:
            self.setvar(node.var, value)
            if (yield from self._loop_body(node.body)) == "break":
                break
        return self.status

    def _run_case(self, node: Case) -> Run:
        subject = yield from self.expand_string(node.word)
        for item in node.items:
            for pattern in item.patterns:
                if matches(subject, (yield from self.expand_pattern(pattern))):
                    return (yield from self.run_script(item.body))
        return 0

    def run_simple(self, node: Simple) -> Run:
        self.line = node.line
        self.subst_status = None
        fields: list[str] = []
        for word in node.words:
            fields.extend((yield from self.expand_fields(word)))
        assigns: list[tuple[str, str]] = []
        for name, word in node.assigns:
            assigns.append((name, (yield from self.expand_string(word))))
        if "xtrace" in self.options:
            self._trace(assigns, fields)
        fds = yield from self.open_redirs(node.redirs)
        if fds is None:
            return self.dialect.redirect_status
        if not fields:
            for name, value in assigns:
                self.setvar(name, value)
            return self.subst_status or 0
        saved, self.fds = self.fds, fds
        try:
            return (yield from self.dispatch(fields, assigns))
        finally:
            self.fds = saved

    def _trace(self, assigns: list[tuple[str, str]], fields: list[str]) -> None:
        safe = self.dialect.xtrace_safe

        def quote(word: str) -> str:
            return shell_quote(word, safe) if self.dialect.xtrace_quotes else word

        words = [f"{n}={quote(v)}" for n, v in assigns]
        if self.dialect.xtrace_split_assigns:
            lines = [[w] for w in words] + ([[quote(f) for f in fields]] if fields else [])
        else:
            lines = [words + [quote(f) for f in fields]]
        for line in lines:
            self.stderr.write(self.trace_prefix + " " + " ".join(line) + "\n")

    def dispatch(self, argv: list[str], assigns: list[tuple[str, str]]) -> Run:
        from meshrepro.runtime.shell.builtins import BUILTINS, SPECIAL_BUILTINS

        name = argv[0]
        if name in SPECIAL_BUILTINS:
            for var, value in assigns:
                self.setvar(var, value)
            return (yield from self._call_builtin(SPECIAL_BUILTINS[name], argv))
        if name in self.functions:
            return (yield from self.call_function(name, argv[1:], assigns))
        if name in BUILTINS:
            saved = {var: self.vars.get(var) for var, _ in assigns}
            for var, value in assigns:
                self.setvar(var, value)
            try:
                return (yield from self._call_builtin(BUILTINS[name], argv))
            finally:
                self._restore(saved)
        return (yield from self.run_external(argv, assigns))

    def _call_builtin(self, builtin: Any, argv: list[str]) -> Run:
        result = builtin(self, argv)
        if inspect.isgenerator(result):
            result = yield from result
        return int(result)

    def _restore(self, saved: dict[str, str | None]) -> None:
        for var, old in saved.items():
            if old is None:
                self.vars.pop(var, None)
            else:
                self.vars[var] = old

    def call_function(self, name: str, args: list[str], assigns: list[tuple[str, str]]) -> Run:
        saved_args, self.positional = self.positional, list(args)
        saved_vars = {var: self.vars.get(var) for var, _ in assigns}
        for var, value in assigns:
            self.setvar(var, value)
        self.function_depth += 1
        self.locals.append({})
        try:
            return (yield from self.run_command(self.functions[name]))
        except FunctionReturn as ret:
            return ret.status
        finally:
            self._restore(self.locals.pop())
            self.function_depth -= 1
            self.positional = saved_args
            self._restore(saved_vars)

    def find(self, name: str, path: str | None = None) -> Program | None:
        search = self.vars.get("PATH", "") if path is None else path
        return self.proc.host.find_program(name, search)

    def run_external(self, argv: list[str], assigns: list[tuple[str, str]]) -> Run:
        path = dict(assigns).get("PATH", self.vars.get("PATH", ""))
        program = self.find(argv[0], path)
        if program is None:
            self.error(self.speaker.not_found(argv[0]))
            return 127
        child = self.proc.child(argv, env=self.child_env(assigns), stdin=self.stdin.rest(),
                                stdout=self.stdout, stderr=self.stderr, cwd=self.cwd)
        status: int = yield from program(child)
        return status

    # -- redirections ------------------------------------------------------------------------
    def open_redirs(self, redirs: list[Redir]) -> Generator[simpy.Event, Any, dict[int, Stream] | None]:
        """The file descriptors with `redirs` applied, or None after printing why one failed."""
        fds = dict(self.fds)
        for redir in redirs:
            if redir.heredoc is not None:
                body = redir.heredoc.body
                text = (yield from self.expand_string(body)) if body is not None else ""
                fds[redir.fd] = Input(text)
                continue
            assert redir.target is not None
            target = yield from self.expand_string(redir.target)
            stream = self._open(redir, target, fds)
            if stream is None:
                return None
            fds[redir.fd] = stream
            if redir.op in ("&>", "&>>") or (redir.op == ">&" and not target.isdigit() and target != "-"):
                fds[1] = fds[2] = stream
        return fds

    def _open(self, redir: Redir, target: str, fds: dict[int, Stream]) -> Stream | None:
        if redir.op in (">&", "<&") and (target.isdigit() or target == "-"):
            return NullOutput() if target == "-" else fds.get(int(target), NullOutput())
        if redir.op in ("<", "<>", "<&"):
            return self._open_input(target)
        return self._open_output(target, append=redir.op in (">>", "&>>"), fds=fds)

    def _open_input(self, target: str) -> Input | None:
        if target == "/dev/null":
            return Input("")
        try:
            return Input(self.proc.host.fs.read(target, self.proc.uid, self.proc.gid, cwd=self.cwd))
        except FsError as err:
            self.error(self.speaker.cannot_open(target, err))
            return None

    def _open_output(self, target: str, *, append: bool, fds: dict[int, Stream]) -> Stream | None:
        special = {"/dev/null": NullOutput(), "/dev/stdout": fds.get(1), "/dev/stderr": fds.get(2)}
        if target in special:
            return special[target] or NullOutput()
        fs = self.proc.host.fs
        try:
            fs.write(target, "", append=append, uid=self.proc.uid, gid=self.proc.gid, cwd=self.cwd)
        except FsError as err:
            self.error(self.speaker.cannot_create(target, err))
            return None
        return FileOutput(self.proc, target, self.cwd)

    # -- expansions --------------------------------------------------------------------------
    def expand_string(self, word: Word) -> Expansion:
        """A word expanded without field splitting (assignments, redirections, here-documents)."""
        pieces = []
        for part in word.parts:
            pieces.append((yield from self._part_text(part, quoted=True)))
        return "".join(pieces)

    def expand_pattern(self, word: Word) -> Expansion:
        """A case pattern: quoted characters lose their special meaning (escaped with `\\`)."""
        pieces = []
        for part in word.parts:
            text = yield from self._part_text(part, quoted=True)
            pieces.append(text if isinstance(part, Lit) else "".join("\\" + c for c in text))
        return "".join(pieces)

    def expand_fields(self, word: Word) -> Generator[simpy.Event, Any, list[str]]:
        fields: list[str] = []
        current: list[str] = []
        present = False  # a quoted empty string still makes a field

        def finish() -> None:
            nonlocal present
            if present or current:
                fields.append("".join(current))
            current.clear()
            present = False

        for part in word.parts:
            if isinstance(part, DQ) and any(isinstance(p, Param) and p.name == "@" and not p.op
                                            for p in part.parts):
                for inner in part.parts:
                    if isinstance(inner, Param) and inner.name == "@" and not inner.op:
                        for i, arg in enumerate(self.positional):
                            if i:
                                finish()
                            current.append(arg)
                            present = True
                    else:
                        current.append((yield from self._part_text(inner, quoted=True)))
                        present = True
                continue
            if isinstance(part, (Lit, Quoted, DQ, Tilde)):
                text = yield from self._part_text(part, quoted=True)
                current.append(text)
                present = present or bool(text) or not isinstance(part, Lit)
                continue
            value = yield from self._part_text(part, quoted=False)
            ifs = self.vars.get("IFS", IFS_WHITESPACE)
            pieces = ifs_split(value, ifs)
            if value[:1] and value[:1] in ifs:
                finish()
            for i, piece in enumerate(pieces):
                if i:
                    finish()
                current.append(piece)
                present = present or piece == ""
            if value[-1:] and value[-1:] in ifs and pieces:
                finish()
        finish()
        return fields

    def _part_text(self, part: Any, quoted: bool) -> Expansion:
        if isinstance(part, (Lit, Quoted)):
            return part.text
        if isinstance(part, Tilde):
            return self.vars.get("HOME", "~")
        if isinstance(part, DQ):
            pieces = []
            for inner in part.parts:
                pieces.append((yield from self._part_text(inner, quoted=True)))
            return "".join(pieces)
        if isinstance(part, Param):
            return (yield from self._param(part))
        if isinstance(part, CmdSub):
            return (yield from self._command_substitution(part))
        assert isinstance(part, Arith)
        return (yield from self._arith(part))

    def _command_substitution(self, part: CmdSub) -> Expansion:
        sub = self.subshell()
        buffer = Buffer()
        sub.fds[1] = buffer
        if self.dialect.name == "bash":
            sub.trace_prefix += "+"
        status = yield from sub.run_isolated(part.body)
        self.subst_status = status
        self.status = status
        return buffer.getvalue().rstrip("\n")

    def _arith(self, part: Arith) -> Expansion:
        text = yield from self.expand_string(part.expr)
        try:
            return str(evaluate(text, lambda n: self.vars.get(n, ""), self.setvar))
        except ArithError as err:
            raise FatalError(self._arith_message(err), self.dialect.fatal_status if
                             self.dialect.name != "bash" else 1) from err

    def _arith_message(self, err: ArithError) -> str:
        prefix = self.speaker.prefix(self.line)
        name = self.dialect.name
        if err.kind == "divzero":
            if name == "dash":
                return f'{prefix}arithmetic expression: division by zero: "{err.expr}"'
            if name == "bash":
                return f'{prefix}{err.expr}: division by 0 (error token is "{err.expr.split("/")[-1]}")'
            return f"{prefix}divide by zero"
        if name == "dash":
            return f'{prefix}arithmetic expression: expecting primary: "{err.expr}"'
        if name == "bash":
            return f"{prefix}{err.expr}: syntax error in expression"
        return f"{prefix}arithmetic syntax error"

    def _special(self, name: str) -> str | None:
        if name == "?":
            return str(self.status)
        if name == "$":
            return str(self.proc.pid)
        if name == "#":
            return str(len(self.positional))
        if name in ("@", "*"):
            return " ".join(self.positional)
        if name == "0":
            return self.speaker.arg0
        if name.isdigit():
            index = int(name)
            return self.positional[index - 1] if index <= len(self.positional) else None
        if name == "!":
            return ""
        if name == "-":
            return "".join(flag for flag, opt in (("e", "errexit"), ("u", "nounset"), ("x", "xtrace"))
                           if opt in self.options)
        return self.vars.get(name)

    def _param(self, part: Param) -> Expansion:
        value = self._special(part.name)
        if part.length:
            return str(len(value or ""))
        op = part.op
        unset = value is None or (op.startswith(":") and value == "")
        if op in (":-", "-"):
            return (yield from self._arg(part)) if unset else (value or "")
        if op in (":=", "="):
            if unset:
                value = yield from self._arg(part)
                self.setvar(part.name, value)
            return value or ""
        if op in (":+", "+"):
            return "" if unset else (yield from self._arg(part))
        if op in (":?", "?") and unset:
            message = yield from self._arg(part)
            text = f"{part.name}: {message}" if message else self.speaker.param_unset(part.name, op == ":?")
            raise FatalError(self.speaker.prefix(self.line) + text, self.dialect.fatal_status)
        if value is None and "nounset" in self.options and part.name not in ("@", "*"):
            raise FatalError(self.speaker.prefix(self.line) + self.speaker.unbound(part.name),
                             self.dialect.fatal_status)
        return value or ""

    def _arg(self, part: Param) -> Expansion:
        return (yield from self.expand_string(part.arg)) if part.arg is not None else ""
