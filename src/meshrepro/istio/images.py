"""Istio's container images in the catalogue. The binaries inside (pilot-discovery, install-cni, ztunnel)
are the mesh components of `istio.mesh`; an image's tag says which Istio release it runs."""

from __future__ import annotations

from collections.abc import Callable

from meshrepro.istio.versions import IstioVersion, parse_version
from meshrepro.runtime.catalogue import debian_base
from meshrepro.runtime.images import DEBIAN_PATH, Catalogue, Image
from meshrepro.runtime.process import Process, Program, ProgramRun

HUB = "docker.io/istio"
# image name -> (binary path, the component name the mesh serves it with)
IMAGES = {
    "istio/pilot": ("/usr/local/bin/pilot-discovery", "pilot-discovery"),
    "istio/install-cni": ("/usr/local/bin/install-cni", "install-cni"),
    "istio/ztunnel": ("/usr/local/bin/ztunnel", "ztunnel"),
    "istio/proxyv2": ("/usr/local/bin/pilot-agent", "pilot-agent"),
}
# other binaries an image carries: image name -> (path, component)
EXTRA_BINARIES = {"istio/proxyv2": (("/usr/sbin/iptables-save", "iptables-save"),)}
# component name -> the program body, given the release and the process (the mesh fills this in)
ComponentRunner = Callable[[str, IstioVersion, Process], ProgramRun]


def image_version(tag: str) -> IstioVersion:
    """`1.22.3` and `1.22.3-distroless` both run release 1.22.3."""
    return parse_version(tag.removesuffix("-distroless").removesuffix("-debug"))


def register(catalogue: Catalogue, run: ComponentRunner) -> None:
    """Add the Istio images; each binary hands its process to `run` with the image's release."""
    for name, (path, component) in IMAGES.items():
        catalogue.add(name, _factory(name, path, component, run))


def _factory(name: str, path: str, component: str, run: ComponentRunner) -> Callable[[str], Image]:
    def build(tag: str) -> Image:
        version = image_version(tag)

        def program(proc: Process) -> ProgramRun:
            return (yield from run(component, version, proc))

        user = (1337, 1337) if component in ("pilot-discovery", "pilot-agent") else (0, 0)
        # proxyv2 is Ubuntu-based (a shell and coreutils); the distroless variants and the others carry no shell
        programs = debian_base() if name == "istio/proxyv2" and not tag.endswith("-distroless") else {}
        programs.update({path: program, **{extra: _binary(extra_component, version, run)
                                           for extra, extra_component in EXTRA_BINARIES.get(name, ())}})
        return Image(name, programs, entrypoint=(path,), env={"PATH": DEBIAN_PATH}, user=user,
                     size_bytes=80_000_000, version=tag)
    return build


def _binary(component: str, version: IstioVersion, run: ComponentRunner) -> Program:
    def program(proc: Process) -> ProgramRun:
        return (yield from run(component, version, proc))
    return program
