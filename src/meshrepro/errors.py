"""User-facing errors. Every message is one line that names the file, line or object at fault."""

from __future__ import annotations


class MeshreproError(Exception):
    """Base of every error meshrepro reports to a user (exit code 2 unless said otherwise)."""

    exit_code = 2


class InputError(MeshreproError):
    """Bad input: a file, a manifest, a scenario or a command line the user gave us."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(where + message)
        self.path = path
        self.line = line
