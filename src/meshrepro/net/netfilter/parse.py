"""iptables-restore input and iptables command lines -> changes to tables.

Follows iptables' own option handling: `!` before the option it negates, match options owned by
the module loaded last that knows them (getopt prefixes allowed), `--dport` after `-p tcp` loading
the tcp match implicitly, comma-separated -s/-d expanding into one rule per address.
"""

from __future__ import annotations

import itertools

from meshrepro.net.netfilter.ipset import IPSets
from meshrepro.net.netfilter.matches import (
    MODULES,
    PROTOCOLS,
    Context,
    Module,
    Opt,
    Part,
    RuleError,
    address,
    interface,
    protocol,
    resolve_option,
)
from meshrepro.net.netfilter.model import BUILTIN, POLICIES, Chain, NetfilterSyntaxError, Rule, Table
from meshrepro.net.netfilter.state import HOOK_BIT
from meshrepro.net.netfilter.targets import NO_TARGET, TARGETS, Target, TargetSpec, chain_jump, standard

BASE_OPTIONS = {"-s": "-s", "--source": "-s", "--src": "-s", "-d": "-d", "--destination": "-d",
                "--dst": "-d", "-i": "-i", "--in-interface": "-i", "-o": "-o", "--out-interface": "-o",
                "-p": "-p", "--protocol": "-p"}
COMMANDS = {"-A": "-A", "--append": "-A", "-I": "-I", "--insert": "-I", "-D": "-D", "--delete": "-D",
            "-N": "-N", "--new-chain": "-N", "--new": "-N", "-X": "-X", "--delete-chain": "-X",
            "-F": "-F", "--flush": "-F", "-P": "-P", "--policy": "-P", "-Z": "-Z", "--zero": "-Z"}
_SHORT_LONG = ("--match", "--jump", "--goto", "--set-counters")
NO_INPUT_DEVICE = ("OUTPUT", "POSTROUTING")
NO_OUTPUT_DEVICE = ("PREROUTING", "INPUT")


def tokenize(line: str, lineno: int) -> list[str]:
    """Split like iptables-restore: whitespace, double quotes, backslash escapes inside quotes."""
    tokens: list[str] = []
    current: list[str] = []
    quoted = started = False
    i = 0
    while i < len(line):
        char = line[i]
        if quoted:
            if char == "\\" and i + 1 < len(line) and line[i + 1] in "\"\\'":
                current.append(line[i + 1])
                i += 1
            elif char == '"':
                quoted = False
            else:
                current.append(char)
        elif char == '"':
            quoted = started = True
        elif char in " \t":
            if started or current:
                tokens.append("".join(current))
                current, started = [], False
        else:
            current.append(char)
        i += 1
    if quoted:
        raise NetfilterSyntaxError(lineno, "unterminated quoted string")
    if started or current:
        tokens.append("".join(current))
    return tokens


