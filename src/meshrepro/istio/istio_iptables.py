"""`pilot-agent istio-iptables`: the program istio-init (and istio-validation) runs from the proxyv2 image.

The injected init container's args are `istio-iptables -p 15001 -z 15006 -u 1337 -m REDIRECT -i '*' -x "" -b '*'
-d 15090,15021,15020 --log_output_level=default:info [--run-validation --skip-rule-apply]`; the image's entrypoint
is /usr/local/bin/pilot-agent, whose cobra root has `istio-iptables` as a subcommand in every modelled release.

Sources (istio/istio at each tag): tools/istio-iptables/pkg/cmd/root.go (flags, the run and its exit codes),
pkg/config/config.go (`Print`), pkg/capture/run.go (`logConfig`, the restore input, from 1.24 the idempotent apply and
from 1.25 the final state), pkg/dependencies/implementation*.go (the `Running command` lines, xtables error texts),
pkg/validation/validator.go (`--run-validation`). The rules themselves come from `iptables.sidecar_rules`.

Simplifications: no IPv6 (ip6tables-restore gets the empty input it gets on an IPv4 pod), the iptables binary is
`iptables-restore` v1.8.7 in legacy mode (the proxyv2 image's alternative; the version is UNCONFIRMED per release),
`iptables-save` output lacks its dated comment lines, cobra's usage text after a flag error is left out, and TPROXY,
kubevirt interfaces, drop-invalid, dual stack, native nftables and (1.25+) DNS capture are reported as not modelled.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import simpy

from meshrepro.errors import InputError
from meshrepro.istio.iptables import CaptureConfig, sidecar_rules
from meshrepro.istio.versions import IstioVersion, flags
from meshrepro.istio.ztunnel_log import istio_line
from meshrepro.net.errors import NetError, NetErrorKind
from meshrepro.net.stack import ConnectionRecord, NamespaceView
from meshrepro.runtime.container import effective_capabilities
from meshrepro.runtime.process import Process, ProgramRun

PROBE_PORT = 15002  # constants.DefaultIptablesProbePort
PROBE_TIMEOUT = 5.0  # constants.DefaultProbeTimeout
VALIDATION_ERROR_CODE = 126  # constants.ValidationErrorCode
IPTABLES_VERSION = "v1.8.7"  # the proxyv2 image's iptables (legacy alternative); UNCONFIRMED per release

# long name -> shorthand (tools/istio-iptables/pkg/constants and cmd/root.go bindCmdlineFlags)
STRING_FLAGS = {
    "envoy-port": "p", "inbound-capture-port": "z", "inbound-tunnel-port": "e", "proxy-uid": "u", "proxy-gid": "g",
    "istio-inbound-interception-mode": "m", "istio-inbound-ports": "b", "istio-local-exclude-ports": "d",
    "istio-exclude-interfaces": "c", "istio-service-cidr": "i", "istio-service-exclude-cidr": "x",
    "istio-outbound-ports": "q", "istio-local-outbound-ports-exclude": "o", "kube-virt-interfaces": "k",
    "istio-inbound-tproxy-mark": "t", "istio-inbound-tproxy-route-table": "r", "iptables-probe-port": "",
    "probe-timeout": "", "network-namespace": "", "iptables-version": "",
}
BOOL_FLAGS = {
    "dry-run": "n", "iptables-trace-logging": "", "restore-format": "f", "skip-rule-apply": "", "run-validation": "",
    "redirect-dns": "", "drop-invalid": "", "dual-stack": "", "capture-all-dns": "", "cni-mode": "", "reconcile": "",
    "cleanup-only": "", "force-apply": "", "native-nftables": "",
}
VALIDATION_FAILED = (
    "iptables validation failed; workload is not ready for Istio.\n"
    "When using Istio CNI, this can occur if a pod is scheduled before the node is ready.\n\n"
    "If installed with 'cni.repair.deletePods=true', this pod should automatically be deleted and retry.\n"
    "Otherwise, this pod will need to be manually removed so that it is scheduled on a node with istio-cni running, "
    "allowing iptables rules to be established.\n")
_ENV_DUMP = ("ENVOY_PORT", "INBOUND_CAPTURE_PORT", "ISTIO_INBOUND_INTERCEPTION_MODE", "ISTIO_INBOUND_TPROXY_ROUTE_TABLE",
             "ISTIO_INBOUND_PORTS", "ISTIO_OUTBOUND_PORTS", "ISTIO_LOCAL_EXCLUDE_PORTS", "ISTIO_EXCLUDE_INTERFACES",
             "ISTIO_SERVICE_CIDR", "ISTIO_SERVICE_EXCLUDE_CIDR", "ISTIO_META_DNS_CAPTURE", "INVALID_DROP")


class FlagError(Exception):
    """pflag's parse error; str() is what cobra prints after `Error: `."""


