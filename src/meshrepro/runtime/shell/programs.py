"""The shells as programs (`sh -c ...`) and the host terminal's session runner."""

from __future__ import annotations

from meshrepro.runtime.fs import FsError
from meshrepro.runtime.process import Process, Program, ProgramRun
from meshrepro.runtime.shell.dialects import ASH, BASH, DASH, DIALECTS, Dialect, Speaker
from meshrepro.runtime.shell.interpreter import Input, Shell

OPTION_LETTERS = {"e": "errexit", "x": "xtrace", "u": "nounset"}


def _shell_program(dialect: Dialect) -> Program:
    def program(proc: Process) -> ProgramRun:
        args = proc.argv[1:]
        options: set[str] = set()
        command = False
        while args and args[0][:1] in ("-", "+") and len(args[0]) > 1 and args[0] != "--":
            flag = args.pop(0)
            if flag in ("-o", "+o") and args:
                options.add(args.pop(0))
                continue
            command = command or "c" in flag
            options.update(OPTION_LETTERS[c] for c in flag[1:] if c in OPTION_LETTERS)
        if args and args[0] == "--":
            args.pop(0)
        name = proc.argv[0] if proc.argv else dialect.name
        if command:
            script = args[0] if args else ""
            speaker = Speaker(dialect, args[1] if len(args) > 1 else name, "c", len(args) > 1, name)
            shell = Shell(proc, speaker, args[2:])
        elif args:
            try:
                script = proc.host.fs.read(args[0], proc.uid, proc.gid, cwd=proc.cwd)
            except FsError as err:
                return _cannot_open_script(proc, dialect, name, args[0], err)
            shell = Shell(proc, Speaker(dialect, args[0], "file", True, name), args[1:])
        else:
            script = proc.stdin
            shell = Shell(proc, Speaker(dialect, name, "stdin", False, name), [])
        if not command and args:
            shell.fds[0] = Input(proc.stdin)
        shell.options |= options
        return (yield from shell.run_text(script))

    program.__name__ = dialect.name
    return program


def _cannot_open_script(proc: Process, dialect: Dialect, name: str, path: str, err: FsError) -> int:
    if dialect.name == "bash":
        proc.stderr.write(f"{name}: {path}: {err.c_message}\n")
        return 127
    if dialect.name == "dash":
        reason = "No such file" if err.errno == "ENOENT" else err.c_message
        proc.stderr.write(f"{name}: 0: cannot open {path}: {reason}\n")
        return 2
    proc.stderr.write(f"{name}: can't open '{path}': {err.c_message}\n")
    return 2


dash = _shell_program(DASH)
bash = _shell_program(BASH)
ash = _shell_program(ASH)


def run_script(proc: Process, script: str, dialect: str = "bash") -> ProgramRun:
    """Run a terminal step as an interactive shell would (`bash: foo: command not found`).

    Exported variables and the working directory are written back to `proc`, so the next step run
    with the same Process sees `export X=...` and `cd` from this one.
    """
    shell = Shell(proc, Speaker(DIALECTS[dialect], dialect, "interactive", False, dialect))
    shell.fds[0] = Input(proc.stdin)
    status = yield from shell.run_text(script)
    proc.env.clear()
    proc.env.update(shell.child_env())
    proc.cwd = shell.cwd
    return status
