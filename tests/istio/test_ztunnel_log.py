"""istio/ztunnel_log.py: each line pinned to the upstream format string (tag:file in the comment) or to a real log.

Real lines from issues keep their bytes where the issue kept them. Two caveats, noted at each use:
- ztunnel's IstioFormat writes a tab after the message even when no field follows (ztunnel@1.22.0:src/telemetry.rs
  `"message" => write!(self.writer, "{:?}\\t", val)`); issue copies usually drop that trailing tab (#54889 kept it).
- istio-cni lines pasted into issues had their tabs turned into runs of spaces: those compare with whitespace
  collapsed (`squash`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from meshrepro.istio import ztunnel_log as z
from meshrepro.istio.ztunnel_log import AccessLog, BuildInfo, Display, Span

TS = datetime(2024, 1, 20, 2, 24, 10, 123456, tzinfo=UTC)
STAMP = "2024-01-20T02:24:10.123456Z"


def at(text: str) -> datetime:
    """A real line's timestamp back into a datetime."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def squash(line: str) -> str:
    return re.sub(r"\s+", " ", line).strip()


# -- primitives ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("nanos,text", [
    (85_300, "85.3µs"),  # istio-facts.md 4.4
    (6_000_000, "6ms"),
    (8_031_898, "8.031898ms"),  # istio/ztunnel#274 log: `dur=8.031898ms`
    (339_387_380_351, "339.387380351s"),  # istio/istio#52487 log: `Task 'state manager' complete (339.387380351s)`
    (1, "1ns"), (999, "999ns"), (1_000, "1µs"), (1_500_000_000, "1.5s"), (5_000_000_000, "5s"),
])
def test_rust_duration_debug(nanos: int, text: str) -> None:
    assert z.rust_duration(nanos) == text


def test_timestamp_and_debug_str() -> None:
    assert z.timestamp(TS) == STAMP
    assert z.timestamp(datetime(2024, 1, 20, 2, 24, 10)) == "2024-01-20T02:24:10.000000Z"  # naive = UTC
    assert z.rust_debug_str('a"b\\c\nd') == '"a\\"b\\\\c\\nd"'
    assert z.printed("info") and z.printed("warn") and z.printed("error")
    assert not z.printed("debug")


def test_formats_per_release() -> None:
    spans = (Span("proxy", (("uid", Display("u1")),)), Span("outbound", (("id", Display("ab")),)))
    fields = (("a", Display("1.2.3.4:5")), ("b", "s"), ("n", 3), ("t", True))
    # tracing-subscriber-0.3.17 fmt/format/mod.rs Format<Full>: ts, level padded to 5, spans, target, fields
    assert z.ztunnel_line((1, 21, 0), TS, "info", "ztunnel::x", "msg", fields, spans) == (
        f'{STAMP}  INFO proxy{{uid=u1}}:outbound{{id=ab}}: ztunnel::x: msg a=1.2.3.4:5 b="s" n=3 t=true')
    assert z.ztunnel_line((1, 21, 0), TS, "error", "ztunnel", "m") == f"{STAMP} ERROR ztunnel: m"
    # ztunnel@1.22.0:src/telemetry.rs IstioFormat
    assert z.ztunnel_line((1, 22, 0), TS, "warn", "ztunnel::x", "msg", fields, spans) == (
        f'{STAMP}\twarn\tx:proxy{{uid=u1}}:outbound{{id=ab}}\tmsg\ta=1.2.3.4:5 b="s" n=3 t=true')
    assert z.ztunnel_line((1, 22, 0), TS, "info", "ztunnel", "m") == f"{STAMP}\tinfo\tztunnel\tm\t"


# -- ztunnel: real lines (istio-facts.md 4.4) -------------------------------------------------------------------------

