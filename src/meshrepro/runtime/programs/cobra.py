"""What kubectl and istioctl share from spf13/cobra: finding the command path in argv, and the "Did you mean
this?" suggestions."""

from __future__ import annotations

from collections.abc import Callable


def find_command(argv: list[str], takes_value: set[str], descend: Callable[[str], bool]
                 ) -> tuple[list[str], list[str]]:
    """cobra's Find: the words naming the command, and the rest (flags, their values, arguments).

    `takes_value` are the flags whose value is the next word; `descend(word)` says whether a word names the next
    subcommand. Once a word does not, no later word names one. `--` ends the scan."""
    names: list[str] = []
    rest: list[str] = []
    descending = True
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg == "--":
            rest.extend(argv[index:])
            break
        if arg.startswith("-"):
            rest.append(arg)
            if arg in takes_value and index + 1 < len(argv):
                rest.append(argv[index + 1])
                index += 1
        elif descending and descend(arg):
            names.append(arg)
        else:
            descending = False
            rest.append(arg)
        index += 1
    return names, rest


def suggestions(typed: str, known: list[str]) -> str:
    """cobra's SuggestionsFor: Levenshtein distance <= 2 or a prefix match."""
    found = [name for name in sorted(known)
             if _levenshtein(typed.lower(), name.lower()) <= 2 or name.lower().startswith(typed.lower())]
    if not found:
        return ""
    return "\n\nDid you mean this?\n" + "".join(f"\t{name}\n" for name in found)


def _levenshtein(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]
