"""The `kind` command on the user's terminal: create, delete and list simulated clusters."""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import simpy

from meshrepro.backends.sim.kind_config import KindConfigError, load
from meshrepro.runtime.fs import FsError
from meshrepro.runtime.process import Process

if TYPE_CHECKING:
    from meshrepro.backends.sim.machine import Machine

KIND_VERSION = "0.22.0"
SALUTATIONS = (
    "Have a nice day! 👋",
    "Thanks for using kind! 😊",
    "Not sure what to do next? 😅  Check out https://kind.sigs.k8s.io/docs/user/quick-start/",
    "Have a question, bug, or feature request? Let us know! https://kind.sigs.k8s.io/#community 🙂",
)
# Simulated seconds each stage of `kind create cluster` takes on a laptop with the node image cached.
STAGE_SECONDS = {"image": 0.5, "nodes": 4.0, "config": 1.0, "control-plane": 14.0, "cni": 1.0, "storage": 1.0,
                 "join": 12.0}


def kind_program(machine: Machine) -> Any:
    def kind(proc: Process) -> Generator[simpy.Event, Any, int]:
        args = proc.argv[1:]
        if args[:2] == ["create", "cluster"]:
            return (yield from _create(machine, proc, args[2:]))
        if args[:2] == ["delete", "cluster"]:
            return _delete(machine, proc, args[2:])
        if args[:2] == ["get", "clusters"]:
            names = sorted(machine.clusters)
            proc.stdout.write("".join(f"{n}\n" for n in names) if names else "")
            if not names:
                proc.stderr.write("No kind clusters found.\n")
            return 0
        if args[:1] == ["version"]:
            proc.stdout.write(f"kind v{KIND_VERSION} go1.21.7 linux/amd64\n")
            return 0
        proc.stderr.write(f'ERROR: unknown command "{" ".join(args[:2])}" for "kind"\n' if args else
                          "kind creates and manages local Kubernetes clusters using Docker container 'nodes'\n")
        return 1
    return kind


def _options(args: list[str]) -> dict[str, str]:
    options: dict[str, str] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("--") and "=" in arg:
            key, value = arg[2:].split("=", 1)
            options[key] = value
        elif arg.startswith("--") and i + 1 < len(args):
            options[arg[2:]] = args[i + 1]
            i += 1
        else:
            options[arg] = ""
        i += 1
    return options


def _create(machine: Machine, proc: Process, args: list[str]) -> Generator[simpy.Event, Any, int]:
    options = _options(args)
    config_text = ""
    if "config" in options:
        source = options["config"]
        if source == "-":
            config_text = proc.stdin
        else:
            try:
                config_text = proc.host.fs.read(source, cwd=proc.cwd)
            except FsError as err:
                proc.stderr.write(f"ERROR: failed to create cluster: error reading file: open {source}: "
                                  f"{err.strerror}\n")
                return 1
    try:
        spec = load(config_text, options.get("name", "kind"), machine.kube_version, options.get("image"))
    except KindConfigError as err:
        proc.stderr.write(f"{err}\n")
        return 1
    if "name" in options:
        spec = type(spec)(**{**spec.__dict__, "name": options["name"]})
    if spec.name in machine.clusters:
        proc.stderr.write(f'ERROR: failed to create cluster: node(s) already exist for a cluster with the name '
                          f'"{spec.name}"\n')
        return 1
    err = proc.stderr
    err.write(f'Creating cluster "{spec.name}" ...\n')
    image = f"kindest/node:{spec.git_version}"
    yield proc.sleep(STAGE_SECONDS["image"])
    err.write(f" ✓ Ensuring node image ({image}) 🖼\n")
    yield proc.sleep(STAGE_SECONDS["nodes"])
    err.write(f" ✓ Preparing nodes {'📦 ' * len(spec.nodes)}\n")
    yield proc.sleep(STAGE_SECONDS["config"])
    err.write(" ✓ Writing configuration 📜\n")
    cluster = machine.create_cluster(spec)
    yield proc.sleep(STAGE_SECONDS["control-plane"])
    err.write(" ✓ Starting control-plane 🕹️\n")
    yield proc.sleep(STAGE_SECONDS["cni"])
    err.write(" ✓ Installing CNI 🔌\n")
    yield proc.sleep(STAGE_SECONDS["storage"])
    err.write(" ✓ Installing StorageClass 💾\n")
    if any(n.role == "worker" for n in spec.nodes):
        yield proc.sleep(STAGE_SECONDS["join"])
        err.write(" ✓ Joining worker nodes 🚜\n")
    context = f"kind-{spec.name}"
    machine.write_kubeconfig(cluster)
    err.write(f'Set kubectl context to "{context}"\nYou can now use your cluster with:\n\n'
              f"kubectl cluster-info --context {context}\n\n{machine.clock.rng.choice(SALUTATIONS)}\n")
    return 0


def _delete(machine: Machine, proc: Process, args: list[str]) -> int:
    name = _options(args).get("name", "kind")
    proc.stderr.write(f'Deleting cluster "{name}" ...\n')
    cluster = machine.clusters.get(name)
    if cluster is not None:
        quoted = " ".join(f'"{n}"' for n in cluster.node_names)
        proc.stderr.write(f"Deleted nodes: [{quoted}]\n")
        machine.delete_cluster(name)
    return 0
