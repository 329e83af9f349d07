"""The images meshrepro knows, with what the `latest` tag carried in early 2024 (the seed's period)."""

from __future__ import annotations

from meshrepro.runtime.images import (
    BUSYBOX_PATH,
    DEBIAN_PATH,
    GROUP_DEBIAN,
    PASSWD_DEBIAN,
    Catalogue,
    Image,
    ImageFactory,
    install,
)
from meshrepro.runtime.process import Process, Program, ProgramRun
from meshrepro.runtime.programs import coreutils
from meshrepro.runtime.programs.curl import make_curl
from meshrepro.runtime.programs.daemon import coredns, daemon
from meshrepro.runtime.programs.kubectl import make_kubectl
from meshrepro.runtime.programs.nc import make_nc_busybox
from meshrepro.runtime.programs.netfmt import Libc
from meshrepro.runtime.programs.nginx import docker_entrypoint, nginx
from meshrepro.runtime.programs.nslookup import nslookup
from meshrepro.runtime.programs.wget import make_wget
from meshrepro.runtime.shell import ash, bash, dash

DEBIAN_CURL = "7.88.1"  # Debian bookworm's curl, in the nginx image
CURLIMAGES_CURL = "8.5.0"  # curlimages/curl:latest in January 2024
ETC_SERVICES = "domain\t\t53/tcp\ndomain\t\t53/udp\nhttp\t\t80/tcp\t\twww\nhttps\t\t443/tcp\n"
KUBECTL_LATEST = "1.29"  # bitnami/kubectl:latest in January 2024: a 1.29 kubectl


def debian_base() -> dict[str, Program]:
    programs = install(coreutils.GNU)
    programs.update(install({"sh": dash, "dash": dash, "bash": bash}))
    return programs


def _busybox_base(libc: Libc) -> dict[str, Program]:
    """busybox applets: coreutils, the shell, and its network tools (built against glibc or musl)."""
    programs = install(coreutils.BUSYBOX)
    programs.update(install({"sh": ash, "ash": ash, "wget": make_wget(libc), "nslookup": nslookup,
                             "nc": make_nc_busybox(libc)}))
    return programs


def _kubectl_version(tag: str) -> str:
    """bitnami/kubectl tags: `latest`, `1.29`, `1.29.2`, `1.29.2-debian-12-r3`."""
    base = tag.split("-", 1)[0]
    parts = base.split(".")
    if len(parts) >= 2 and all(p.isdigit() for p in parts[:2]):
        return f"{parts[0]}.{parts[1]}"  # behaviour follows the minor release
    return KUBECTL_LATEST


def bitnami_kubectl(tag: str) -> Image:
    version = _kubectl_version(tag)
    programs = debian_base()
    programs["/opt/bitnami/kubectl/bin/kubectl"] = make_kubectl(version)
    return Image("bitnami/kubectl", programs, entrypoint=("kubectl",), cmd=("--help",), user=(1001, 0),
                 env={"PATH": "/opt/bitnami/kubectl/bin:" + DEBIAN_PATH, "HOME": "/", "OS_ARCH": "amd64",
                      "OS_FLAVOUR": "debian-12", "OS_NAME": "linux", "APP_VERSION": version,
                      "BITNAMI_APP_NAME": "kubectl"},
                 files={"/etc/passwd": PASSWD_DEBIAN, "/etc/group": GROUP_DEBIAN},
                 writable_dirs=(("/.kube", 0, 0, 0o775),), size_bytes=77_000_000, version=version)


def nginx_image(tag: str) -> Image:
    programs = debian_base()
    programs.update(install({"curl": make_curl(DEBIAN_CURL)}))  # the official image installs curl
    programs["/docker-entrypoint.sh"] = docker_entrypoint
    programs["/usr/sbin/nginx"] = nginx
    return Image("nginx", programs, entrypoint=("/docker-entrypoint.sh",), cmd=("nginx", "-g", "daemon off;"),
                 env={"PATH": DEBIAN_PATH, "NGINX_VERSION": "1.25.3", "NJS_VERSION": "0.8.2", "PKG_RELEASE": "1~bookworm"},
                 files={"/etc/passwd": PASSWD_DEBIAN + "nginx:x:101:101:nginx user:/nonexistent:/bin/false\n",
                        "/etc/group": GROUP_DEBIAN + "nginx:x:101:\n",
                        "/usr/share/nginx/html/index.html": "", "/etc/nginx/nginx.conf": "",
                        "/etc/services": ETC_SERVICES},
                 size_bytes=70_500_000, version="1.25.3")