def test_unknown_source_123_real_log_53271() -> None:
    # istio/istio#53271 (Istio 1.23); the issue copy has no trailing tab after the message
    timed = ("2024-09-24T19:19:03.390475Z\twarn\tstate:proxy{wl=da-dashboard2/staging-b4d9ddcc8-75qx6}:"
             "outbound{id=49c03c734e951a3da914556019f0615b}\ttimed out waiting for workload from xds")
    failed = ('2024-09-24T19:19:03.390502Z\twarn\taccess\tconnection failed\tsrc.addr=10.246.9.5:49636 '
              'dst.addr=34.48.26.163:443 direction="outbound" error="unknown source: 10.246.9.5"')
    v = (1, 23, 0)
    proxy = z.proxy_span(v, uid="x", namespace="da-dashboard2", name="staging-b4d9ddcc8-75qx6")
    info = z.workload_info("default", "da-dashboard2", "staging-b4d9ddcc8-75qx6")
    assert z.wait_timed_out(v, at("2024-09-24T19:19:03.390475Z"), conn_id="49c03c734e951a3da914556019f0615b",
                            info=info, proxy=proxy) == timed + "\t"
    assert z.connection_failed(v, at("2024-09-24T19:19:03.390502Z"), src="10.246.9.5:49636", dst="34.48.26.163:443",
                               direction="outbound",
                               error=z.unknown_source_error(v, source_ip="10.246.9.5", info=info)) == failed
    lines = z.outbound_unknown_source(v, at("2024-09-24T19:19:03.390475Z"), src="10.246.9.5:49636",
                                      dst="34.48.26.163:443", conn_id="49c03c734e951a3da914556019f0615b", info=info,
                                      proxy=proxy)
    assert lines == [timed + "\t", failed.replace("390502", "390475")]


def test_unknown_local_workload_124_real_log_54889() -> None:
    # istio/istio#54889 (1.24 wording, inbound plaintext); this issue kept the trailing tab; it shows no spans
    timed = ("2025-01-27T18:19:02.032823Z\twarn\tstate\ttimed out waiting for workload "
             "'default.istio-synthetic-tests (fortio-ztunnel-server-7c957c9776-zj8c8)' from xds\t")
    failed = ('2025-01-27T18:19:02.032896Z\twarn\taccess\tconnection failed\tsrc.addr=10.68.7.10:57524 '
              'dst.addr=10.65.42.150:8080 direction="inbound" error="failed to fetch information about local '
              'workload: default.istio-synthetic-tests (fortio-ztunnel-server-7c957c9776-zj8c8)"')
    v = (1, 24, 0)
    info = z.workload_info("default", "istio-synthetic-tests", "fortio-ztunnel-server-7c957c9776-zj8c8")
    assert z.wait_timed_out(v, at("2025-01-27T18:19:02.032823Z"), conn_id="-", info=info, spans=()) == timed
    assert z.connection_failed(v, at("2025-01-27T18:19:02.032896Z"), src="10.68.7.10:57524",
                               dst="10.65.42.150:8080", direction="inbound",
                               error=z.unknown_source_error(v, source_ip="10.68.7.10", info=info)) == failed


def test_connection_complete_real_logs() -> None:
    v = (1, 24, 0)
    # istio/ztunnel#1605 (a later release; same metrics.rs fields as 1.24): plaintext inbound, no identities
    plain = ('2025-08-06T15:25:41.967814Z\tinfo\taccess\tconnection complete\tsrc.addr=10.4.30.252:8524 '
             'dst.addr=10.4.23.70:46352 dst.service="user-profile-api.igen-app.svc.cluster.local" '
             'dst.workload="user-profile-api-6bc6649b9f-5rtbf" dst.namespace="igen-app" direction="inbound" '
             'bytes_sent=0 bytes_recv=0 duration="2ms"')
    log = AccessLog(src_addr="10.4.30.252:8524", dst_addr="10.4.23.70:46352", direction="inbound",
                    dst_service="user-profile-api.igen-app.svc.cluster.local",
                    dst_workload="user-profile-api-6bc6649b9f-5rtbf", dst_namespace="igen-app", duration_ms=2)
    assert z.connection_complete(v, at("2025-08-06T15:25:41.967814Z"), log) == plain
    # kiali/kiali#8146 (Istio 1.24, fields only): HBONE inbound with identities
    hbone = ('src.addr=10.244.0.23:37034 src.workload="waypoint-5f89fbb8b5-jwb7g" src.namespace="bookinfo" '
             'src.identity="spiffe://cluster.local/ns/bookinfo/sa/waypoint" dst.addr=10.244.0.12:15008 '
             'dst.hbone_addr=10.244.0.12:9080 dst.service="ratings.bookinfo.svc.cluster.local" '
             'dst.workload="ratings-v1-794db9df8f-pmrj9" dst.namespace="bookinfo" '
             'dst.identity="spiffe://cluster.local/ns/bookinfo/sa/bookinfo-ratings" direction="inbound" '
             'bytes_sent=444 bytes_recv=716 duration="6000ms"')
    log = AccessLog(src_addr="10.244.0.23:37034", src_workload="waypoint-5f89fbb8b5-jwb7g", src_namespace="bookinfo",
                    src_identity="spiffe://cluster.local/ns/bookinfo/sa/waypoint", dst_addr="10.244.0.12:15008",
                    dst_hbone_addr="10.244.0.12:9080", dst_service="ratings.bookinfo.svc.cluster.local",
                    dst_workload="ratings-v1-794db9df8f-pmrj9", dst_namespace="bookinfo",
                    dst_identity="spiffe://cluster.local/ns/bookinfo/sa/bookinfo-ratings", direction="inbound",
                    bytes_sent=444, bytes_recv=716, duration_ms=6000)
    assert z.connection_complete(v, TS, log) == f"{STAMP}\tinfo\taccess\tconnection complete\t{hbone}"