class _RuleReader:
    """Reads the options of one -A/-I/-D rule spec."""

    def __init__(self, table: Table, chain: str, ipsets: IPSets | None) -> None:
        self.table = table
        self.chain = chain
        self.ipsets = ipsets
        self.base: dict[str, tuple[bool, str]] = {}
        self.modules: list[tuple[Module, list[Opt]]] = []
        self.target: Target | None = None  # a verdict or chain jump: no options
        self.spec: tuple[TargetSpec, list[Opt]] | None = None  # a target extension and its options

    def read(self, tokens: list[str]) -> list[Rule]:
        negated = False
        i = 0
        while i < len(tokens):
            token = tokens[i]
            i += 1
            if token == "!":
                if negated:
                    raise RuleError("multiple `!' flags not allowed")
                negated = True
                continue
            if token.startswith("--") and token not in BASE_OPTIONS and token not in _SHORT_LONG:
                i = self._option(token[2:], negated, tokens, i)
                negated = False
                continue
            if i >= len(tokens):
                raise RuleError(f"option \"{token}\" requires an argument")
            value = tokens[i]
            i += 1
            if token in BASE_OPTIONS:
                key = BASE_OPTIONS[token]
                if key in self.base:
                    raise RuleError(f"multiple {key} flags not allowed")
                self.base[key] = (negated, value)
            elif token in ("-m", "--match"):
                if negated:
                    raise RuleError("unexpected ! flag before --match")
                self._load(value)
            elif token in ("-j", "--jump", "-g", "--goto"):
                if negated or self.target is not None or self.spec is not None:
                    raise RuleError("cannot negate a target" if negated else "multiple -j flags not allowed")
                self._target(value, goto=token in ("-g", "--goto"))
            elif token in ("-c", "--set-counters"):
                i += 1  # packet and byte counters: nothing to simulate
            else:
                raise RuleError(f"Bad argument `{token}'")
            negated = False
        if negated:
            raise RuleError("`!' at the end of the rule")
        return self._rules()

    def _proto(self) -> str | None:
        negated, value = self.base.get("-p", (True, ""))
        return None if negated else PROTOCOLS.get(value.lower())

    def _load(self, name: str) -> Module:
        module = MODULES.get(name)
        if module is None:
            raise RuleError(f"Couldn't load match `{name}':No such file or directory")
        self.modules.append((module, []))
        return module

    def _target(self, name: str, goto: bool) -> None:
        chain = self.table.chains.get(name)
        if chain is not None and chain.policy is None:
            self.target = chain_jump(name, goto)
        elif not goto and name in ("ACCEPT", "DROP", "RETURN"):
            self.target = standard(name)
        elif not goto and name in TARGETS:
            self.spec = TARGETS[name], []
        else:
            raise RuleError(f"Couldn't load target `{name}':No such file or directory")

    def _option(self, name: str, negated: bool, tokens: list[str], i: int) -> int:
        owners: list[tuple[TargetSpec | Module, list[Opt]]] = [self.spec] if self.spec else []
        owners += reversed(self.modules)
        for owner, opts in owners:
            canonical = resolve_option(owner.options, name)
            if canonical is not None:
                break
        else:
            implicit = MODULES.get(self._proto() or "")
            canonical = resolve_option(implicit.options, name) if implicit else None
            if implicit is None or canonical is None:
                raise RuleError(f"unknown option \"--{name}\"")
            owner, opts = implicit, []
            self.modules.append((implicit, opts))
        count = owner.options.get(canonical, 1)
        args = tuple(tokens[i:i + count])
        if len(args) < count:
            raise RuleError(f"option \"--{name}\" requires an argument")
        opts.append((canonical, negated, args))
        return i + count

    def _rules(self) -> list[Rule]:
        ctx = Context(self.table.name, self.chain, self._proto(), self.ipsets)
        if "-i" in self.base and self.chain in NO_INPUT_DEVICE:
            raise RuleError(f"Can't use -i with {self.chain}")
        if "-o" in self.base and self.chain in NO_OUTPUT_DEVICE:
            raise RuleError(f"Can't use -o with {self.chain}")
        tail: list[Part] = []
        for key in ("-i", "-o"):
            if key in self.base:
                tail.append(interface(key, *self.base[key]))
        if "-p" in self.base:
            tail.append(protocol(*self.base["-p"]))
        tail += [module.build(opts, ctx) for module, opts in self.modules]
        if self.spec is not None:
            target = self.spec[0].build(self.spec[1], ctx)
        else:
            target = self.target or NO_TARGET
        if target.table is not None and target.table != self.table.name:
            raise RuleError(f"{target.name} is only valid in the {target.table} table")
        hook = HOOK_BIT.get(self.chain) if self.chain in BUILTIN[self.table.name] else None
        sources = self._addresses("-s")
        destinations = self._addresses("-d")
        rules = []
        for source, destination in itertools.product(sources, destinations):
            rule = Rule((*source, *destination, *tail), target, 0)
            if hook is not None and (culprit := rule.refused_in(hook)):
                raise RuleError(f"{culprit} is not allowed in {self.chain}")
            rules.append(rule)
        return rules

    def _addresses(self, key: str) -> list[tuple[Part, ...]]:
        if key not in self.base:
            return [()]
        negated, value = self.base[key]
        items = value.split(",")
        if negated and len(items) > 1:
            raise RuleError("! not allowed with multiple source or destination IP addresses")
        return [(address(key, negated, item),) for item in items]


