"""klog lines as kubectl writes them to stderr.

Header [klog v2 internal/buffer/buffer.go FormatHeader]: severity letter, MMDD, space,
hh:mm:ss.uuuuuu, space, the PID right-aligned in 7 columns, space, file:line, `] `.
"""

from __future__ import annotations

from meshrepro.runtime.process import Process

from .errors import go_quote
from .versions import KubectlVersion

# Where client-go logs the failed discovery refresh [CG 1.27.0-1.31.0
# discovery/cached/memory/memcache.go line 265, `utilruntime.HandleError(fmt.Errorf(...))`].
MEMCACHE_LOCATION = "memcache.go:265"
# rest.InClusterConfig's CA warning [CG 1.27.0-1.31.0 rest/config.go line 529].
REST_CONFIG_LOCATION = "config.go:529"


def header(proc: Process, severity: str, location: str) -> str:
    moment = proc.clock.wall()
    return (f"{severity}{moment:%m%d} {moment:%H:%M:%S}.{moment.microsecond:06d} "
            f"{proc.pid:>7} {location}] ")


def error(proc: Process, location: str, message: str) -> None:
    """klog.Errorf: one `E` line."""
    proc.stderr.write(header(proc, "E", location) + message + "\n")


def handle_error(proc: Process, version: KubectlVersion, location: str, message: str) -> None:
    """utilruntime.HandleError of an error whose text is `message`, in this release's format."""
    if version.handle_error_format == "structured":
        error(proc, location, f"{go_quote('Unhandled Error')} err={go_quote(message)}")
    else:
        error(proc, location, message)