def test_tracing_format_failed_line() -> None:
    # istio-facts.md 4.4 reconstruction of ztunnel@1.20.0:src/proxy/outbound.rs
    # `Err(e) => warn!(dur=?start_outbound_instant.elapsed(), err=%e, "failed")` in info_span!("outbound", id=%oc.id)
    want = ("2024-01-20T02:24:10.123456Z  WARN outbound{id=5c1d…}: ztunnel::proxy::outbound: failed dur=85.3µs "
            "err=unknown source: 10.244.0.14")
    for v in ((1, 18, 0), (1, 20, 0)):
        assert z.outbound_unknown_source(v, TS, src="10.244.0.14:43210", dst="10.96.0.1:443", conn_id="5c1d…",
                                         info="-") == [want]
    # 1.21 in-pod: the per-pod span (ztunnel@1.21.0:src/inpod/statemanager.rs info_span!("proxy", uid=%..))
    proxy = z.proxy_span((1, 21, 0), uid="0e1d", namespace="default", name="p")
    assert z.outbound_unknown_source((1, 21, 0), TS, src="10.244.0.14:43210", dst="10.96.0.1:443", conn_id="5c1d",
                                     info="-", proxy=proxy) == [
        (f"{STAMP}  WARN proxy{{uid=0e1d}}:outbound{{id=5c1d}}: ztunnel::proxy::outbound: failed dur=85.3µs "
        "err=unknown source: 10.244.0.14")]


def test_version_line_real_46163() -> None:
    # istio/istio#46163 (1.19-alpha, before BuildProfile): ztunnel@1.20.0:src/main.rs info!("version: {}", ..)
    want = ('2023-07-25T23:49:50.141644Z  INFO ztunnel: version: version.BuildInfo{Version:"33af17df…", '
            'GitRevision:"…", RustVersion:"1.71.0", BuildStatus:"Clean", GitTag:"1.19.0-alpha.1-26-g33af17d", '
            'IstioVersion:"unknown"}')
    build = BuildInfo(version="33af17df…", git_revision="…", rust_version="1.71.0",
                      git_tag="1.19.0-alpha.1-26-g33af17d")
    assert z.startup((1, 19, 0), at("2023-07-25T23:49:50.141644Z"), build=build)[0] == want


# -- ztunnel: per release, from the source --------------------------------------------------------------------------

def test_early_deny_quoting_per_release() -> None:
    # ztunnel@1.22.0:src/proxy/metrics.rs log_early_deny `error = %err`; 1.22.2 `error = format!("{}", err)`
    args = {"src": "10.244.0.14:43210", "dst": "10.96.0.1:443", "direction": "outbound",
            "error": "unknown source: 10.244.0.14"}
    head = f'{STAMP}\twarn\taccess\tconnection failed\tsrc.addr=10.244.0.14:43210 dst.addr=10.96.0.1:443 '
    assert z.connection_failed((1, 22, 0), TS, **args) == head + 'direction="outbound" error=unknown source: 10.244.0.14'
    assert z.connection_failed((1, 22, 1), TS, **args) == head + 'direction="outbound" error=unknown source: 10.244.0.14'
    assert z.connection_failed((1, 22, 2), TS, **args) == head + 'direction="outbound" error="unknown source: 10.244.0.14"'
    with pytest.raises(ValueError, match="no access logs"):
        z.connection_failed((1, 21, 2), TS, **args)


