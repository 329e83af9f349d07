"""`kubectl describe pod` [KC 1.29.0 pkg/describe/describe.go describePod, DescribeEvents].

The text goes through a Go text/tabwriter (minwidth 0, padding 2) as describe's tabbedString does,
so `Name:` blocks align exactly like kubectl's. Only pods are described; other kinds fail clearly.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import datetime
from typing import Any

import simpy

from meshrepro.runtime.tabwriter import TabWriter
from meshrepro.sim.clock import parse_rfc3339

from .errors import GoError, UsageError
from .flags import Flag
from .session import Session

Wait = Generator[simpy.Event, Any, Any]

FLAGS = (Flag("selector", "l", default=""), Flag("show-events", kind="bool", default=True),
         Flag("all-namespaces", "A", kind="bool", default=False), Flag("filename", "f", kind="array", default=[]))

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def run(s: Session, args: list[str]) -> Wait:
    if not args:
        raise UsageError("You must specify the type of resource to describe. Use \"kubectl api-resources\" for a "
                         "complete list of supported resources.\nSee 'kubectl describe -h' for help and examples")
    namespace = s.namespace()
    if any("/" in a for a in args):
        pairs = [(a.partition("/")[0], a.partition("/")[2]) for a in args]
    else:
        aliases = yield from s.mapper.expand_categories(args[0])
        pairs = [(aliases[0], n) for n in args[1:]] or [(aliases[0], "")]
    first = True
    for type_arg, name in pairs:
        resource = yield from s.resource(type_arg)
        if resource.kind != "Pod":
            raise GoError(f"meshrepro: kubectl describe supports pods only, not {resource.group_resource}")
        if not name:
            query = [("labelSelector", s.flags["selector"])] if s.flags["selector"] else []
            listing = yield from s.get_json(resource.path(namespace), query)
            names = [(i.get("metadata") or {}).get("name", "") for i in listing.get("items") or []]
            if not names:
                s.err(f"No resources found in {namespace} namespace.\n")
                return 0
        else:
            names = [name]
        for pod_name in names:
            pod = yield from s.get_json(resource.path(namespace, pod_name))
            events = None
            if s.flags["show-events"]:
                meta = pod.get("metadata") or {}
                selector = (f"involvedObject.kind=Pod,involvedObject.name={meta.get('name', '')},"
                            f"involvedObject.namespace={meta.get('namespace', '')},"
                            f"involvedObject.uid={meta.get('uid', '')}")
                events = yield from s.get_json(f"/api/v1/namespaces/{meta.get('namespace', '')}/events",
                                               [("fieldSelector", selector), ("limit", "500")])
            if not first:
                s.out("\n\n")
            first = False
            s.out(describe_pod(pod, events, s.proc.clock.wall()))
    return 0


class _Writer:
    """describe's PrefixWriter over a tabwriter(0, 8, 2, ' ', 0)."""

    def __init__(self) -> None:
        self.tab = TabWriter(minwidth=0, padding=2, remember_widths=False)

    def write(self, level: int, text: str) -> None:
        self.tab.write("  " * level + text)

    def text(self) -> str:
        self.tab.flush()
        return self.tab.getvalue()


