"""Shell builtins. Each takes the shell and argv and returns a status (or a generator of one)."""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

from meshrepro.runtime.fs import FsError, normalize
from meshrepro.runtime.shell.lexer import is_name
from meshrepro.runtime.shell.textutil import TestError, backslash_escapes, evaluate_test, printf

if TYPE_CHECKING:
    from meshrepro.runtime.shell.interpreter import Shell

Builtin = Callable[["Shell", list[str]], Any]
SET_FLAGS = {"e": "errexit", "x": "xtrace", "u": "nounset"}


def _colon(sh: Shell, argv: list[str]) -> int:
    return 0


def _false(sh: Shell, argv: list[str]) -> int:
    return 1


def _exit(sh: Shell, argv: list[str]) -> int:
    from meshrepro.runtime.shell.interpreter import ExitShell

    if len(argv) < 2:
        raise ExitShell(sh.status)
    try:
        raise ExitShell(int(argv[1]) & 0xFF)
    except ValueError:
        sh.error(sh.speaker.bad_number("exit", argv[1]), "exit")
        raise ExitShell(2) from None


def _return(sh: Shell, argv: list[str]) -> int:
    from meshrepro.runtime.shell.interpreter import FunctionReturn

    if sh.function_depth == 0 and sh.dialect.name == "bash":
        sh.error("can only `return' from a function or sourced script", "return")
        return 2
    raise FunctionReturn(int(argv[1]) & 0xFF if len(argv) > 1 and argv[1].isdigit() else sh.status)


def _loop_control(sh: Shell, argv: list[str]) -> int:
    from meshrepro.runtime.shell.interpreter import LoopControl

    if sh.loop_depth == 0:
        if sh.dialect.name == "bash":
            sh.error("only meaningful in a `for', `while', or `until' loop", argv[0])
        return 0
    levels = int(argv[1]) if len(argv) > 1 and argv[1].isdigit() else 1
    raise LoopControl(argv[0], min(levels, sh.loop_depth))


def _export(sh: Shell, argv: list[str]) -> int:
    for arg in argv[1:]:
        if arg == "-p":
            continue
        name, eq, value = arg.partition("=")
        if eq:
            sh.setvar(name, value)
        sh.exported.add(name)
    return 0


def _unset(sh: Shell, argv: list[str]) -> int:
    for name in argv[1:]:
        if name in ("-v", "-f"):
            continue
        sh.vars.pop(name, None)
        sh.exported.discard(name)
        if "-f" in argv:
            sh.functions.pop(name, None)
    return 0


def _set(sh: Shell, argv: list[str]) -> int:
    from meshrepro.runtime.shell.interpreter import ExitShell

    args = argv[1:]
    while args and args[0][:1] in ("-", "+") and args[0] not in ("-", "--"):
        flag = args.pop(0)
        enable = flag[0] == "-"
        if flag[1:] == "o":
            option = args.pop(0) if args else ""
            if option != "pipefail" or not sh.dialect.pipefail:
                if option in ("errexit", "nounset", "xtrace"):
                    _toggle(sh, option, enable)
                    continue
                sh.error(f"Illegal option -o {option}", "set")
                raise ExitShell(2)
            _toggle(sh, "pipefail", enable)
            continue
        for letter in flag[1:]:
            if letter in SET_FLAGS:
                _toggle(sh, SET_FLAGS[letter], enable)
    if args and args[0] == "--":
        args.pop(0)
        sh.positional = args
    elif args:
        sh.positional = args
    return 0


def _toggle(sh: Shell, option: str, enable: bool) -> None:
    if enable:
        sh.options.add(option)
    else:
        sh.options.discard(option)


def _shift(sh: Shell, argv: list[str]) -> int:
    count = int(argv[1]) if len(argv) > 1 and argv[1].isdigit() else 1
    if count > len(sh.positional):
        if sh.dialect.name == "dash":
            sh.error("can't shift that many", "shift")
            return 2
        return 1
    sh.positional = sh.positional[count:]
    return 0


def _exec(sh: Shell, argv: list[str]) -> Generator[Any, Any, int]:
    from meshrepro.runtime.shell.interpreter import ExitShell

    if len(argv) == 1:
        return 0
    if sh.find(argv[1]) is None:
        sh.error(f"{argv[1]}: not found", "exec")
        raise ExitShell(127)
    raise ExitShell((yield from sh.run_external(argv[1:], [])))


