"""Command-line flags the way cobra/pflag parse them for kubectl.

Flags may appear anywhere (interspersed), `--` ends them, `--name=value` and `--name value`,
`-n value`, `-nvalue`, `-n=value`, grouped booleans `-it`. Error texts are pflag's; kubectl's
flag-error hook adds `See 'kubectl <cmd> --help' for usage.` [KC 1.29.0 pkg/util/templates/templater.go].
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .errors import UsageError


@dataclass(frozen=True)
class Flag:
    name: str
    shorthand: str = ""
    kind: str = "string"  # bool | string | int | array | duration
    default: Any = None


@dataclass
class Parsed:
    values: dict[str, Any]
    args: list[str]
    dash: int = -1  # index in args where `--` was (cobra's ArgsLenAtDash), -1 if none
    changed: set[str] = field(default_factory=set)

    def __getitem__(self, name: str) -> Any:
        return self.values[name]


GLOBAL_FLAGS = (
    Flag("kubeconfig"), Flag("context"), Flag("cluster"), Flag("user"), Flag("namespace", "n"),
    Flag("server", "s"), Flag("token"), Flag("certificate-authority"), Flag("client-certificate"),
    Flag("client-key"), Flag("insecure-skip-tls-verify", kind="bool", default=False), Flag("tls-server-name"),
    Flag("as"), Flag("as-group", kind="array", default=[]), Flag("as-uid"), Flag("request-timeout", default="0"),
    Flag("v", "v", kind="int", default=0), Flag("username"), Flag("password"),
    Flag("match-server-version", kind="bool", default=False), Flag("cache-dir"),
    Flag("disable-compression", kind="bool", default=False), Flag("warnings-as-errors", kind="bool", default=False),
    Flag("log-flush-frequency", default="5s"), Flag("vmodule"), Flag("profile", default="none"),
    Flag("profile-output", default="profile.pprof"),
)

_INT = re.compile(r"[-+]?\d+")


class FlagSet:
    def __init__(self, command_path: str, flags: tuple[Flag, ...]) -> None:
        self.command_path = command_path
        self.flags = {f.name: f for f in (*GLOBAL_FLAGS, *flags)}
        self.short = {f.shorthand: f for f in (*GLOBAL_FLAGS, *flags) if f.shorthand}

    def _fail(self, message: str) -> UsageError:
        return UsageError(f"{message}\nSee '{self.command_path} --help' for usage.")

    def parse(self, argv: list[str]) -> Parsed:
        values = {name: (list(f.default) if isinstance(f.default, list) else f.default)
                  for name, f in self.flags.items()}
        parsed = Parsed(values, [])
        i = 0
        while i < len(argv):
            arg = argv[i]
            i += 1
            if arg == "--":
                parsed.dash = len(parsed.args)
                parsed.args.extend(argv[i:])
                break
            if arg.startswith("--") and len(arg) > 2:
                name, eq, value = arg[2:].partition("=")
                flag = self.flags.get(name)
                if flag is None:
                    raise self._fail(f"unknown flag: --{name}")
                if not eq and flag.kind != "bool":
                    if i >= len(argv):
                        raise self._fail(f"flag needs an argument: --{name}")
                    value, i = argv[i], i + 1
                self._set(parsed, flag, value if eq or flag.kind != "bool" else "true", f"--{name}")
            elif arg.startswith("-") and len(arg) > 1:
                i = self._shorthands(parsed, arg, argv, i)
            else:
                parsed.args.append(arg)
        return parsed

    def _shorthands(self, parsed: Parsed, arg: str, argv: list[str], i: int) -> int:
        chars = arg[1:]
        while chars:
            letter, chars = chars[0], chars[1:]
            flag = self.short.get(letter)
            if flag is None:
                raise self._fail(f"unknown shorthand flag: {letter!r} in {arg}")
            if chars.startswith("="):
                self._set(parsed, flag, chars[1:], f"'{letter}' in {arg}")
                return i
            if flag.kind == "bool":
                self._set(parsed, flag, "true", f"'{letter}' in {arg}")
                continue
            if chars:
                self._set(parsed, flag, chars, f"'{letter}' in {arg}")
                return i
            if i >= len(argv):
                raise self._fail(f"flag needs an argument: {letter!r} in {arg}")
            self._set(parsed, flag, argv[i], f"'{letter}' in {arg}")
            return i + 1
        return i

    def _set(self, parsed: Parsed, flag: Flag, raw: str, shown: str) -> None:
        parsed.changed.add(flag.name)
        label = f"--{flag.name}" if not flag.shorthand else f"-{flag.shorthand}, --{flag.name}"
        if flag.kind == "bool":
            lowered = raw.lower()
            if lowered in ("1", "t", "true"):
                parsed.values[flag.name] = True
            elif lowered in ("0", "f", "false"):
                parsed.values[flag.name] = False
            else:
                raise self._fail(f'invalid argument "{raw}" for "{label}" flag: strconv.ParseBool: '
                                 f'parsing "{raw}": invalid syntax')
        elif flag.kind == "int":
            if not _INT.fullmatch(raw):
                raise self._fail(f'invalid argument "{raw}" for "{label}" flag: strconv.ParseInt: '
                                 f'parsing "{raw}": invalid syntax')
            parsed.values[flag.name] = int(raw)
        elif flag.kind == "array":
            parsed.values[flag.name] = [*parsed.values[flag.name], raw]
        elif flag.kind == "duration":
            seconds = parse_duration(raw)
            if seconds is None:
                raise self._fail(f'invalid argument "{raw}" for "{label}" flag: time: invalid duration "{raw}"')
            parsed.values[flag.name] = seconds
        else:
            parsed.values[flag.name] = raw


_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")


def parse_duration(text: str) -> float | None:
    """Go's time.ParseDuration ("1m30s", "500ms"; "0" alone is allowed); seconds or None."""
    if text in ("0", "+0", "-0"):
        return 0.0
    body = text.lstrip("+-")
    if not body:
        return None
    total, pos = 0.0, 0
    for match in _PART.finditer(body):
        if match.start() != pos:
            return None
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(body):
        return None
    return -total if text.startswith("-") else total
