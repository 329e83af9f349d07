"""Tables, chains and rules of one network namespace, as the kernel holds them."""

from __future__ import annotations

from dataclasses import dataclass, field

from meshrepro.errors import InputError
from meshrepro.net.netfilter.matches import Part, Test
from meshrepro.net.netfilter.targets import Target

# built-in chains per table, in the order iptables-save lists them (kernel hook order)
BUILTIN: dict[str, tuple[str, ...]] = {
    "raw": ("PREROUTING", "OUTPUT"),
    "mangle": ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"),
    "nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"),
    "filter": ("INPUT", "FORWARD", "OUTPUT"),
}
POLICIES = ("ACCEPT", "DROP")


class NetfilterSyntaxError(InputError):
    """A rule set iptables-restore would refuse, with the input line at fault (0: a single command)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}" if line else message)
        self.line = line
        self.message = message


@dataclass(eq=False)
class Rule:
    parts: tuple[Part, ...]
    target: Target
    line: int  # where it was read, for errors found at COMMIT
    text: str = ""  # canonical spec, without "-A CHAIN"
    checks: tuple[Test, ...] = ()
    shown: dict[str, str] = field(default_factory=dict, compare=False, repr=False)  # chain -> "-A CHAIN spec"

    def display(self, chain: str) -> str:
        """The rule as iptables-save prints it in `chain`; cached because every match reports it."""
        text = self.shown.get(chain)
        if text is None:
            text = self.shown[chain] = f"-A {chain} {self.text}".rstrip()
        return text

    def __post_init__(self) -> None:
        self.text = " ".join(t for t in (*(p.text for p in self.parts), self.target.text) if t)
        self.checks = tuple(test for part in self.parts for test in part.tests)

    def refused_in(self, hooks: int) -> str | None:
        """The first criterion or target the kernel refuses in one of `hooks` (a HOOK_BIT mask)."""
        for part in self.parts:
            if hooks & ~part.hooks:
                return f"the {part.name} match"
        if hooks & ~self.target.hooks:
            return self.target.name
        return None


Matched = tuple[str, str, str, int, str]  # a TrailEntry's fields, as the evaluator collects them
# A rule as the evaluator runs it: its tests, its target's kind (targets.ACCEPT ... FINAL), the target,
# and what it adds to the packet's trail when it matches.
Compiled = tuple[tuple[Test, ...], int, Target, Matched]


@dataclass(frozen=True, slots=True)
class TrailEntry:
    """One step that decided something: a rule that matched, or a chain policy / routing drop (index 0)."""

    hook: str
    table: str
    chain: str
    index: int  # 1-based, as `iptables -L --line-numbers` counts
    rule: str

    def __str__(self) -> str:
        where = f"{self.table} {self.chain} #{self.index}" if self.index else f"{self.table} {self.chain}".strip()
        return f"[{self.hook}] {where}: {self.rule}"


class Chain:
    """A chain's rules. Committed chains are never edited (restore and execute work on copies), so their
    compiled form can be built once and shared by every packet that crosses them."""

    __slots__ = ("_compiled", "name", "policy", "rules")

    def __init__(self, name: str, policy: str | None = None, rules: list[Rule] | None = None) -> None:
        self.name = name
        self.policy = policy  # None for user chains
        self.rules: list[Rule] = rules if rules is not None else []
        self._compiled: dict[str, tuple[Compiled, ...]] = {}

    def compiled(self, hook: str, table: str) -> tuple[Compiled, ...]:
        """The rules as reached from `hook`, flattened for the evaluator's inner loop. Trail entries are plain
        tuples of strings and ints: connection records keep them, and the garbage collector stops tracking those."""
        rules = self._compiled.get(hook)
        if rules is None:
            rules = self._compiled[hook] = tuple(
                (rule.checks, rule.target.kind, rule.target, (hook, table, self.name, index, rule.display(self.name)))
                for index, rule in enumerate(self.rules, 1))
        return rules


class Table:
    def __init__(self, name: str) -> None:
        self.name = name
        self.chains: dict[str, Chain] = {chain: Chain(chain, "ACCEPT") for chain in BUILTIN[name]}

    def copy(self) -> Table:
        clone = Table(self.name)
        clone.chains = {name: Chain(name, c.policy, list(c.rules)) for name, c in self.chains.items()}
        return clone

    def user_chains(self) -> list[str]:
        return sorted(name for name, chain in self.chains.items() if chain.policy is None)

    def render(self) -> str:
        """This table in iptables-save form: built-in chains first, then user chains sorted by name."""
        order = [*BUILTIN[self.name], *self.user_chains()]
        lines = [f"*{self.name}"]
        lines += [f":{name} {self.chains[name].policy or '-'} [0:0]" for name in order]
        lines += [f"-A {name} {rule.text}".rstrip() for name in order for rule in self.chains[name].rules]
        lines.append("COMMIT")
        return "\n".join(lines) + "\n"