def apply_command(table: Table, tokens: list[str], line: int, ipsets: IPSets | None) -> None:
    """One iptables command (without `-t`), applied to `table`."""
    try:
        _apply(table, tokens, line, ipsets)
    except RuleError as exc:
        raise NetfilterSyntaxError(line, str(exc)) from None


def _apply(table: Table, tokens: list[str], line: int, ipsets: IPSets | None) -> None:
    if not tokens or tokens[0] not in COMMANDS:
        raise RuleError(f"Bad argument `{tokens[0] if tokens else ''}'")
    command, args = COMMANDS[tokens[0]], tokens[1:]
    name = args[0] if args else None
    if command in ("-A", "-I", "-D", "-N", "-P") and name is None:
        raise RuleError(f"option \"{tokens[0]}\" requires an argument")
    if command == "-N":
        assert name is not None
        if name in table.chains or name in TARGETS or name in ("ACCEPT", "DROP", "RETURN") or name[0] in "-!":
            raise RuleError(f"Chain '{name}' already exists" if name in table.chains else f"Invalid chain name `{name}'")
        if len(name) > 28:
            raise RuleError(f"chain name `{name}' too long (must be under 29 chars)")
        table.chains[name] = Chain(name)
        return
    if name is not None and name not in table.chains:
        raise RuleError(f"Chain '{name}' does not exist")
    if command == "-P":
        chain = table.chains[args[0]]
        if chain.policy is None or len(args) < 2 or args[1] not in POLICIES:
            raise RuleError(f"Bad built-in chain name or policy `{' '.join(args)}'")
        chain.policy = args[1]
    elif command == "-F":
        for chain in ([table.chains[name]] if name else table.chains.values()):
            chain.rules = []
    elif command == "-X":
        _delete_chains(table, [name] if name else table.user_chains())
    elif command in ("-A", "-I", "-D"):
        _edit(table, command, args, line, ipsets)


def _edit(table: Table, command: str, args: list[str], line: int, ipsets: IPSets | None) -> None:
    chain = table.chains[args[0]]
    spec = args[1:]
    if command == "-D" and len(spec) == 1 and spec[0].isdigit():
        index = int(spec[0])
        if not 1 <= index <= len(chain.rules):
            raise RuleError("Index of deletion too big.")
        del chain.rules[index - 1]
        return
    position = len(chain.rules)
    if command == "-I":
        position = 0
        if spec and spec[0].isdigit():
            position = int(spec[0]) - 1
            spec = spec[1:]
            if not 0 <= position <= len(chain.rules):
                raise RuleError("Index of insertion too big.")
    rules = _RuleReader(table, chain.name, ipsets).read(spec)
    for rule in rules:
        rule.line = line
    if command == "-D":
        for rule in rules:
            match = next((r for r in chain.rules if r.text == rule.text), None)
            if match is None:
                raise RuleError("Bad rule (does a matching rule exist in that chain?).")
            chain.rules.remove(match)
        return
    chain.rules[position:position] = rules


def _delete_chains(table: Table, names: list[str]) -> None:
    doomed = set(names)
    for name in names:
        if table.chains[name].policy is not None:
            raise RuleError(f"Can't delete built-in chain {name}")
        if table.chains[name].rules:
            raise RuleError(f"Can't delete chain '{name}': Directory not empty")
    for chain in table.chains.values():
        if chain.name in doomed:
            continue
        for rule in chain.rules:
            if rule.target.chain in doomed:
                raise RuleError(f"Can't delete chain '{rule.target.chain}': Too many links")
    for name in names:
        del table.chains[name]