def busybox(tag: str) -> Image:
    return Image("busybox", _busybox_base("glibc"), cmd=("sh",), env={"PATH": BUSYBOX_PATH},
                 files={"/etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n",
                        "/etc/group": "root:x:0:\nnogroup:x:65534:\n"}, size_bytes=2_150_000, version="1.36.1")


def alpine(tag: str) -> Image:
    return Image("alpine", _busybox_base("musl"), cmd=("/bin/sh",), env={"PATH": BUSYBOX_PATH},
                 files={"/etc/passwd": "root:x:0:0:root:/root:/bin/ash\n", "/etc/group": "root:x:0:root\n",
                        "/etc/alpine-release": "3.19.0\n"}, size_bytes=3_400_000, version="3.19.0")


def curl_image(tag: str) -> Image:
    """curlimages/curl: alpine with curl, running as curl_user; its entrypoint execs curl with the arguments."""
    programs = _busybox_base("musl")
    curl = make_curl(CURLIMAGES_CURL)
    programs.update(install({"curl": curl}))
    programs["/entrypoint.sh"] = _curl_entrypoint
    return Image("curlimages/curl", programs, entrypoint=("/entrypoint.sh",), cmd=("curl",), user=(100, 101),
                 env={"PATH": BUSYBOX_PATH, "CURL_CA_BUNDLE": "/cacert.pem", "HOME": "/home/curl_user"},
                 files={"/etc/passwd": "root:x:0:0:root:/root:/bin/ash\ncurl_user:x:100:101:Linux User,,,:"
                                       "/home/curl_user:/bin/sh\n",
                        "/etc/group": "root:x:0:root\ncurl_group:x:101:curl_user\n", "/cacert.pem": "",
                        "/etc/services": ETC_SERVICES},
                 writable_dirs=(("/home/curl_user", 100, 101, 0o755),), size_bytes=12_000_000, version=CURLIMAGES_CURL)


def _curl_entrypoint(proc: Process) -> ProgramRun:
    """curlimages/curl's entrypoint.sh: `curl ARGS` unless the first argument is already `curl`."""
    args = proc.argv[1:]
    if not args or args[0].startswith("-"):
        args = ["curl", *args]
    program = proc.host.find_program(args[0], proc.env.get("PATH", ""))
    if program is None:
        proc.stderr.write(f"/entrypoint.sh: exec: line 10: {args[0]}: not found\n")
        return 127
    return (yield from program(proc.child(args)))


def catalogue() -> Catalogue:
    images = Catalogue()
    images.add("curlimages/curl", curl_image)
    images.add("bitnami/kubectl", bitnami_kubectl)
    images.add("nginx", nginx_image)
    images.add("busybox", busybox)
    images.add("alpine", alpine)
    for name, binary, line, size in (
        ("registry.k8s.io/etcd", "etcd", "", 57_000_000),
        ("registry.k8s.io/kube-apiserver", "kube-apiserver",
         "options.go:222] external host was not specified, using 172.18.0.2", 32_000_000),
        ("registry.k8s.io/kube-controller-manager", "kube-controller-manager",
         "serving.go:380] Generated self-signed cert in-memory", 31_000_000),
        ("registry.k8s.io/kube-scheduler", "kube-scheduler", "serving.go:380] Generated self-signed cert in-memory",
         18_000_000),
        ("registry.k8s.io/kube-proxy", "kube-proxy", 'server_others.go:72] "Using iptables proxy"', 28_000_000),
        ("kindest/kindnetd", "kindnetd", "", 27_000_000),
        ("kindest/local-path-provisioner", "local-path-provisioner", "", 19_000_000),
    ):
        images.add(name, _system_image(name, binary, line, size))
    images.add("registry.k8s.io/coredns/coredns", lambda tag: Image(
        "registry.k8s.io/coredns/coredns", {"/coredns": coredns(tag)}, entrypoint=("/coredns",),
        env={"PATH": DEBIAN_PATH}, user=(65532, 65532), size_bytes=18_000_000, version=tag))
    return images


def _system_image(name: str, binary: str, line: str, size: int) -> ImageFactory:
    def build(tag: str) -> Image:
        program = daemon(line)
        return Image(name, {f"/usr/local/bin/{binary}": program, f"/bin/{binary}": program},
                     entrypoint=(binary,), env={"PATH": DEBIAN_PATH}, size_bytes=size, version=tag)
    return build
