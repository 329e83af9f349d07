"""Client configuration: kubeconfig loading and merging, and the in-cluster decision.

Follows client-go's clientcmd [CG 1.29.0 tools/clientcmd/loader.go, merged_client_builder.go,
client_config.go, validation.go] and rest.InClusterConfig [CG 1.29.0 rest/config.go], unchanged
1.27-1.31. kubectl's overrides carry ClusterDefaults {Server: http://localhost:8080}, so an empty
kubeconfig yields that default, which counts as "default config": then in-cluster is used when
possible, else the default (and the classic `localhost:8080 was refused`).
"""

from __future__ import annotations

import base64
import posixpath
from dataclasses import dataclass, field
from typing import Any

import yaml

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when the wheel has it: 10x faster

from meshrepro.net.tls import Certificate, parse_pem_bundle
from meshrepro.runtime.fs import FsError
from meshrepro.runtime.process import Process

from . import klog
from .errors import ConfigurationInvalid, GoError, go_quote

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
TOKEN_FILE = f"{SA_DIR}/token"
ROOT_CA_FILE = f"{SA_DIR}/ca.crt"
NAMESPACE_FILE = f"{SA_DIR}/namespace"
DEFAULT_SERVER = "http://localhost:8080"


@dataclass
class Overrides:
    """The global connection flags (clientcmd.ConfigOverrides as kubectl binds them)."""

    kubeconfig: str = ""
    context: str = ""
    cluster: str = ""
    user: str = ""
    namespace: str = ""
    server: str = ""
    token: str = ""
    certificate_authority: str = ""
    client_certificate: str = ""
    client_key: str = ""
    insecure: bool | None = None
    tls_server_name: str = ""
    impersonate: str = ""
    impersonate_groups: list[str] = field(default_factory=list)
    request_timeout: float = 0.0  # 0: no client-side timeout (kubectl --request-timeout default "0")


@dataclass
class Kubeconfig:
    """The merged kubeconfig: named maps as clientcmdapi.Config holds them."""

    clusters: dict[str, dict[str, Any]] = field(default_factory=dict)
    contexts: dict[str, dict[str, Any]] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    current_context: str = ""
    preferences: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # unknown top-level keys, kept when rewriting


@dataclass
class RestConfig:
    """rest.Config: where and how kubectl talks to the API server."""

    host: str
    trusted: tuple[Certificate, ...] = ()
    insecure: bool = False
    server_name: str = ""
    token: str = ""
    username: str = ""
    password: str = ""
    client_certificate: Certificate | None = None
    impersonate: str = ""
    impersonate_groups: tuple[str, ...] = ()
    timeout: float = 0.0
    in_cluster: bool = False


