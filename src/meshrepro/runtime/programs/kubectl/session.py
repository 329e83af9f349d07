"""What one kubectl invocation shares between its steps: flags, config, REST client, discovery."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import simpy

from meshrepro.runtime.process import Process

from .config import ConfigLoader, Overrides, RestConfig
from .discovery import Discovery, Mapper, Resource
from .errors import GoError
from .flags import Parsed, parse_duration
from .rest import RestClient, Result
from .versions import KubectlVersion

Wait = Generator[simpy.Event, Any, Any]

TABLE_ACCEPT = ("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;"
                "g=meta.k8s.io,application/json")  # [KC 1.29.0 pkg/cmd/get/get.go transformRequests]


class Session:
    def __init__(self, proc: Process, version: KubectlVersion, command: str, flags: Parsed) -> None:
        self.proc = proc
        self.version = version
        self.command = command  # the Kubectl-Command header: "kubectl get"
        self.flags = flags
        self.loader = ConfigLoader(proc, _overrides(flags))
        self._client: RestClient | None = None
        self._discovery: Discovery | None = None
        self._mapper: Mapper | None = None
        self._namespace: str | None = None

    def out(self, text: str) -> None:
        self.proc.stdout.write(text)

    def err(self, text: str) -> None:
        self.proc.stderr.write(text)

    def rest_config(self) -> RestConfig:
        return self.client().config

    def client(self) -> RestClient:
        if self._client is None:
            self._client = RestClient(self.proc, self.loader.client_config(), self.version, self.command)
        return self._client

    def namespace(self) -> str:
        if self._namespace is None:
            self._namespace = self.loader.namespace()
        return self._namespace

    @property
    def explicit_namespace(self) -> bool:
        return "namespace" in self.flags.changed

    @property
    def mapper(self) -> Mapper:
        if self._mapper is None:
            self._discovery = Discovery(self.proc, self.client(), self.version)
            self._mapper = Mapper(self._discovery)
        return self._mapper

    def request(self, method: str, path: str, **kwargs: Any) -> Wait:
        result: Result = yield from self.client().request(method, path, **kwargs)
        return result

    def get_json(self, path: str, query: list[tuple[str, str]] | None = None) -> Wait:
        result = yield from self.request("GET", path, query=query)
        return result.into()

    def resource(self, arg: str) -> Wait:
        found: Resource = yield from self.mapper.resource_for(arg)
        return found

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def _overrides(flags: Parsed) -> Overrides:
    v = flags.values
    timeout_text = str(v.get("request-timeout") or "0")
    timeout = float(timeout_text) if timeout_text.isdigit() else parse_duration(timeout_text)
    if timeout is None:
        raise GoError("invalid timeout value. Timeout must be a single integer in seconds, or an integer "
                      "followed by a corresponding time unit (e.g. 1s | 2m | 3h)")
    return Overrides(
        kubeconfig=v.get("kubeconfig") or "", context=v.get("context") or "", cluster=v.get("cluster") or "",
        user=v.get("user") or "", namespace=v.get("namespace") or "", server=v.get("server") or "",
        token=v.get("token") or "", certificate_authority=v.get("certificate-authority") or "",
        client_certificate=v.get("client-certificate") or "", client_key=v.get("client-key") or "",
        insecure=True if v.get("insecure-skip-tls-verify") else None,
        tls_server_name=v.get("tls-server-name") or "", impersonate=v.get("as") or "",
        impersonate_groups=list(v.get("as-group") or []), request_timeout=timeout)
