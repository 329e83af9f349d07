"""busybox nslookup: search domains only for dotless names, every reply printed, exit 1 on any NXDOMAIN."""

from __future__ import annotations

from netfakes import net_host, run

from meshrepro.net.errors import NetErrorKind as K
from meshrepro.runtime.programs.nslookup import nslookup

RESOLV = ("search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\n"
          "options ndots:5\n")
SERVER = "Server:\t\t10.96.0.10\nAddress:\t10.96.0.10:53\n\n"


def cluster(**network: object) -> object:
    names = {"kubernetes.default.svc.cluster.local": ["10.96.0.1"], "example.com": ["93.184.216.34"]}
    return net_host(files={"/etc/resolv.conf": RESOLV}, names=network.pop("names", names), **network)


def test_dotless_name_tries_every_search_domain_for_a_and_aaaa() -> None:
    host = cluster()
    result = run(host, nslookup, "nslookup kubernetes")
    nx = ("** server can't find kubernetes.svc.cluster.local: NXDOMAIN\n\n"
          "** server can't find kubernetes.cluster.local: NXDOMAIN\n\n")
    assert result.stdout == (SERVER + "Name:\tkubernetes.default.svc.cluster.local\nAddress: 10.96.0.1\n\n" + nx
                             + "\n" + nx)
    assert result.status == 1  # any NXDOMAIN reply sets the exit code


def test_dotted_name_is_asked_as_is() -> None:
    result = run(cluster(), nslookup, "nslookup kubernetes.default")
    assert result.stdout == SERVER + "** server can't find kubernetes.default: NXDOMAIN\n\n" * 2
    assert result.status == 1


def test_fqdn_in_cluster_zone_is_authoritative_and_outside_is_not() -> None:
    host = cluster()
    inside = run(host, nslookup, "nslookup kubernetes.default.svc.cluster.local")
    assert (inside.status, inside.stdout) == (
        0, SERVER + "Name:\tkubernetes.default.svc.cluster.local\nAddress: 10.96.0.1\n\n\n")
    outside = run(host, nslookup, "nslookup example.com")
    assert outside.stdout == (SERVER + "Non-authoritative answer:\nName:\texample.com\nAddress: 93.184.216.34\n\n"
                              "Non-authoritative answer:\n\n")


def test_server_argument_names_the_server() -> None:
    result = run(cluster(), nslookup, "nslookup example.com 8.8.8.8")
    assert result.stdout.startswith("Server:\t\t8.8.8.8\nAddress:\t8.8.8.8:53\n\n")


def test_no_dns_answer_times_out_after_five_seconds_per_server() -> None:
    host = net_host(files={"/etc/resolv.conf": "nameserver 10.96.0.10\nnameserver 10.96.0.11\n"},
                    names={"x.example": K.DNS_FAILURE}, resolve_delay=10.0)
    result = run(host, nslookup, "nslookup x.example")
    assert (result.status, result.stdout) == (1, ";; connection timed out; no servers could be reached\n\n")
    assert result.elapsed == 10.0


def test_usage() -> None:
    result = run(cluster(), nslookup, "nslookup")
    assert result.status == 1 and "Usage: nslookup" in result.stderr
