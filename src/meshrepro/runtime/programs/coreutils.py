"""coreutils in two flavours: GNU (debian-based images) and busybox (busybox, alpine).

Only what containers in reproductions run, with the exact error wording of each flavour.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from meshrepro.runtime.fs import FsError, normalize
from meshrepro.runtime.process import Process, Program, ProgramRun
from meshrepro.runtime.shell.textutil import TestError, backslash_escapes, evaluate_test, printf

Flavour = str  # "gnu" | "busybox"
SLEEP_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def instant(fn: Callable[[Process, Flavour], int], flavour: Flavour) -> Program:
    """A program that finishes without taking simulated time."""

    def program(proc: Process) -> ProgramRun:
        yield from ()
        return fn(proc, flavour)

    program.__name__ = fn.__name__.lstrip("_")
    return program


def _try_help(proc: Process, name: str) -> None:
    proc.stderr.write(f"Try '{name} --help' for more information.\n")


# -- sleep -----------------------------------------------------------------------------------
def _sleep_seconds(arg: str) -> float | None:
    if arg in ("inf", "infinity"):
        return float("inf")
    m = re.fullmatch(r"(\d+(?:\.\d*)?|\.\d+)([smhd]?)", arg)
    return float(m.group(1)) * SLEEP_UNITS[m.group(2)] if m else None


def _sleep(flavour: Flavour) -> Program:
    def sleep(proc: Process) -> ProgramRun:
        args = proc.argv[1:]
        if not args:
            proc.stderr.write("sleep: missing operand\n")
            if flavour == "gnu":
                _try_help(proc, "sleep")
            return 1
        total = 0.0
        for arg in args:
            seconds = _sleep_seconds(arg)
            if seconds is None:
                if flavour == "gnu":
                    proc.stderr.write(f"sleep: invalid time interval '{arg}'\n")
                    _try_help(proc, "sleep")
                else:
                    proc.stderr.write(f"sleep: invalid number '{arg}'\n")
                return 1
            total += seconds
        if total == float("inf"):
            yield proc.clock.env.event()  # never triggered: sleeps until the container is killed
        yield proc.sleep(total)
        return 0

    return sleep


# -- output ----------------------------------------------------------------------------------
def _echo(proc: Process, flavour: Flavour) -> int:
    args = proc.argv[1:]
    newline, escapes = True, False
    while args and len(args[0]) > 1 and args[0][0] == "-" and set(args[0][1:]) <= set("neE"):
        flags = args.pop(0)[1:]
        newline = newline and "n" not in flags
        for flag in flags:
            escapes = flag == "e" or (escapes and flag != "E")
    text = " ".join(args)
    if escapes:
        text, complete = backslash_escapes(text)
        newline = newline and complete
    proc.stdout.write(text + ("\n" if newline else ""))
    return 0


def _printf(proc: Process, flavour: Flavour) -> int:
    if len(proc.argv) < 2:
        proc.stderr.write("printf: missing operand\n")
        return 1

    def bad(arg: str) -> None:
        message = f"'{arg}': expected a numeric value" if flavour == "gnu" else f"invalid number '{arg}'"
        proc.stderr.write(f"printf: {message}\n")

    return printf(proc.argv[1], proc.argv[2:], proc.stdout.write, bad, missing_is_error=flavour == "busybox")


def _true(proc: Process, flavour: Flavour) -> int:
    return 0


def _false(proc: Process, flavour: Flavour) -> int:
    return 1


# -- files -----------------------------------------------------------------------------------
def _read(proc: Process, path: str) -> str:
    return proc.host.fs.read(path, proc.uid, proc.gid, cwd=proc.cwd)


def _cat(proc: Process, flavour: Flavour) -> int:
    status = 0
    for path in proc.argv[1:] or ["-"]:
        if path == "-":
            proc.stdout.write(proc.stdin)
            continue
        try:
            proc.stdout.write(_read(proc, path))
        except FsError as err:
            if flavour == "gnu":
                proc.stderr.write(f"cat: {path}: {err.c_message}\n")
            elif err.errno == "EISDIR":
                proc.stderr.write(f"cat: read error: {err.c_message}\n")
            else:
                proc.stderr.write(f"cat: can't open '{path}': {err.c_message}\n")
            status = 1
    return status


def _split_flags(args: list[str]) -> tuple[str, list[str]]:
    flags = "".join(a[1:] for a in args if a.startswith("-") and len(a) > 1)
    return flags, [a for a in args if not (a.startswith("-") and len(a) > 1)]


def _mode_string(is_dir: bool, mode: int) -> str:
    bits = "".join(c if mode & (1 << (8 - i)) else "-" for i, c in enumerate("rwxrwxrwx"))
    return ("d" if is_dir else "-") + bits


def _ls(proc: Process, flavour: Flavour) -> int:
    flags, paths = _split_flags(proc.argv[1:])
    fs = proc.host.fs
    status = 0
    files, dirs = [], []
    for path in paths or ["."]:
        if not fs.exists(path, proc.cwd):
            if flavour == "gnu":
                proc.stderr.write(f"ls: cannot access '{path}': No such file or directory\n")
            else:
                proc.stderr.write(f"ls: {path}: No such file or directory\n")
            status = 2 if flavour == "gnu" else 1
        elif fs.is_dir(path, proc.cwd):
            dirs.append(path)
        else:
            files.append(path)
    for name in sorted(files):
        proc.stdout.write(_ls_line(proc, name, normalize(name, proc.cwd), flags))
    for index, path in enumerate(sorted(dirs)):
        if files or len(dirs) > 1:
            proc.stdout.write(("\n" if files or index else "") + f"{path}:\n")
        names = fs.listdir(path, proc.cwd)
        if "a" in flags:
            names = [".", "..", *names]
        names = [n for n in names if "a" in flags or not n.startswith(".")]
        if "l" in flags:
            proc.stdout.write("total 0\n")
        for name in names:
            proc.stdout.write(_ls_line(proc, name, normalize(name, normalize(path, proc.cwd)), flags))
    return status


def _ls_line(proc: Process, name: str, full: str, flags: str) -> str:
    if "l" not in flags:
        return name + "\n"
    fs = proc.host.fs
    meta = fs.meta(full)
    is_dir = fs.is_dir(full)
    size = 4096 if is_dir else len(fs.read(full).encode())
    stamp = proc.clock.wall().strftime("%b %d %H:%M")
    users, groups = _names(proc, "/etc/passwd"), _names(proc, "/etc/group")
    user, group = users.get(meta.uid, str(meta.uid)), groups.get(meta.gid, str(meta.gid))
    return f"{_mode_string(is_dir, meta.mode)} 1 {user} {group} {size} {stamp} {name}\n"


def _mkdir(proc: Process, flavour: Flavour) -> int:
    flags, paths = _split_flags(proc.argv[1:])
    status = 0
    for path in paths:
        try:
            proc.host.fs.mkdir(path, parents="p" in flags, uid=proc.uid, gid=proc.gid, cwd=proc.cwd)
        except FsError as err:
            verb = "cannot" if flavour == "gnu" else "can't"
            proc.stderr.write(f"mkdir: {verb} create directory '{path}': {err.c_message}\n")
            status = 1
    return status


def _touch(proc: Process, flavour: Flavour) -> int:
    status = 0
    for path in _split_flags(proc.argv[1:])[1]:
        try:
            if not proc.host.fs.exists(path, proc.cwd):
                proc.host.fs.write(path, "", uid=proc.uid, gid=proc.gid, cwd=proc.cwd)
        except FsError as err:
            message = f"cannot touch '{path}'" if flavour == "gnu" else path
            proc.stderr.write(f"touch: {message}: {err.c_message}\n")
            status = 1
    return status


def _rm(proc: Process, flavour: Flavour) -> int:
    flags, paths = _split_flags(proc.argv[1:])
    fs = proc.host.fs
    status = 0
    for path in paths:
        try:
            if fs.is_dir(path, proc.cwd) and not ("r" in flags or "R" in flags):
                raise FsError("EISDIR", path)
            fs.remove(path, recursive=True, uid=proc.uid, gid=proc.gid, cwd=proc.cwd)
        except FsError as err:
            if err.errno == "ENOENT" and "f" in flags:
                continue
            if flavour == "busybox" and err.errno == "EISDIR":
                proc.stderr.write(f"rm: '{path}' is a directory\n")
            else:
                verb = "cannot" if flavour == "gnu" else "can't"
                proc.stderr.write(f"rm: {verb} remove '{path}': {err.c_message}\n")
            status = 1
    return status


# -- text ------------------------------------------------------------------------------------
def _inputs(proc: Process, paths: list[str], name: str) -> tuple[list[tuple[str, str]], int]:
    """(path, text) of each operand (stdin for none or `-`), and 2 if one could not be read."""
    out, status = [], 0
    for path in paths or ["-"]:
        try:
            out.append((path, proc.stdin if path == "-" else _read(proc, path)))
        except FsError as err:
            proc.stderr.write(f"{name}: {path}: {err.c_message}\n")
            status = 2 if name == "grep" else 1
    return out, status


def _count_option(args: list[str], default: int) -> tuple[str, list[str]]:
    """`-n N`, `-nN`, `-N`: the count (as written, `+N` kept) and the remaining operands."""
    count, rest = str(default), []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "-n" and i + 1 < len(args):
            count, i = args[i + 1], i + 2
            continue
        if arg.startswith("-n"):
            count = arg[2:]
        elif re.fullmatch(r"-\d+", arg):
            count = arg[1:]
        else:
            rest.append(arg)
        i += 1
    return count, rest


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _head(proc: Process, flavour: Flavour) -> int:
    count, paths = _count_option(proc.argv[1:], 10)
    inputs, status = _inputs(proc, paths, "head")
    for _, text in inputs:
        proc.stdout.write("".join(_lines(text)[: int(count)]))
    return status


def _tail(proc: Process, flavour: Flavour) -> int:
    count, paths = _count_option(proc.argv[1:], 10)
    inputs, status = _inputs(proc, paths, "tail")
    for _, text in inputs:
        lines = _lines(text)
        chosen = lines[int(count[1:]) - 1:] if count.startswith("+") else lines[len(lines) - int(count):]
        proc.stdout.write("".join(chosen if int(count.lstrip("+")) else []))
    return status


def _bre_to_python(pattern: str) -> str:
    """POSIX basic regex to Python: `\\(` `\\)` `\\{` `\\}` `\\|` are operators, bare ones literal."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            out.append(nxt if nxt in "(){}|+?" else "\\" + nxt)
            i += 2
            continue
        out.append("\\" + c if c in "(){}|+?" else c)
        i += 1
    return "".join(out)


