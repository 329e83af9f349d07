"""The container filesystem: image files, volumes read at access time, permissions, errors."""

from __future__ import annotations

import pytest

from meshrepro.runtime.fs import DirMeta, FileSystem, FsError, normalize

SA = "/var/run/secrets/kubernetes.io/serviceaccount"


def test_image_files_imply_their_directories() -> None:
    fs = FileSystem({"/etc/nginx/nginx.conf": "events {}\n", "/etc/passwd": "root:x:0:0\n"})
    assert fs.listdir("/") == ["etc"]
    assert fs.listdir("/etc") == ["nginx", "passwd"]
    assert fs.is_dir("/etc/nginx") and fs.is_file("/etc/nginx/nginx.conf")
    assert fs.read("nginx.conf", cwd="/etc/nginx") == "events {}\n"


@pytest.mark.parametrize(("path", "expected"), [("/a/./b//c/../d", "/a/b/d"), ("../..", "/"), ("x", "/w/x")])
def test_normalize(path: str, expected: str) -> None:
    assert normalize(path, "/w") == expected


def test_projected_volume_is_read_at_access_time_and_shadows_the_image() -> None:
    fs = FileSystem({f"{SA}/token": "from-image"})
    token = {"value": "t1"}
    fs.mount(SA, lambda: {"token": token["value"], "ca.crt": "CA", "..data/token": token["value"]})
    assert fs.read(f"{SA}/token") == "t1"
    token["value"] = "t2"
    assert fs.read(f"{SA}/../serviceaccount/token") == "t2"
    assert fs.listdir(SA) == ["..data", "ca.crt", "token"]
    assert fs.listdir("/var/run/secrets") == ["kubernetes.io"]


def test_read_only_volume_refuses_writes() -> None:
    fs = FileSystem()
    fs.mount("/config", {"app.yaml": "a: 1\n"}, read_only=True)
    with pytest.raises(FsError) as info:
        fs.write("/config/app.yaml", "b: 2\n")
    assert (info.value.errno, info.value.strerror, info.value.c_message) == (
        "EROFS", "read-only file system", "Read-only file system")
    with pytest.raises(FsError, match="read-only"):
        fs.mkdir("/config/sub")


def test_writable_volume_stores_into_its_mapping() -> None:
    fs = FileSystem()
    empty_dir: dict[str, str] = {}
    fs.mount("/cache", empty_dir, read_only=False)
    fs.mkdir("/cache/a/b", parents=True)
    fs.write("/cache/a/b/f", "x")
    fs.write("/cache/a/b/f", "y", append=True)
    assert empty_dir == {"a/b/f": "xy"}
    assert fs.listdir("/cache/a") == ["b"]
    fs.remove("/cache/a", recursive=True)
    assert empty_dir == {} and fs.listdir("/cache") == []
    with pytest.raises(FsError) as info:
        fs.remove("/cache")
    assert info.value.errno == "EBUSY"


def test_non_root_needs_write_permission_root_does_not() -> None:
    fs = FileSystem({"/etc/motd": "hi\n"}, {"/data": DirMeta(1000, 1000, 0o755), "/shared": DirMeta(0, 0, 0o777)})
    fs.write("/data/x", "1", uid=1000, gid=1000)
    fs.write("/shared/y", "2", uid=1001)
    fs.write("/etc/motd", "root may\n")
    for path, uid in (("/etc/motd", 1000), ("/etc/new", 1000), ("/data/x", 1001)):
        with pytest.raises(FsError) as info:
            fs.write(path, "no", uid=uid)
        assert info.value.errno == "EACCES"
    assert fs.meta("/data/x") == DirMeta(1000, 1000, 0o644)


@pytest.mark.parametrize(
    ("action", "errno"),
    [
        (lambda fs: fs.read("/nope"), "ENOENT"),
        (lambda fs: fs.read("/etc"), "EISDIR"),
        (lambda fs: fs.read("/etc/passwd/x"), "ENOTDIR"),
        (lambda fs: fs.write("/x/y", "z"), "ENOENT"),
        (lambda fs: fs.write("/etc", "z"), "EISDIR"),
        (lambda fs: fs.mkdir("/etc"), "EEXIST"),
        (lambda fs: fs.mkdir("/a/b"), "ENOENT"),
        (lambda fs: fs.remove("/etc"), "ENOTEMPTY"),
        (lambda fs: fs.listdir("/etc/passwd"), "ENOTDIR"),
    ],
)
def test_errors(action: object, errno: str) -> None:
    fs = FileSystem({"/etc/passwd": "root:x:0:0\n"})
    with pytest.raises(FsError) as info:
        action(fs)  # type: ignore[operator]
    assert info.value.errno == errno


def test_mkdir_parents_and_remove() -> None:
    fs = FileSystem()
    fs.mkdir("/a/b/c", parents=True, mode=0o700)
    fs.mkdir("/a/b/c", parents=True)
    assert fs.is_dir("/a/b/c") and fs.meta("/a/b/c").mode == 0o700
    fs.write("/a/b/c/f", "x")
    fs.remove("/a", recursive=True)
    assert not fs.exists("/a/b/c/f") and not fs.exists("/a")
