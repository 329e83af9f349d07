"""coreutils programs, GNU and busybox wording, on the fake host."""

from __future__ import annotations

import pytest
from conftest import make_host, run_program

from meshrepro.runtime.process import Process, Transcript
from meshrepro.runtime.programs.coreutils import BUSYBOX, GNU

PASSWD = "root:x:0:0:root:/root:/bin/sh\nnginx:x:101:101::/nonexistent:/bin/false\n"
GROUP = "root:x:0:\nnginx:x:101:\n"


def run(flavour: str, argv: list[str], **kwargs: object):  # type: ignore[no-untyped-def]
    host = make_host(flavour, {"/etc/passwd": PASSWD, "/etc/group": GROUP, "/srv/a.txt": "one\ntwo\nthree\n"})
    table = GNU if flavour == "gnu" else BUSYBOX
    return run_program(host, table[argv[0]], argv, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("arg", "seconds"), [("15", 15), ("1.5", 1.5), ("2m", 120), ("1h", 3600), (".5s", 0.5)])
def test_sleep_durations(arg: str, seconds: float) -> None:
    result = run("gnu", ["sleep", arg])
    assert (result.status, result.elapsed) == (0, seconds)


def test_sleep_infinity_never_returns() -> None:
    host = make_host()
    transcript = Transcript(host.clock)
    proc = Process(host, ["sleep", "infinity"], {}, transcript.stream("stdout"), transcript.stream("stderr"))
    done = host.clock.process(GNU["sleep"](proc))
    host.clock.run_until(1e6)
    assert not done.triggered


@pytest.mark.parametrize(
    ("flavour", "stderr"),
    [
        ("gnu", "sleep: invalid time interval 'x'\nTry 'sleep --help' for more information.\n"),
        ("busybox", "sleep: invalid number 'x'\n"),
    ],
)
def test_sleep_invalid(flavour: str, stderr: str) -> None:
    result = run(flavour, ["sleep", "x"])
    assert (result.stderr, result.status) == (stderr, 1)


@pytest.mark.parametrize(
    ("flavour", "stderr", "status"),
    [("gnu", "ls: cannot access '/x': No such file or directory\n", 2),
     ("busybox", "ls: /x: No such file or directory\n", 1)],
)
def test_ls_missing(flavour: str, stderr: str, status: int) -> None:
    result = run(flavour, ["ls", "/x"])
    assert (result.stderr, result.status) == (stderr, status)


def test_ls_lists_one_name_per_line_sorted_with_a() -> None:
    assert run("gnu", ["ls", "/etc"]).stdout == "group\npasswd\n"
    assert run("gnu", ["ls", "-a", "/srv"]).stdout == ".\n..\na.txt\n"
    assert run("gnu", ["ls", "-l", "/srv"]).stdout == "total 0\n-rw-r--r-- 1 root root 14 Jan 18 09:57 a.txt\n"


@pytest.mark.parametrize(
    ("flavour", "stderr"),
    [("gnu", "cat: /x: No such file or directory\n"), ("busybox", "cat: can't open '/x': No such file or directory\n")],
)
def test_cat(flavour: str, stderr: str) -> None:
    ok = run(flavour, ["cat", "/srv/a.txt", "-"], stdin="in\n")
    assert ok.stdout == "one\ntwo\nthree\nin\n"
    bad = run(flavour, ["cat", "/x"])
    assert (bad.stderr, bad.status) == (stderr, 1)


def test_id_and_whoami_use_passwd_and_group() -> None:
    assert run("gnu", ["id"], uid=1001, gid=0).stdout == "uid=1001 gid=0(root) groups=0(root)\n"
    assert run("gnu", ["id"], uid=101, gid=101).stdout == "uid=101(nginx) gid=101(nginx) groups=101(nginx)\n"
    assert run("gnu", ["id", "-u"], uid=101).stdout == "101\n"
    assert run("gnu", ["id", "-un"], uid=101).stdout == "nginx\n"
    assert run("gnu", ["whoami"], uid=101).stdout == "nginx\n"
    assert run("gnu", ["whoami"], uid=7).stderr == "whoami: cannot find name for user ID 7\n"


def test_env_prints_in_environment_order_and_runs_commands() -> None:
    assert run("gnu", ["env"], env={"Z": "1", "A": "2"}).stdout == "Z=1\nA=2\n"
    assert run("gnu", ["env", "B=3", "env"], env={"PATH": "/bin"}).stdout == "PATH=/bin\nB=3\n"


def test_date_uses_simulated_wall_clock() -> None:
    assert run("gnu", ["date"]).stdout == "Thu Jan 18 09:57:00 UTC 2024\n"
    assert run("busybox", ["date", "+%Y-%m-%dT%H:%M:%SZ"]).stdout == "2024-01-18T09:57:00Z\n"


def test_text_tools() -> None:
    assert run("gnu", ["head", "-n", "2", "/srv/a.txt"]).stdout == "one\ntwo\n"
    assert run("gnu", ["tail", "-1", "/srv/a.txt"]).stdout == "three\n"
    assert run("gnu", ["wc", "-l"], stdin="a\nb\n").stdout == "2\n"
    assert run("gnu", ["wc", "-l", "/srv/a.txt"]).stdout == "3 /srv/a.txt\n"
    assert run("gnu", ["grep", "-i", "T\\(w\\|h\\)", "/srv/a.txt"]).stdout == "two\nthree\n"
    assert run("gnu", ["grep", "-v", "o", "/srv/a.txt"]).stdout == "three\n"
    assert run("gnu", ["grep", "-q", "nothing", "/srv/a.txt"]).status == 1
    assert run("gnu", ["grep", "x", "/nope"]).status == 2


def test_file_tools() -> None:
    host = make_host("gnu")
    assert run_program(host, GNU["mkdir"], ["mkdir", "-p", "/a/b"]).status == 0
    assert run_program(host, GNU["touch"], ["touch", "/a/b/f"]).status == 0
    assert host.fs.is_file("/a/b/f")
    rm_dir = run_program(host, GNU["rm"], ["rm", "/a"])
    assert rm_dir.stderr == "rm: cannot remove '/a': Is a directory\n"
    assert run_program(host, GNU["rm"], ["rm", "-rf", "/a", "/never"]).status == 0
    assert not host.fs.exists("/a")
    mkdir = run_program(host, BUSYBOX["mkdir"], ["mkdir", "/x/y"])
    assert mkdir.stderr == "mkdir: can't create directory '/x/y': No such file or directory\n"


def test_printf_echo_test_hostname_pwd() -> None:
    assert run("gnu", ["printf", "%s=%d\\n", "a", "1", "b", "2"]).stdout == "a=1\nb=2\n"
    assert run("gnu", ["echo", "-n", "x"]).stdout == "x"
    assert run("gnu", ["echo", "-e", "a\\tb"]).stdout == "a\tb\n"
    assert run("gnu", ["[", "-d", "/etc", "]"]).status == 0
    assert run("gnu", ["test", "1", "-gt", "2"]).status == 1
    assert run("gnu", ["[", "1", "-eq", "x", "]"]).stderr == "[: invalid integer 'x'\n"
    assert run("gnu", ["hostname"]).stdout == "test-pod\n"
    assert run("gnu", ["pwd"], cwd="/srv").stdout == "/srv\n"
