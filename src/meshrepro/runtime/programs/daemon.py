"""Long-running system components whose behaviour lives elsewhere in the simulation (the API server is
`kube.apiserver`, kube-proxy's rules `kube.proxy`, CoreDNS's answers `kube.dns`): inside their
containers they only print a start-up line and run until stopped."""

from __future__ import annotations

from meshrepro.runtime.process import Process, Program, ProgramRun


def daemon(startup_line: str) -> Program:
    def run(proc: Process) -> ProgramRun:
        if startup_line:
            wall = proc.clock.wall()
            stamp = wall.strftime("%m%d %H:%M:%S.") + f"{wall.microsecond:06d}"
            proc.stderr.write(f"I{stamp}       1 {startup_line}\n")
        yield proc.clock.env.event()
        return 0
    return run


def coredns(version: str) -> Program:
    def run(proc: Process) -> ProgramRun:
        proc.stdout.write(f".:53\n[INFO] plugin/reload: Running configuration SHA512 = simulated\n"
                          f"CoreDNS-{version.lstrip('v')}\nlinux/amd64, go1.20.7, \n")
        yield proc.clock.env.event()
        return 0
    return run