def _grep(proc: Process, flavour: Flavour) -> int:
    args = proc.argv[1:]
    flags = ""
    while args and args[0].startswith("-") and len(args[0]) > 1:
        flags += args.pop(0)[1:]
    if not args:
        proc.stderr.write("Usage: grep [OPTION]... PATTERNS [FILE]...\n")
        return 2
    pattern, paths = args[0], args[1:]
    if "F" in flags:
        source = re.escape(pattern)
    else:
        source = pattern if "E" in flags else _bre_to_python(pattern)
    regex = re.compile(source, re.IGNORECASE if "i" in flags else 0)
    inputs, status = _inputs(proc, paths, "grep")
    found = False
    for path, text in inputs:
        selected = [ln for ln in _lines(text) if bool(regex.search(ln.rstrip("\n"))) != ("v" in flags)]
        found = found or bool(selected)
        if "q" in flags:
            continue
        prefix = f"{path}:" if len(inputs) > 1 else ""
        if "c" in flags:
            proc.stdout.write(f"{prefix}{len(selected)}\n")
            continue
        for line in selected:
            proc.stdout.write(prefix + line + ("" if line.endswith("\n") else "\n"))
    if found and "q" in flags:
        return 0
    return status or (0 if found else 1)


def _wc(proc: Process, flavour: Flavour) -> int:
    flags, paths = _split_flags(proc.argv[1:])
    inputs, status = _inputs(proc, paths, "wc")
    for path, text in inputs:
        lines = text.count("\n")
        counts = [lines] if "l" in flags else [lines, len(text.split()), len(text.encode())]
        shown = " ".join(str(c) for c in counts) if len(counts) == 1 else " ".join(f"{c:>7}" for c in counts)
        proc.stdout.write(shown + (f" {path}" if path != "-" else "") + "\n")
    return status