@dataclass
class Options:
    strings: dict[str, str] = field(default_factory=dict)
    bools: dict[str, bool] = field(default_factory=dict)

    def text(self, name: str, default: str = "") -> str:
        return self.strings.get(name, default)

    def flag(self, name: str, default: bool = False) -> bool:
        return self.bools.get(name, default)


def _parse_bool(text: str) -> bool | None:
    return {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True, "0": False, "f": False,
            "F": False, "FALSE": False, "false": False, "False": False}.get(text)


def parse_args(args: list[str]) -> Options:
    """pflag over the subcommand's arguments (the pilot-agent root's persistent `--log_*` flags are accepted)."""
    options = Options()
    short = {s: name for name, s in {**STRING_FLAGS, **BOOL_FLAGS}.items() if s}
    items = iter(args)
    for arg in items:
        if arg == "--":
            break
        if arg.startswith("--"):
            name, has_value, value = arg[2:].partition("=")
            if name.startswith("log_"):
                continue  # --log_output_level, --log_as_json, ...: pilot-agent's logging options
            if name in BOOL_FLAGS:
                parsed = _parse_bool(value) if has_value else True
                if parsed is None:
                    raise FlagError(f'invalid argument "{value}" for "--{name}" flag: strconv.ParseBool: parsing '
                                    f'"{value}": invalid syntax')
                options.bools[name] = parsed
            elif name in STRING_FLAGS:
                given = value if has_value else next(items, None)
                if given is None:
                    raise FlagError(f"flag needs an argument: --{name}")
                options.strings[name] = given
            else:
                raise FlagError(f"unknown flag: --{name}")
        elif arg.startswith("-") and len(arg) > 1:
            letter, rest = arg[1], arg[2:]
            long_name = short.get(letter)
            if long_name is None:
                raise FlagError(f"unknown shorthand flag: '{letter}' in {arg}")
            if long_name in BOOL_FLAGS:
                options.bools[long_name] = True if not rest.startswith("=") else bool(_parse_bool(rest[1:]))
            else:
                given = rest.removeprefix("=") if rest else next(items, None)
                if given is None:
                    raise FlagError(f"flag needs an argument: '{letter}' in -{letter}")
                options.strings[long_name] = given
    return options


def _env_bool(proc: Process, name: str) -> bool:
    return bool(_parse_bool(proc.env.get(name, "")))


def istio_iptables_main(version: IstioVersion, proc: Process) -> ProgramRun:
    """`pilot-agent istio-iptables ...`. `proc.argv` is the container's argv: the pilot-agent binary (dropped when
    it is argv[0]), then `istio-iptables`, then its flags. Applies the rules to the container's network namespace
    (or, with --run-validation, checks the istio-cni plugin's) and returns the exit code istio-iptables exits with."""
    argv = list(proc.argv)
    if argv and argv[0].rsplit("/", 1)[-1] == "pilot-agent":
        argv = argv[1:]
    if argv and argv[0] == "istio-iptables":
        argv = argv[1:]
    log = _Log(proc)
    try:
        options = parse_args(argv)
    except FlagError as err:
        proc.stderr.write(f"Error: {err}\n")
        log.error(str(err))
        return 255  # pilot-agent main: log.Error(err); os.Exit(-1)
    assert isinstance(proc.host.network, NamespaceView), "istio-iptables runs in a container"
    config, dump = _config(version, proc, options)
    if not options.flag("skip-rule-apply"):
        code = _apply(version, proc, log, config, dump, options)
        if code:
            return code
    if options.flag("run-validation"):
        passed = yield from _validate(proc, log, config, options)
        if not passed:
            log.error(VALIDATION_FAILED)
            return VALIDATION_ERROR_CODE
    return 0


class _Log:
    """istio's pkg/log console lines for the default scope: `<ts>\\t<level>\\t<message>`, on stdout."""

    def __init__(self, proc: Process) -> None:
        self.proc = proc

    def line(self, level: str, message: str) -> None:
        self.proc.stdout.write(istio_line(self.proc.clock.wall(), level, "", message) + "\n")

    def info(self, message: str) -> None:
        self.line("info", message)

    def warn(self, message: str) -> None:
        self.line("warn", message)

    def error(self, message: str) -> None:
        self.line("error", message)