def test_unknown_source_chain_per_release() -> None:
    kw = {"src": "10.244.0.14:43210", "dst": "10.96.0.1:443", "conn_id": "ab",
          "info": z.workload_info("default", "default", "nginx")}
    assert len(z.outbound_unknown_source((1, 22, 1), TS, **kw)) == 1  # no wait before 1.22.2
    timed, failed = z.outbound_unknown_source((1, 22, 2), TS, **kw,
                                              proxy=z.proxy_span((1, 22, 2), uid="u", namespace="n", name="p"))
    # ztunnel@1.22.2:src/state.rs warn!("timed out waiting for workload from xds"); span proxy{uid=..} in 1.22
    assert timed == f"{STAMP}\twarn\tstate:proxy{{uid=u}}:outbound{{id=ab}}\ttimed out waiting for workload from xds\t"
    assert failed.endswith('error="unknown source: 10.244.0.14"')
    # ztunnel@1.24.0:src/state.rs warn!("timed out waiting for workload '{wl}' from xds"), src/proxy.rs
    # UnknownSourceWorkload "failed to fetch information about local workload: {0}"
    timed, failed = z.outbound_unknown_source((1, 24, 0), TS, **kw)
    assert "timed out waiting for workload 'default.default (nginx)' from xds" in timed
    assert failed.endswith('error="failed to fetch information about local workload: default.default (nginx)"')
    with pytest.raises(ValueError, match="does not wait"):
        z.wait_timed_out((1, 22, 1), TS, conn_id="ab", info="-")


def test_policy_rejection_per_release() -> None:
    # ztunnel@1.22.0:src/proxy.rs #[error("connection closed due to policy rejection")]
    assert z.policy_rejection_error((1, 23, 0)) == "connection closed due to policy rejection"
    # ztunnel@1.24.0:src/proxy.rs "connection closed due to policy rejection: {0}", AuthorizationRejectionError
    assert z.policy_rejection_error((1, 24, 0)) == (
        "connection closed due to policy rejection: explicitly denied by: istio-system/istio_converted_static_strict")
    assert z.policy_rejection_error((1, 24, 0), policy=None) == (
        "connection closed due to policy rejection: allow policies exist, but none allowed")
    with pytest.raises(ValueError, match="RBAC rejected"):
        z.policy_rejection_error((1, 21, 0))
    # ConnectionResult::record_with_flag(Err(e)): access_log! at ERROR with `error = err` last
    log = AccessLog(src_addr="10.244.0.5:40000", dst_addr="10.244.0.10:80", direction="inbound",
                    src_workload="client", src_namespace="other", dst_service="web.default.svc.cluster.local",
                    dst_workload="web-1", dst_namespace="default", error=z.policy_rejection_error((1, 24, 0)))
    assert z.connection_complete((1, 24, 0), TS, log) == (
        f'{STAMP}\terror\taccess\tconnection complete\tsrc.addr=10.244.0.5:40000 src.workload="client" '
        'src.namespace="other" dst.addr=10.244.0.10:80 dst.service="web.default.svc.cluster.local" '
        'dst.workload="web-1" dst.namespace="default" direction="inbound" bytes_sent=0 bytes_recv=0 duration="0ms" '
        'error="connection closed due to policy rejection: explicitly denied by: '
        'istio-system/istio_converted_static_strict"')
    # 1.22.0: ztunnel@1.22.0:src/proxy/metrics.rs `src.workload = ...map(display)` - names bare
    assert z.connection_complete((1, 22, 0), TS, log).split("\t")[4].startswith(
        "src.addr=10.244.0.5:40000 src.workload=client src.namespace=other dst.addr=10.244.0.10:80 "
        "dst.service=web.default.svc.cluster.local dst.workload=web-1 dst.namespace=default direction=\"inbound\"")


