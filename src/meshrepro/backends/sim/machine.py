"""The user's machine: a terminal whose programs (kind, kubectl, sleep ...) drive simulated clusters."""

from __future__ import annotations

import os
from collections.abc import Generator, Mapping
from typing import Any

import simpy

from meshrepro.backends.sim.kind import kind_program
from meshrepro.istio import images as istio_images
from meshrepro.istio.istioctl import make_istioctl
from meshrepro.istio.mesh import Mesh
from meshrepro.istio.versions import IstioVersion
from meshrepro.kube.cluster import Cluster, ClusterSpec
from meshrepro.kube.versions import KubeVersion
from meshrepro.net.addressing import KIND_NETWORK, Pool
from meshrepro.net.stack import Network, ResolverConfig
from meshrepro.runtime.catalogue import catalogue
from meshrepro.runtime.container import ContainerHost
from meshrepro.runtime.fs import FileSystem
from meshrepro.runtime.images import install
from meshrepro.runtime.process import Process, Program, Transcript
from meshrepro.runtime.programs import coreutils
from meshrepro.runtime.programs.curl import make_curl
from meshrepro.runtime.programs.kubectl import make_kubectl
from meshrepro.runtime.shell import bash, dash, run_script
from meshrepro.sim.clock import Clock
from meshrepro.sim.trace import Trace

HOME = "/root"
WORKDIR = "/root/scenario"  # the scenario's folder, where relative paths in steps resolve
HOST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
MAX_FILE_BYTES = 2_000_000
EMPTY_KUBECONFIG = ('apiVersion: v1\nclusters: null\ncontexts: null\ncurrent-context: ""\nkind: Config\n'
                    "preferences: {}\nusers: null\n")
# What the terminal has besides the shell's builtins (preflight checks steps against this list).
HOST_PROGRAMS = frozenset({"kind", "kubectl", "bash", "sh", "curl", *coreutils.GNU})
HOST_CURL = "8.5.0"  # the user's distribution curl (Ubuntu 24.04 and Fedora 39 shipped 8.5.0 in early 2024)


class Machine:
    def __init__(self, clock: Clock, trace: Trace, kube_version: KubeVersion, kubectl_version: str,
                 scenario_dir: str | None = None, istio_version: IstioVersion | None = None,
                 file_overrides: Mapping[str, str] | None = None) -> None:
        self.clock = clock
        self.trace = trace
        self.kube_version = kube_version
        self.network = Network(clock)
        self.catalogue = catalogue()
        self.clusters: dict[str, Cluster] = {}
        # Istio's binaries run as mesh components in whichever cluster their container's node belongs to.
        self.mesh = Mesh(self.cluster_of_node)
        istio_images.register(self.catalogue, self.mesh.run)
        self.node_pool = Pool(KIND_NETWORK, first_offset=2)  # docker's `kind` network: .1 is the host
        # The host owns the docker bridge gateway of the `kind` network, so node traffic can reach it.
        self.host_ns = self.network.add_namespace("host", ["127.0.0.1", "172.18.0.1"], "host (your terminal)")
        self.host_ns.resolver = ResolverConfig(["127.0.0.53"], hosts={"localhost": "127.0.0.1"})
        self.fs = FileSystem()
        for directory in (HOME, f"{HOME}/.kube", "/tmp"):
            self.fs.mkdir(directory, parents=True)
        if scenario_dir is not None or file_overrides:
            # `file_overrides` (relative path -> text, e.g. a matrix factor's patched manifest) replace the folder's.
            tree = _read_tree(scenario_dir) if scenario_dir is not None else {}
            self.fs.mount(WORKDIR, {**tree, **(file_overrides or {})}, read_only=True)
        else:
            self.fs.mkdir(WORKDIR, parents=True)
        programs: dict[str, Program] = install(coreutils.GNU)
        programs.update(install({"bash": bash, "sh": dash, "curl": make_curl(HOST_CURL), "kind": kind_program(self),
                                 "kubectl": make_kubectl(kubectl_version)}, "/usr/local/bin"))
        if istio_version is not None:  # the scenario's `versions.istio` puts that istioctl on PATH
            programs.update(install({"istioctl": make_istioctl(istio_version, self.mesh.ztunnel_workloads)},
                                    "/usr/local/bin"))
        self.host = ContainerHost(clock, self.fs, self.host_ns.view(), "meshrepro", programs, first_pid=4000)
        self.cwd = WORKDIR
        self.env = {"HOME": HOME, "PATH": HOST_PATH, "USER": "root", "SHELL": "/bin/bash", "TERM": "xterm-256color",
                    "LANG": "C.UTF-8"}

    # -- clusters ------------------------------------------------------------------------

    def create_cluster(self, spec: ClusterSpec) -> Cluster:
        cluster = Cluster(spec, self.clock, self.trace, self.network, self.catalogue, self.host_ns,
                          node_pool=self.node_pool)
        self.clusters[spec.name] = cluster
        cluster.start()
        self.mesh.attach(cluster)
        return cluster

    def cluster_of_node(self, node: str) -> Cluster | None:
        return next((c for c in self.clusters.values() if node in c.node_names), None)

    def delete_cluster(self, name: str) -> None:
        cluster = self.clusters.pop(name)
        cluster.stop()
        self.mesh.detach(cluster)
        for ip in cluster.node_ips:
            self.node_pool.release(ip)
        # kind removes the cluster's entries from the kubeconfig; this one holds only the current cluster.
        config = f"{HOME}/.kube/config"
        if self.fs.exists(config) and f"kind-{name}" in self.fs.read(config):
            self.fs.write(config, EMPTY_KUBECONFIG)

    def write_kubeconfig(self, cluster: Cluster) -> None:
        """kind merges its context into ~/.kube/config and makes it current; one cluster's file is enough here."""
        self.fs.write(f"{HOME}/.kube/config", cluster.admin_kubeconfig())

    # -- the terminal --------------------------------------------------------------------

    def run_step(self, command: str, transcript: Transcript) -> Generator[simpy.Event, Any, int]:
        proc = Process(host=self.host, argv=["bash"], env=dict(self.env), stdout=transcript.stream("stdout"),
                       stderr=transcript.stream("stderr"), cwd=self.cwd, pid=self.host.next_pid())
        code = yield from run_script(proc, command, "bash")
        # One terminal session: `export` and `cd` carry over to the next step.
        self.env, self.cwd = dict(proc.env), proc.cwd
        return code


def _read_tree(root: str) -> dict[str, str]:
    """The scenario folder's text files, by path relative to it (hidden entries skipped)."""
    files: dict[str, str] = {}
    for directory, subdirs, names in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        for name in sorted(names):
            if name.startswith("."):
                continue
            path = os.path.join(directory, name)
            if os.path.getsize(path) > MAX_FILE_BYTES:
                continue
            try:
                with open(path, encoding="utf-8") as handle:
                    files[os.path.relpath(path, root)] = handle.read()
            except (UnicodeDecodeError, OSError):
                continue
    return files