def describe_pod(pod: dict[str, Any], events: dict[str, Any] | None, now: datetime) -> str:
    w = _Writer()
    meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    w.write(0, f"Name:\t{meta.get('name', '')}\n")
    w.write(0, f"Namespace:\t{meta.get('namespace', '')}\n")
    if spec.get("priority") is not None:
        w.write(0, f"Priority:\t{spec['priority']}\n")
    if spec.get("priorityClassName"):
        w.write(0, f"Priority Class Name:\t{spec['priorityClassName']}\n")
    if spec.get("runtimeClassName"):
        w.write(0, f"Runtime Class Name:\t{spec['runtimeClassName']}\n")
    if spec.get("serviceAccountName"):
        w.write(0, f"Service Account:\t{spec['serviceAccountName']}\n")
    w.write(0, f"Node:\t{spec['nodeName'] + '/' + status.get('hostIP', '')}\n" if spec.get("nodeName")
            else "Node:\t<none>\n")
    if status.get("startTime"):
        w.write(0, f"Start Time:\t{_rfc1123z(status['startTime'])}\n")
    _multiline(w, "Labels", meta.get("labels") or {})
    _multiline(w, "Annotations", {k: v for k, v in (meta.get("annotations") or {}).items() if k != LAST_APPLIED})
    if meta.get("deletionTimestamp"):
        w.write(0, f"Status:\tTerminating (lasts {_since(meta['deletionTimestamp'], now)})\n")
        w.write(0, f"Termination Grace Period:\t{meta.get('deletionGracePeriodSeconds', 0)}s\n")
    else:
        w.write(0, f"Status:\t{status.get('phase', '')}\n")
    if status.get("reason"):
        w.write(0, f"Reason:\t{status['reason']}\n")
    if status.get("message"):
        w.write(0, f"Message:\t{status['message']}\n")
    w.write(0, f"IP:\t{status.get('podIP', '')}\n")
    ips = status.get("podIPs") or []
    if not ips:
        w.write(0, "IPs:\t<none>\n")
    else:
        w.write(0, "IPs:\n")
        for ip in ips:
            w.write(1, f"IP:\t{ip.get('ip', '')}\n")
    owner = next((o for o in meta.get("ownerReferences") or [] if o.get("controller")), None)
    if owner:
        w.write(0, f"Controlled By:\t{owner.get('kind')}/{owner.get('name')}\n")
    if status.get("nominatedNodeName"):
        w.write(0, f"NominatedNodeName:\t{status['nominatedNodeName']}\n")
    if spec.get("initContainers"):
        _containers(w, "Init Containers", spec["initContainers"], status.get("initContainerStatuses") or [])
    _containers(w, "Containers", spec.get("containers") or [], status.get("containerStatuses") or [])
    if status.get("conditions"):
        w.write(0, "Conditions:\n  Type\tStatus\n")
        for c in status["conditions"]:
            w.write(1, f"{c.get('type')} \t{c.get('status')} \n")
    _volumes(w, spec.get("volumes") or [])
    w.write(0, f"QoS Class:\t{status.get('qosClass') or _qos(spec)}\n")
    _multiline(w, "Node-Selectors", spec.get("nodeSelector") or {})
    _tolerations(w, spec.get("tolerations") or [])
    if events is not None:
        _events(w, list(events.get("items") or []), now)
    return w.text()


def _multiline(w: _Writer, title: str, values: dict[str, str]) -> None:
    w.write(0, f"{title}:\t")
    if not values:
        w.write(0, "<none>\n")
        return
    for i, key in enumerate(sorted(values)):
        if i:
            w.write(0, "\t")
        w.write(0, f"{key}={values[key]}\n")


def _containers(w: _Writer, label: str, containers: list[dict[str, Any]], statuses: list[dict[str, Any]]) -> None:
    by_name = {st.get("name"): st for st in statuses}
    w.write(0, f"{label}:{'' if containers else ' <none>'}\n")
    for c in containers:
        st = by_name.get(c.get("name"))
        w.write(1, f"{c.get('name')}:\n")
        if st is not None:
            w.write(2, f"Container ID:\t{st.get('containerID', '')}\n")
        w.write(2, f"Image:\t{c.get('image', '')}\n")
        if st is not None:
            w.write(2, f"Image ID:\t{st.get('imageID', '')}\n")
        ports = c.get("ports") or []
        port_text = ", ".join(f"{p.get('containerPort')}/{p.get('protocol', 'TCP')}" for p in ports)
        host_text = ", ".join(f"{p.get('hostPort', 0)}/{p.get('protocol', 'TCP')}" for p in ports)
        w.write(2, f"Ports:\t{port_text}\n" if "," in port_text else f"Port:\t{port_text or '<none>'}\n")
        w.write(2, f"Host Ports:\t{host_text}\n" if "," in host_text else f"Host Port:\t{host_text or '<none>'}\n")
        for key, title in (("command", "Command"), ("args", "Args")):
            if c.get(key):
                w.write(2, f"{title}:\n")
                for part in c[key]:
                    for line in str(part).split("\n"):
                        w.write(3, f"{line}\n")
        if st is not None:
            _state(w, "State", st.get("state") or {})
            if (st.get("lastState") or {}).get("terminated"):
                _state(w, "Last State", st["lastState"])
            w.write(2, f"Ready:\t{'True' if st.get('ready') else 'False'}\n")
            w.write(2, f"Restart Count:\t{st.get('restartCount', 0)}\n")
        resources = c.get("resources") or {}
        for key, title in (("limits", "Limits"), ("requests", "Requests")):
            if resources.get(key):
                w.write(2, f"{title}:\n")
                for name in sorted(resources[key]):
                    w.write(3, f"{name}:\t{resources[key][name]}\n")
        env = c.get("env") or []
        w.write(2, "Environment:" + ("" if env else "\t<none>") + "\n")
        for e in env:
            if "valueFrom" in e:
                ref = (e["valueFrom"].get("fieldRef") or {})
                w.write(3, f"{e.get('name')}:\t ({ref.get('apiVersion', 'v1')}:{ref.get('fieldPath', '')})\n")
            else:
                for i, line in enumerate(str(e.get("value", "")).split("\n")):
                    w.write(3, f"{e.get('name')}:\t{line}\n" if i == 0 else f"\t{line}\n")
        mounts = sorted(c.get("volumeMounts") or [], key=lambda m: m.get("mountPath", ""))
        w.write(2, "Mounts:" + ("" if mounts else "\t<none>") + "\n")
        for m in mounts:
            flags = ["ro" if m.get("readOnly") else "rw"]
            if m.get("subPath"):
                flags.append(f'path="{m["subPath"]}"')
            w.write(3, f"{m.get('mountPath')} from {m.get('name')} ({','.join(flags)})\n")