def test_legacy_connection_lines_120() -> None:
    v = (1, 20, 0)
    # ztunnel@1.20.0:src/proxy/outbound.rs info!("Proxying to {} using TCP via {} type {:?}", ..)
    assert z.outbound_proxying(v, TS, conn_id="ab", destination="10.96.0.1:443", gateway="10.96.0.1:443",
                               request_type="Passthrough", hbone=False) == (
        f"{STAMP}  INFO outbound{{id=ab}}: ztunnel::proxy::outbound: Proxying to 10.96.0.1:443 using TCP via "
        "10.96.0.1:443 type Passthrough")
    # info!("proxy to {} using HBONE via {} type {:#?}", ..)
    assert z.outbound_proxying(v, TS, conn_id="ab", destination="10.244.1.5:80", gateway="10.244.1.5:15008",
                               request_type="Direct", hbone=True).endswith(
        "proxy to 10.244.1.5:80 using HBONE via 10.244.1.5:15008 type Direct")
    assert z.outbound_fast_path(v, TS, conn_id="ab", destination="10.244.0.10:80").endswith(
        ": ztunnel::proxy::outbound: proxying to 10.244.0.10:80 using node local fast path")
    # Ok(_) => info!(dur=?start_outbound_instant.elapsed(), "complete")
    assert z.outbound_complete(v, TS, conn_id="ab", elapsed_ns=1_234_567) == (
        f"{STAMP}  INFO outbound{{id=ab}}: ztunnel::proxy::outbound: complete dur=1.234567ms")
    # ztunnel@1.20.0:src/proxy/inbound_passthrough.rs: the seed's "inbound passthrough to 10.244.0.10:80"
    # info!(%source, destination=%orig, component="inbound plaintext", "accepted connection" / "connection complete")
    assert z.inbound_plaintext_accepted(v, TS, source="10.244.0.5:40000", destination="10.244.0.10:80") == (
        f'{STAMP}  INFO ztunnel::proxy::inbound_passthrough: accepted connection source=10.244.0.5:40000 '
        'destination=10.244.0.10:80 component="inbound plaintext"')
    assert z.inbound_plaintext_complete(v, TS, source="10.244.0.5:40000", destination="10.244.0.10:80").endswith(
        ': connection complete source=10.244.0.5:40000 destination=10.244.0.10:80 component="inbound plaintext"')
    # warn!(source=%.., component="inbound plaintext", "proxying failed: {}", e)
    assert z.inbound_plaintext_failed(v, TS, source="10.244.0.5:40000",
                                      error=z.unknown_destination_error("10.244.0.99")) == (
        f'{STAMP}  WARN ztunnel::proxy::inbound_passthrough: proxying failed: unknown destination: 10.244.0.99 '
        'source=10.244.0.5:40000 component="inbound plaintext"')
    # ztunnel@1.20.0:src/rbac.rs Display for Connection "{}({})->{}" with OptionDisplay None
    assert z.rbac_rejected(v, TS, src_ip="10.244.0.5", src_identity=None, dst="10.244.0.10:80") == (
        f"{STAMP}  INFO ztunnel::proxy::inbound_passthrough: RBAC rejected conn=10.244.0.5(None)->10.244.0.10:80")
    for fn in (z.outbound_complete, z.outbound_failed):
        with pytest.raises(ValueError, match="access logs"):
            fn((1, 22, 0), TS, conn_id="ab", elapsed_ns=1, **({"error": "e"} if fn is z.outbound_failed else {}))


# -- ztunnel startup ------------------------------------------------------------------------------------------------

def test_startup_120_shared_proxy() -> None:
    lines = z.startup((1, 20, 0), TS)
    assert [line.removeprefix(f"{STAMP}  INFO ") for line in lines[1:]] == [
        "ztunnel: running with config: proxy: true",  # main.rs; serde_yaml of Config, first field `proxy`
        'ztunnel::hyper_util: listener established address=[::]:15021 component="readiness"',  # hyper_util.rs
        'ztunnel::hyper_util: listener established address=[::]:15020 component="stats"',
        'ztunnel::hyper_util: listener established address=127.0.0.1:15000 component="admin"',
        # ztunnel@1.20.0:src/proxy/{inbound,inbound_passthrough,outbound,socks5}.rs `listener established`
        'ztunnel::proxy::inbound: listener established address=[::]:15008 component="inbound" transparent=true',
        ('ztunnel::proxy::inbound_passthrough: listener established address=[::]:15006 component="inbound plaintext" '
        'transparent=true'),
        'ztunnel::proxy::outbound: listener established address=[::]:15001 component="outbound" transparent=true',
        'ztunnel::proxy::socks5: listener established address=127.0.0.1:15080 component="socks5"',
    ]
    assert lines[0].startswith(f'{STAMP}  INFO ztunnel: version: version.BuildInfo{{Version:"1.20.0", '
                               'GitRevision:"6f0d7bed19ca360dfbdc43d3262e6b29ea75c8e2", RustVersion:"unknown", '
                               'BuildStatus:"Clean"')


def test_startup_inpod() -> None:
    # ztunnel@1.21.0:src/app.rs tracing::info!("in-pod mode enabled"); 1.23.0 "shared proxy mode - in-pod mode enabled"
    assert f"{STAMP}  INFO ztunnel::app: in-pod mode enabled" in z.startup((1, 21, 0), TS)
    assert f"{STAMP}\tinfo\tapp\tin-pod mode enabled\t" in z.startup((1, 22, 2), TS)
    lines = z.startup((1, 24, 0), TS)
    assert f"{STAMP}\tinfo\tapp\tshared proxy mode - in-pod mode enabled\t" in lines
    assert 'BuildProfile:"release"' in lines[0]  # ztunnel@1.22.0:src/version.rs
    # istio/istio#55937 (a later release, same hyper_util.rs): the three server lines, in this order
    assert lines[2:] == [f"{STAMP}\tinfo\thyper_util\tlistener established\taddress=[::]:15021 component=\"readiness\"",
                         f"{STAMP}\tinfo\tapp\tshared proxy mode - in-pod mode enabled\t",
                         f"{STAMP}\tinfo\thyper_util\tlistener established\taddress=127.0.0.1:15000 component=\"admin\"",
                         f"{STAMP}\tinfo\thyper_util\tlistener established\taddress=[::]:15020 component=\"stats\""]