def _resolv_nameservers(proc: Process) -> list[str]:
    try:
        text = proc.host.fs.read("/etc/resolv.conf")
    except Exception:  # noqa: BLE001 - a missing file: dns.ClientConfigFromFile fails, istio-iptables panics
        return []
    return [line.split()[1] for line in text.splitlines()
            if line.startswith("nameserver") and len(line.split()) > 1 and ":" not in line.split()[1]]


def _config(version: IstioVersion, proc: Process, options: Options) -> tuple[CaptureConfig, list[tuple[str, str]]]:
    """constructConfig: the CaptureConfig the rules are built from, and the variables dump (`Config.Print`)."""
    f = flags(version)
    uid = options.text("proxy-uid") or "1337"  # user.Lookup(ENVOY_USER=istio-proxy) is 1337 in proxyv2
    gid = options.text("proxy-gid") or uid
    redirect_dns = options.flag("redirect-dns", _env_bool(proc, "ISTIO_META_DNS_CAPTURE"))
    capture_all = options.flag("capture-all-dns")
    servers = _resolv_nameservers(proc) if redirect_dns and not capture_all else []
    mode = options.text("istio-inbound-interception-mode")
    config = CaptureConfig(
        proxy_port=options.text("envoy-port", "15001"), inbound_capture_port=options.text("inbound-capture-port", "15006"),
        proxy_uid=uid, proxy_gid=gid, inbound_interception_mode=mode or "REDIRECT",
        outbound_ip_ranges_include=options.text("istio-service-cidr"),
        outbound_ip_ranges_exclude=options.text("istio-service-exclude-cidr"),
        inbound_ports_include=options.text("istio-inbound-ports"),
        inbound_ports_exclude=options.text("istio-local-exclude-ports"),
        outbound_ports_include=options.text("istio-outbound-ports"),
        outbound_ports_exclude=options.text("istio-local-outbound-ports-exclude"),
        exclude_interfaces=options.text("istio-exclude-interfaces"),
        kube_virt_interfaces=options.text("kube-virt-interfaces"),
        inbound_tunnel_port=options.text("inbound-tunnel-port", "15008"),
        redirect_dns=redirect_dns, capture_all_dns=capture_all, dns_servers=tuple(servers))
    dump: list[tuple[str, str]] = []
    if f.istio_iptables_config_dump_iptables_version:
        dump.append(("IPTABLES_VERSION", options.text("iptables-version")))
    dump += [("PROXY_PORT", config.proxy_port), ("PROXY_INBOUND_CAPTURE_PORT", config.inbound_capture_port),
             ("PROXY_TUNNEL_PORT", config.inbound_tunnel_port), ("PROXY_UID", uid), ("PROXY_GID", gid),
             ("INBOUND_INTERCEPTION_MODE", mode), ("INBOUND_TPROXY_MARK", options.text("istio-inbound-tproxy-mark",
                                                                                      "1337")),
             ("INBOUND_TPROXY_ROUTE_TABLE", options.text("istio-inbound-tproxy-route-table", "133")),
             ("INBOUND_PORTS_INCLUDE", config.inbound_ports_include),
             ("INBOUND_PORTS_EXCLUDE", config.inbound_ports_exclude),
             ("OUTBOUND_OWNER_GROUPS_INCLUDE", proc.env.get("ISTIO_OUTBOUND_OWNER_GROUPS", "*")),
             ("OUTBOUND_OWNER_GROUPS_EXCLUDE", proc.env.get("ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE", "")),
             ("OUTBOUND_IP_RANGES_INCLUDE", config.outbound_ip_ranges_include),
             ("OUTBOUND_IP_RANGES_EXCLUDE", config.outbound_ip_ranges_exclude),
             ("OUTBOUND_PORTS_INCLUDE", config.outbound_ports_include),
             ("OUTBOUND_PORTS_EXCLUDE", config.outbound_ports_exclude),
             ("KUBE_VIRT_INTERFACES", config.kube_virt_interfaces), ("ENABLE_INBOUND_IPV6", "false")]
    if f.istio_iptables_config_dump_dual_stack:
        dump.append(("DUAL_STACK", _go_bool(options.flag("dual-stack", _env_bool(proc, "ISTIO_DUAL_STACK")))))
    dump += [("DNS_CAPTURE", _go_bool(redirect_dns)),
             ("DROP_INVALID", _go_bool(options.flag("drop-invalid", _env_bool(proc, "INVALID_DROP")))),
             ("CAPTURE_ALL_DNS", _go_bool(capture_all)), ("DNS_SERVERS", f"[{' '.join(servers)}],[]"),
             ("NETWORK_NAMESPACE", options.text("network-namespace")), ("CNI_MODE", _go_bool(options.flag("cni-mode")))]
    if not f.istio_iptables_config_dump_dual_stack:
        dump.append(("HOST_NSENTER_EXEC", "false"))
    dump.append(("EXCLUDE_INTERFACES", config.exclude_interfaces))
    if f.istio_iptables_idempotent_apply:
        dump += [("RECONCILE", _go_bool(options.flag("reconcile"))),
                 ("CLEANUP_ONLY", _go_bool(options.flag("cleanup-only"))),
                 ("FORCE_APPLY", _go_bool(options.flag("force-apply")))]
    if f.istio_iptables_config_header_istio_config:
        dump.append(("NATIVE_NFTABLES", _go_bool(options.flag("native-nftables"))))
    return config, dump


