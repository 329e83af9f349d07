"""The iptables rules Istio installs in a pod, as iptables-restore input (`* table`, `-N`, `-A`, `COMMIT`).

- `sidecar_rules`: what `istio-iptables` (istio-init, or the istio-cni plugin for sidecar pods) writes, ported
  from `tools/istio-iptables/pkg/capture/run.go` (REDIRECT inbound mode, IPv4 only).
- `ambient_inpod_rules`: what the istio-cni node agent writes inside an ambient pod's netns (1.21+), from
  `cni/pkg/iptables/iptables.go` and its goldens.
- `ambient_node_rules`, `ztunnel_pod_rules`, `ambient_node_routes`, `ztunnel_pod_routes`, `ambient_pod_route`: the
  node-level ambient capture istio-cni 1.18-1.20 sets up in the node's netns and in the ztunnel pod's netns, from
  `istio@1.20.0:cni/pkg/ambient/{net_linux.go,iptables.go,net.go,constants/constants.go,options.go}`.

The text follows the upstream golden files: the restore form istio-iptables feeds `iptables-restore` (`* nat`,
`-N CHAIN`, rules in the order they are appended; 1.20's istio-iptables already restores, and some older goldens
list the same rules as `iptables -t T -A ...` commands; the rules and their order within each table are identical,
so one text serves). The in-pod ambient goldens of 1.21-1.23 are such command lists.
`Ruleset.parse` loads it; `Ruleset.save()` prints the iptables-save form.

Not modelled (raise ValueError / NotImplementedError): sidecar TPROXY interception (`-m TPROXY`), kubevirt interfaces
(`-k`), owner-group filters, IPv6, drop-invalid, sidecar DNS rules from 1.25 (chain ISTIO_OUTPUT_DNS).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field

from meshrepro.istio.versions import IstioVersion, flags

# Behaviours of istio-iptables (sidecar) that versions.TABLE does not name yet. They are checked the same way
# as versions.Flags (tuple order on full releases); move them into versions.TABLE when that file is next edited.
ANNOTATION_PREFIX = "traffic.sidecar.istio.io/"


@dataclass(frozen=True)
class CaptureConfig:
    """istio-iptables flags (names as in tools/istio-iptables/pkg/cmd/root.go)."""

    proxy_port: str = "15001"  # -p
    inbound_capture_port: str = "15006"  # -z
    proxy_uid: str = "1337"  # -u (comma list)
    proxy_gid: str = "1337"  # -g (comma list)
    inbound_interception_mode: str = "REDIRECT"  # -m
    outbound_ip_ranges_include: str = "*"  # -i
    outbound_ip_ranges_exclude: str = ""  # -x
    inbound_ports_include: str = "*"  # -b
    inbound_ports_exclude: str = "15090,15021,15020"  # -d (the injector's default)
    outbound_ports_include: str = ""  # -q
    outbound_ports_exclude: str = ""  # -o
    exclude_interfaces: str = ""  # -c
    kube_virt_interfaces: str = ""  # -k
    inbound_tunnel_port: str = "15008"
    redirect_dns: bool = False  # --redirect-dns (ISTIO_META_DNS_CAPTURE=true)
    capture_all_dns: bool = False  # --capture-all-dns (istio-cni); else only the resolv.conf servers
    dns_servers: tuple[str, ...] = field(default=())  # IPv4 nameservers from /etc/resolv.conf

    @classmethod
    def from_annotations(cls, annotations: Mapping[str, str], *, include_ip_ranges: str = "*",
                         exclude_ip_ranges: str = "", include_inbound_ports: str = "*",
                         exclude_inbound_ports: str = "", include_outbound_ports: str = "",
                         exclude_outbound_ports: str = "", status_port: str = "15020",
                         interception_mode: str = "REDIRECT", redirect_dns: bool = False,
                         capture_all_dns: bool = False, dns_servers: tuple[str, ...] = ()) -> CaptureConfig:
        """The flags the injection template passes istio-init, from the pod's annotations and the mesh
        defaults (`global.proxy.*` values; keyword arguments)."""

        def ann(name: str, default: str) -> str:
            return annotations.get(ANNOTATION_PREFIX + name, default)

        include = ann("includeOutboundIPRanges", include_ip_ranges)
        exclude = ann("excludeOutboundIPRanges", exclude_ip_ranges)
        # pkg/kube/inject/validate.go ValidateIncludeIPRanges / ValidateExcludeIPRanges
        if include != "*":
            validate_cidr_list(include, "includeIPRanges")
        validate_cidr_list(exclude, "excludeIPRanges")
        status = annotations.get("status.sidecar.istio.io/port", status_port)
        extra = ann("excludeInboundPorts", exclude_inbound_ports)
        # template: "15090,15021,{{ excludeInboundPort status excludeInboundPorts }}" (status port 0 is left out)
        tail = exclude_inbound_port(status, extra)
        return cls(
            inbound_interception_mode=annotations.get("sidecar.istio.io/interceptionMode", interception_mode),
            outbound_ip_ranges_include=include,
            outbound_ip_ranges_exclude=exclude,
            inbound_ports_include=ann("includeInboundPorts", include_inbound_ports),
            inbound_ports_exclude="15090,15021," + tail if tail else "15090,15021",
            outbound_ports_include=ann("includeOutboundPorts", include_outbound_ports),
            outbound_ports_exclude=ann("excludeOutboundPorts", exclude_outbound_ports),
            kube_virt_interfaces=annotations.get(ANNOTATION_PREFIX + "kubevirtInterfaces", ""),
            exclude_interfaces=annotations.get(ANNOTATION_PREFIX + "excludeInterfaces", ""),
            redirect_dns=redirect_dns, capture_all_dns=capture_all_dns, dns_servers=dns_servers,
        )


def exclude_inbound_port(port: str | int, excluded: str) -> str:
    """pkg/kube/inject/template.go excludeInboundPort: the status port appended to the excluded inbound ports unless
    it is there already (or 0/empty); empty entries dropped."""
    text = str(port).strip()
    if not text or text == "0":
        return excluded
    parts = []
    for item in excluded.split(","):
        if item == text:
            return excluded
        if item.strip():
            parts.append(item.strip())
    return ",".join([*parts, text])


def validate_cidr_list(cidrs: str, what: str) -> None:
    """pkg/kube/inject/validate.go validateCIDRList wrapped as ValidateIncludeIPRanges / ValidateExcludeIPRanges do:
    ValueError(`<what> invalid: failed parsing cidr '<cidr>': <netip.ParsePrefix error>`), Go's text word for word."""
    if not cidrs:
        return
    for cidr in cidrs.split(","):
        try:
            _parse_prefix(cidr)
        except ValueError as e:
            raise ValueError(f"{what} invalid: failed parsing cidr '{cidr}': {e}") from None




