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


class Chain:
    __slots__ = ("name", "policy", "rules")

    def __init__(self, name: str, policy: str | None = None, rules: list[Rule] | None = None) -> None:
        self.name = name
        self.policy = policy  # None for user chains
        self.rules: list[Rule] = rules if rules is not None else []


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