def _state(w: _Writer, title: str, state: dict[str, Any]) -> None:
    if state.get("running") is not None:
        w.write(2, f"{title}:\tRunning\n")
        w.write(3, f"Started:\t{_rfc1123z(state['running'].get('startedAt', ''))}\n")
    elif state.get("waiting") is not None:
        w.write(2, f"{title}:\tWaiting\n")
        if state["waiting"].get("reason"):
            w.write(3, f"Reason:\t{state['waiting']['reason']}\n")
    elif state.get("terminated") is not None:
        t = state["terminated"]
        w.write(2, f"{title}:\tTerminated\n")
        if t.get("reason"):
            w.write(3, f"Reason:\t{t['reason']}\n")
        if t.get("message"):
            w.write(3, f"Message:\t{t['message']}\n")
        w.write(3, f"Exit Code:\t{t.get('exitCode', 0)}\n")
        if t.get("signal"):
            w.write(3, f"Signal:\t{t['signal']}\n")
        w.write(3, f"Started:\t{_rfc1123z(t.get('startedAt', ''))}\n")
        w.write(3, f"Finished:\t{_rfc1123z(t.get('finishedAt', ''))}\n")
    else:
        w.write(2, f"{title}:\tWaiting\n")


def _volumes(w: _Writer, volumes: list[dict[str, Any]]) -> None:
    if not volumes:
        w.write(0, "Volumes:\t<none>\n")
        return
    w.write(0, "Volumes:\n")
    for v in volumes:
        w.write(1, f"{v.get('name')}:\n")
        if "projected" in v:
            w.write(2, "Type:\tProjected (a volume that contains injected data from multiple sources)\n")
            for source in v["projected"].get("sources") or []:
                if "secret" in source:
                    w.write(2, f"SecretName:\t{source['secret'].get('name', '')}\n"
                               f"    SecretOptionalName:\t{_go_bool_ptr(source['secret'].get('optional'))}\n")
                elif "downwardAPI" in source:
                    w.write(2, "DownwardAPI:\ttrue\n")
                elif "configMap" in source:
                    w.write(2, f"ConfigMapName:\t{source['configMap'].get('name', '')}\n"
                               f"    ConfigMapOptional:\t{_go_bool_ptr(source['configMap'].get('optional'))}\n")
                elif "serviceAccountToken" in source:
                    w.write(2, f"TokenExpirationSeconds:\t{source['serviceAccountToken'].get('expirationSeconds')}\n")
        elif "emptyDir" in v:
            medium = (v["emptyDir"] or {}).get("medium", "")
            limit = (v["emptyDir"] or {}).get("sizeLimit")
            w.write(2, f"Type:\tEmptyDir (a temporary directory that shares a pod's lifetime)\n    Medium:\t{medium}\n"
                       f"    SizeLimit:\t{limit if limit else '<unset>'}\n")
        elif "configMap" in v:
            cm = v["configMap"]
            w.write(2, f"Type:\tConfigMap (a volume populated by a ConfigMap)\n    Name:\t{cm.get('name', '')}\n"
                       f"    Optional:\t{'true' if cm.get('optional') else 'false'}\n")
        elif "secret" in v:
            sec = v["secret"]
            w.write(2, f"Type:\tSecret (a volume populated by a Secret)\n    SecretName:\t{sec.get('secretName', '')}\n"
                       f"    Optional:\t{'true' if sec.get('optional') else 'false'}\n")
        elif "hostPath" in v:
            hp = v["hostPath"]
            w.write(2, f"Type:\tHostPath (bare host directory volume)\n    Path:\t{hp.get('path', '')}\n"
                       f"    HostPathType:\t{hp.get('type', '')}\n")
        else:
            w.write(2, "<unknown>\n")