def check_table(table: Table) -> None:
    """What the kernel checks on commit: no jump loops, and every rule allowed in the hooks reaching it."""
    reached: dict[str, int] = {}
    for builtin in BUILTIN[table.name]:
        _reach(table, builtin, HOOK_BIT[builtin], reached, [], set())
    for name, hooks in reached.items():
        for rule in table.chains[name].rules:
            culprit = rule.refused_in(hooks)
            if culprit:
                hook = next(h for h, bit in HOOK_BIT.items() if hooks & bit and rule.refused_in(bit))
                raise NetfilterSyntaxError(rule.line, f"{culprit} is not allowed in chain {name}, which is "
                                                      f"reached from {hook} (Invalid argument)")


def _reach(table: Table, name: str, hook: int, reached: dict[str, int], path: list[str],
           seen: set[tuple[str, int]]) -> None:
    reached[name] = reached.get(name, 0) | hook
    path.append(name)
    for rule in table.chains[name].rules:
        target = rule.target.chain
        if target is None:
            continue
        if target in path:
            raise NetfilterSyntaxError(rule.line, f"chain {target} jumps back to itself through "
                                                  f"{' -> '.join(path)} (Too many levels of symbolic links)")
        if (target, hook) not in seen:
            seen.add((target, hook))
            _reach(table, target, hook, reached, path, seen)
    path.pop()


def restore(tables: dict[str, Table], text: str, *, noflush: bool, ipsets: IPSets | None) -> None:
    """Apply iptables-restore input; all tables change together, or none when a line is refused."""
    done: dict[str, Table] = {}
    current: Table | None = None
    lineno = 0
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):  # `[packets:bytes] -A ...` from iptables-save -c
            line = line.partition("]")[2].strip()
        if line.startswith("*"):
            if current is not None:
                raise NetfilterSyntaxError(lineno, f"table '{current.name}' was not committed before '{line}'")
            name = line[1:].strip()
            if name not in BUILTIN:
                raise NetfilterSyntaxError(lineno, f"unable to initialize table '{name}'")
            base = done.get(name) or tables.get(name)
            current = base.copy() if noflush and base is not None else Table(name)
        elif current is None:
            raise NetfilterSyntaxError(lineno, "no table specified")
        elif line == "COMMIT":
            check_table(current)
            done[current.name] = current
            current = None
        elif line.startswith(":"):
            _declare(current, line, lineno)
        else:
            tokens = tokenize(line, lineno)
            if any(t in ("-t", "--table") for t in tokens):
                raise NetfilterSyntaxError(lineno, "The -t option cannot be used in iptables-restore.")
            apply_command(current, tokens, lineno, ipsets)
    if current is not None:
        raise NetfilterSyntaxError(lineno + 1, "COMMIT expected")
    tables.update(done)


def _declare(table: Table, line: str, lineno: int) -> None:
    fields = line[1:].split()
    if len(fields) < 2:
        raise NetfilterSyntaxError(lineno, f"bad chain declaration `{line}'")
    name, policy = fields[0], fields[1]
    chain = table.chains.get(name)
    if chain is not None and chain.policy is not None:
        if policy not in POLICIES:
            raise NetfilterSyntaxError(lineno, f"Bad built-in chain name or policy `{policy}'")
        chain.policy = policy
    elif policy != "-":
        raise NetfilterSyntaxError(lineno, f"policy for user chain {name} must be `-'")
    elif chain is not None:
        chain.rules = []  # --noflush: a declared chain starts empty
    else:
        try:
            _apply(table, ["-N", name], lineno, None)
        except RuleError as exc:
            raise NetfilterSyntaxError(lineno, str(exc)) from None
