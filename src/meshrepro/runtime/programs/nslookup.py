"""busybox nslookup (1.36, the applet with its own resolver): `nslookup NAME [SERVER]`.

It reads /etc/resolv.conf itself, appends each `search` domain only to names without a dot (so
`nslookup kubernetes.default` asks for exactly that name), sends A and AAAA queries for every
candidate at once, and prints each reply as it comes, NXDOMAIN included.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from meshrepro.net.errors import NetError, NetErrorKind
from meshrepro.runtime.fs import FsError
from meshrepro.runtime.process import Process, ProgramRun
from meshrepro.runtime.programs.netfmt import Steps, within

TIMEOUT = 5.0  # G.default_timeout: seconds per server for all queries together


@dataclass
class ResolvConf:
    nameservers: list[str] = field(default_factory=list)
    search: list[str] = field(default_factory=list)


def read_resolv_conf(proc: Process) -> ResolvConf:
    """parse_resolvconf(): `nameserver` lines, and the last `search` (or `domain`) line."""
    conf = ResolvConf()
    try:
        text = proc.host.fs.read("/etc/resolv.conf")
    except FsError:
        text = ""
    have_search = False
    for line in text.splitlines():
        words = line.split()
        if len(words) < 2:
            continue
        if words[0] == "search" or (words[0] == "domain" and not have_search):
            have_search = have_search or words[0] == "search"
            conf.search = words[1:]
        elif words[0] == "nameserver":
            conf.nameservers.append(words[1])
    if conf.search == ["."]:
        conf.search = []
    return conf


def _queries(name: str, search: list[str]) -> list[tuple[str, str]]:
    """add_query_with_search() for A, then for AAAA."""
    names = [name] if "." in name or not search else [f"{name}.{domain}" for domain in search]
    return [("A", n) for n in names] + [("AAAA", n) for n in names]


def nslookup(proc: Process) -> ProgramRun:
    args = [a for a in proc.argv[1:] if not a.startswith("-")]  # -type=, -debug ...: not modelled
    if not args or len(args) > 2:
        proc.stderr.write("BusyBox v1.36.1 (2023-05-18 22:34:17 UTC) multi-call binary.\n\n"
                          "Usage: nslookup [-type=QUERY_TYPE] [-debug] HOST [DNS_SERVER]\n\n"
                          "Query DNS about HOST\n\nQUERY_TYPE: soa,ns,a,aaaa,cname,mx,txt,any,srv,ptr\n")
        return 1
    name = args[0]
    conf = read_resolv_conf(proc)
    servers = [args[1]] if len(args) == 2 else (conf.nameservers or ["127.0.0.1"])
    try:
        ipaddress.ip_address(name)
        proc.stdout.write(f"Server:\t\t{servers[0]}\nAddress:\t{servers[0]}:53\n\n")
        proc.stdout.write(f"** server can't find {_ptr(name)}: NXDOMAIN\n\n")  # no PTR records are modelled
        return 1
    except ValueError:
        pass

    queries = _queries(name, conf.search)
    # Each server gets TIMEOUT seconds for all queries; the host's resolver answers for every server
    # (it holds the same nameserver list), so the first server that answers decides.
    for server in servers:
        done, answers = yield from within(proc, _resolve_all(proc, [n for _, n in queries]), TIMEOUT)
        if done and any(not _unanswered(a) for a in answers.values()):
            return _print(proc, server, queries, answers, conf)
    proc.stdout.write(";; connection timed out; no servers could be reached\n\n")
    return 1


def _unanswered(answer: list[str] | NetError) -> bool:
    return isinstance(answer, NetError) and answer.kind is NetErrorKind.DNS_FAILURE


def _resolve_all(proc: Process, names: list[str]) -> Steps[dict[str, list[str] | NetError]]:
    results: dict[str, list[str] | NetError] = {}
    for fqdn in dict.fromkeys(names):
        results[fqdn] = yield from proc.host.network.resolve(fqdn)
    return results


def _print(proc: Process, server: str, queries: list[tuple[str, str]], answers: dict[str, list[str] | NetError],
           conf: ResolvConf) -> int:
    out = proc.stdout
    out.write(f"Server:\t\t{server}\nAddress:\t{server}:53\n\n")
    status = 0
    cluster_zone = conf.search[-1] if conf.search else None
    for qtype, fqdn in queries:
        answer = answers[fqdn]
        if _unanswered(answer):
            continue  # reported after all replies, below
        if isinstance(answer, NetError):
            out.write(f"** server can't find {fqdn}: NXDOMAIN\n\n")
            status = 1
            continue
        # CoreDNS answers for its own zone with the AA bit; forwarded answers lack it.
        authoritative = cluster_zone is not None and (fqdn == cluster_zone or fqdn.endswith("." + cluster_zone))
        if not authoritative:
            out.write("Non-authoritative answer:\n")
        if qtype == "A":  # the cluster has no IPv6: AAAA queries get an empty (NODATA) answer
            out.write("".join(f"Name:\t{fqdn}\nAddress: {address}\n" for address in answer))
        out.write("\n")
    missing = [fqdn for _, fqdn in queries if _unanswered(answers[fqdn])]
    if missing:
        out.write("".join(f"*** Can't find {fqdn}: No answer\n" for fqdn in missing) + "\n")
    return status


def _ptr(address: str) -> str:
    return ".".join(reversed(address.split("."))) + ".in-addr.arpa"