def _go_bool_ptr(value: Any) -> str:
    if value is None:
        return "<nil>"
    return "true" if value else "false"


def _qos(spec: dict[str, Any]) -> str:
    """qos.GetPodQOS for the common cases (cpu and memory)."""
    containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    requests = [((c.get("resources") or {}).get("requests") or {}) for c in containers]
    limits = [((c.get("resources") or {}).get("limits") or {}) for c in containers]
    if not any(requests) and not any(limits):
        return "BestEffort"
    guaranteed = all(set(lim) >= {"cpu", "memory"} and all(req.get(k, lim[k]) == lim[k] for k in lim)
                     for req, lim in zip(requests, limits))
    return "Guaranteed" if guaranteed else "Burstable"


def _tolerations(w: _Writer, tolerations: list[dict[str, Any]]) -> None:
    w.write(0, "Tolerations:\t")
    if not tolerations:
        w.write(0, "<none>\n")
        return
    for i, t in enumerate(sorted(tolerations, key=lambda t: t.get("key", ""))):
        if i:
            w.write(0, "\t")
        text = t.get("key", "")
        if t.get("value"):
            text += f"={t['value']}"
        if t.get("effect"):
            text += f":{t['effect']}"
        if t.get("operator") == "Exists" and not t.get("value"):
            text += " op=Exists" if t.get("key") or t.get("effect") else "op=Exists"
        if t.get("tolerationSeconds") is not None:
            text += f" for {t['tolerationSeconds']}s"
        w.write(0, text + "\n")


def _events(w: _Writer, events: list[dict[str, Any]], now: datetime) -> None:
    if not events:
        w.write(0, "Events:\t<none>\n")
        return
    w.tab.flush()
    events.sort(key=lambda e: e.get("lastTimestamp") or "")
    w.write(0, "Events:\n  Type\tReason\tAge\tFrom\tMessage\n")
    w.write(1, "----\t------\t----\t----\t-------\n")
    for e in events:
        first = _since(e.get("firstTimestamp") or e.get("eventTime") or "", now)
        if (e.get("count") or 0) > 1:
            interval = f"{_since(e.get('lastTimestamp') or '', now)} (x{e['count']} over {first})"
        else:
            interval = first
        source = (e.get("source") or {}).get("component") or e.get("reportingComponent", "")
        w.write(1, f"{e.get('type', '')}\t{e.get('reason', '')}\t{interval}\t{source}\t"
                   f"{str(e.get('message', '')).strip()}\n")


def _rfc1123z(text: str) -> str:
    if not text:
        return "Mon, 01 Jan 0001 00:00:00 +0000"
    return _parse(text).strftime("%a, %d %b %Y %H:%M:%S +0000")


def _parse(text: str) -> datetime:
    return parse_rfc3339(text[:19] + "Z")


def _since(text: str, now: datetime) -> str:
    """translateTimestampSince: HumanDuration of the age, `<unknown>` for a zero time."""
    if not text:
        return "<unknown>"
    return human_duration((now - _parse(text)).total_seconds())


def human_duration(seconds: float) -> str:
    """duration.HumanDuration [AM pkg/util/duration/duration.go]."""
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    s = int(seconds)
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        rest = s % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 192:
        rest = hours % 24
        return f"{hours // 24}d{rest}h" if rest else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    years = hours // (24 * 365)
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{years}y{days}d" if days else f"{years}y"
    return f"{years}y"