def _eval(sh: Shell, argv: list[str]) -> Generator[Any, Any, int]:
    from meshrepro.runtime.shell.parser import parse

    script = parse(" ".join(argv[1:]), "bash" if sh.dialect.bash_redirs else "dash")
    return (yield from sh.run_script(script))


def _source(sh: Shell, argv: list[str]) -> Generator[Any, Any, int]:
    from meshrepro.runtime.shell.parser import parse

    if len(argv) < 2:
        return 0
    try:
        text = sh.proc.host.fs.read(argv[1], sh.proc.uid, sh.proc.gid, cwd=sh.cwd)
    except FsError as err:
        sh.error(sh.speaker.cannot_open(argv[1], err), "" if sh.dialect.name == "bash" else ".")
        return 1 if sh.dialect.name == "bash" else 2
    return (yield from sh.run_script(parse(text, "bash" if sh.dialect.bash_redirs else "dash")))


def _trap(sh: Shell, argv: list[str]) -> int:
    return 0  # nothing delivers signals in the simulation


def _cd(sh: Shell, argv: list[str]) -> int:
    if len(argv) < 2 and "HOME" not in sh.vars:
        if sh.dialect.name == "bash":
            sh.error("HOME not set", "cd")
            return 1
        return 0
    target = argv[1] if len(argv) > 1 else sh.vars["HOME"]
    if target == "-":
        target = sh.vars.get("OLDPWD", sh.cwd)
    path = normalize(target, sh.cwd)
    fs = sh.proc.host.fs
    if not fs.is_dir(path):
        err = FsError("ENOTDIR" if fs.exists(path) else "ENOENT", target)
        sh.error(sh.speaker.cd_failed(target, err), "cd")
        return sh.dialect.cd_status
    sh.vars["OLDPWD"] = sh.cwd
    sh.cwd = path
    sh.vars["PWD"] = path
    return 0


def _pwd(sh: Shell, argv: list[str]) -> int:
    sh.stdout.write(sh.cwd + "\n")
    return 0


def _echo(sh: Shell, argv: list[str]) -> int:
    args = argv[1:]
    newline, escapes = True, sh.dialect.echo_escapes
    while args and len(args[0]) > 1 and args[0][0] == "-" and set(args[0][1:]) <= set(sh.dialect.echo_flags):
        flags = args.pop(0)[1:]
        newline = newline and "n" not in flags
        for flag in flags:
            escapes = True if flag == "e" else (False if flag == "E" else escapes)
    text = " ".join(args)
    if escapes:
        text, complete = backslash_escapes(text)
        newline = newline and complete
    sh.stdout.write(text + ("\n" if newline else ""))
    return 0


def _printf(sh: Shell, argv: list[str]) -> int:
    if len(argv) < 2:
        sh.error("usage: printf format [arg ...]", "printf")
        return 2
    def bad_number(arg: str) -> None:
        if sh.dialect.name == "ash":  # busybox's printf applet, under the shell's name
            sh.stderr.write(f"{sh.speaker.program}: invalid number '{arg}'\n")
        else:
            message = f"{arg}: invalid number" if sh.dialect.name == "bash" else f"{arg}: expected numeric value"
            sh.error(message, "printf")

    return printf(argv[1], argv[2:], sh.stdout.write, bad_number, missing_is_error=sh.dialect.name == "ash")


def _test(sh: Shell, argv: list[str]) -> int:
    args = argv[1:]
    name = argv[0]
    if name == "[":
        if not args or args[-1] != "]":
            _test_error(sh, name, "missing ]" if sh.dialect.name != "bash" else "missing `]'")
            return 2
        args = args[:-1]
    try:
        return 0 if evaluate_test(args, lambda op, path: file_test(sh, op, path)) else 1
    except TestError as err:
        if err.kind == "number":
            messages = {"dash": f"Illegal number: {err.arg}", "bash": f"{err.arg}: integer expression expected",
                        "ash": f"{err.arg}: bad number"}
        else:
            messages = {"dash": f"{err.arg}: unexpected operator", "bash": f"{err.arg}: binary operator expected",
                        "ash": f"{err.arg}: unknown operand"}
        _test_error(sh, name, messages[sh.dialect.name])
        return 2