class ConfigLoader:
    """clientcmd.DeferredLoadingClientConfig for one kubectl process."""

    def __init__(self, proc: Process, overrides: Overrides) -> None:
        self.proc = proc
        self.fs = proc.host.fs
        self.overrides = overrides

    # -- files ---------------------------------------------------------------------------------
    def home(self) -> str:
        return self.proc.env.get("HOME", "/")

    def precedence(self) -> list[str]:
        """ClientConfigLoadingRules: --kubeconfig, else $KUBECONFIG's list, else ~/.kube/config."""
        if self.overrides.kubeconfig:
            return [self.overrides.kubeconfig]
        env = self.proc.env.get("KUBECONFIG", "")
        if env:
            return [p for p in env.split(":") if p]
        return [posixpath.join(self.home(), ".kube", "config")]

    def destination(self) -> str:
        """The file `kubectl config set-*` writes (GetDefaultFilename)."""
        files = self.precedence()
        if self.overrides.kubeconfig or len(files) == 1:
            return files[0]
        for path in files:
            if self.fs.exists(path, cwd=self.proc.cwd):
                return path
        return files[-1]

    def load(self) -> Kubeconfig:
        """Read and merge; the first file to set a map entry or current-context wins (loader.go Load)."""
        merged = Kubeconfig()
        explicit = bool(self.overrides.kubeconfig)
        for path in self.precedence():
            text = self._read(path, must_exist=explicit)
            if text is None:
                continue
            one = parse_kubeconfig(text, path)
            for name in ("clusters", "contexts", "users"):
                target = getattr(merged, name)
                for key, value in getattr(one, name).items():
                    target.setdefault(key, value)
            if not merged.current_context:
                merged.current_context = one.current_context
            if not merged.preferences:
                merged.preferences = one.preferences
            for key, value in one.extra.items():
                merged.extra.setdefault(key, value)
        return merged

    def _read(self, path: str, must_exist: bool) -> str | None:
        try:
            return self.fs.read(path, uid=self.proc.uid, gid=self.proc.gid, cwd=self.proc.cwd)
        except FsError as exc:
            if exc.errno == "ENOENT" and not must_exist:
                return None
            if exc.errno == "ENOENT":
                raise GoError(f"stat {path}: {exc.strerror}") from None
            raise GoError(f"error loading config file {go_quote(path)}: open {path}: {exc.strerror}") from None

    def read_file(self, path: str) -> str:
        """os.ReadFile with Go's error text."""
        try:
            return self.fs.read(path, uid=self.proc.uid, gid=self.proc.gid, cwd=self.proc.cwd)
        except FsError as exc:
            raise GoError(f"open {path}: {exc.strerror}") from None

    # -- in-cluster ----------------------------------------------------------------------------
    def in_cluster_possible(self) -> bool:
        """inClusterClientConfig.Possible: both env vars set, token file exists and is not a dir."""
        env = self.proc.env
        return (bool(env.get("KUBERNETES_SERVICE_HOST")) and bool(env.get("KUBERNETES_SERVICE_PORT"))
                and self.fs.exists(TOKEN_FILE) and not self.fs.is_dir(TOKEN_FILE))

    def _in_cluster(self) -> RestConfig:
        env = self.proc.env
        host, port = env.get("KUBERNETES_SERVICE_HOST", ""), env.get("KUBERNETES_SERVICE_PORT", "")
        if not host or not port:
            raise GoError("unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and "
                          "KUBERNETES_SERVICE_PORT must be defined")
        token = self.read_file(TOKEN_FILE)
        trusted: tuple[Certificate, ...] = ()
        try:
            text = self.read_file(ROOT_CA_FILE)
            try:
                trusted = self._ca_pool(text)
            except GoError as exc:  # certutil.NewPool's wording for a file it could read
                raise GoError(f"error creating pool from {ROOT_CA_FILE}: {exc}") from None
        except GoError as exc:
            # client-go only logs this and goes on with the system roots
            klog.error(self.proc, klog.REST_CONFIG_LOCATION,
                       f"Expected to load root CA config from {ROOT_CA_FILE}, but got err: {exc}")
        joined = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        config = RestConfig(host=f"https://{joined}", trusted=trusted, token=token, in_cluster=True)
        o = self.overrides
        if o.server:
            config.host = o.server
        if o.token:
            config.token = o.token
        if o.certificate_authority:
            config.trusted = self._ca_pool(self.read_file(o.certificate_authority))
        return self._apply_common(config)

    @staticmethod
    def _ca_pool(text: str) -> tuple[Certificate, ...]:
        certs = parse_pem_bundle(text)
        if certs is None:
            raise GoError("data does not contain any valid RSA or ECDSA certificates")
        return tuple(certs)

    def _apply_common(self, config: RestConfig) -> RestConfig:
        o = self.overrides
        if o.insecure is not None:
            config.insecure = o.insecure
        config.impersonate = o.impersonate or config.impersonate
        config.impersonate_groups = tuple(o.impersonate_groups) or config.impersonate_groups
        config.timeout = o.request_timeout
        return config

    # -- the decision --------------------------------------------------------------------------
    def _names(self, kc: Kubeconfig) -> tuple[str, dict[str, Any], str, str]:
        context_name = self.overrides.context or kc.current_context
        context = kc.contexts.get(context_name, {}) if context_name else {}
        cluster_name = self.overrides.cluster or context.get("cluster", "")
        user_name = self.overrides.user or context.get("user", "")
        return context_name, context, cluster_name, user_name

    def _confirm_usable(self, kc: Kubeconfig) -> list[GoError]:
        """DirectClientConfig.ConfirmUsable's checks, in its order."""
        errors: list[GoError] = []
        context_name, _, cluster_name, user_name = self._names(kc)
        if context_name and context_name not in kc.contexts:
            errors.append(GoError(f"context was not found for specified context: {context_name}"))
        user = kc.users.get(user_name, {})
        for key in ("client-certificate", "client-key"):
            path = user.get(key, "")
            if path and not user.get(f"{key}-data"):
                try:
                    self.read_file(path)
                except GoError as exc:
                    what = "client-cert" if key == "client-certificate" else "client-key"
                    errors.append(GoError(f"unable to read {what} {path} for {user_name} due to {exc}"))
        cluster = dict(kc.clusters.get(cluster_name, {}))
        if self.overrides.server:
            cluster["server"] = self.overrides.server
        if self.overrides.certificate_authority:
            cluster["certificate-authority"] = self.overrides.certificate_authority
        if not cluster:
            errors.append(GoError("cluster has no server defined"))
            return errors
        if not cluster.get("server"):
            errors.append(GoError("default cluster has no server defined" if not cluster_name
                                  else f"no server found for cluster {go_quote(cluster_name)}"))
        ca = cluster.get("certificate-authority", "")
        if ca and cluster.get("certificate-authority-data"):
            errors.append(GoError(f"certificate-authority-data and certificate-authority are both specified "
                                  f"for {cluster_name}. certificate-authority-data will override."))
        if ca:
            try:
                self.read_file(ca)
            except GoError as exc:
                errors.append(GoError(f"unable to read certificate-authority {ca} for {cluster_name} due to {exc}"))
        return errors

    def _from_kubeconfig(self, kc: Kubeconfig) -> tuple[RestConfig, bool]:
        """DirectClientConfig.ClientConfig with kubectl's default server; returns (config, is_default)."""
        errors = self._confirm_usable(kc)
        errors = [e for e in errors if str(e) != "cluster has no server defined"]  # ClusterDefaults fill it
        if errors:
            raise ConfigurationInvalid(errors)
        _, _, cluster_name, user_name = self._names(kc)
        cluster = kc.clusters.get(cluster_name, {})
        user = kc.users.get(user_name, {})
        o = self.overrides
        config = RestConfig(host=o.server or cluster.get("server") or DEFAULT_SERVER)
        config.insecure = bool(cluster.get("insecure-skip-tls-verify", False))
        config.server_name = o.tls_server_name or cluster.get("tls-server-name", "")
        if cluster.get("certificate-authority-data"):
            config.trusted = self._ca_pool(_b64(cluster["certificate-authority-data"]))
        elif o.certificate_authority or cluster.get("certificate-authority"):
            config.trusted = self._ca_pool(self.read_file(o.certificate_authority or cluster["certificate-authority"]))
        config.token = o.token or user.get("token", "")
        if not config.token and user.get("tokenFile"):
            config.token = self.read_file(user["tokenFile"]).strip()
        config.username = user.get("username", "")
        config.password = user.get("password", "")
        cert_text = ""
        if user.get("client-certificate-data"):
            cert_text = _b64(user["client-certificate-data"])
        elif o.client_certificate or user.get("client-certificate"):
            cert_text = self.read_file(o.client_certificate or user["client-certificate"])
        if cert_text:
            certs = parse_pem_bundle(cert_text)
            if certs is None:
                raise GoError("tls: failed to find any PEM data in certificate input")
            config.client_certificate = certs[0]
        config.impersonate = user.get("as", "")
        config.impersonate_groups = tuple(user.get("as-groups") or ())
        config = self._apply_common(config)
        is_default = (config.host == DEFAULT_SERVER and not config.token and not config.username
                      and config.client_certificate is None and not config.trusted and not config.insecure)
        return config, is_default

    def client_config(self) -> RestConfig:
        kc = self.load()
        config, is_default = self._from_kubeconfig(kc)
        if is_default and self.in_cluster_possible():
            return self._in_cluster()
        return config

    def namespace(self) -> str:
        """DeferredLoadingClientConfig.Namespace, with the in-cluster fallbacks of 3.3."""
        if self.overrides.namespace:
            return self.overrides.namespace
        kc = self.load()
        errors = [e for e in self._confirm_usable(kc) if str(e) != "cluster has no server defined"]
        if errors:
            raise ConfigurationInvalid(errors)
        _, context, _, _ = self._names(kc)
        if context.get("namespace"):
            return str(context["namespace"])
        if not self.in_cluster_possible():
            return "default"
        if self.proc.env.get("POD_NAMESPACE"):
            return self.proc.env["POD_NAMESPACE"]
        try:
            text = self.fs.read(NAMESPACE_FILE, uid=self.proc.uid, gid=self.proc.gid).strip()
        except FsError:
            return "default"
        return text or "default"


