"""The netfilter state of one network namespace: iptables-restore / iptables in, iptables-save out."""

from __future__ import annotations

from collections.abc import Sequence

from meshrepro.net.netfilter.ipset import IPSets
from meshrepro.net.netfilter.model import BUILTIN, Chain, NetfilterSyntaxError, Table
from meshrepro.net.netfilter.parse import apply_command, check_table, restore

TABLE_ORDER = ("raw", "mangle", "nat", "filter")
Stage = tuple[str, str]  # (table, built-in chain)
Plan = tuple[tuple[str, dict[str, Chain], Chain], ...]  # (table name, its chains, the built-in chain)


# iptables-restore texts applied without --noflush and without ipsets, parsed once: the same rules are written
# into every pod a mesh captures. Sharing is safe because committed tables are never edited in place (`restore`
# builds new tables, `execute` copies the one it changes).
_PARSED: dict[str, dict[str, Table]] = {}


class Ruleset:
    def __init__(self) -> None:
        self.tables: dict[str, Table] = {}
        self._empty: bool | None = None  # cached: the connection walk asks for every namespace it crosses
        self._plans: dict[tuple[Stage, ...], Plan] = {}  # cached per hook sequence, like `_empty`

    @classmethod
    def parse(cls, text: str, *, ipsets: IPSets | None = None) -> Ruleset:
        ruleset = cls()
        ruleset.restore(text, ipsets=ipsets)
        return ruleset

    def restore(self, text: str, *, noflush: bool = False, ipsets: IPSets | None = None) -> None:
        """`iptables-restore [--noflush]`: each `*table` section replaces that table (or edits it)."""
        self._changed()
        if noflush or ipsets is not None:
            restore(self.tables, text, noflush=noflush, ipsets=ipsets)
            return
        parsed = _PARSED.get(text)
        if parsed is None:
            parsed = {}
            restore(parsed, text, noflush=False, ipsets=None)
            _PARSED[text] = parsed
        self.tables.update(parsed)

    def execute(self, args: Sequence[str], *, ipsets: IPSets | None = None) -> None:
        """One `iptables` command line without the program name, e.g. `-t nat -A OUTPUT -j X`."""
        rest, name = [], "filter"
        items = iter(args)
        for arg in items:
            if arg in ("-t", "--table"):
                name = next(items, "")
            elif arg in ("-w", "--wait", "-W", "--wait-interval"):
                continue  # xtables lock waits: nothing to wait for here
            else:
                rest.append(arg)
        if name not in BUILTIN:
            raise NetfilterSyntaxError(0, f"can't initialize iptables table `{name}': Table does not exist")
        self._changed()
        table = self.tables[name].copy() if name in self.tables else Table(name)
        apply_command(table, rest, 0, ipsets)
        check_table(table)
        self.tables[name] = table

    @property
    def empty(self) -> bool:
        """No rules anywhere: every packet passes untouched (a fresh namespace), so evaluation can be skipped."""
        if self._empty is None:
            self._empty = all(not chain.rules and chain.policy in (None, "ACCEPT")
                              for table in self.tables.values() for chain in table.chains.values())
        return self._empty

    def plan(self, stages: tuple[Stage, ...]) -> Plan:
        """The built-in chains of `stages` that can change a packet's fate: tables that exist, and chains with
        rules or a DROP policy. Committed tables are replaced, never edited, so the plan holds until then."""
        plan = self._plans.get(stages)
        if plan is None:
            plan = self._plans[stages] = tuple(
                (name, table.chains, chain) for name, builtin in stages
                if (table := self.tables.get(name)) is not None
                and ((chain := table.chains[builtin]).rules or chain.policy != "ACCEPT"))
        return plan

    def _changed(self) -> None:
        self._empty = None
        self._plans = {}

    def save(self, table: str | None = None) -> str:
        """`iptables-save [-t table]` without the dated comment lines."""
        names = [table] if table else [t for t in TABLE_ORDER if t in self.tables]
        return "".join(self.tables[name].render() for name in names if name in self.tables)

    def rules(self, table: str, chain: str) -> list[str]:
        """`-A CHAIN ...` lines of one chain, as iptables -S prints them."""
        return [f"-A {chain} {rule.text}".rstrip() for rule in self.tables[table].chains[chain].rules]