def _go_bool(value: bool) -> str:
    return "true" if value else "false"


def _not_modelled(options: Options, proc: Process) -> str | None:
    if options.flag("drop-invalid", _env_bool(proc, "INVALID_DROP")):
        return "drop-invalid (INVALID_DROP)"
    if options.flag("dual-stack", _env_bool(proc, "ISTIO_DUAL_STACK")):
        return "dual-stack rules"
    if options.flag("native-nftables"):
        return "native nftables"
    return None


def _apply(version: IstioVersion, proc: Process, log: _Log, config: CaptureConfig, dump: list[tuple[str, str]],
           options: Options) -> int:
    """IptablesConfigurator.Run through iptables-restore, with the release's log lines; the exit code (0 on success)."""
    f = flags(version)
    unsupported = _not_modelled(options, proc)
    if unsupported is not None:
        raise InputError(f"istio-iptables: {unsupported} is not modelled")
    try:
        rules = sidecar_rules(config, version)
    except NotImplementedError as err:
        raise InputError(f"istio-iptables: {err}") from None
    except ValueError as err:
        log.error(str(err))
        return 1
    env = "".join(f"{name}={proc.env.get(name, '')}\n" for name in _ENV_DUMP)
    log.info(f"Istio iptables environment:\n{env}")
    header = "Istio config:" if f.istio_iptables_config_header_istio_config else "Istio iptables variables:"
    log.info(header + "\n" + "".join(f"{k}={v}\n" for k, v in dump))
    if options.flag("dry-run"):
        return 0
    allowed = {"NET_ADMIN", "NET_RAW"} <= effective_capabilities(proc.host, proc.uid)
    lock = " (with wait lock)" if f.istio_iptables_lock_mode_log else ""
    wait = " --wait=30" if f.istio_iptables_lock_mode_log else ""
    commands_logged = not f.istio_iptables_commands_debug
    ns = proc.host.network.ns  # type: ignore[attr-defined]
    if f.istio_iptables_idempotent_apply:
        if commands_logged:
            log.info("Running command (without lock): iptables-save ")
            log.info("Running command (without lock): ip6tables-save ")
        log.info("Clean-state detected, new iptables are needed")
        log.info("Applying iptables chains and rules")
    for binary, text in (("iptables-restore", rules.strip()), ("ip6tables-restore", "")):
        if f.istio_iptables_restore_log_binary:
            log.info(f"Running iptables restore with: {binary} and the following input:\n{text}")
        else:
            log.info(f"Running {binary} with the following input:\n{text}")
        if commands_logged:
            log.info(f"Running command{lock}: {binary} --noflush{wait}")
        if not allowed:
            return _restore_failed(f, log, binary, ns)
        if binary == "iptables-restore":
            ns.ruleset.restore(rules, noflush=True)
    if f.istio_iptables_commands_debug:
        log.info(f"Final iptables state (IPv4):\n{ns.ruleset.save()}")
    return 0


def _restore_failed(f: Any, log: _Log, binary: str, ns: Any) -> int:
    """iptables-restore without CAP_NET_ADMIN/CAP_NET_RAW: legacy iptables cannot open its socket, exit 2
    (PARAMETER_PROBLEM); istio-iptables words it with transformToXTablesErrorMessage."""
    stderr = (f"{binary} {IPTABLES_VERSION} (legacy): {binary}: unable to initialize table 'nat'\n\n"
              "Error occurred at line: 1\n"
              f"Try `{binary} -h' or '{binary} --help' for more information.\n")
    hint = "xtables parameter problem: " + stderr.split(":", 1)[1].strip()
    if f.istio_iptables_commands_debug:
        log.error(f"Command error: {hint}")
        log.error(f"exit status 2\n{stderr}")
        log.info(f"Final iptables state (IPv4):\n{ns.ruleset.save()}")  # iptables-save fails too: best effort
        return 1
    log.error(f"Command error output: {hint}")
    if f.istio_iptables_errors_returned:
        log.error("exit status 2")
        return 1
    log.error(f"Failed to execute: {binary} --noflush, exit status 2")
    return 255


