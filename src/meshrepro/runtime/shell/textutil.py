"""Formatting shared by the shell builtins and the coreutils programs: echo escapes, printf, test."""

from __future__ import annotations

import re
from collections.abc import Callable

ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v", "\\": "\\",
           "e": "\x1b"}


def backslash_escapes(text: str, *, octal_needs_zero: bool = True) -> tuple[str, bool]:
    """echo -e / printf %b escapes. Returns the text and False when `\\c` cut the output short."""
    out: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c != "\\" or i + 1 >= len(text):
            out.append(c)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "c":
            return "".join(out), False
        if nxt in ESCAPES:
            out.append(ESCAPES[nxt])
            i += 2
        elif nxt == "0" or (nxt.isdigit() and not octal_needs_zero and nxt < "8"):
            start = i + 2 if nxt == "0" else i + 1
            m = re.match(r"[0-7]{0,3}", text[start:])
            digits = m.group(0) if m else ""
            out.append(chr(int(digits or "0", 8) & 0xFF))
            i = start + len(digits)
        else:
            out.append(c)
            i += 1
    return "".join(out), True


SPEC = re.compile(r"%([-+ #0]*)(\d+|\*)?(?:\.(\d+|\*)?)?([diouxXscb%])")


class PrintfError(Exception):
    def __init__(self, arg: str) -> None:
        super().__init__(arg)
        self.arg = arg


def _number(arg: str) -> int:
    if not arg:
        return 0
    if arg[0] in "'\"" and len(arg) > 1:
        return ord(arg[1])
    try:
        return int(arg, 0) if re.fullmatch(r"[-+]?0[xX][0-9a-fA-F]+", arg) else int(arg)
    except ValueError:
        raise PrintfError(arg) from None


def printf(fmt: str, args: list[str], write: Callable[[str], None], on_error: Callable[[str], None], *,
           missing_is_error: bool = False) -> int:
    """Write the output of `printf fmt args...`, return its status; `on_error(arg)` reports a bad number
    (between the output before it and after it, as the real ones interleave).

    `missing_is_error`: busybox treats a missing numeric argument as the invalid number ''.
    """
    status = 0
    remaining = list(args)
    while True:
        consumed = False
        pos = 0
        for m in SPEC.finditer(fmt):
            write(backslash_escapes(fmt[pos:m.start()], octal_needs_zero=False)[0])
            pos = m.end()
            flags, width, precision, conv = m.groups()
            if conv == "%":
                write("%")
                continue
            if width == "*":
                width = remaining.pop(0) if remaining else "0"
            if precision == "*":
                precision = remaining.pop(0) if remaining else "0"
            missing = not remaining
            arg = remaining.pop(0) if remaining else ""
            consumed = consumed or bool(args)
            try:
                if missing and missing_is_error and conv in "diouxX":
                    raise PrintfError("")
                write(_convert(flags, width, precision, conv, arg))
            except PrintfError as err:
                on_error(err.arg)
                status = 1
                write(_convert(flags, width, precision, conv, "0"))
        write(backslash_escapes(fmt[pos:], octal_needs_zero=False)[0])
        if not remaining or not consumed:
            return status


def _convert(flags: str, width: str | None, precision: str | None, conv: str, arg: str) -> str:
    spec = "%" + flags + (width or "") + ("." + precision if precision is not None else "")
    if conv in "diouxX":
        return (spec + conv.replace("i", "d").replace("u", "d")) % _number(arg)
    if conv == "b":
        arg = backslash_escapes(arg)[0]
    if conv == "c":
        arg = arg[:1]
    return (spec + "s") % arg


class TestError(Exception):
    """`kind`: "number" (operand not an integer) or "syntax" (e.g. missing `]`)."""

    def __init__(self, kind: str, arg: str) -> None:
        super().__init__(arg)
        self.kind = kind
        self.arg = arg


UNARY_FILE = ("-e", "-f", "-d", "-s", "-r", "-w", "-x")
INT_OPS = {"-eq": int.__eq__, "-ne": int.__ne__, "-lt": int.__lt__, "-gt": int.__gt__, "-le": int.__le__,
           "-ge": int.__ge__}


def _int(arg: str) -> int:
    try:
        return int(arg.strip())
    except ValueError:
        raise TestError("number", arg) from None


def evaluate_test(args: list[str], file_test: Callable[[str, str], bool]) -> bool:
    """POSIX test with up to four arguments plus `!`; `file_test(op, path)` answers -e/-f/-d..."""
    if not args:
        return False
    if args[0] == "!" and len(args) > 1:
        return not evaluate_test(args[1:], file_test)
    if len(args) == 1:
        return args[0] != ""
    if len(args) == 2:
        op, value = args
        if op == "-z":
            return value == ""
        if op == "-n":
            return value != ""
        if op in UNARY_FILE:
            return file_test(op, value)
        raise TestError("syntax", op)
    if len(args) == 3:
        left, op, right = args
        if op == "=" or op == "==":
            return left == right
        if op == "!=":
            return left != right
        if op in INT_OPS:
            return bool(INT_OPS[op](_int(left), _int(right)))
        if op in ("-a", "-o"):
            a, b = evaluate_test([left], file_test), evaluate_test([right], file_test)
            return (a and b) if op == "-a" else (a or b)
    for i, arg in enumerate(args):
        if arg in ("-a", "-o") and 0 < i < len(args) - 1:
            a, b = evaluate_test(args[:i], file_test), evaluate_test(args[i + 1:], file_test)
            return (a and b) if arg == "-a" else (a or b)
    raise TestError("syntax", args[1] if len(args) > 1 else args[0])
