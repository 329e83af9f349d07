"""The interpreter against the simulated machine: time, files, volumes, users, the host terminal."""

from __future__ import annotations

from conftest import FakeHost, make_host, run_program

from meshrepro.runtime.fs import DirMeta, FileSystem
from meshrepro.runtime.process import Process, Transcript
from meshrepro.runtime.shell import ash, bash, dash, run_script


def test_sleep_takes_simulated_time_in_sequences_and_pipelines(host: FakeHost) -> None:
    result = run_program(host, dash, ["sh", "-c", "sleep 5; echo a; sleep 1.5 | cat; sleep 1m & wait; echo b"])
    assert result.output == "a\nb\n"
    assert result.elapsed == 66.5


def test_output_is_stamped_with_the_time_it_was_written(host: FakeHost) -> None:
    transcript = Transcript(host.clock)
    proc = Process(host, ["sh", "-c", "echo start; sleep 30; echo done"], {"PATH": "/usr/bin"},
                   transcript.stream("stdout"), transcript.stream("stderr"))
    host.clock.process(dash(proc))
    host.clock.env.run()
    assert [(c.time, c.text) for c in transcript.chunks] == [(0.0, "start\n"), (30.0, "done\n")]


def test_until_loop_polls_a_file_written_later(host: FakeHost) -> None:
    def writer() -> object:
        yield host.clock.timeout(12)
        host.fs.write("/tmp/ready", "ok\n")

    host.fs.mkdir("/tmp")
    host.clock.process(writer())
    result = run_program(host, dash, ["sh", "-c", "until [ -f /tmp/ready ]; do echo waiting; sleep 5; done; cat /tmp/ready"])
    assert result.output == "waiting\nwaiting\nwaiting\nok\n"
    assert result.elapsed == 15


def test_read_only_volume_and_permissions_in_redirections() -> None:
    host = make_host(files={"/etc/passwd": "root:x:0:0::/root:/bin/sh\n"})
    host.fs.mount("/var/run/secrets/kubernetes.io/serviceaccount", {"token": "abc"}, read_only=True)
    script = "echo x > /var/run/secrets/kubernetes.io/serviceaccount/token; echo x > /etc/motd; cat /var/run/secrets/kubernetes.io/serviceaccount/token"
    result = run_program(host, dash, ["sh", "-c", script], uid=1001)
    assert result.output == (
        "sh: 1: cannot create /var/run/secrets/kubernetes.io/serviceaccount/token: Read-only file system\n"
        "sh: 1: cannot create /etc/motd: Permission denied\n"
        "abc"
    )


def test_redirections_write_and_append_files_relative_to_cwd() -> None:
    host = make_host()
    host.fs.mkdir("/work")
    host.fs.chown("/work", 1000, 1000)
    script = "cd /work && echo one > f && echo two >> f && cat < f && ls"
    result = run_program(host, bash, ["bash", "-c", script], uid=1000, gid=1000)
    assert result.output == "one\ntwo\nf\n"
    assert host.fs.read("/work/f") == "one\ntwo\n"


def test_script_file_and_script_on_stdin() -> None:
    host = make_host("busybox", files={"/scripts/run.sh": "echo in file $1\nnope\n"})
    from_file = run_program(host, ash, ["sh", "/scripts/run.sh", "arg"])
    assert from_file.output == "in file arg\n/scripts/run.sh: line 2: nope: not found\n"
    assert from_file.status == 127
    from_stdin = run_program(host, dash, ["sh"], stdin="echo from stdin\nexit 3\n")
    assert (from_stdin.output, from_stdin.status) == ("from stdin\n", 3)
    missing = run_program(host, dash, ["sh", "/nope.sh"])
    assert (missing.output, missing.status) == ("sh: 0: cannot open /nope.sh: No such file\n", 2)


def test_errexit_from_the_command_line_stops_at_the_first_failure(host: FakeHost) -> None:
    result = run_program(host, dash, ["sh", "-e", "-c", "echo a; false; echo b"])
    assert (result.output, result.status) == ("a\n", 1)


def test_dash_rejects_pipefail_bash_honours_it(host: FakeHost) -> None:
    script = "set -o pipefail; false | true; echo $?"
    assert run_program(host, dash, ["sh", "-c", script]).output == "sh: 1: set: Illegal option -o pipefail\n"
    assert run_program(host, bash, ["bash", "-c", script]).output == "1\n"


def test_exec_runs_the_program_and_ends_the_shell(host: FakeHost) -> None:
    result = run_program(host, dash, ["sh", "-c", "exec sleep 10; echo never"])
    assert (result.output, result.status, result.elapsed) == ("", 0, 10)


def test_environment_reaches_programs_in_order_with_prefix_assignments(host: FakeHost) -> None:
    result = run_program(host, dash, ["sh", "-c", "export B=2; A=1 env; LOCAL=x; env"], env={"PATH": "/usr/bin", "Z": "0"})
    assert result.output == "PATH=/usr/bin\nZ=0\nB=2\nA=1\nPATH=/usr/bin\nZ=0\nB=2\n"


def test_host_terminal_is_interactive_bash_and_keeps_exports_between_steps() -> None:
    host = make_host(files={"/home/user/kind.yaml": "kind: Cluster\n"})
    transcript = Transcript(host.clock)
    proc = Process(host, ["bash"], {"PATH": "/usr/bin", "HOME": "/home/user"}, transcript.stream("stdout"),
                   transcript.stream("stderr"), cwd="/home/user")
    steps = ["export KUBECONFIG=~/.kube/config\ncd /tmp || echo no tmp", "kubectl get pods", "echo $KUBECONFIG\ncat kind.yaml"]
    statuses = []
    for step in steps:
        done = host.clock.process(run_script(proc, step, "bash"))
        host.clock.env.run()
        statuses.append(done.value)
    assert transcript.text() == (
        "bash: cd: /tmp: No such file or directory\nno tmp\n"
        "bash: kubectl: command not found\n"
        "/home/user/.kube/config\nkind: Cluster\n"
    )
    assert statuses == [0, 127, 0]
    assert proc.env["KUBECONFIG"] == "/home/user/.kube/config"


def test_host_terminal_here_document_step() -> None:
    host = make_host()
    host.fs = FileSystem(dirs={"/tmp": DirMeta()})
    transcript = Transcript(host.clock)
    proc = Process(host, ["bash"], {"PATH": "/usr/bin"}, transcript.stream("stdout"), transcript.stream("stderr"))
    step = "cat <<EOF > /tmp/kind.yaml\nkind: Cluster\nname: $NAME\nEOF\ncat /tmp/kind.yaml"
    proc.env["NAME"] = "demo"
    host.clock.process(run_script(proc, step, "bash"))
    host.clock.env.run()
    assert transcript.text() == "kind: Cluster\nname: demo\n"


def test_syntax_error_in_terminal_step_uses_interactive_form(host: FakeHost) -> None:
    transcript = Transcript(host.clock)
    proc = Process(host, ["bash"], {}, transcript.stream("stdout"), transcript.stream("stderr"))
    done = host.clock.process(run_script(proc, "if true; then echo", "bash"))
    host.clock.env.run()
    assert (transcript.text(), done.value) == ("bash: syntax error: unexpected end of file\n", 2)
