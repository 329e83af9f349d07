"""A POSIX shell for simulated containers and the user's terminal, in the dash, bash and busybox dialects.

Public API: `parse`, `ShellSyntaxError`, `run_script` (the host terminal), and the programs `dash`,
`bash`, `ash` (`sh -c 'script' [arg0 [args...]]`, `sh FILE`, `sh` with the script on stdin).
"""

from meshrepro.runtime.shell.lexer import ShellSyntaxError
from meshrepro.runtime.shell.nodes import Script
from meshrepro.runtime.shell.parser import parse
from meshrepro.runtime.shell.programs import ash, bash, dash, run_script

__all__ = ["Script", "ShellSyntaxError", "ash", "bash", "dash", "parse", "run_script"]