def _go_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _parse_ipv4(text: str) -> str | None:
    """Go net/netip parseIPv4: None when valid, else the message after `ParseAddr("..."): `."""
    value, position, digits = 0, 0, 0
    for index, char in enumerate(text):
        if "0" <= char <= "9":
            if digits == 1 and value == 0:
                return "IPv4 field has octet with leading zero"
            value, digits = value * 10 + int(char), digits + 1
            if value > 255:
                return "IPv4 field has value >255"
        elif char == ".":
            if index == 0 or index == len(text) - 1 or text[index - 1] == ".":
                return f"IPv4 field must have at least one digit (at {_go_quote(text[index:])})"
            if position == 3:
                return "IPv4 address too long"
            position, value, digits = position + 1, 0, 0
        else:
            return f"unexpected character (at {_go_quote(text[index:])})"
    return "IPv4 address too short" if position < 3 else None


def go_parse_addr(text: str) -> str | None:
    """netip.ParseAddr: None when `text` is an address, else Go's error text. IPv6 is checked with Python's parser
    (its error is `ParseAddr("x"): unable to parse IP` here, not Go's detailed reasons)."""
    for char in text:
        if char == ".":
            problem = _parse_ipv4(text)
            return None if problem is None else f"ParseAddr({_go_quote(text)}): {problem}"
        if char == ":":
            try:
                ipaddress.IPv6Address(text)
            except ValueError:
                return f"ParseAddr({_go_quote(text)}): unable to parse IP"
            return None
        if char == "%":
            return f"ParseAddr({_go_quote(text)}): missing IPv6 address"
    return f"ParseAddr({_go_quote(text)}): unable to parse IP"