def test_pod_proxy_started_real_52487_55937() -> None:
    # istio/istio#52487 (ztunnel 1.23 line format): ztunnel@1.23.0:src/inpod/statemanager.rs info!(uid=.., name=..,
    # namespace=.., "pod received, starting proxy"), src/dns/server.rs info!(address=%addr, component="dns", ..)
    first = ('2024-08-07T08:16:27.676289Z\tinfo\tinpod::statemanager\tpod received, starting proxy\t'
             'uid="4a7f439b-b4c0-4f11-b6af-7d4bcb4563b0" name="stackstorm-ha-st2actionrunner-5d9fc664c7-fr49p" '
             'namespace="herculesdev9a-worker"')
    dns = '2024-08-07T08:16:27.676289Z\tinfo\tdns::server\tstarting local DNS server\taddress=localhost:15053 component="dns"'
    lines = z.pod_proxy_started((1, 23, 0), at("2024-08-07T08:16:27.676289Z"),
                                uid="4a7f439b-b4c0-4f11-b6af-7d4bcb4563b0", namespace="herculesdev9a-worker",
                                name="stackstorm-ha-st2actionrunner-5d9fc664c7-fr49p", dns_address="localhost:15053")
    assert lines[:2] == [first, dns]
    # istio/istio#55937 listener lines (transparent=false on that cluster)
    lines = z.pod_proxy_started((1, 24, 0), at("2025-04-15T20:05:10.422706Z"), uid="u", namespace="n", name="p",
                                transparent=False)
    assert lines[1:] == [
        ('2025-04-15T20:05:10.422706Z\tinfo\tproxy::inbound\tlistener established\taddress=[::]:15008 '
        'component="inbound" transparent=false'),
        ('2025-04-15T20:05:10.422706Z\tinfo\tproxy::inbound_passthrough\tlistener established\taddress=[::]:15006 '
        'component="inbound plaintext" transparent=false'),
        ('2025-04-15T20:05:10.422706Z\tinfo\tproxy::outbound\tlistener established\taddress=[::]:15001 '
        'component="outbound" transparent=false')]


def test_pod_proxy_started_121_122() -> None:
    # ztunnel@1.21.0:src/inpod/statemanager.rs info!("pod {:?} received netns, starting proxy", workload_uid)
    # with #[derive(Debug)] struct WorkloadUid(String); 1.21 still opens socks5 per proxy (src/proxy.rs from_inputs)
    lines = z.pod_proxy_started((1, 21, 0), TS, uid="0e1d", namespace="n", name="p")
    assert lines[0] == f'{STAMP}  INFO ztunnel::inpod::statemanager: pod WorkloadUid("0e1d") received netns, starting proxy'
    assert lines[-1] == (f'{STAMP}  INFO ztunnel::proxy::socks5: listener established address=127.0.0.1:15080 '
                         'component="socks5"')
    lines = z.pod_proxy_started((1, 22, 0), TS, uid="0e1d", namespace="n", name="p")
    assert lines[0] == f'{STAMP}\tinfo\tinpod::statemanager\tpod WorkloadUid("0e1d") received netns, starting proxy\t'
    assert len(lines) == 4  # no socks5 from 1.22 (UNSTABLE_ENABLE_SOCKS5)
    assert z.proxy_span((1, 22, 3), uid="u", namespace="n", name="p") == Span("proxy", (("uid", "u"),))
    assert z.proxy_span((1, 20, 0), uid="u", namespace="n", name="p") is None
    with pytest.raises(ValueError, match="shared proxy"):
        z.pod_proxy_started((1, 20, 0), TS, uid="u", namespace="n", name="p")