# -- identity and environment ----------------------------------------------------------------
def _names(proc: Process, path: str) -> dict[int, str]:
    """uid or gid -> name from /etc/passwd or /etc/group, when the image has them."""
    try:
        text = proc.host.fs.read(path)
    except FsError:
        return {}
    names: dict[int, str] = {}
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and fields[2].isdigit():
            names.setdefault(int(fields[2]), fields[0])
    return names


def _named(number: int, names: dict[int, str]) -> str:
    return f"{number}({names[number]})" if number in names else str(number)


def _id(proc: Process, flavour: Flavour) -> int:
    flags = "".join(a[1:] for a in proc.argv[1:] if a.startswith("-"))
    users, groups = _names(proc, "/etc/passwd"), _names(proc, "/etc/group")
    if "u" in flags or "g" in flags:
        number, names = (proc.uid, users) if "u" in flags else (proc.gid, groups)
        proc.stdout.write((names.get(number, str(number)) if "n" in flags else str(number)) + "\n")
        return 0
    gid = _named(proc.gid, groups)
    proc.stdout.write(f"uid={_named(proc.uid, users)} gid={gid} groups={gid}\n")
    return 0


def _whoami(proc: Process, flavour: Flavour) -> int:
    name = _names(proc, "/etc/passwd").get(proc.uid)
    if name is None:
        message = f"cannot find name for user ID {proc.uid}" if flavour == "gnu" else f"unknown uid {proc.uid}"
        proc.stderr.write(f"whoami: {message}\n")
        return 1
    proc.stdout.write(name + "\n")
    return 0


