"""A simulated machine whose Istio images run test stand-ins, with the sidecar injector registered as the API
server's mutating webhook the way the mesh wires it: istiod answers `/inject` while its container runs, and
`pilot-agent istio-iptables ...` runs `istio_iptables_main`. The proxy (`pilot-agent proxy sidecar`) is a stand-in
that is ready on 15021 after `proxy_delay` seconds; `pilot-agent wait` returns 0 at once."""

from __future__ import annotations

from collections.abc import Generator
from datetime import UTC, datetime
from typing import Any

from meshrepro.backends.sim.machine import Machine
from meshrepro.istio import images
from meshrepro.istio.injector import InjectorContext, make_injection_hook
from meshrepro.istio.istio_iptables import istio_iptables_main
from meshrepro.kube.cluster import Cluster
from meshrepro.net.http import Request, Response
from meshrepro.net.server import HttpListener, Peer
from meshrepro.runtime.process import Process, Transcript
from meshrepro.sim.clock import Clock
from meshrepro.sim.trace import Trace

Version = tuple[int, int, int]
READINESS_PORTS = {"pilot-discovery": 8080, "install-cni": 8000, "ztunnel": 15021}
START = datetime(2024, 1, 18, 9, 57, tzinfo=UTC)


def _ok(peer: Peer, request: Request) -> Generator[Any, Any, Response]:
    return Response(200, {"Content-Type": "text/plain"}, b"ok")
    yield  # pragma: no cover


class Harness:
    def __init__(self, version: Version, kube: tuple[int, int] = (1, 29), *, proxy_delay: float = 0.0,
                 wait_exit: int = 0) -> None:
        self.version = version
        self.clock = Clock(START, seed=1)
        self.trace = Trace()
        self.machine = Machine(self.clock, self.trace, kube, f"{kube[0]}.{kube[1]}", istio_version=version)
        self.proxy_delay = proxy_delay
        self.wait_exit = wait_exit
        self.istiods: list[InjectorContext] = []
        images.register(self.machine.catalogue, self._run)

    # -- the images --------------------------------------------------------------------------

    def _run(self, component: str, version: Version, proc: Process) -> Generator[Any, Any, int]:
        if component == "pilot-agent":
            return (yield from self._pilot_agent(version, proc))
        proc.host.network.listen(READINESS_PORTS[component], HttpListener(component, _ok))
        context = None
        if component == "pilot-discovery":
            context = InjectorContext(version, dict(proc.env), proc.env.get("POD_NAMESPACE", "istio-system"),
                                      self.trace, lambda: self.clock.now)
            self.istiods.append(context)
        try:
            yield proc.sleep(10**9)
        finally:
            if context is not None:
                self.istiods.remove(context)
        return 0

    def _pilot_agent(self, version: Version, proc: Process) -> Generator[Any, Any, int]:
        args = proc.argv[1:]
        if args[:1] == ["istio-iptables"]:
            return (yield from istio_iptables_main(version, proc))
        if args[:1] == ["wait"]:
            return self.wait_exit
        if self.proxy_delay:
            yield proc.sleep(self.proxy_delay)
        proc.host.network.listen(15021, HttpListener("istio-proxy", _ok))
        proc.host.network.listen(15020, HttpListener("pilot-agent status", _ok))  # /app-health/...: always ready
        yield proc.sleep(10**9)
        return 0

    # -- driving -----------------------------------------------------------------------------

    def run(self, command: str) -> tuple[int, str, str]:
        transcript = Transcript(self.clock)
        process = self.clock.process(self.machine.run_step(command, transcript))
        self.clock.env.run(until=process)
        return process.value, transcript.text("stdout"), transcript.text("stderr")

    @property
    def cluster(self) -> Cluster:
        return next(iter(self.machine.clusters.values()))

    def create_cluster(self) -> Harness:
        assert self.run("kind create cluster")[0] == 0
        cluster = self.cluster
        # The machine registered the mesh's hook, bound to a real istiod; this one is bound to the stand-in's.
        hook = make_injection_hook(cluster.store, lambda: self.istiods[0] if self.istiods else None)
        hooks = cluster.apiserver.admission.mutating_hooks
        hooks[:] = [(name, h) for name, h in hooks if name != "istio-sidecar-injector"]
        hooks.append(("istio-sidecar-injector", hook))
        return self

    def install(self, *sets: str) -> Harness:
        cluster = self.cluster
        cluster.apply_object({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "istio-system"}})
        for namespace in ("istio-system", "default"):  # istiod's namespace controller publishes it everywhere
            cluster.apply_object({"apiVersion": "v1", "kind": "ConfigMap", "data": {"root-cert.pem": "ca"},
                                  "metadata": {"name": "istio-ca-root-cert", "namespace": namespace}})
        flags = " ".join(f"--set {s}" for s in sets)
        code, _, err = self.run(f"istioctl install -y {flags}")
        assert code == 0, err
        return self

    def apply(self, manifest: str) -> tuple[int, str, str]:
        self.machine.fs.write("/tmp/m.yaml", manifest)
        return self.run("kubectl apply -f /tmp/m.yaml")

    def pod(self, name: str, namespace: str = "default") -> dict[str, Any]:
        from meshrepro.kube.store import ResourceKey
        found = self.cluster.store.get(ResourceKey("", "pods"), namespace, name)
        assert found is not None, name
        return found

    def sleep(self, seconds: float) -> None:
        self.clock.env.run(until=self.clock.now + seconds)
