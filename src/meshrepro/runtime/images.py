"""The image catalogue: what each image holds (programs, user, environment, files) and how big it is.

An image not in the catalogue is bad input: meshrepro cannot know what it would do.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from meshrepro.runtime.process import Program

DEBIAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
BUSYBOX_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

PASSWD_DEBIAN = "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
GROUP_DEBIAN = "root:x:0:\nnogroup:x:65534:\n"


@dataclass(frozen=True)
class ImageRef:
    registry: str  # docker.io
    repository: str  # library/nginx
    tag: str  # latest

    @property
    def short(self) -> str:
        """The name as catalogue keys use it: `nginx`, `bitnami/kubectl`, `registry.k8s.io/pause`."""
        repo = self.repository.removeprefix("library/")
        return repo if self.registry == "docker.io" else f"{self.registry}/{repo}"


def parse_image(reference: str) -> ImageRef:
    """Docker's reference rules: a first component with a dot or colon (or `localhost`) is a registry."""
    name, digest = (reference.split("@", 1) + [""])[:2]
    tag = ""
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = name.rsplit(":", 1)
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, repository = first, rest
    else:
        registry, repository = "docker.io", name
    if registry == "docker.io" and "/" not in repository:
        repository = "library/" + repository
    return ImageRef(registry, repository, tag or ("" if digest else "latest"))


@dataclass(frozen=True)
class Image:
    name: str  # catalogue key (ImageRef.short)
    programs: Mapping[str, Program]  # absolute path -> program
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    user: tuple[int, int] = (0, 0)
    env: Mapping[str, str] = field(default_factory=dict)
    workdir: str = "/"
    files: Mapping[str, str] = field(default_factory=dict)
    writable_dirs: tuple[tuple[str, int, int, int], ...] = ()  # (path, uid, gid, mode)
    size_bytes: int = 50_000_000
    version: str = ""  # the software version the image's `latest` tag carried in the modelled period


ImageFactory = Callable[[str], Image]  # tag -> image


class Catalogue:
    """Images by name; each entry builds the image for a given tag."""

    def __init__(self) -> None:
        self._images: dict[str, ImageFactory] = {}
        self._built: dict[str, Image | None] = {}  # images are immutable: build each reference once

    def add(self, name: str, factory: ImageFactory) -> None:
        self._images[name] = factory

    def lookup(self, reference: str) -> Image | None:
        if reference not in self._built:
            ref = parse_image(reference)
            factory = self._images.get(ref.short)
            try:
                self._built[reference] = factory(ref.tag) if factory is not None else None
            except ValueError:  # a tag the image never had (e.g. istio/ztunnel:latest)
                self._built[reference] = None
        return self._built[reference]

    def names(self) -> list[str]:
        return sorted(self._images)


def install(programs: Mapping[str, Program], directory: str = "/usr/bin") -> dict[str, Program]:
    """Place programs by name under a directory (and /bin, as merged-/usr distributions do)."""
    placed: dict[str, Program] = {}
    for name, program in programs.items():
        placed[f"{directory}/{name}"] = program
        placed[f"/bin/{name}"] = program
    return placed