def _parse_prefix(cidr: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """netip.ParsePrefix (Go 1.20-1.24): an address, '/', a length; host bits may be set (istio prints the masked
    form). Errors carry Go's text: `netip.ParsePrefix("10.0.0.300/24"): ParseAddr("10.0.0.300"): IPv4 field has
    value >255`."""
    head = f"netip.ParsePrefix({_go_quote(cidr)}): "
    if "/" not in cidr:
        raise ValueError(head + "no '/'")
    address, _, bits = cidr.rpartition("/")
    problem = go_parse_addr(address)
    if problem is not None:
        raise ValueError(head + problem)
    ip = ipaddress.ip_address(address)
    # strconv.Atoi takes a sign and leading zeros; ParsePrefix refuses both first
    if not bits.isascii() or not bits.isdigit() or (len(bits) > 1 and bits[0] == "0"):
        raise ValueError(head + f"bad bits after slash: {_go_quote(bits)}")
    if int(bits) > ip.max_prefixlen:
        raise ValueError(head + "prefix length out of range")
    return ipaddress.ip_network(f"{ip}/{bits}", strict=False)


def _split(s: str) -> list[str]:
    return [p.strip() for p in s.split(",") if p.strip()] if s else []


def _ranges(cidrs: str) -> tuple[bool, list[str]]:
    """separateV4V6 for IPv4: (wildcard, masked CIDRs)."""
    if cidrs.strip() == "*":
        return True, []
    out = []
    for cidr in _split(cidrs):
        net = _parse_prefix(cidr)
        if net.version == 4:
            out.append(str(net))
    return False, out


class _Builder:
    """IptablesRuleBuilder: rules per table in append order; -N for every non-built-in chain used."""

    BUILTIN = frozenset({"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"})
    TABLES = ("mangle", "nat", "raw")  # the order istio's restore output prints tables

    def __init__(self) -> None:
        self.rules: dict[str, list[tuple[str, str]]] = {t: [] for t in self.TABLES}
        self.chains: dict[str, list[str]] = {t: [] for t in self.TABLES}

    def append(self, table: str, chain: str, *params: str) -> None:
        self.chains[table].extend([] if chain in self.BUILTIN or chain in self.chains[table] else [chain])
        self.rules[table].append((chain, " ".join(params)))

    def text(self) -> str:
        out: list[str] = []
        for table in self.TABLES:
            if not self.rules[table]:
                continue
            out.append(f"* {table}")
            out += [f"-N {chain}" for chain in self.chains[table]]
            out += [f"-A {chain} {params}" for chain, params in self.rules[table]]
            out.append("COMMIT")
        return "\n".join(out) + "\n"


def sidecar_rules(config: CaptureConfig, version: IstioVersion) -> str:
    """istio-iptables' rules for a sidecar pod (IptablesConfigurator.Run, IPv4, REDIRECT mode)."""
    c = config
    if c.inbound_interception_mode != "REDIRECT":
        raise NotImplementedError(f"interception mode {c.inbound_interception_mode} is not modelled")
    if c.kube_virt_interfaces:
        raise NotImplementedError("kubevirtInterfaces (-k) is not modelled")
    if c.redirect_dns and flags(version).sidecar_dns_own_chain:
        raise NotImplementedError("sidecar DNS capture rules of Istio >= 1.25 (ISTIO_OUTPUT_DNS) are not modelled")
    udp_via_output = flags(version).sidecar_dns_udp_via_istio_output
    exclude_wild, exclude = _ranges(c.outbound_ip_ranges_exclude)
    if exclude_wild:
        raise ValueError("invalid value for OUTBOUND_IP_RANGES_EXCLUDE")
    include_wild, include = _ranges(c.outbound_ip_ranges_include)
    include_loopback = any(ipaddress.ip_network(n).overlaps(ipaddress.ip_network("127.0.0.0/8")) for n in include)
    dns = c.redirect_dns
    b = _Builder()
    nat = "nat"
    for nic in _split(c.exclude_interfaces):
        b.append(nat, "PREROUTING", "-i", nic, "-j", "RETURN")
        b.append(nat, "OUTPUT", "-o", nic, "-j", "RETURN")
    b.append(nat, "ISTIO_INBOUND", "-p", "tcp", "--dport", c.inbound_tunnel_port, "-j", "RETURN")
    b.append(nat, "ISTIO_REDIRECT", "-p", "tcp", "-j", "REDIRECT", "--to-ports", c.proxy_port)
    b.append(nat, "ISTIO_IN_REDIRECT", "-p", "tcp", "-j", "REDIRECT", "--to-ports", c.inbound_capture_port)
    # handleInboundPortsInclude
    if c.inbound_ports_include:
        b.append(nat, "PREROUTING", "-p", "tcp", "-j", "ISTIO_INBOUND")
        if c.inbound_ports_include.strip() == "*":
            for port in _split(c.inbound_ports_exclude):
                b.append(nat, "ISTIO_INBOUND", "-p", "tcp", "--dport", port, "-j", "RETURN")
            b.append(nat, "ISTIO_INBOUND", "-p", "tcp", "-j", "ISTIO_IN_REDIRECT")
        else:
            for port in _split(c.inbound_ports_include):
                b.append(nat, "ISTIO_INBOUND", "-p", "tcp", "--dport", port, "-j", "ISTIO_IN_REDIRECT")
    b.append(nat, "OUTPUT", "-p", "tcp", "-j", "ISTIO_OUTPUT")
    for port in _split(c.outbound_ports_exclude):
        b.append(nat, "ISTIO_OUTPUT", "-p", "tcp", "--dport", port, "-j", "RETURN")
    b.append(nat, "ISTIO_OUTPUT", "-o", "lo", "-s", "127.0.0.6/32", "-j", "RETURN")
    loop = "127.0.0.1/32"  # HostIPv4LoopbackCidr default
    for kind, ids in (("uid", c.proxy_uid), ("gid", c.proxy_gid)):
        for ident in _split(ids):
            if dns and kind == "uid":
                b.append(nat, "ISTIO_OUTPUT", "-o", "lo", "!", "-d", loop, "-p", "tcp", "-m", "multiport", "!",
                         "--dports", "53," + c.inbound_tunnel_port, "-m", "owner", f"--{kind}-owner", ident,
                         "-j", "ISTIO_IN_REDIRECT")
            else:
                b.append(nat, "ISTIO_OUTPUT", "-o", "lo", "!", "-d", loop, "-p", "tcp", "!", "--dport",
                         c.inbound_tunnel_port, "-m", "owner", f"--{kind}-owner", ident, "-j", "ISTIO_IN_REDIRECT")
            if not include_loopback:
                if dns:
                    b.append(nat, "ISTIO_OUTPUT", "-o", "lo", "-p", "tcp", "!", "--dport", "53", "-m", "owner", "!",
                             f"--{kind}-owner", ident, "-j", "RETURN")
                else:
                    b.append(nat, "ISTIO_OUTPUT", "-o", "lo", "-m", "owner", "!", f"--{kind}-owner", ident,
                             "-j", "RETURN")
            b.append(nat, "ISTIO_OUTPUT", "-m", "owner", f"--{kind}-owner", ident, "-j", "RETURN")
    if dns:
        if c.capture_all_dns:
            b.append(nat, "ISTIO_OUTPUT", "-p", "tcp", "--dport", "53", "-j", "REDIRECT", "--to-ports", "15053")
        else:
            for server in c.dns_servers:
                b.append(nat, "ISTIO_OUTPUT", "-p", "tcp", "--dport", "53", "-d", server + "/32", "-j", "REDIRECT",
                         "--to-ports", "15053")
    b.append(nat, "ISTIO_OUTPUT", "-d", loop, "-j", "RETURN")
    for cidr in exclude:
        b.append(nat, "ISTIO_OUTPUT", "-d", cidr, "-j", "RETURN")
    for port in _split(c.outbound_ports_include):  # handleOutboundPortsInclude
        b.append(nat, "ISTIO_OUTPUT", "-p", "tcp", "--dport", port, "-j", "ISTIO_REDIRECT")
    if include_wild:
        b.append(nat, "ISTIO_OUTPUT", "-j", "ISTIO_REDIRECT")
    elif include:
        for cidr in include:
            b.append(nat, "ISTIO_OUTPUT", "-d", cidr, "-j", "ISTIO_REDIRECT")
        if not udp_via_output:
            b.append(nat, "ISTIO_OUTPUT", "-j", "RETURN")
    if dns:
        _dns_udp(b, c, udp_via_output)
    return b.text()


def _dns_udp(b: _Builder, c: CaptureConfig, udp_via_output: bool) -> None:
    """HandleDNSUDP + addConntrackZoneDNSUDP (owner-group filter: none)."""
    chain = "ISTIO_OUTPUT" if udp_via_output else "OUTPUT"
    if udp_via_output:
        b.append("nat", "OUTPUT", "-p", "udp", "-j", "ISTIO_OUTPUT")
        b.append("raw", "OUTPUT", "-p", "udp", "-j", "ISTIO_OUTPUT")
    for kind, ids in (("uid", c.proxy_uid), ("gid", c.proxy_gid)):
        for ident in _split(ids):
            b.append("nat", chain, "-p", "udp", "--dport", "53", "-m", "owner", f"--{kind}-owner", ident, "-j", "RETURN")
    servers = [None] if c.capture_all_dns else list(c.dns_servers)
    for server in servers:
        dst = () if server is None else ("-d", server + "/32")
        b.append("nat", chain, "-p", "udp", "--dport", "53", *dst, "-j", "REDIRECT", "--to-port", "15053")
    for kind, ids in (("uid", c.proxy_uid), ("gid", c.proxy_gid)):
        for ident in _split(ids):
            b.append("raw", chain, "-p", "udp", "--dport", "53", "-m", "owner", f"--{kind}-owner", ident,
                     "-j", "CT", "--zone", "1")
            b.append("raw", chain, "-p", "udp", "--sport", "15053", "-m", "owner", f"--{kind}-owner", ident,
                     "-j", "CT", "--zone", "2")
    for server in servers:
        dst = () if server is None else ("-d", server + "/32")
        src = () if server is None else ("-s", server + "/32")
        b.append("raw", chain, "-p", "udp", "--dport", "53", *dst, "-j", "CT", "--zone", "2")
        b.append("raw", "PREROUTING", "-p", "udp", "--sport", "53", *src, "-j", "CT", "--zone", "1")


INPOD_MARK = "0x539/0xfff"
INPOD_TPROXY_MARK = "0x111/0xfff"
PROBE_SNAT_IP = "169.254.7.127"


def ambient_inpod_rules(version: IstioVersion, dns_capture: bool) -> str:
    """The rules istio-cni writes in an ambient pod's netns (1.21+; cni/pkg/iptables/iptables.go)."""
    f = flags(version)
    if not f.ambient_inpod_redirection:
        raise ValueError(f"Istio {version} has no in-pod ambient redirection (node-level capture before 1.21)")
    m, t = INPOD_MARK, INPOD_TPROXY_MARK
    restore = f"-A ISTIO_OUTPUT -m connmark --mark {t} -j CONNMARK --restore-mark --nfmask 0xffffffff --ctmask 0xffffffff"
    if not f.ambient_inpod_redirect_not_tproxy:
        # istio@1.21.0..1.23.0 cni/pkg/iptables/testdata/default.golden, grouped by table (command order kept)
        mangle = ["* mangle", "-N ISTIO_PRERT", "-N ISTIO_OUTPUT", "-A PREROUTING -j ISTIO_PRERT",
                  "-A OUTPUT -j ISTIO_OUTPUT",
                  f"-A ISTIO_PRERT -m mark --mark {m} -j CONNMARK --set-xmark {t}",
                  f"-A ISTIO_PRERT -s {PROBE_SNAT_IP} -p tcp -m tcp -j ACCEPT",
                  "-A ISTIO_PRERT ! -d 127.0.0.1/32 -p tcp -i lo -j ACCEPT",
                  (f"-A ISTIO_PRERT -p tcp -m tcp --dport 15008 -m mark ! --mark {m} -j TPROXY --on-port 15008 "
                   f"--tproxy-mark {t}"),
                  "-A ISTIO_PRERT -p tcp -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
                  (f"-A ISTIO_PRERT ! -d 127.0.0.1/32 -p tcp -m mark ! --mark {m} -j TPROXY --on-port 15006 "
                   f"--tproxy-mark {t}"),
                  restore, "COMMIT"]
        nat = ["* nat", "-N ISTIO_OUTPUT", "-A OUTPUT -j ISTIO_OUTPUT",
               f"-A ISTIO_OUTPUT -d {PROBE_SNAT_IP} -p tcp -m tcp -j ACCEPT",
               *(["-A ISTIO_OUTPUT ! -o lo -p udp -m udp --dport 53 -j REDIRECT --to-port 15053"] if dns_capture else []),
               f"-A ISTIO_OUTPUT -p tcp -m mark --mark {t} -j ACCEPT",
               "-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -j ACCEPT",
               f"-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -p tcp -m mark ! --mark {m} -j REDIRECT --to-ports 15001",
               "COMMIT"]
        return "\n".join(mangle + nat) + "\n"
    # istio@1.24.0 cni/pkg/iptables/testdata/default.golden (DNS lines only with dns_capture)
    mangle = ["* mangle", "-N ISTIO_PRERT", "-N ISTIO_OUTPUT", "-A PREROUTING -j ISTIO_PRERT",
              "-A OUTPUT -j ISTIO_OUTPUT", f"-A ISTIO_PRERT -m mark --mark {m} -j CONNMARK --set-xmark {t}",
              restore, "COMMIT"]
    nat_dns = [f"-A ISTIO_OUTPUT ! -o lo -p udp -m mark ! --mark {m} -m udp --dport 53 -j REDIRECT --to-port 15053",
               f"-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -p tcp --dport 53 -m mark ! --mark {m} -j REDIRECT --to-ports 15053"]
    nat = ["* nat", "-N ISTIO_PRERT", "-N ISTIO_OUTPUT", "-A OUTPUT -j ISTIO_OUTPUT", "-A PREROUTING -j ISTIO_PRERT",
           f"-A ISTIO_PRERT -s {PROBE_SNAT_IP} -p tcp -m tcp -j ACCEPT",
           f"-A ISTIO_OUTPUT -d {PROBE_SNAT_IP} -p tcp -m tcp -j ACCEPT",
           f"-A ISTIO_PRERT ! -d 127.0.0.1/32 -p tcp ! --dport 15008 -m mark ! --mark {m} -j REDIRECT --to-ports 15006",
           *(nat_dns if dns_capture else []),
           f"-A ISTIO_OUTPUT -p tcp -m mark --mark {t} -j ACCEPT",
           "-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -j ACCEPT",
           f"-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -p tcp -m mark ! --mark {m} -j REDIRECT --to-ports 15001",
           "COMMIT"]
    raw = ["* raw", "-N ISTIO_OUTPUT", "-N ISTIO_PRERT", "-A PREROUTING -j ISTIO_PRERT", "-A OUTPUT -j ISTIO_OUTPUT",
           f"-A ISTIO_OUTPUT -p udp -m mark --mark {m} -m udp --dport 53 -j CT --zone 1",
           f"-A ISTIO_PRERT -p udp -m mark ! --mark {m} -m udp --sport 53 -j CT --zone 1", "COMMIT"]
    return "\n".join(mangle + nat + (raw if dns_capture else [])) + "\n"


# -- <= 1.20: node-level ambient capture (istio-cni node agent, iptables redirect mode) ------------------------------
# istio@1.20.0:cni/pkg/ambient/constants/constants.go
ZTUNNEL_PODS_IPSET = "ztunnel-pods-ips"  # options.go; hash:ip with comments (the pod UID), ipset/ipset_linux.go
OUTBOUND_MARK = "0x100/0x100"  # OutboundMask + "/" + OutboundMask
SKIP_MARK = "0x200/0x200"
CONN_SKIP_MARK = "0x220/0x220"
PROXY_MARK = "0x210/0x210"
PROXY_RET_MARK = "0x040/0x040"
TPROXY_MARK = "0x400/0xfff"  # fmt.Sprintf("0x%x", TProxyMark) + "/" + fmt.Sprintf("0x%x", TProxyMask)
ORG_SRC_RET_MARK = "0x4d3/0xfff"
INBOUND_TUN, OUTBOUND_TUN = "istioin", "istioout"  # host side; the ztunnel netns has "p" + name
INBOUND_TUN_IP, ZTUNNEL_INBOUND_TUN_IP = "192.168.126.1", "192.168.126.2"  # /30 (TunPrefix)
OUTBOUND_TUN_IP, ZTUNNEL_OUTBOUND_TUN_IP = "192.168.127.1", "192.168.127.2"
INBOUND_TUN_VNI, OUTBOUND_TUN_VNI = 1000, 1001
GENEVE_PORT = 6081  # determineDstPortForGeneveLink starts here (1.19+; 1.18 hard-codes it)
ROUTE_TABLE_INBOUND, ROUTE_TABLE_OUTBOUND, ROUTE_TABLE_PROXY = 100, 101, 102


def _node_level(version: IstioVersion) -> None:
    if flags(version).ambient_inpod_redirection:
        raise ValueError(f"Istio {version} has no node-level ambient capture (in-pod redirection from 1.21)")


def _restore(tables: dict[str, tuple[list[str], list[str]]]) -> str:
    out: list[str] = []
    for table in ("mangle", "nat", "filter"):
        if table in tables:
            head, rules = tables[table]
            out += [f"* {table}", *head, *rules, "COMMIT"]
    return "\n".join(out) + "\n"


def ambient_node_rules(version: IstioVersion, ztunnel_ip: str, *, ztunnel_veth: str, host_ip: str,
                       capture_dns: bool = False, geneve_port: int = GENEVE_PORT) -> str:
    """The node netns rules istio-cni (<= 1.20, redirect mode iptables) writes when ztunnel comes up:
    `Server.CreateRulesOnNode(ztunnelVeth, ztunnelIP, captureDNS, geneveDstPort)` after `initializeLists`.

    - `ztunnel_veth`: the host-side veth of the ztunnel pod (the rules tell ztunnel's own traffic apart by it, so
      it must differ from the app pods' veth in the simulated node);
    - `host_ip`: `HostIP`, the node address inside its pod CIDR (GetHostIP; `10.244.0.1` on kind/kindnet);
    - `capture_dns`: ISTIO_META_DNS_CAPTURE=true on the ztunnel pod (unset by the charts).
    Chains are hooked with `-I <BUILTIN> -j ztunnel-...` (initializeLists), i.e. ahead of kube-proxy's jumps; load
    it with `Ruleset.restore(text, noflush=True)` on top of the node's rules. Rules are appended in
    CreateRulesOnNode's order (appendRules, then appendRules2), grouped by table. Every TCP packet from an address
    in the ipset `ztunnel-pods-ips` that is not skipped gets mark 0x100, which `ambient_node_routes` sends into the
    `istioout` geneve tunnel to ztunnel.
    """
    _node_level(version)
    f = flags(version)
    ipset = ZTUNNEL_PODS_IPSET
    mangle_chains = ["ztunnel-PREROUTING", "ztunnel-POSTROUTING", "ztunnel-OUTPUT", "ztunnel-INPUT",
                     "ztunnel-FORWARD"]
    # istio@1.20.0:cni/pkg/ambient/iptables.go initializeLists (-N, then -I BUILTIN -j chain)
    mangle = ([f"-N {c}" for c in mangle_chains],
              [f"-I {c.removeprefix('ztunnel-')} -j {c}" for c in mangle_chains])
    nat = (["-N ztunnel-PREROUTING", "-N ztunnel-POSTROUTING"],
           ["-I PREROUTING -j ztunnel-PREROUTING", "-I POSTROUTING -j ztunnel-POSTROUTING"])
    filt = (["-N ztunnel-FORWARD"], ["-I FORWARD -j ztunnel-FORWARD"])
    m, n, fl = mangle[1], nat[1], filt[1]
    # appendRules (net_linux.go CreateRulesOnNode)
    m += [f"-A ztunnel-PREROUTING -i {INBOUND_TUN} -j MARK --set-mark {SKIP_MARK}",
          f"-A ztunnel-PREROUTING -i {INBOUND_TUN} -j RETURN",
          f"-A ztunnel-PREROUTING -i {OUTBOUND_TUN} -j MARK --set-mark {SKIP_MARK}",
          f"-A ztunnel-PREROUTING -i {OUTBOUND_TUN} -j RETURN",
          f"-A ztunnel-FORWARD -m mark --mark {CONN_SKIP_MARK} -j CONNMARK --save-mark --nfmask 0x220 --ctmask 0x220",
          f"-A ztunnel-INPUT -m mark --mark {CONN_SKIP_MARK} -j CONNMARK --save-mark --nfmask 0x220 --ctmask 0x220",
          f"-A ztunnel-FORWARD -m mark --mark {PROXY_MARK} -j CONNMARK --save-mark --nfmask 0x210 --ctmask 0x210",
          f"-A ztunnel-INPUT -m mark --mark {PROXY_MARK} -j CONNMARK --save-mark --nfmask 0x210 --ctmask 0x210"]
    if f.ambient_node_probe_skip_socket_exists:
        m.append(f"-A ztunnel-OUTPUT -m owner --socket-exists -p tcp -m set --match-set {ipset} dst "
                 f"--source {host_ip} -j MARK --set-mark 0x220")
    else:  # istio@1.18.0
        m.append(f"-A ztunnel-OUTPUT --source {host_ip} -j MARK --set-mark 0x220")
    n += [f"-A ztunnel-PREROUTING -m mark --mark {OUTBOUND_MARK} -j ACCEPT",
          f"-A ztunnel-POSTROUTING -m mark --mark {OUTBOUND_MARK} -j ACCEPT"]
    if f.ambient_node_filter_forward_accept:
        fl.append(f"-A ztunnel-FORWARD -m mark --mark {OUTBOUND_MARK} -j ACCEPT")
    if capture_dns:
        n.append(f"-A ztunnel-PREROUTING -p udp -m set --match-set {ipset} src --dport 53 -j DNAT "
                 f"--to {ztunnel_ip}:15053")
    # appendRules2
    m += [f"-A ztunnel-PREROUTING -p udp -m udp --dport {geneve_port} -j RETURN",
          f"-A ztunnel-PREROUTING -m connmark --mark {CONN_SKIP_MARK} -j MARK --set-mark {SKIP_MARK}",
          f"-A ztunnel-PREROUTING -m mark --mark {SKIP_MARK} -j RETURN",
          (f"-A ztunnel-PREROUTING ! -i {ztunnel_veth} -m connmark --mark {PROXY_MARK} -j MARK --set-mark "
           f"{PROXY_RET_MARK}"),
          f"-A ztunnel-PREROUTING -m mark --mark {PROXY_RET_MARK} -j RETURN",
          f"-A ztunnel-PREROUTING -i {ztunnel_veth} ! --source {ztunnel_ip} -j MARK --set-mark {PROXY_MARK}",
          f"-A ztunnel-PREROUTING -m mark --mark {SKIP_MARK} -j RETURN",
          f"-A ztunnel-PREROUTING -i {ztunnel_veth} -j MARK --set-mark {CONN_SKIP_MARK}",
          f"-A ztunnel-PREROUTING -p udp -j MARK --set-mark {CONN_SKIP_MARK}",
          f"-A ztunnel-PREROUTING -m mark --mark {SKIP_MARK} -j RETURN",
          f"-A ztunnel-PREROUTING -p tcp -m set --match-set {ipset} src -j MARK --set-mark {OUTBOUND_MARK}"]
    tables = {"mangle": mangle, "nat": nat, **({"filter": filt} if f.ambient_node_filter_forward_accept else {})}
    return _restore(tables)


def ztunnel_pod_rules(version: IstioVersion, ztunnel_ip: str, *, device: str = "eth0") -> str:
    """The rules istio-cni (<= 1.20) writes inside the ztunnel pod's netns (`CreateRulesWithinNodeProxyNS`, after
    flushing mangle PREROUTING and nat OUTPUT): TCP arriving on the `pistioin` tunnel is TPROXYed to ztunnel's
    15008 (HBONE port) or 15006 (plaintext), TCP arriving on `pistioout` to 15001, all on 127.0.0.1 with mark
    0x400/0xfff (routed to lo by `ztunnel_pod_routes`); TCP on `device` (the pod's eth0) not addressed to ztunnel
    gets the OrgSrcRet mark 0x4d3/0xfff. Identical in 1.18-1.20."""
    _node_level(version)
    pin, pout = "p" + INBOUND_TUN, "p" + OUTBOUND_TUN
    tp = f"--tproxy-mark {TPROXY_MARK}"
    rules = [f"-A PREROUTING -p tcp -i {pin} -m tcp --dport 15008 -j TPROXY {tp} --on-port 15008 --on-ip 127.0.0.1",
             f"-A PREROUTING -p tcp -i {pout} -j TPROXY {tp} --on-port 15001 --on-ip 127.0.0.1",
             f"-A PREROUTING -p tcp -i {pin} -j TPROXY {tp} --on-port 15006 --on-ip 127.0.0.1",
             f"-A PREROUTING -p tcp -i {device} ! --dst {ztunnel_ip} -j MARK --set-mark {ORG_SRC_RET_MARK}"]
    return _restore({"mangle": ([], rules)})


@dataclass(frozen=True)
class IpRule:
    """`ip rule add priority P [fwmark V/M] (lookup T | goto G)`."""

    priority: int
    table: int | None = None
    fwmark: str | None = None  # "0x100/0x100"
    goto: int | None = None

    def __str__(self) -> str:
        mark = f" fwmark {self.fwmark}" if self.fwmark else ""
        action = f"goto {self.goto}" if self.goto is not None else f"lookup {self.table}"
        return f"ip rule add priority {self.priority}{mark} {action}"


@dataclass(frozen=True)
class IpRoute:
    """`ip route add [local] DST [via GW] dev DEV [scope S] [src A] [onlink] table T`."""

    table: int
    destination: str  # "0.0.0.0/0", "10.244.0.5" (a /32)
    device: str
    via: str | None = None
    scope: str | None = None  # "link" | "host"
    source: str | None = None
    onlink: bool = False
    local: bool = False  # route type local (delivers to this host: TPROXY)

    def __str__(self) -> str:
        parts = ["ip route add", *(["local"] if self.local else []), self.destination]
        parts += [f"via {self.via}"] if self.via else []
        parts += [f"dev {self.device}"]
        parts += [f"scope {self.scope}"] if self.scope else []
        parts += [f"src {self.source}"] if self.source else []
        parts += ["onlink"] if self.onlink else []
        return " ".join([*parts, f"table {self.table}"])


@dataclass(frozen=True)
class GeneveTunnel:
    """A geneve device istio-cni creates (netlink.Geneve): VNI, remote, dst port, and its /30 address."""

    name: str
    vni: int
    remote: str
    address: str  # "192.168.127.1/30"
    port: int = GENEVE_PORT


def ambient_node_routes(version: IstioVersion, ztunnel_ip: str, *, ztunnel_veth: str) -> list[IpRule | IpRoute]:
    """The node's policy routing for <= 1.20 capture (CreateRulesOnNode `ip route add` / `ip rule add`, in order):
    mark 0x200 (skip) goes to the main table (goto 32766); mark 0x100 (outbound) looks up table 101, whose default
    route enters the `istioout` tunnel towards ztunnel (192.168.127.2); mark 0x040 (proxy return) looks up table 102,
    straight to ztunnel's veth; everything else consults table 100, which holds only ztunnel and the per-pod
    routes (`ambient_pod_route`) into the `istioin` tunnel, so traffic to enrolled pods enters ztunnel first."""
    _node_level(version)
    veth = ztunnel_veth
    return [IpRoute(ROUTE_TABLE_OUTBOUND, ztunnel_ip, veth, scope="link"),
            IpRoute(ROUTE_TABLE_OUTBOUND, "0.0.0.0/0", OUTBOUND_TUN, via=ZTUNNEL_OUTBOUND_TUN_IP),
            IpRoute(ROUTE_TABLE_PROXY, ztunnel_ip, veth, scope="link"),
            IpRoute(ROUTE_TABLE_PROXY, "0.0.0.0/0", veth, via=ztunnel_ip, onlink=True),
            IpRoute(ROUTE_TABLE_INBOUND, ztunnel_ip, veth, scope="link"),
            IpRule(100, fwmark=SKIP_MARK, goto=32766),
            IpRule(101, fwmark=OUTBOUND_MARK, table=ROUTE_TABLE_OUTBOUND),
            IpRule(102, fwmark=PROXY_RET_MARK, table=ROUTE_TABLE_PROXY),
            IpRule(103, table=ROUTE_TABLE_INBOUND)]


def ambient_pod_route(version: IstioVersion, pod_ip: str, *, host_ip: str) -> IpRoute:
    """The route istio-cni adds per enrolled pod (net.go addPodToMeshWithIptables, buildRouteForPod):
    `table 100 <podIP>/32 via 192.168.126.2 dev istioin src <HostIP>`, next to the ipset entry."""
    _node_level(version)
    return IpRoute(ROUTE_TABLE_INBOUND, f"{pod_ip}/32", INBOUND_TUN, via=ZTUNNEL_INBOUND_TUN_IP, source=host_ip)


def ztunnel_pod_routes(version: IstioVersion, host_ip: str, *, device: str = "eth0") -> list[IpRule | IpRoute]:
    """Policy routing inside the ztunnel pod's netns (CreateRulesWithinNodeProxyNS): TPROXY-marked (0x400/0xfff,
    priority 20000) and OrgSrcRet-marked (0x4d3/0xfff, 20003) packets use table 100, `local 0.0.0.0/0 dev lo`;
    tables 101/102 send back through pistioout/pistioin (no rule in this netns points at them) and reach the
    node's `host_ip` (GetHostIPByRoute) over `device`."""
    _node_level(version)
    return [IpRule(20000, fwmark=TPROXY_MARK, table=ROUTE_TABLE_INBOUND),
            IpRule(20003, fwmark=ORG_SRC_RET_MARK, table=ROUTE_TABLE_INBOUND),
            IpRoute(ROUTE_TABLE_INBOUND, "0.0.0.0/0", "lo", scope="host", local=True),
            IpRoute(ROUTE_TABLE_OUTBOUND, "0.0.0.0/0", "p" + OUTBOUND_TUN, via=OUTBOUND_TUN_IP),
            IpRoute(ROUTE_TABLE_PROXY, "0.0.0.0/0", "p" + INBOUND_TUN, via=INBOUND_TUN_IP),
            IpRoute(ROUTE_TABLE_OUTBOUND, f"{host_ip}/32", device, scope="link"),
            IpRoute(ROUTE_TABLE_PROXY, f"{host_ip}/32", device, scope="link")]


def ambient_tunnels(version: IstioVersion, ztunnel_ip: str, host_ip: str, *, geneve_port: int = GENEVE_PORT,
                    ) -> tuple[list[GeneveTunnel], list[GeneveTunnel]]:
    """(node side, ztunnel side) geneve devices: istioin/istioout remote ztunnel_ip on the node,
    pistioin/pistioout remote host_ip in the ztunnel pod (VNI 1000 inbound, 1001 outbound)."""
    _node_level(version)
    node = [GeneveTunnel(INBOUND_TUN, INBOUND_TUN_VNI, ztunnel_ip, f"{INBOUND_TUN_IP}/30", geneve_port),
            GeneveTunnel(OUTBOUND_TUN, OUTBOUND_TUN_VNI, ztunnel_ip, f"{OUTBOUND_TUN_IP}/30", geneve_port)]
    pod = [GeneveTunnel("p" + INBOUND_TUN, INBOUND_TUN_VNI, host_ip, f"{ZTUNNEL_INBOUND_TUN_IP}/30", geneve_port),
           GeneveTunnel("p" + OUTBOUND_TUN, OUTBOUND_TUN_VNI, host_ip, f"{ZTUNNEL_OUTBOUND_TUN_IP}/30", geneve_port)]
    return node, pod


def inpod_probe_set(version: IstioVersion) -> str:
    """The node ipset of enrolled pod IPs whose kubelet probes bypass ztunnel (1.21+)."""
    return "istio-inpod-probes-v4" if flags(version).ambient_inpod_redirect_not_tproxy else "istio-inpod-probes"


def inpod_probe_host_rules(version: IstioVersion) -> str:
    """The node-side rule of in-pod capture (istio@1.21.0 / 1.24.0 cni/pkg/iptables/testdata/hostprobe.golden):
    the kubelet's probes to enrolled pods leave the node SNATed to 169.254.7.127, which the in-pod rules accept
    without redirecting to ztunnel."""
    if not flags(version).ambient_inpod_redirection:
        raise ValueError(f"Istio {version} has no in-pod ambient redirection (node-level capture before 1.21)")
    snat = (f"-A ISTIO_POSTRT -m owner --socket-exists -p tcp -m set --match-set {inpod_probe_set(version)} dst "
            f"-j SNAT --to-source {PROBE_SNAT_IP}")
    return f"* nat\n-N ISTIO_POSTRT\n-A POSTROUTING -j ISTIO_POSTRT\n{snat}\nCOMMIT\n"