def test_xds_received_response_real_52487() -> None:
    # istio/istio#52487: ztunnel src/xds/client.rs info!(type_url=.., size=.., removes=.., "received response") in
    # info_span!("xds", id); 1.20 has no `removes` (added by istio/ztunnel#751, 1.21)
    real = ('2024-08-07T08:16:27.672871Z\tinfo\txds::client:xds{id=24}\treceived response\t'
            'type_url="type.googleapis.com/istio.workload.Address" size=203 removes=0')
    assert z.xds_received_response((1, 23, 0), at("2024-08-07T08:16:27.672871Z"), connection=24,
                                   type_url="type.googleapis.com/istio.workload.Address", size=203) == real
    assert z.xds_received_response((1, 20, 0), TS, connection=1, type_url="t", size=2) == (
        f'{STAMP}  INFO xds{{id=1}}: ztunnel::xds::client: received response type_url="t" size=2')


# -- istio-cni ------------------------------------------------------------------------------------------------------

def test_cni_pod_added_120() -> None:
    lines = z.cni_pod_added((1, 20, 0), TS, namespace="default", name="nginx", uid="6f1c", pod_ip="10.244.0.14")
    assert lines == [
        # istio@1.20.0:cni/pkg/plugin/plugin.go Infof("istio-cni ambient cmdAdd podName: %s podIPs: %+v", ..)
        f"{STAMP}\tinfo\tcni\tistio-cni ambient cmdAdd podName: nginx podIPs: [{{IP:10.244.0.14 Mask:ffffff00}}]",
        # istio@1.20.0:cni/pkg/ambient/net.go Infof("Adding pod '%s/%s' (%s) to ipset", pod.Name, pod.Namespace, uid)
        f"{STAMP}\tinfo\tcni\tAdding pod 'nginx/default' (6f1c) to ipset",
        # Infof("Adding route for %s/%s: %+v", pod.Name, pod.Namespace, rte) with buildRouteForPod's args
        (f"{STAMP}\tinfo\tcni\tAdding route for nginx/default: [table 100 10.244.0.14/32 via 192.168.126.2 dev istioin "
        "src 10.244.0.1]")]


def test_cni_pod_added_inpod() -> None:
    # istio@1.21.0:cni/pkg/nodeagent/net.go Infof("in pod mode - adding pod %s/%s to ztunnel ", ns, name)
    assert z.cni_pod_added((1, 21, 0), TS, namespace="default", name="nginx", uid="6f1c", pod_ip="x") == [
        f"{STAMP}\tinfo\tambient\tin pod mode - adding pod default/nginx to ztunnel "]
    # istio@1.22.2:cni/pkg/nodeagent/net.go WithLabels("ns", .., "name", ..).Infof("adding pod to the mesh");
    # ztunnelserver.go WithLabels("uid", "name", "namespace", "serviceAccount").Infof("sending pod add to ztunnel")
    assert z.cni_pod_added((1, 22, 2), TS, namespace="default", name="nginx", uid="6f1c", pod_ip="x") == [
        f"{STAMP}\tinfo\tcni-agent\tadding pod to the mesh\tns=default name=nginx",
        (f"{STAMP}\tinfo\tcni-agent\tsending pod add to ztunnel\tuid=6f1c name=nginx namespace=default "
        "serviceAccount=default")]
    assert len(z.cni_pod_added((1, 24, 0), TS, namespace="d", name="n", uid="u", pod_ip="x",
                               ztunnel_connected=False)) == 1


def test_cni_pod_added_real_51622() -> None:
    # istio/istio#51622 (Istio 1.22.1; tabs pasted as spaces)
    real = [("2024-06-23T16:37:00.610889Z    info    ambient    in pod mode - adding pod cluster/"
            "psql-retries-28652677-kfpc8 to ztunnel "),
            ('2024-06-23T16:36:14.298644Z    info    ambient    About to send added pod: 1ddaaf56-fb54-4d72-ab1b-'
            '7eeae3d1c8ea to ztunnel: add:{uid:"1ddaaf56-fb54-4d72-ab1b-7eeae3d1c8ea"  workload_info:{name:'
            '"psql-retries-28652676-h8g5v"  namespace:"cluster"  service_account:"default"  trust_domain:'
            '"cluster.local"}}')]
    first = z.cni_pod_added((1, 22, 1), at("2024-06-23T16:37:00.610889Z"), namespace="cluster",
                            name="psql-retries-28652677-kfpc8", uid="-", pod_ip="x")[0]
    second = z.cni_pod_added((1, 22, 1), at("2024-06-23T16:36:14.298644Z"), namespace="cluster",
                             name="psql-retries-28652676-h8g5v", uid="1ddaaf56-fb54-4d72-ab1b-7eeae3d1c8ea",
                             pod_ip="x")[1]
    assert first.endswith(" to ztunnel ") and squash(first) == squash(real[0])
    assert squash(second) == squash(real[1])


