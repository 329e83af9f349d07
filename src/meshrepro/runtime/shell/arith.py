"""`$((...))`: integer arithmetic with C precedence, on already-expanded text."""

from __future__ import annotations

import re
from collections.abc import Callable

TOKEN = re.compile(r"\s*(0[xX][0-9a-fA-F]+|\d+|[A-Za-z_][A-Za-z0-9_]*|\*\*|<<|>>|<=|>=|==|!=|&&|\|\||[-+*/%()<>!~&^|?:=])")
BINARY = {  # operator: precedence (higher binds tighter)
    "||": 1, "&&": 2, "|": 3, "^": 4, "&": 5, "==": 6, "!=": 6, "<": 7, "<=": 7, ">": 7, ">=": 7,
    "<<": 8, ">>": 8, "+": 9, "-": 9, "*": 10, "/": 10, "%": 10, "**": 11,
}
RIGHT_ASSOCIATIVE = frozenset({"**"})


class ArithError(Exception):
    """`kind` is "divzero" or "syntax"."""

    def __init__(self, kind: str, expr: str) -> None:
        super().__init__(f"{kind}: {expr}")
        self.kind = kind
        self.expr = expr


def _c_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def _apply(op: str, a: int, b: int, expr: str) -> int:
    if op in ("/", "%") and b == 0:
        raise ArithError("divzero", expr)
    ops: dict[str, Callable[[int, int], int]] = {
        "+": lambda x, y: x + y, "-": lambda x, y: x - y, "*": lambda x, y: x * y,
        "/": _c_div, "%": lambda x, y: x - _c_div(x, y) * y,
        "<<": lambda x, y: x << y, ">>": lambda x, y: x >> y,
        "<": lambda x, y: int(x < y), "<=": lambda x, y: int(x <= y), ">": lambda x, y: int(x > y),
        ">=": lambda x, y: int(x >= y), "==": lambda x, y: int(x == y), "!=": lambda x, y: int(x != y),
        "&": lambda x, y: x & y, "^": lambda x, y: x ^ y, "|": lambda x, y: x | y,
        "**": lambda x, y: x**y if y >= 0 else 0,
        "&&": lambda x, y: int(bool(x) and bool(y)), "||": lambda x, y: int(bool(x) or bool(y)),
    }
    return ops[op](a, b)


class _Evaluator:
    def __init__(self, expr: str, get: Callable[[str], str], set_: Callable[[str, str], None]) -> None:
        self.expr = expr
        self.tokens = self._tokenize(expr)
        self.i = 0
        self.get = get
        self.set = set_

    def _tokenize(self, expr: str) -> list[str]:
        tokens, pos = [], 0
        while pos < len(expr):
            if expr[pos:].strip() == "":
                break
            m = TOKEN.match(expr, pos)
            if not m:
                raise ArithError("syntax", expr)
            tokens.append(m.group(1))
            pos = m.end()
        return tokens

    def peek(self) -> str:
        return self.tokens[self.i] if self.i < len(self.tokens) else ""

    def take(self) -> str:
        tok = self.peek()
        self.i += 1
        return tok

    def run(self) -> int:
        if not self.tokens:
            return 0
        value = self.ternary()
        if self.peek():
            raise ArithError("syntax", self.expr)
        return value

    def ternary(self) -> int:
        if re.fullmatch(r"[A-Za-z_]\w*", self.peek()) and self.i + 1 < len(self.tokens) \
                and self.tokens[self.i + 1] == "=":
            name = self.take()
            self.take()
            value = self.ternary()
            self.set(name, str(value))
            return value
        cond = self.binary(1)
        if self.peek() != "?":
            return cond
        self.take()
        yes = self.ternary()
        if self.take() != ":":
            raise ArithError("syntax", self.expr)
        no = self.ternary()
        return yes if cond else no

    def binary(self, min_prec: int) -> int:
        left = self.unary()
        while self.peek() in BINARY and BINARY[self.peek()] >= min_prec:
            op = self.take()
            right = self.binary(BINARY[op] + (0 if op in RIGHT_ASSOCIATIVE else 1))
            left = _apply(op, left, right, self.expr)
        return left

    def unary(self) -> int:
        tok = self.take()
        if tok in ("-", "+", "!", "~"):
            value = self.unary()
            return {"-": -value, "+": value, "!": int(not value), "~": ~value}[tok]
        if tok == "(":
            value = self.ternary()
            if self.take() != ")":
                raise ArithError("syntax", self.expr)
            return value
        if re.fullmatch(r"0[xX][0-9a-fA-F]+", tok):
            return int(tok, 16)
        if tok.isdigit():
            return int(tok, 8) if len(tok) > 1 and tok.startswith("0") else int(tok)
        if re.fullmatch(r"[A-Za-z_]\w*", tok):
            text = self.get(tok).strip()
            return evaluate(text, self.get, self.set) if text else 0
        raise ArithError("syntax", self.expr)


def evaluate(expr: str, get: Callable[[str], str], set_: Callable[[str, str], None]) -> int:
    """The value of `expr`; variables read with `get` (unset: ""), assigned with `set_`."""
    return _Evaluator(expr, get, set_).run()
