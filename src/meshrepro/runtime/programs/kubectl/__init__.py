"""The `kubectl` program: `make_kubectl("1.29.2")` returns a Program for that release.

Commands live one per module (`cmd_*.py`); each exposes FLAGS and `run(session, args)`, groups
(`config`, `auth`) expose SUBCOMMANDS. What differs between releases is in `versions.VERSIONS`.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from types import ModuleType
from typing import Any

import simpy

from meshrepro.runtime.process import Process, Program
from meshrepro.runtime.programs.cobra import find_command, suggestions

from . import (
    cmd_apply,
    cmd_auth,
    cmd_config,
    cmd_describe,
    cmd_exec,
    cmd_get,
    cmd_label,
    cmd_logs,
    cmd_version,
    cmd_wait,
)
from .errors import GoError, UsageError, check_err
from .flags import GLOBAL_FLAGS, FlagSet
from .session import Session
from .versions import VERSIONS, KubectlVersion, lookup

__all__ = ["VERSIONS", "KubectlVersion", "make_kubectl"]

Runner = Callable[[Session, list[str]], "int | Generator[simpy.Event, Any, int]"]

# command name -> module with FLAGS and run (or SUBCOMMANDS)
COMMANDS: dict[str, ModuleType] = {
    "get": cmd_get, "apply": cmd_apply, "create": cmd_apply, "delete": cmd_apply, "label": cmd_label,
    "annotate": cmd_label, "logs": cmd_logs, "describe": cmd_describe, "wait": cmd_wait, "auth": cmd_auth,
    "config": cmd_config, "version": cmd_version, "exec": cmd_exec,
}


# Real kubectl commands meshrepro does not run yet: they fail with a clear message instead of "unknown command".
UNMODELLED_COMMANDS = frozenset({
    "alpha", "api-resources", "api-versions", "attach", "autoscale", "certificate", "cluster-info", "completion",
    "cordon", "cp", "debug", "diff", "drain", "edit", "events", "explain", "expose", "kustomize", "patch", "plugin",
    "port-forward", "proxy", "replace", "rollout", "run", "scale", "set", "taint", "top", "uncordon",
})


def make_kubectl(version: str) -> Program:
    info = lookup(version)

    def kubectl(proc: Process) -> Generator[simpy.Event, Any, int]:
        return (yield from _main(proc, info))

    return kubectl


def _main(proc: Process, info: KubectlVersion) -> Generator[simpy.Event, Any, int]:
    argv = list(proc.argv[1:])
    names, rest = _find_command(argv)
    if not names:
        proc.stdout.write("kubectl controls the Kubernetes cluster manager.\n\n Find more information at: "
                          "https://kubernetes.io/docs/reference/kubectl/\n")
        return 0
    session: Session | None = None
    try:
        runner, flags, path = _resolve(names)
        parsed = FlagSet(path, flags).parse(rest)
        session = Session(proc, info, path, parsed)
        outcome = runner(session, parsed.args)
        if isinstance(outcome, Generator):  # commands that talk to the server wait on the network
            code: int = yield from outcome
            return code
        return outcome
    except GoError as err:
        text, code = check_err(err)
        proc.stderr.write(text)
        return code
    finally:
        if session is not None:
            session.close()


def _resolve(names: list[str]) -> tuple[Runner, tuple[Any, ...], str]:
    first = names[0]
    module = COMMANDS.get(first)
    if module is None:
        if first in UNMODELLED_COMMANDS:
            raise GoError(f"meshrepro: `kubectl {first}` is a real kubectl command that meshrepro does not model yet")
        raise GoError(f'unknown command "{first}" for "kubectl"{suggestions(first, list(COMMANDS))}')
    subcommands: dict[str, tuple[Runner, tuple[Any, ...]]] | None = getattr(module, "SUBCOMMANDS", None)
    if subcommands is None:
        runner = module.run if not hasattr(module, "runner_for") else module.runner_for(first)
        return runner, module.FLAGS if not hasattr(module, "flags_for") else module.flags_for(first), f"kubectl {first}"
    if len(names) < 2 or names[1] not in subcommands:
        extra = " ".join(names[1:])
        if not extra:
            raise GoError(f"meshrepro: `kubectl {first}` without a subcommand prints help; "
                          f"known subcommands: {', '.join(sorted(subcommands))}")
        raise UsageError(f'unknown command "{extra}"\nSee \'kubectl {first} -h\' for help and examples')
    runner, flags = subcommands[names[1]]
    return runner, flags, f"kubectl {first} {names[1]}"


def _find_command(argv: list[str]) -> tuple[list[str], list[str]]:
    """cobra's Find: the command path from the non-flag words, skipping global flags' values."""
    takes_value = {f"--{f.name}" for f in GLOBAL_FLAGS if f.kind != "bool"} | {
        f"-{f.shorthand}" for f in GLOBAL_FLAGS if f.shorthand and f.kind != "bool"}
    names: list[str] = []

    def descend(word: str) -> bool:
        if len(names) < _depth(names):
            names.append(word)
            return True
        return False

    return find_command(argv, takes_value, descend)


def _depth(names: list[str]) -> int:
    """How many words name the command: one, or two for command groups."""
    if not names:
        return 1
    module = COMMANDS.get(names[0])
    return 2 if module is not None and hasattr(module, "SUBCOMMANDS") else 1