def test_cni_add_failed_real_51159() -> None:
    # istio/istio#51159 (master just before 1.22.0, scopes ambient/cni; tabs pasted as spaces)
    real = """error   ambient failed to add pod to ztunnel: partial add error: no ztunnel connection
error   ambient Failed to handle add event: partial add error: no ztunnel connection
error   cni     istio-cni cmdAdd failed to signal node Istio CNI agent: unable to push CNI event, error was 500
error   cni     istio-cni cmdAdd error: unable to push CNI event, error was 500
error   cni     istio-cni failed with: unable to push CNI event, error was 500""".splitlines()
    for v in ((1, 21, 0), (1, 22, 0)):
        got = z.cni_add_failed(v, TS, namespace="default", name="nginx")
        assert [squash(line.removeprefix(STAMP)) for line in got] == [squash(line) for line in real]


def test_cni_add_failed_real_53843() -> None:
    # istio/istio#53843 (Istio 1.24; the reporter masked the namespace as <appname> in the labels)
    real = """error    cni-agent    failed to add pod to ztunnel: partial add error: no ztunnel connection
error    cni-agent    pod: lists-fuel/dev-57bc46cc5-gspr9 was not enrolled and is unhealthy: partial add error: no ztunnel connection
error    cni-agent    failed to handle add event: partial add error: no ztunnel connection    ns=<appname> name=dev-57bc46cc5-gspr9
error    cni-plugin    istio-cni cmdAdd failed to signal node Istio CNI agent: unable to push CNI event (status code 500): partial add error: no ztunnel connection    pod=<appname>/dev-57bc46cc5-gspr9
error    cni-plugin    istio-cni cmdAdd error: unable to push CNI event (status code 500): partial add error: no ztunnel connection
error    cni-plugin    istio-cni failed with: unable to push CNI event (status code 500): partial add error: no ztunnel connection"""
    want = [squash(line.replace("<appname>", "lists-fuel")) for line in real.splitlines()]
    for v in ((1, 23, 0), (1, 24, 0)):
        got = z.cni_add_failed(v, TS, namespace="lists-fuel", name="dev-57bc46cc5-gspr9")
        assert [squash(line.removeprefix(STAMP)) for line in got] == want
    # the exact tabs: istio pkg/log/scope.go emitWithTime appends "\t" + "k=v k=v" to the message
    assert got[2] == (f"{STAMP}\terror\tcni-agent\tfailed to handle add event: partial add error: no ztunnel "
                      "connection\tns=lists-fuel name=dev-57bc46cc5-gspr9")


def test_cni_add_failed_1222_1223() -> None:
    # 1.22.2: scope cni-agent, plugin labels back (#51555), old plugin text; 1.22.3: #51860
    got = z.cni_add_failed((1, 22, 2), TS, namespace="d", name="n")
    assert got[1] == f"{STAMP}\terror\tcni-agent\tFailed to handle add event: partial add error: no ztunnel connection"
    assert got[2] == (f"{STAMP}\terror\tcni\tistio-cni cmdAdd failed to signal node Istio CNI agent: unable to push "
                      "CNI event, error was 500\tpod=d/n")
    got = z.cni_add_failed((1, 22, 3), TS, namespace="d", name="n")
    assert len(got) == 5 and got[3].split("\t")[2] == "cni"
    assert "(status code 500): partial add error: no ztunnel connection\tpod=d/n" in got[2]


def test_cni_plugin_error_for_kubelet_event() -> None:
    # istio/istio#51847 shows both texts after `plugin type="istio-cni" name="istio-cni" failed (add): `
    # istio@1.21.0:cni/pkg/plugin/cnieventclient.go "unable to push CNI event, error was %d"
    assert z.cni_plugin_add_error((1, 22, 2)) == "unable to push CNI event, error was 500"
    # istio@1.22.3:cni/pkg/plugin/cnieventclient.go "unable to push CNI event (status code %d): %v" + http.Error's "\n"
    assert z.cni_plugin_add_error((1, 22, 3)) == (
        "unable to push CNI event (status code 500): partial add error: no ztunnel connection\n")
    assert z.cni_plugin_add_error((1, 24, 0), "failed, sorry") == "unable to push CNI event (status code 500): failed, sorry\n"
    with pytest.raises(ValueError):
        z.cni_plugin_add_error((1, 20, 0))