def _test_error(sh: Shell, name: str, message: str) -> None:
    if sh.dialect.name == "ash":  # busybox's test applet reports as `sh: message`
        sh.stderr.write(f"{sh.speaker.program}: {message}\n")
    else:
        sh.error(message, name)


def file_test(sh: Shell, op: str, path: str) -> bool:
    fs = sh.proc.host.fs
    full = normalize(path, sh.cwd)
    if op == "-d":
        return fs.is_dir(full)
    if op == "-f":
        return fs.is_file(full)
    if op == "-s":
        return fs.is_file(full) and fs.read(full) != ""
    return fs.exists(full)


def _read(sh: Shell, argv: list[str]) -> int:
    args = argv[1:]
    raw = False
    while args and args[0].startswith("-"):
        flag = args.pop(0)
        raw = raw or "r" in flag
        if flag == "-p" and args:
            sh.stderr.write(args.pop(0))
    names = args or ["REPLY"]
    text, complete = _read_line(sh, raw)
    fields = text.split(None, len(names) - 1) if len(names) > 1 else [text.strip(" \t")]
    for i, name in enumerate(names):
        sh.setvar(name, fields[i].rstrip(" \t") if i < len(fields) else "")
    return 0 if complete else 1


def _read_line(sh: Shell, raw: bool) -> tuple[str, bool]:
    """One logical line without its newline; False when input ended before a newline."""
    collected = ""
    while True:
        line = sh.stdin.readline()
        if line is None:
            return collected, False
        body = line.removesuffix("\n")
        if not raw and body.endswith("\\") and line.endswith("\n"):
            collected += body[:-1]
            continue
        collected += body if raw else body.replace("\\", "")
        return collected, line.endswith("\n")


def _command(sh: Shell, argv: list[str]) -> Generator[Any, Any, int]:
    args = argv[1:]
    if args and args[0] in ("-v", "-V"):
        status = 1
        for name in args[1:]:
            found = where(sh, name)
            if found:
                sh.stdout.write(found + "\n")
                status = 0
        return status
    if not args:
        return 0
    return (yield from sh.dispatch(args, []))


def _type(sh: Shell, argv: list[str]) -> int:
    status = 0
    for name in argv[1:]:
        found = where(sh, name)
        if name in sh.functions:
            sh.stdout.write(f"{name} is a function\n")
        elif found == name:
            sh.stdout.write(f"{name} is a shell builtin\n")
        elif found:
            sh.stdout.write(f"{name} is {found}\n")
        elif sh.dialect.name == "bash":
            sh.error(f"{name}: not found", "type")
            status = 1
        else:
            sh.stdout.write(f"{name}: not found\n")
            status = 127
    return status


def where(sh: Shell, name: str) -> str:
    """`command -v`: the name for builtins and functions, the path for programs, "" when absent."""
    if name in sh.functions or name in BUILTINS or name in SPECIAL_BUILTINS:
        return name
    if "/" in name:
        return name if sh.find(name) is not None else ""
    for directory in sh.vars.get("PATH", "").split(":"):
        if directory and sh.find(name, directory) is not None:
            return posixpath.join(directory, name)
    return ""


def _local(sh: Shell, argv: list[str]) -> int:
    for arg in argv[1:]:
        name, eq, value = arg.partition("=")
        if sh.locals and is_name(name):
            sh.locals[-1].setdefault(name, sh.vars.get(name))
        if eq:
            sh.setvar(name, value)
    return 0


def _wait(sh: Shell, argv: list[str]) -> int:
    return 0  # background jobs already ran to completion


SPECIAL_BUILTINS: dict[str, Builtin] = {
    ":": _colon, "exit": _exit, "return": _return, "break": _loop_control, "continue": _loop_control,
    "export": _export, "unset": _unset, "set": _set, "shift": _shift, "exec": _exec, "eval": _eval,
    ".": _source, "trap": _trap,
}
BUILTINS: dict[str, Builtin] = {
    "true": _colon, "false": _false, "cd": _cd, "pwd": _pwd, "echo": _echo, "printf": _printf,
    "test": _test, "[": _test, "read": _read, "command": _command, "type": _type, "local": _local,
    "wait": _wait, "source": _source,
}