class _ValidationListener:
    """The validator's server on 127.0.0.1:<port>: it reads SO_ORIGINAL_DST and is done when that is the probe port."""

    def __init__(self, server: _ValidationServer) -> None:
        self.name = "istio-validation"
        self.server = server

    def accept(self, record: ConnectionRecord) -> Generator[simpy.Event, Any, Any]:
        original = record.original_destination or record.final or record.destination
        record.hop(self.name, f"accepted; original destination {original[0]}:{original[1]}",
                   "the validation probe came through the redirect" if original[1] == self.server.probe_port else "")
        if original[1] == self.server.probe_port:
            self.server.done = True
        return NetError(NetErrorKind.EOF, record.destination, record.source)  # echoes the port, then closes
        yield  # pragma: no cover


@dataclass
class _ValidationServer:
    probe_port: int
    done: bool = False


def _validate(proc: Process, log: _Log, config: CaptureConfig, options: Options) -> Generator[simpy.Event, Any, bool]:
    """validation.Validator.Run: listen on 127.0.0.1 at the proxy's outbound and inbound ports, dial 127.0.0.6 at the
    probe port every second; the rules pass when the connection arrives redirected, else the 5 s timer ends it."""
    log.info("Starting iptables validation. This check verifies that iptables rules are properly established for "
             "the network.")
    probe_port = int(options.text("iptables-probe-port") or PROBE_PORT)
    timeout = _duration(options.text("probe-timeout")) or PROBE_TIMEOUT
    server = _ValidationServer(probe_port)
    ns = proc.host.network.ns  # type: ignore[attr-defined]
    ports = [int(config.proxy_port), int(config.inbound_capture_port)]
    for port in ports:
        log.info(f"Listening on 127.0.0.1:{port}")
        ns.listen(port, _ValidationListener(server), ip="127.0.0.1")
    deadline = proc.clock.now + timeout
    target = f"127.0.0.6:{probe_port}"
    try:
        while proc.clock.now < deadline:
            result = yield from proc.host.network.dial("127.0.0.6", probe_port, timeout=deadline - proc.clock.now)
            if isinstance(result, NetError):
                if result.kind is NetErrorKind.REFUSED:
                    log.error(f"Error connecting to {target}: dial tcp 127.0.0.1:0->{target}: connect: "
                              "connection refused")
            else:
                result.close()
            if server.done:
                log.info("Validation passed, iptables rules established")
                return True
            remaining = deadline - proc.clock.now
            if remaining <= 0:
                break
            yield proc.sleep(min(1.0, remaining))
        return False
    finally:
        for port in ports:
            ns.unlisten(port, ip="127.0.0.1")


def _duration(text: str) -> float:
    """time.ParseDuration for the simple forms (`5s`, `500ms`, `1m`); 0 when unset or unparsed."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m)", text.strip())
    if not match:
        return 0.0
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "ms" else value * 60 if unit == "m" else value


def iptables_save_main(proc: Process) -> ProgramRun:
    """`iptables-save` from the proxyv2 image (legacy iptables): the container's rules in restore form, between
    the dated comment lines iptables-save writes, or the permission error without CAP_NET_ADMIN (istio-proxy
    runs as uid 1337, so `kubectl exec -c istio-proxy -- iptables-save` is refused)."""
    if "NET_ADMIN" not in effective_capabilities(proc.host, proc.uid):
        proc.stderr.write(f"iptables-save {IPTABLES_VERSION} (legacy): Cannot initialize: Permission denied "
                          "(you must be root)\n")
        return 1
    ns = proc.host.network.ns  # type: ignore[attr-defined]
    stamp = proc.clock.wall().strftime("%a %b %e %H:%M:%S %Y").replace("  ", " ")
    out = []
    for block in ns.ruleset.save().split("COMMIT\n"):
        if block.strip():
            out.append(f"# Generated by iptables-save {IPTABLES_VERSION} on {stamp}\n{block}COMMIT\n"
                       f"# Completed on {stamp}\n")
    proc.stdout.write("".join(out))
    return 0
    yield  # pragma: no cover - a program is a generator