def _b64(data: str) -> str:
    try:
        return base64.b64decode(data).decode()
    except (ValueError, UnicodeDecodeError):
        raise GoError("illegal base64 data at input byte 0") from None


def parse_kubeconfig(text: str, path: str) -> Kubeconfig:
    """clientcmd.Load of one file: named lists become maps; an empty file is an empty config."""
    try:
        data = yaml.load(text, Loader=_LOADER) if text.strip() else {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise GoError(f"error loading config file {go_quote(path)}: yaml: {where}"
                      f"{getattr(exc, 'problem', None) or exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise GoError(f"error loading config file {go_quote(path)}: couldn't get version/kind; json parse error: "
                      "json: cannot unmarshal array into Go value of type struct { APIVersion string "
                      "\"json:\\\"apiVersion,omitempty\\\"\"; Kind string \"json:\\\"kind,omitempty\\\"\" }")
    kc = Kubeconfig(current_context=str(data.get("current-context") or ""),
                    preferences=dict(data.get("preferences") or {}))
    for plural, key in (("clusters", "cluster"), ("contexts", "context"), ("users", "user")):
        target = getattr(kc, plural)
        for item in data.get(plural) or []:
            if isinstance(item, dict) and item.get("name") is not None:
                target.setdefault(str(item["name"]), dict(item.get(key) or {}))
    kc.extra = {k: v for k, v in data.items()
                if k not in ("apiVersion", "kind", "clusters", "contexts", "users", "current-context",
                             "preferences")}
    return kc