def _env(flavour: Flavour) -> Program:
    def env(proc: Process) -> ProgramRun:
        values = dict(proc.env)
        args = proc.argv[1:]
        while args and "=" in args[0] and not args[0].startswith("="):
            name, _, value = args.pop(0).partition("=")
            values[name] = value
        if not args:
            proc.stdout.write("".join(f"{k}={v}\n" for k, v in values.items()))
            return 0
        program = proc.host.find_program(args[0], values.get("PATH", ""))
        if program is None:
            if flavour == "gnu":
                proc.stderr.write(f"env: '{args[0]}': No such file or directory\n")
            else:
                proc.stderr.write(f"env: can't execute '{args[0]}': No such file or directory\n")
            return 127
        return (yield from program(proc.child(args, env=values, stdin=proc.stdin)))

    return env


def _hostname(proc: Process, flavour: Flavour) -> int:
    proc.stdout.write(proc.host.hostname + "\n")
    return 0


def _pwd(proc: Process, flavour: Flavour) -> int:
    proc.stdout.write(proc.cwd + "\n")
    return 0


def _date(proc: Process, flavour: Flavour) -> int:
    formats = [a[1:] for a in proc.argv[1:] if a.startswith("+")]
    fmt = formats[0] if formats else "%a %b %d %H:%M:%S UTC %Y"
    proc.stdout.write(proc.clock.wall().strftime(fmt) + "\n")
    return 0


def _test(proc: Process, flavour: Flavour) -> int:
    name = proc.argv[0].rsplit("/", 1)[-1]
    args = proc.argv[1:]
    if name == "[":
        if not args or args[-1] != "]":
            proc.stderr.write("[: missing ']'\n" if flavour == "gnu" else "[: missing ]\n")
            return 2
        args = args[:-1]
    fs = proc.host.fs

    def file_test(op: str, path: str) -> bool:
        checks = {"-d": fs.is_dir, "-f": fs.is_file}
        return checks.get(op, fs.exists)(path, proc.cwd)

    try:
        return 0 if evaluate_test(args, file_test) else 1
    except TestError as err:
        if err.kind == "number":
            message = f"invalid integer '{err.arg}'" if flavour == "gnu" else f"{err.arg}: bad number"
        else:
            message = f"'{err.arg}': binary operator expected" if flavour == "gnu" else f"{err.arg}: unknown operand"
        proc.stderr.write(f"{name}: {message}\n")
        return 2


def _programs(flavour: Flavour) -> dict[str, Program]:
    plain = {
        "echo": _echo, "printf": _printf, "true": _true, "false": _false, "cat": _cat, "ls": _ls,
        "mkdir": _mkdir, "touch": _touch, "rm": _rm, "head": _head, "tail": _tail, "grep": _grep,
        "wc": _wc, "id": _id, "whoami": _whoami, "hostname": _hostname, "pwd": _pwd, "date": _date,
        "test": _test, "[": _test,
    }
    programs = {name: instant(fn, flavour) for name, fn in plain.items()}
    programs["sleep"] = _sleep(flavour)
    programs["env"] = _env(flavour)
    return programs


GNU: dict[str, Program] = _programs("gnu")
BUSYBOX: dict[str, Program] = _programs("busybox")
