"""The catalogue of diagnoses: stable codes, what each one matches in a run's records, and the chain it builds.

Each diagnosis reads only what the simulation recorded — a connection's hops, the components' decisions
(`Decision` records with their `data`: `flag`, `connection`, `user`...), Kubernetes events, step output and
container logs — never a scenario's name or its versions as such (a behaviour flag's state is looked up in
the version tables, the way components ask it). A match is a `Finding`: the symptom, then a causal chain
from the symptom back to the decision that caused it (each link naming the component, the object, the rule
or code path, the behaviour flag and its upstream change), a one-line remedy, and the remedies that can be
tried automatically as scenario changes (`Remedy.level`, in the scenario file's factor-level form).

Codes are stable, as istioctl analyze's IST0xxx are: never reuse a retired one.
MR00xx unexplained, MR01xx mesh data plane, MR02xx API access, MR03xx Kubernetes networking and DNS,
MR04xx pod lifecycle.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from meshrepro.istio import versions as istio_versions
from meshrepro.kube import versions as kube_versions
from meshrepro.scenario.result import LogView, PodView, RunResult, StepResult
from meshrepro.sim.versions import Flag

FAILED_OUTCOMES = ("refused", "eof", "reset", "timeout", "unreachable")
MESH_PORTS = ("15001", "15006")
DATAPLANE_MODE = "istio.io/dataplane-mode"
REDIRECTION_ANNOTATION = "ambient.istio.io/redirection"
MESH_UID = 1337  # istio-proxy's uid; istio-iptables' ISTIO_OUTPUT returns its traffic unredirected


# -- the model -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FlagRef:
    """A behaviour flag as a link cites it: its state in the run's release and the upstream change."""

    name: str
    product: str  # "Istio" | "Kubernetes"
    since: str  # first release with the behaviour, "1.21.2"
    change: str  # upstream PR / commit
    summary: str
    version: str = ""  # the run's release, "1.20.2"
    holds: bool | None = None  # the flag's state in that release

    @property
    def state(self) -> str:
        if self.holds is None:
            return f"{self.product} {self.since}+"
        where = f"{self.product} {self.version}" if self.version else self.product
        return f"{'on' if self.holds else 'off'} in {where} (on from {self.since})"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "product": self.product, "since": self.since, "version": self.version,
                "holds": self.holds, "change": self.change, "summary": self.summary}


@dataclass(frozen=True)
class Link:
    """One step of a causal chain: who decided what, about which object, and by which rule."""

    component: str  # "ztunnel ztunnel-ncctr", "istiod", "kubelet/test-control-plane", "kubectl in ..."
    subject: str  # the object: "Pod default/nginx-...", "Namespace default", "connection #27"
    summary: str  # what happened, one sentence
    rule: str = ""  # the rule, field or code path behind it
    flag: FlagRef | None = None
    time: str = ""  # RFC 3339 (ms) of the record, when there is one
    evidence: str = ""  # the raw record: a log line, a hop, an event message

    def to_dict(self) -> dict[str, Any]:
        return {"component": self.component, "subject": self.subject, "summary": self.summary, "rule": self.rule,
                "flag": self.flag.to_dict() if self.flag else None, "time": self.time, "evidence": self.evidence}


@dataclass(frozen=True)
class Remedy:
    """A change that may make the symptom go away.

    `level` is the change as a factor level in the scenario file's form (`{versions: {istio: "1.21.2"}}`,
    `{patch: [...]}`, `{replace_steps: {...}}`), so `explain --try-remedies` can run it as an extra cell;
    None for advice that needs a person (rewrite a script, pick a port)."""

    key: str  # stable id within the finding, e.g. "upgrade-istio"
    title: str  # one line, imperative
    level: Mapping[str, Any] | None = None
    note: str = ""  # why it should (or, for a control, should not) work

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "title": self.title, "automatic": self.level is not None,
                "level": dict(self.level) if self.level is not None else None, "note": self.note}


@dataclass
class Finding:
    """One diagnosis matched in one run, about one subject."""

    code: str
    name: str
    title: str
    level: str  # "error" | "warning" | "info"
    subject: str  # the object the failure is about, e.g. "Pod default/nginx-57b5b796b7-qxsgw"
    symptom: str  # what the user saw, one line
    chain: list[Link]  # symptom first, cause last
    remedy: str  # one line
    remedies: list[Remedy] = field(default_factory=list)
    connections: list[int] = field(default_factory=list)  # failed connections it explains
    steps: list[int] = field(default_factory=list)  # 1-based steps whose output shows the symptom
    pods: list[str] = field(default_factory=list)  # "ns/name" of the pods involved
    time: str = ""  # the first evidence, for ordering
    see: list[str] = field(default_factory=list)  # keys of findings this one follows from
    cause: int = -1  # the index of the decisive link in `chain` (the matcher knows it; default the last)

    @property
    def root(self) -> Link | None:
        """The decisive link: the decision that, changed, removes the symptom."""
        if not self.chain:
            return None
        return self.chain[self.cause] if -len(self.chain) <= self.cause < len(self.chain) else self.chain[-1]

    @property
    def key(self) -> str:
        return f"{self.code} {self.subject}"

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "name": self.name, "title": self.title, "level": self.level,
                "subject": self.subject, "symptom": self.symptom, "time": self.time,
                "chain": [link.to_dict() for link in self.chain], "remedy": self.remedy,
                "remedies": [r.to_dict() for r in self.remedies], "connections": list(self.connections),
                "steps": list(self.steps), "pods": list(self.pods), "see": list(self.see),
                "cause": self.cause if self.cause >= 0 else len(self.chain) + self.cause}


@dataclass(frozen=True)
class Diagnosis:
    code: str
    name: str
    title: str
    level: str
    remedy: str  # the catalogue's one-line remedy (a finding may make it concrete)
    matches: str  # what the matcher looks for, for the documentation
    match: Callable[[Records], list[Finding]]

    def finding(self, subject: str, symptom: str, chain: list[Link], remedy: str = "", **more: Any) -> Finding:
        return Finding(self.code, self.name, self.title, self.level, subject, symptom, chain, remedy or self.remedy,
                       **more)


# -- the records of one run, indexed ---------------------------------------------------------------------------


def parse_time(text: str) -> datetime:
    """RFC 3339 with or without milliseconds, `Z` suffix."""
    text = text.rstrip("Z")
    fmt = "%Y-%m-%dT%H:%M:%S.%f" if "." in text else "%Y-%m-%dT%H:%M:%S"
    return datetime.strptime(text, fmt).replace(tzinfo=UTC)


@dataclass
class Run:
    """One run of one container, from the kubelet's records."""

    pod: str  # "ns/name"
    container: str
    attempt: int
    start: datetime
    end: datetime | None = None
    exit_code: int | None = None
    uid: str = ""
    init: bool = False
    killed: bool = False  # the kubelet stopped it (pod deleted, probe failed): its exit code is not its own failure


class Records:
    """A run's records with the lookups the matchers share."""

    def __init__(self, result: RunResult) -> None:
        self.result = result
        self.connections = {c["id"]: c for c in result.connections}
        self.failed = [c for c in result.connections if c["outcome"] in FAILED_OUTCOMES]
        self.trace = result.trace
        self.pods = {f"{p.namespace}/{p.name}": p for p in result.pods}
        self.pods_by_ip = {p.ip: p for p in result.pods if p.ip}
        self.logs: dict[tuple[str, str, int], LogView] = {(f"{lv.namespace}/{lv.pod}", lv.container, lv.attempt): lv
                                                            for lv in result.logs}
        self.runs = self._runs()
        istio = result.versions.get("istio")
        try:
            self.istio = istio_versions.parse_version(istio) if istio else None
        except ValueError:
            self.istio = None
        self.kubernetes = _kube(result.versions.get("kubernetes", ""))

    # trace

    def decisions(self, *, component: str = "", action: str = "", subject: str = "",
                  action_prefix: str = "") -> list[dict[str, Any]]:
        """Records whose component starts with `component` (and the exact action/subject when given)."""
        return [r for r in self.trace
                if r["component"].startswith(component) and (not action or r["action"] == action)
                and (not subject or r["subject"] == subject) and r["action"].startswith(action_prefix)]

    @staticmethod
    def data(record: dict[str, Any]) -> dict[str, Any]:
        return record.get("data") or {}

    def flag(self, name: str, version: str = "") -> FlagRef | None:
        """A behaviour flag from the Istio or Kubernetes table, with its state in the run's release."""
        entry: Flag | None = istio_versions.TABLE.get(name)
        if entry is not None:
            release = istio_versions.parse_version(version) if version else self.istio
            return FlagRef(name, "Istio", _release(entry.since), entry.change, entry.summary,
                           _release(release) if release else "", entry.holds(release) if release else None)
        entry = kube_versions.TABLE.get(name)
        if entry is not None:
            kube = self.kubernetes
            return FlagRef(name, "Kubernetes", _release(entry.since), entry.change, entry.summary,
                           _release(kube) if kube else "", entry.holds(kube) if kube else None)
        return None

    def fixing_istio_release(self, name: str) -> str | None:
        """The first supported Istio release after the run's one where the flag holds."""
        entry = istio_versions.TABLE.get(name)
        if entry is None or self.istio is None:
            return None
        later = [v for v in istio_versions.SUPPORTED if v > self.istio and entry.holds(v)]
        return _release(min(later)) if later else None

    def latest_istio_release(self) -> str | None:
        """The newest supported Istio release, when the run uses an older one."""
        newest = max(istio_versions.SUPPORTED)
        return _release(newest) if self.istio is not None and newest > self.istio else None

    # pods and containers

    def pod_of(self, owner_or_ip: str) -> PodView | None:
        """`pod ns/name` (a connection's source_owner), `Pod ns/name` (a trace subject) or an IP."""
        ref = re.sub(r"^[Pp]od ", "", owner_or_ip)
        return self.pods.get(ref) or self.pods_by_ip.get(ref)

    def _runs(self) -> dict[str, list[Run]]:
        runs: dict[str, list[Run]] = {}
        init_names = {(f"{p.namespace}/{p.name}", c["name"]) for p in self.result.pods for c in p.containers
                      if c.get("init")}
        attempts: dict[tuple[str, str], int] = {}
        for record in self.trace:
            if not record["component"].startswith("kubelet"):
                continue
            pod = record["subject"].removeprefix("Pod ")
            action = record["action"]
            started = re.fullmatch(r"started container (\S+)", action)
            exited = re.fullmatch(r"container (\S+) exited with (-?\d+)", action)
            killing = re.fullmatch(r"killing container (\S+)", action)
            if killing:
                for run in reversed(runs.get(pod, [])):
                    if run.container == killing.group(1) and run.end is None:
                        run.killed = True
                        break
            if started:
                name = started.group(1)
                attempt = attempts.get((pod, name), -1) + 1
                attempts[(pod, name)] = attempt
                uid = re.match(r"uid (\d+)", record["reason"])
                runs.setdefault(pod, []).append(Run(pod, name, attempt, parse_time(record["time"]),
                                                    uid=uid.group(1) if uid else "",
                                                    init=(pod, name) in init_names))
            elif exited:
                for run in reversed(runs.get(pod, [])):
                    if run.container == exited.group(1) and run.end is None:
                        run.end, run.exit_code = parse_time(record["time"]), int(exited.group(2))
                        break
            elif action == "pod removed":  # deleted: SIGTERM, then SIGKILL after the grace period
                for run in runs.get(pod, []):
                    if run.exit_code in (137, 143):
                        run.killed = True
        return runs

    def running(self, pod: str, moment: datetime) -> list[Run]:
        """The containers of pod `ns/name` running at `moment`."""
        return [r for r in self.runs.get(pod, []) if r.start <= moment and (r.end is None or moment <= r.end)]

    def client_of(self, pod: str, moment: datetime) -> Run | None:
        """The container that most likely opened a connection at `moment`: the one running, the mesh's own
        proxy last."""
        running = sorted(self.running(pod, moment), key=lambda r: (r.container in ("istio-proxy", "istio-init"),
                                                                   r.start))
        return running[0] if running else None

    def log_of(self, run: Run) -> str:
        view = self.logs.get((run.pod, run.container, run.attempt))
        return view.text if view else ""

    # what the user saw

    def steps_at(self, moment: datetime) -> list[StepResult]:
        """The steps running at `moment` (steps carry second-precision times, so neighbours may overlap)."""
        return [step for step in self.result.steps
                if parse_time(step.start) <= moment <= parse_time(step.end).replace(microsecond=999999)]

    def steps_showing(self, line: str) -> list[int]:
        line = line.strip()
        return [s.index for s in self.result.steps if line and line in s.output]

    def symptom_line(self, pod: str, moment: datetime, pattern: str, destination: str = ""
                     ) -> tuple[str, str, Run | None]:
        """The line the client printed about a failure at `moment`: (where, line, run). Looks in the log of the
        container that ran then, else in the output of the step that ran then."""
        run = self.client_of(pod, moment) if pod else None
        if run is not None:
            line = _last_line(self.log_of(run), pattern)
            if line:
                return f"container {run.container} of Pod {pod}", line, run
        for step in self.steps_at(moment):
            line = _last_line(step.output, pattern)
            if line:
                return f"step {step.index} `{_one_line(step.command)}`", line, run
        if destination:  # the client's log was read later (`kubectl logs`), or its pod is gone
            for step in self.result.steps:
                line = next((x for x in _lines(step.output, pattern) if destination in x), "")
                if line:
                    return f"step {step.index} `{_one_line(step.command)}`", line, run
        return "", "", run

    def owner(self, pod: str) -> tuple[str, str, str]:
        """(kind, namespace, name) of the object whose template made pod `ns/name`, from the controllers'
        events; ("Pod", ns, name) for a bare pod."""
        namespace, _, name = pod.partition("/")
        owner = ("Pod", namespace, name)
        for event in self.result.events:
            if event["namespace"] == namespace and event["reason"] == "SuccessfulCreate" \
                    and event["message"] == f"Created pod: {name}":
                owner = (event["object"].split("/")[0], namespace, event["object"].split("/", 1)[1])
                break
        if owner[0] == "ReplicaSet":
            for event in self.result.events:
                if event["namespace"] == namespace and event["object"].startswith("Deployment/") \
                        and re.search(rf"replica set {re.escape(owner[2])}\b", event["message"]):
                    return ("Deployment", namespace, event["object"].split("/", 1)[1])
        return owner

    def ztunnel_log_line(self, component: str, text: str) -> str:
        """The first line ztunnel (component `ztunnel <pod>`) logged containing `text`."""
        pod = component.removeprefix("ztunnel ").strip()
        for (ref, container, _), view in sorted(self.logs.items()):
            if ref.endswith("/" + pod):
                line = _first_line(view.text, re.escape(text))
                if line:
                    return line
        return ""


# -- helpers ----------------------------------------------------------------------------------------------------


def _release(version: tuple[int, ...] | None) -> str:
    return ".".join(map(str, version)) if version else ""


def _kube(text: str) -> kube_versions.KubeVersion | None:
    match = re.fullmatch(r"(\d+)\.(\d+)", text)
    return (int(match.group(1)), int(match.group(2))) if match else None


def _lines(text: str, pattern: str) -> list[str]:
    regex = re.compile(pattern)
    return [line.strip() for line in text.splitlines() if regex.search(line)]


def _last_line(text: str, pattern: str) -> str:
    found = _lines(text, pattern)
    return found[-1] if found else ""


def _first_line(text: str, pattern: str) -> str:
    found = _lines(text, pattern)
    return found[0] if found else ""


def _one_line(command: str, limit: int = 80) -> str:
    text = " ".join(command.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _ms(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _clock(time: str) -> str:
    """09:57:47.574 from an RFC 3339 time."""
    return time[11:23].rstrip("Z") if len(time) > 19 else time[11:19]


def _hops(connection: Mapping[str, Any]) -> list[dict[str, str]]:
    return list(connection.get("hops") or [])


def _find_hop(connection: Mapping[str, Any], predicate: Callable[[dict[str, str]], bool]) -> dict[str, str] | None:
    return next((h for h in _hops(connection) if predicate(h)), None)


def _describe(connection: Mapping[str, Any]) -> str:
    return f"{connection['source']} → {connection['destination']}"


OUTCOME_WORDS = {
    "eof": "ended in EOF (accepted, then closed before any reply)",
    "reset": "was reset",
    "refused": "was refused",
    "timeout": "timed out (packets dropped)",
    "unreachable": "was unreachable",
}
OUTCOME_PATTERNS = {  # what a client prints for each outcome
    "eof": r"\bEOF\b",
    "reset": r"(?i)reset by peer|connection reset|Recv failure",
    "refused": r"(?i)refused|Failed to connect|can't connect|Couldn't connect",
    "timeout": r"(?i)timed out|timeout",
    "unreachable": r"(?i)unreachable|no route to host",
}


def _symptom_link(records: Records, connection: Mapping[str, Any]) -> tuple[Link | None, str, list[int], str]:
    """The client's own line about a failed connection: (link, container, steps showing it, symptom text)."""
    moment = parse_time(connection["time"])
    pod = connection["source_owner"].removeprefix("pod ") if connection["source_owner"].startswith("pod ") else ""
    where, line, run = records.symptom_line(pod, moment, OUTCOME_PATTERNS.get(connection["outcome"], "$^"),
                                            connection["destination"])
    container = run.container if run else ""
    if not line:
        return None, container, [], f"connection #{connection['id']} {OUTCOME_WORDS[connection['outcome']]}"
    steps = records.steps_showing(line)
    shown = f"; step {steps[0]} shows it" if steps else ""
    text = _strip_klog(line)
    return (Link(where, f"Pod {pod}" if pod else connection["source_owner"], f"printed `{text}`",
                 rule=f"the client read what the connection gave it{shown}", evidence=line),
            container, steps, text)


def _strip_klog(line: str) -> str:
    """`E0118 09:58:37.574533       3 memcache.go:265] msg` -> `msg` (klog's header varies run to run)."""
    return re.sub(r"^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+ [\w.]+:\d+\] ", "", line)


def _connection_link(records: Records, connection: Mapping[str, Any], captured: dict[str, str] | None) -> Link:
    rule = f"{captured['component']}: {captured['detail']}" if captured else ""
    owner = connection["source_owner"]
    return Link(f"connection #{connection['id']}", "Pod " + owner[4:] if owner.startswith("pod ") else owner,
                f"{_describe(connection)} {OUTCOME_WORDS[connection['outcome']]}",
                rule=rule, time=connection["time"])


def _group(findings: Iterable[tuple[tuple[Any, ...], Finding]]) -> list[Finding]:
    """Merge findings with the same key: the first keeps its chain, the others add connections and steps."""
    merged: dict[tuple[Any, ...], Finding] = {}
    for key, finding in findings:
        if key not in merged:
            merged[key] = finding
            continue
        kept = merged[key]
        kept.connections += [c for c in finding.connections if c not in kept.connections]
        kept.steps = sorted(set(kept.steps) | set(finding.steps))
        kept.pods = sorted(set(kept.pods) | set(finding.pods))
    return list(merged.values())


def _patch(owner: tuple[str, str, str], merge: Mapping[str, Any]) -> dict[str, Any]:
    """A factor level patching one object with a strategic-merge patch."""
    kind, namespace, name = owner
    target = {"kind": kind, "name": name}
    if namespace and kind != "Namespace":
        target["namespace"] = namespace
    return {"patch": [{"target": target, "merge": dict(merge)}]}


def _template(owner: tuple[str, str, str], pod_patch: Mapping[str, Any]) -> Mapping[str, Any]:
    """Wrap a pod patch for the owner's kind: a Deployment's template, or the bare Pod."""
    if owner[0] == "Pod":
        return pod_patch
    if owner[0] == "CronJob":
        return {"spec": {"jobTemplate": {"spec": {"template": pod_patch}}}}
    return {"spec": {"template": pod_patch}}


def _container_patch(run: Run, patch: Mapping[str, Any]) -> Mapping[str, Any]:
    key = "initContainers" if run.init else "containers"
    return {"spec": {key: [{"name": run.container, **patch}]}}


def _owner_text(owner: tuple[str, str, str]) -> str:
    return f"{owner[0]} {owner[1]}/{owner[2]}" if owner[1] else f"{owner[0]} {owner[2]}"


# -- MR01xx: the mesh's data plane ------------------------------------------------------------------------------


UNKNOWN_SOURCE = re.compile(r"unknown source: (?P<ip>[\d.]+)|failed to fetch information about local workload"
                            r"|timed out waiting for workload")


def _ambient_unknown_source(records: Records) -> list[Finding]:
    found = []
    seen: dict[tuple[str, str, str], Finding] = {}
    for connection in records.failed:
        drop = _find_hop(connection, lambda h: h["component"].startswith("ztunnel")
                         and h["action"] == "outbound connection dropped" and bool(UNKNOWN_SOURCE.search(h["detail"])))
        if drop is None:
            continue
        moment = parse_time(connection["time"])
        source_ip = connection["source"].rpartition(":")[0]
        pod_view = records.pod_of(connection["source_owner"]) or records.pod_of(source_ip)
        pod = f"{pod_view.namespace}/{pod_view.name}" if pod_view else _pod_ref(records, connection["source_owner"])
        subject = f"Pod {pod}"
        key = (pod, drop["component"], connection["destination"])
        if key in seen:  # the first connection of a kind carries the chain; the others are counted
            seen[key].connections.append(connection["id"])
            continue
        symptom, _, steps, symptom_text = _symptom_link(records, connection)
        captured = _find_hop(connection, _captures_to_ztunnel)
        chain = [link for link in (symptom, _connection_link(records, connection, captured)) if link]
        drop_record = next((r for r in records.decisions(component="ztunnel", action="outbound connection dropped")
                            if records.data(r).get("connection") == connection["id"]), None)
        flag_name = records.data(drop_record).get("flag", "") if drop_record else ""
        log_line = records.ztunnel_log_line(drop["component"], drop["detail"])
        chain.append(Link(drop["component"], f"{subject} ({source_ip})",
                          f"dropped the outbound connection: {drop['detail']}",
                          rule="ztunnel's outbound proxy looks the source workload up (by IP, or by the pod's ZDS "
                               "identity from 1.24) among the workloads istiod pushed; it was not there",
                          flag=records.flag(flag_name) if flag_name else None,
                          time=drop_record["time"] if drop_record else connection["time"], evidence=log_line))
        publish = _istiod_not_published(records, subject, moment)
        ignored = _istiod_ignored_update(records, subject, moment)
        remedies: list[Remedy] = []
        remedy = ("upgrade Istio to a release whose istiod publishes the pod before it is Running, or opt the "
                  "pod out of ambient")
        decisive: FlagRef | None = None
        cause = -1
        if publish is not None:
            cause = len(chain)
            data = records.data(publish)
            decisive = records.flag(data["flag"], data.get("istio", "")) if data.get("flag") else None
            chain.append(Link("istiod", subject, f"did not publish the pod to ztunnel: {publish['reason']}",
                              rule="the ambient workload index filters pods by this release's rule before pushing "
                                   "them to ztunnel (WDS)",
                              flag=decisive, time=publish["time"]))
            if "Pending" in publish["reason"]:
                pending = _pending_link(records, pod, moment)
                if pending is not None:
                    chain.append(pending)
        elif ignored is not None:
            data = records.data(ignored)
            decisive = records.flag(data["flag"], data.get("istio", "")) if data.get("flag") else None
            learned = [r for r in records.decisions(component="ztunnel", subject=subject, action="learned workload")
                       if parse_time(r["time"]) <= moment]
            if learned:
                chain.append(Link(records.data(learned[-1]).get("ztunnel", "ztunnel"), subject,
                                  f"knew the pod only as it was pushed: {learned[-1]['reason']}",
                                  rule="ztunnel matches a connection's source IP against the workloads' addresses",
                                  time=learned[-1]["time"]))
            cause = len(chain)
            chain.append(Link("istiod", subject, "published the pod before it had an IP and ignored the update "
                                                 "that set it", rule=ignored["reason"], flag=decisive,
                              time=ignored["time"]))
        else:
            late = _published_late(records, subject, drop["component"], moment)
            if late is not None:
                cause = len(chain)
                chain.append(late)
        if decisive is not None and decisive.holds is False:
            fixed = records.fixing_istio_release(decisive.name)
            if fixed:
                remedy = (f"upgrade Istio to {fixed} or later ({decisive.change.split(' ')[0]}), or opt the pod out "
                          "of ambient")
                remedies.append(Remedy("upgrade-istio", f"upgrade Istio to {fixed}", {"versions": {"istio": fixed}},
                                       note=f"the first release with {decisive.name}"))
        latest = records.latest_istio_release()
        if latest and not any(r.level == {"versions": {"istio": latest}} for r in remedies):
            remedies.append(Remedy("upgrade-istio-latest", f"upgrade Istio to {latest}",
                                   {"versions": {"istio": latest}}, note="the newest release meshrepro models"))
        capture = _cni_capture_link(records, subject)
        if capture is not None:
            chain.append(capture)
        remedies += _ambient_opt_out(records, pod)
        run = records.client_of(pod, moment)
        if run is not None:
            remedies += _sidecar_workarounds(records, pod, run, connection,
                                             note="a sidecar-mode workaround: ambient capture does not read it")
        seen[key] = MR0101.finding(subject, symptom_text, chain, remedy, remedies=remedies,
                                   connections=[connection["id"]], steps=steps, pods=[pod], time=connection["time"],
                                   cause=cause)
        found.append((key, seen[key]))
    return _group(found)


def _captures_to_ztunnel(hop: dict[str, str]) -> bool:
    detail = hop["detail"]
    return ("ztunnel-pods-ips" in detail and "MARK" in detail) or (
        "ISTIO_OUTPUT" in detail and "REDIRECT --to-ports 15001" in detail) or "TPROXY --on-port 15001" in detail


def _istiod_not_published(records: Records, subject: str, moment: datetime) -> dict[str, Any] | None:
    """istiod's last decision about the pod before `moment`, if it was to leave it out."""
    last = None
    for record in records.decisions(component="istiod", subject=subject):
        if parse_time(record["time"]) > moment:
            break
        if record["action"] in ("not published to ztunnel", "indexed workload"):
            last = record
    return last if last is not None and last["action"] == "not published to ztunnel" else None


def _istiod_ignored_update(records: Records, subject: str, moment: datetime) -> dict[str, Any] | None:
    """istiod's legacy index skipping the update that set the pod's IP, before `moment`."""
    found = [r for r in records.decisions(component="istiod", subject=subject, action="ignored pod update")
             if parse_time(r["time"]) <= moment]
    return found[-1] if found else None


def _published_late(records: Records, subject: str, ztunnel: str, moment: datetime) -> Link | None:
    """istiod had indexed the pod, but the push had not reached this ztunnel yet."""
    indexed = [r for r in records.decisions(component="istiod", subject=subject, action="indexed workload")
               if parse_time(r["time"]) <= moment]
    if not indexed:
        return None
    name = ztunnel.removeprefix("ztunnel ").strip()
    pushes = [r for r in records.decisions(component="istiod", action="pushed workloads")
              if r["subject"] == f"ztunnel {name}" and parse_time(r["time"]) > parse_time(indexed[-1]["time"])]
    when = f"; the next push reached it at {_clock(pushes[0]['time'])}" if pushes else "; no push reached it"
    return Link("istiod", subject, f"indexed the workload at {_clock(indexed[-1]['time'])}, but ztunnel {name} had "
                                   f"not received it when the connection arrived{when}",
                rule="istiod debounces changes and pushes snapshots to each ztunnel after a propagation delay",
                time=indexed[-1]["time"])


def _pending_link(records: Records, pod: str, moment: datetime) -> Link | None:
    """Why the pod was Pending: an init container was running (kubelet)."""
    init = [r for r in records.running(pod, moment) if r.init]
    if not init:
        return None
    run = init[0]
    component = next((r["component"] for r in records.decisions(component="kubelet", subject=f"Pod {pod}")), "kubelet")
    ended = (f", exited with {run.exit_code} at {_clock(_ms(run.end))}" if run.end is not None else
             ", still running at the end")
    return Link(component, f"Pod {pod}",
                f"kept the pod in phase Pending while init container {run.container} ran (started "
                f"{_clock(_ms(run.start))}{ended})",
                rule="init containers run one by one to completion before any app container starts; the pod's "
                     "phase is Pending until then",
                time=_ms(run.start))


def _cni_capture_link(records: Records, subject: str) -> Link | None:
    record = next(iter(records.decisions(component="istio-cni", subject=subject,
                                         action="captured at sandbox creation")), None)
    if record is None:
        return None
    reason = record["reason"]
    by = re.match(r"(namespace (\S+)|pod) label ([^\s;]+)", reason)
    if by and by.group(2):
        obj = f"Namespace {by.group(2)}, label {by.group(3)}"
    elif by:
        obj = f"{subject}, label {by.group(3)}"
    else:
        obj = subject
    flag_name = records.data(record).get("flag", "")
    return Link("istio-cni", obj, "captured the pod's traffic at sandbox creation, before its first container ran",
                rule=reason, flag=records.flag(flag_name) if flag_name else None, time=record["time"])


def _ambient_opt_out(records: Records, pod: str) -> list[Remedy]:
    owner = records.owner(pod)
    label_opt_out = records.flag("ambient_pod_label_enrollment")
    if label_opt_out is not None and label_opt_out.holds is False:
        patch = _template(owner, {"metadata": {"annotations": {REDIRECTION_ANNOTATION: "disabled"}}})
        how = f"annotation {REDIRECTION_ANNOTATION}=disabled"
    else:
        patch = _template(owner, {"metadata": {"labels": {DATAPLANE_MODE: "none"}}})
        how = f"label {DATAPLANE_MODE}=none"
    return [Remedy("opt-out", f"opt the pod out of ambient: {how} on {_owner_text(owner)}'s pods",
                   _patch(owner, patch), note="its traffic is then neither captured nor secured by ztunnel")]


def _sidecar_workarounds(records: Records, pod: str, run: Run, connection: Mapping[str, Any],
                         note: str) -> list[Remedy]:
    """The sidecar-mode knobs (istio-iptables): uid 1337 skips redirection; excluded ranges and ports."""
    owner = records.owner(pod)
    destination, _, port = connection["destination"].rpartition(":")
    container = _container_patch(run, {"securityContext": {"runAsUser": MESH_UID}})
    annotations = {"metadata": {"annotations": {
        "traffic.sidecar.istio.io/excludeOutboundIPRanges": f"{destination}/32"}}}
    ports = {"metadata": {"annotations": {"traffic.sidecar.istio.io/excludeOutboundPorts": port}}}
    return [
        Remedy("run-as-1337", f"run container {run.container} as uid {MESH_UID} (runAsUser)",
               _patch(owner, _template(owner, container)), note=note),
        Remedy("exclude-ip-range", f"exclude {destination}/32 from redirection (excludeOutboundIPRanges)",
               _patch(owner, _template(owner, annotations)), note=note),
        Remedy("exclude-port", f"exclude port {port} from redirection (excludeOutboundPorts)",
               _patch(owner, _template(owner, ports)), note=note),
    ]


def _ambient_sandbox_refused(records: Records) -> list[Finding]:
    found = []
    for record in records.decisions(component="istio-cni", action="sandbox refused"):
        subject = record["subject"]
        pod = subject.removeprefix("Pod ")
        namespace, _, name = pod.partition("/")
        view = records.pods.get(pod)
        events = [e for e in records.result.events if e["reason"] == "FailedCreatePodSandBox"
                  and e["namespace"] == namespace and e["object"] == f"Pod/{name}"]
        chain = []
        symptom = f"Pod {pod} stays {view.status if view else 'ContainerCreating'}"
        if events:
            chain.append(Link("kubelet", subject, f"failed to create the sandbox ({events[0]['count']}×, retried)",
                              rule="event FailedCreatePodSandBox: the CNI chain returned an error",
                              time=events[0]["first"] or "", evidence=events[0]["message"]))
        flag_name = records.data(record).get("flag", "")
        node = view.node if view else ""
        chain.append(Link("istio-cni", subject, f"refused the pod: {record['reason']}",
                          rule="the in-pod CNI plugin hands the pod's netns to ztunnel and fails cmdAdd when no "
                               "ztunnel is connected to the node agent, so no pod starts uncaptured",
                          flag=records.flag(flag_name) if flag_name else None, time=record["time"]))
        ztunnels = [p for p in records.result.pods if p.namespace == "istio-system" and p.name.startswith("ztunnel")
                    and (not node or p.node == node)]
        if ztunnels:
            z = ztunnels[0]
            chain.append(Link("kubelet", f"Pod {z.namespace}/{z.name}",
                              f"ztunnel on node {z.node} is {z.status} ({z.ready} ready) at the end",
                              rule="ztunnel connects to the node agent once it runs and has its first xDS push"))
        else:
            chain.append(Link("kube-controller-manager", "DaemonSet istio-system/ztunnel",
                              f"no ztunnel pod runs on node {node or 'the node'}",
                              rule="the ztunnel DaemonSet must schedule a pod on every node with enrolled pods"))
        found.append(((pod,), MR0102.finding(subject, symptom, chain, pods=[pod], time=record["time"],
                                             remedies=_ambient_opt_out(records, pod))))
    return _group(found)


def _ambient_strict(records: Records) -> list[Finding]:
    found = []
    for connection in records.failed:
        denied = _find_hop(connection, lambda h: h["component"].startswith("ztunnel")
                           and h["action"] == "denied by policy" and "without identity" in h["detail"])
        if denied is None:
            continue
        destination = connection["final"] or connection["destination"]
        target = _find_hop(connection, lambda h: h["action"].startswith("ztunnel inbound"))
        original = (target or {}).get("detail", "").removeprefix("original destination ") or destination
        view = records.pod_of(original.rpartition(":")[0])
        pod = f"{view.namespace}/{view.name}" if view else original
        symptom, _, steps, symptom_text = _symptom_link(records, connection)
        chain = [link for link in (symptom, _connection_link(records, connection, None)) if link]
        policy = denied["detail"].split(":")[0]
        chain.append(Link(denied["component"], f"Pod {pod}", f"denied the inbound plaintext connection: "
                                                            f"{denied['detail']}",
                          rule="ztunnel applies the workload's authorization policies to inbound connections; "
                               "plaintext carries no peer identity",
                          time=connection["time"],
                          evidence=records.ztunnel_log_line(denied["component"], "RBAC") or
                          records.ztunnel_log_line(denied["component"], "policy rejection")))
        conversion = next((r for r in records.decisions(component="istiod", action="converted PeerAuthentication")
                           if r["subject"] == f"Pod {pod}" and parse_time(r["time"]) <= parse_time(
                               connection["time"])), None)
        remedies = []
        if conversion is not None:
            data = records.data(conversion)
            chain.append(Link("istiod", data.get("peer_authentication", f"Pod {pod}"),
                              f"converted PeerAuthentication to ztunnel policy {policy}: {conversion['reason']}",
                              rule="pilot ambient policies.go: a STRICT workload gets the static DENY of requests "
                                   "without a peer identity",
                              flag=records.flag(data["flag"]) if data.get("flag") else None, time=conversion["time"]))
            if data.get("peer_authentication"):
                ref = data["peer_authentication"].removeprefix("PeerAuthentication ")
                namespace, _, name = ref.partition("/")
                remedies.append(Remedy("permissive", f"set PeerAuthentication {ref} to mtls.mode PERMISSIVE",
                                       _patch(("PeerAuthentication", namespace, name),
                                              {"spec": {"mtls": {"mode": "PERMISSIVE"}}}),
                                       note="PERMISSIVE accepts plaintext from clients outside the mesh"))
        source = records.pod_of(connection["source_owner"])
        if source is not None:
            why = next((r for r in records.decisions(component="istio-cni", subject=f"Pod {source.namespace}/"
                                                                                    f"{source.name}",
                                                     action="no ambient capture")), None)
            chain.append(Link("istio-cni", f"Pod {source.namespace}/{source.name}",
                              "left the client out of the mesh, so it sends plaintext",
                              rule=why["reason"] if why else "the client's pod is not captured",
                              time=why["time"] if why else ""))
            remedies.append(Remedy("enroll-client", f"enroll the client's namespace {source.namespace} in ambient",
                                   _patch(("Namespace", "", source.namespace),
                                          {"metadata": {"labels": {DATAPLANE_MODE: "ambient"}}}),
                                   note="its ztunnel then speaks HBONE with a SPIFFE identity"))
        found.append(((pod, connection["source_owner"], policy), MR0103.finding(
            f"Pod {pod}", symptom_text, chain, remedies=remedies, connections=[connection["id"]], steps=steps,
            pods=[pod], time=connection["time"])))
    return _group(found)


def _sidecar_strict(records: Records) -> list[Finding]:
    found = []
    for connection in records.failed:
        reject = _find_hop(connection, lambda h: h["action"].startswith("no filter chain matched")
                           and "STRICT" in h["detail"])
        if reject is None:
            continue
        destination = (connection["final"] or connection["destination"]).rpartition(":")[0]
        view = records.pod_of(destination)
        pod = f"{view.namespace}/{view.name}" if view else destination
        symptom, _, steps, symptom_text = _symptom_link(records, connection)
        chain = [link for link in (symptom, _connection_link(records, connection, None)) if link]
        decision = next((r for r in records.decisions(component="istio-proxy", subject=f"Pod {pod}",
                                                      action="inbound connection rejected")), None)
        chain.append(Link(reject["component"], f"Pod {pod}", f"reset the plaintext connection: {reject['detail']}",
                          rule="Envoy's inbound listener 15006 has only an mTLS filter chain for a STRICT port; "
                               "no chain matches plaintext (filter_chain_not_found)",
                          time=decision["time"] if decision else connection["time"]))
        found.append(((pod, connection["source_owner"]), MR0104.finding(
            f"Pod {pod}", symptom_text, chain, connections=[connection["id"]], steps=steps, pods=[pod],
            time=connection["time"])))
    return _group(found)


def _redirect_no_listener(records: Records) -> list[Finding]:
    found = []
    for connection in records.failed:
        hops = _hops(connection)
        redirect = next((h for h in hops if re.search(r"REDIRECT --to-ports? (15001|15006)\b", h["detail"])), None)
        missing = next((h for h in hops if re.match(r"no listener on [\d.]+:(15001|15006)/", h["action"])), None)
        if redirect is None or missing is None:
            continue
        moment = parse_time(connection["time"])
        pod = _pod_ref(records, connection["source_owner"])
        subject = f"Pod {pod}"
        symptom, container, steps, symptom_text = _symptom_link(records, connection)
        chain = [link for link in (symptom, _connection_link(records, connection, redirect)) if link]
        chain.append(Link(missing["component"], subject, f"{missing['action']}: {missing['detail']}",
                          rule="REDIRECT rewrites the destination to the pod's own port; until Envoy binds it the "
                               "kernel answers with RST"))
        proxy = [r for r in records.runs.get(pod, []) if r.container == "istio-proxy"]
        started = next((r for r in proxy if r.start > moment), None)
        kubelet = next((r["component"] for r in records.decisions(component="kubelet", subject=subject)), "kubelet")
        if not proxy or started is not None:
            when = f"started only at {_clock(_ms(started.start))}" if started else "had not started"
            chain.append(Link(kubelet, subject, f"istio-proxy {when}: the connection came from "
                                                f"{'init container ' if _is_init(records, pod, container) else ''}"
                                                f"{container or 'a container'} before it",
                              rule="classic sidecars start after every init container; native sidecars "
                                   "(restartPolicy: Always) before the next init container"))
        written = next((r for r in records.decisions(component="istio-cni", subject=subject,
                                                     action="sidecar redirect written at sandbox creation")), None)
        if written is not None:
            chain.append(Link("istio-cni", subject, "wrote the sidecar's redirect rules at sandbox creation",
                              rule=written["reason"], time=written["time"]))
        else:
            chain.append(Link(redirect["component"], subject, "redirected the connection to the sidecar's port",
                              rule=redirect["detail"]))
        run = records.client_of(pod, moment)
        remedies = (_sidecar_workarounds(records, pod, run, connection, note="istio-iptables skips it")
                    if run is not None else [])
        owner = records.owner(pod)
        if run is not None and not run.init:
            remedies.append(Remedy("hold-application", "hold the application until the proxy starts "
                                                       "(holdApplicationUntilProxyStarts)",
                                   _patch(owner, _template(owner, {"metadata": {"annotations": {
                                       "proxy.istio.io/config": '{"holdApplicationUntilProxyStarts": true}'}}})),
                                   note="app containers start once istio-proxy is ready (init containers still "
                                        "run before it)"))
        native = _native_sidecar_remedy(records, owner)
        if native is not None:
            remedies.append(native)
        found.append(((pod, connection["destination"]), MR0105.finding(
            subject, symptom_text, chain, remedies=remedies, connections=[connection["id"]], steps=steps, pods=[pod],
            time=connection["time"])))
    return _group(found)


def _native_sidecar_remedy(records: Records, owner: tuple[str, str, str]) -> Remedy | None:
    """istio-proxy as a native sidecar: the pod annotation where the release reads it, else istiod's
    ENABLE_NATIVE_SIDECARS on the `istioctl install` step. None where Kubernetes has no native sidecars."""
    kube = records.flag("sidecar_containers")
    if kube is not None and kube.holds is False:
        return None
    note = "the proxy then starts before the app's init containers"
    annotation = records.flag("native_sidecar_pod_annotation")
    if annotation is not None and annotation.holds:
        return Remedy("native-sidecar", "run istio-proxy as a native sidecar (annotation "
                                        "sidecar.istio.io/nativeSidecar: \"true\")",
                      _patch(owner, _template(owner, {"metadata": {"annotations": {
                          "sidecar.istio.io/nativeSidecar": "true"}}})), note=note)
    install = next((s.command for s in records.result.steps if re.match(r"\s*istioctl\s+install\b", s.command)
                    and "ENABLE_NATIVE_SIDECARS" not in s.command and "\n" not in s.command.strip()), None)
    if install is None:
        return None
    command = install.rstrip()
    command = (command[:-3] + " --set values.pilot.env.ENABLE_NATIVE_SIDECARS=true -y" if command.endswith(" -y")
               else command + " --set values.pilot.env.ENABLE_NATIVE_SIDECARS=true")
    return Remedy("native-sidecar", "run istio-proxy as a native sidecar (istiod ENABLE_NATIVE_SIDECARS=true)",
                  {"replace_steps": {install: command}}, note=note)


def _pod_ref(records: Records, owner: str) -> str:
    """`ns/name` of a connection's source (`pod ns/name`), whether or not the pod still exists at the end."""
    view = records.pod_of(owner)
    return f"{view.namespace}/{view.name}" if view else owner.removeprefix("pod ")


def _is_init(records: Records, pod: str, container: str) -> bool:
    view = records.pods.get(pod)
    return bool(view and any(c["name"] == container and c.get("init") for c in view.containers))


# -- MR02xx: API access -----------------------------------------------------------------------------------------


def _rbac_forbidden(records: Records) -> list[Finding]:
    found = []
    for record in records.decisions(component="kube-apiserver", action="forbidden"):
        user = records.data(record).get("user", "")
        verb, _, path = record["subject"].partition(" ")
        resource, namespace, group = _resource(path)
        line, where, steps = _output_line(records, r"\(Forbidden\)", user or resource)
        chain = []
        if line:
            chain.append(Link(where, user or "the client", f"printed `{_strip_klog(line)}`",
                              rule="kubectl prints the API server's Status message", evidence=line))
        scope = f" in namespace {namespace}" if namespace else " cluster-wide"
        chain.append(Link("kube-apiserver", f"{verb} {resource}{scope}",
                          f"answered 403 Forbidden to {user or 'the user'}",
                          rule=f"authorization (RBAC): {record['reason']}", time=record["time"]))
        sa = re.fullmatch(r"system:serviceaccount:([^:]+):(.+)", user)
        remedies = []
        if sa:
            chain.append(Link("kube-apiserver", f"ServiceAccount {sa.group(1)}/{sa.group(2)}",
                              "authenticated the request as this ServiceAccount (the pod's token)",
                              rule="no Role or ClusterRole bound to it, its groups or system:authenticated allows "
                                   f"{verb} on {resource}"))
            remedy = (f"bind a Role allowing `{verb}` on `{resource}`{' in ' + namespace if namespace else ''} to "
                      f"ServiceAccount {sa.group(1)}/{sa.group(2)}, or run the pod as a ServiceAccount that has one")
            remedies.append(_rbac_remedy(records, sa.group(1), sa.group(2), verb, resource, group, namespace))
        else:
            remedy = f"grant {user or 'the user'} `{verb}` on `{resource}` with a Role/ClusterRole and a binding"
        symptom = _strip_klog(line) if line else f"403 Forbidden: {verb} {resource}"
        found.append(((user, verb, resource, namespace), MR0201.finding(
            f"{user} {verb} {resource}", symptom, chain, remedy, remedies=[r for r in remedies if r], steps=steps,
            time=record["time"])))
    return _group(found)


def _rbac_remedy(records: Records, sa_namespace: str, sa_name: str, verb: str, resource: str, group: str,
                 namespace: str) -> Remedy | None:
    """An extra manifest, applied before the first step that creates workloads."""
    step = next((s for s in records.result.steps if re.search(r"\bkubectl\s+(apply|create|run)\b", s.command)), None)
    if step is None:
        return None
    kind = "Role" if namespace else "ClusterRole"
    meta_ns = f"\n  namespace: {namespace}" if namespace else ""
    manifest = (f"apiVersion: rbac.authorization.k8s.io/v1\nkind: {kind}\nmetadata:\n  name: meshrepro-remedy{meta_ns}\n"
                f"rules:\n- apiGroups: [\"{group}\"]\n  resources: [\"{resource}\"]\n  verbs: [\"{verb}\"]\n---\n"
                f"apiVersion: rbac.authorization.k8s.io/v1\nkind: {kind}Binding\nmetadata:\n  name: meshrepro-remedy"
                f"{meta_ns}\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: {kind}\n  name: meshrepro-remedy\n"
                f"subjects:\n- kind: ServiceAccount\n  name: {sa_name}\n  namespace: {sa_namespace}\n")
    command = f"kubectl apply -f - <<EOF\n{manifest}EOF\n{step.command.rstrip()}\n"
    return Remedy("grant-rbac", f"grant ServiceAccount {sa_namespace}/{sa_name} `{verb}` on `{resource}` "
                                f"({kind} + {kind}Binding)", {"replace_steps": {step.command: command}},
                  note="applied before the workload starts")


def _resource(path: str) -> tuple[str, str, str]:
    """(resource, namespace, API group) of a request path."""
    parts = [p for p in path.split("/") if p]
    group = ""
    if parts[:1] == ["api"]:
        parts = parts[2:]
    elif parts[:1] == ["apis"]:
        group, parts = (parts[1] if len(parts) > 1 else ""), parts[3:]
    namespace = ""
    if parts[:1] == ["namespaces"] and len(parts) > 2:
        namespace, parts = parts[1], parts[2:]
    return (parts[0] if parts else path), namespace, group


def _output_line(records: Records, patterns: str | tuple[str, ...], mentioning: str = "") -> tuple[str, str, list[int]]:
    """The first line matching a pattern (tried in order; naming `mentioning`) in a container log or a step's
    output."""
    for pattern in (patterns,) if isinstance(patterns, str) else patterns:
        wanted = re.compile(pattern)
        for view in records.result.logs:
            for line in view.text.splitlines():
                if wanted.search(line) and mentioning in line:
                    return line.strip(), f"container {view.container} of Pod {view.namespace}/{view.pod}", \
                        records.steps_showing(line)
        for step in records.result.steps:
            for line in step.output.splitlines():
                if wanted.search(line) and mentioning in line:
                    return line.strip(), f"step {step.index} `{_one_line(step.command)}`", [step.index]
    return "", "", []


def _unauthorized(records: Records) -> list[Finding]:
    found = []
    for record in records.decisions(component="kube-apiserver", action="rejected bearer token (401)"):
        token = str(records.data(record).get("token_subject", ""))
        line, where, steps = _output_line(records, (r"You must be logged in", r"\(Unauthorized\)|provide credentials"))
        chain = []
        if line:
            chain.append(Link(where, "the client", f"printed `{_strip_klog(line)}`",
                              rule="kubectl prints the API server's 401 as `You must be logged in to the server`",
                              evidence=line))
        chain.append(Link("kube-apiserver", "authentication", f"answered 401 Unauthorized: {record['reason']}",
                          rule="the bearer token authenticator verifies the JWT's signature, expiry, audience and "
                               "bound objects", time=record["time"]))
        remedy = "give the client a valid credential (the mounted ServiceAccount token, or a fresh one)"
        if token.startswith("/"):
            chain.append(Link("kubectl config", "kubeconfig user credentials",
                              f"sent the file path `{token}` as the bearer token",
                              rule="`kubectl config set-credentials --token=<value>` stores the text it is given; "
                                   "a path is not read (use tokenFile for that)"))
            remedy = (f"pass the token itself (`--token=\"$(cat {token})\"`) or point the kubeconfig's tokenFile at "
                      f"{token}")
        symptom = _strip_klog(line) if line else "401 Unauthorized"
        found.append(((record["reason"], token), MR0202.finding("authentication", symptom, chain, remedy,
                                                                  steps=steps, time=record["time"])))
    return _group(found)


# -- MR03xx: Kubernetes networking and DNS ---------------------------------------------------------------------


def _no_endpoints(records: Records) -> list[Finding]:
    found = []
    for connection in records.failed:
        reject = _find_hop(connection, lambda h: "-j REJECT" in h["detail"] and "has no endpoints" in h["detail"])
        if reject is None:
            continue
        service = re.search(r'--comment "(\S+?)(:\S+)? has no endpoints"', reject["detail"])
        name = service.group(1) if service else "the Service"
        symptom, _, steps, symptom_text = _symptom_link(records, connection)
        chain = [link for link in (symptom, _connection_link(records, connection, None)) if link]
        chain.append(Link(reject["component"], f"Service {name}", "refused the connection (ICMP port unreachable)",
                          rule=reject["detail"], evidence=reject["action"]))
        chain.append(Link("kube-proxy", f"Service {name}",
                          "wrote a REJECT rule because the Service has no ready endpoints",
                          rule="no Ready pod matches the Service's selector (EndpointSlice "
                               f"kubernetes.io/service-name={name.rpartition('/')[2]} is empty)"))
        found.append(((name, connection["source_owner"]), MR0301.finding(
            f"Service {name}", symptom_text, chain,
            f"make Service {name}'s selector match Ready pods (kubectl get endpointslices -l "
            f"kubernetes.io/service-name={name.rpartition('/')[2]})",
            connections=[connection["id"]], steps=steps, time=connection["time"])))
    return _group(found)


def _no_listener(records: Records) -> list[Finding]:
    found = []
    for connection in records.failed:
        missing = _find_hop(connection, lambda h: h["action"].startswith("no listener on "))
        if missing is None or re.match(r"no listener on [\d.]+:(15001|15006)/", missing["action"]):
            continue
        address = missing["action"].removeprefix("no listener on ")
        symptom, _, steps, symptom_text = _symptom_link(records, connection)
        chain = [link for link in (symptom, _connection_link(records, connection, None)) if link]
        translated = [h for h in _hops(connection) if "DNAT" in h["detail"]]
        if translated:
            chain.append(Link(translated[-1]["component"], connection["destination"],
                              f"translated the destination to {connection['final']}", rule=translated[-1]["detail"]))
        chain.append(Link(missing["component"], address, f"nothing listens on {address}: {missing['detail']}",
                          rule="a SYN to a port without a listening socket is answered with RST"))
        found.append(((address, connection["source_owner"]), MR0302.finding(
            address, symptom_text, chain, f"start the server first or point the client at the port it listens "
                                          f"on ({address} has no listener)",
            connections=[connection["id"]], steps=steps, time=connection["time"])))
    return _group(found)


def _unroutable(records: Records) -> list[Finding]:
    found = []
    for connection in records.failed:
        lost = _find_hop(connection, lambda h: h["action"].startswith("no host owns "))
        if lost is None:
            continue
        address = lost["action"].removeprefix("no host owns ")
        port = connection["destination"].rpartition(":")[2]
        symptom, _, steps, symptom_text = _symptom_link(records, connection)
        chain = [link for link in (symptom, _connection_link(records, connection, None)) if link]
        name = _dns_name_of(records, address)
        remedy = f"check the destination: no pod, node or Service rule owns {address}"
        if name:
            chain.append(Link("coredns", name, f"resolved {name} to {address}, a Service's ClusterIP",
                              rule="the kubernetes plugin answers from its view of Services"))
            chain.append(Link("kube-proxy", f"{address}:{port}", f"has no rule for port {port} of {address}",
                              rule="kube-proxy writes KUBE-SERVICES rules only for the ports the Service declares; "
                                   "other ports of a ClusterIP lead nowhere"))
            remedy = f"use a port that the Service {name.rstrip('.')} declares (kubectl get svc), not {port}"
        chain.append(Link(lost["component"], address, f"no host owns {address}: {lost['detail']}",
                          rule="a ClusterIP is virtual: only kube-proxy's rules make it reachable"))
        found.append(((connection["destination"], connection["source_owner"]), MR0303.finding(
            connection["destination"], symptom_text, chain, remedy, connections=[connection["id"]], steps=steps,
            time=connection["time"])))
    return _group(found)


def _dns_name_of(records: Records, address: str) -> str:
    for connection in records.result.connections:
        for hop in _hops(connection):
            if hop["component"] == "coredns" and re.search(rf"→ NOERROR .*\b{re.escape(address)}\b", hop["action"]):
                return hop["action"].split(" → ")[0]
    return ""


RESOLVE_FAILURES = (r"bad address '(?P<a>[^']+)'", r"Could not resolve host: (?P<b>\S+)",
                    r"can't resolve '?(?P<c>[^'\s:]+)", r"server can't find (?P<d>[^:\s]+): NXDOMAIN",
                    r"lookup (?P<e>\S+) on [\d.:]+: no such host")


def _dns_nxdomain(records: Records) -> list[Finding]:
    found = []
    pattern = re.compile("|".join(RESOLVE_FAILURES))
    sources = [(f"step {s.index} `{_one_line(s.command)}`", s.output, [s.index]) for s in records.result.steps]
    for where, text, steps in sources:
        for line in text.splitlines():
            match = pattern.search(line)
            if not match:
                continue
            name = next(v for v in match.groupdict().values() if v).rstrip(".")
            queries = list(dict.fromkeys(
                h["action"] for c in records.result.connections for h in _hops(c)
                if h["component"] == "coredns" and (h["action"].startswith(name + ".") and "NXDOMAIN" in h["action"]
                                                    or h["action"] == f"forward {name}. upstream")))
            if not queries:
                continue
            chain = [Link(where, name, f"printed `{line.strip()}`", rule="the resolver found no address for the "
                                                                            "name", evidence=line.strip())]
            forwarded = [q for q in queries if "upstream" in q]
            nx = [q for q in queries if "NXDOMAIN" in q]
            if nx:
                chain.append(Link("coredns", name, "answered NXDOMAIN for every search-list expansion: " +
                                  ", ".join(q.split(" → ")[0] for q in nx),
                                  rule="the kubernetes plugin knows no Service of that name in those namespaces"))
            if forwarded:
                chain.append(Link("coredns", f"{name}.", "forwarded the bare name upstream, and nothing answered",
                                  rule="names outside cluster.local go to the node's resolver (none offline)"))
            found.append(((name,), MR0304.finding(
                name, line.strip(), chain, f"check the Service name and namespace of `{name}` (kubectl get svc -A); "
                                           "across namespaces use <service>.<namespace>", steps=steps)))
    return _group(found)


# -- MR04xx: pod lifecycle --------------------------------------------------------------------------------------


def _image_pull(records: Records) -> list[Finding]:
    found = []
    for event in records.result.events:
        if not ((event["reason"] in ("Failed", "ErrImagePull") and "pull" in event["message"].lower())
                or (event["reason"] == "BackOff" and "pulling image" in event["message"])):
            continue
        pod = f"{event['namespace']}/{event['object'].partition('/')[2]}"
        view = records.pods.get(pod)
        chain = [Link("kubelet", f"Pod {pod}", f"{event['reason']}: {event['message']} ({event['count']}×)",
                      rule="the kubelet pulls each image before creating its container, with back-off on failure",
                      time=event["first"] or "", evidence=event["message"])]
        image = re.search(r'image "([^"]+)"', event["message"])
        found.append(((pod,), MR0401.finding(
            f"Pod {pod}", f"Pod {pod} is {view.status if view else 'ErrImagePull'}", chain,
            f"fix the image reference {image.group(1) if image else ''} (name, tag, registry) or its pull secret"
            .replace("  ", " "), pods=[pod], time=event["first"] or "")))
    return _group(found)


def _crash_loops(records: Records) -> list[Finding]:
    """Containers that exited non-zero: CrashLoopBackOff (MR0402) or a failing init container (MR0403)."""
    found = []
    for pod, runs in sorted(records.runs.items()):
        failed = [r for r in runs if r.exit_code not in (None, 0) and not r.killed
                  and r.container not in ("istio-proxy",)]
        if not failed:
            continue
        by_container: dict[str, list[Run]] = {}
        for run in failed:
            by_container.setdefault(run.container, []).append(run)
        for container, crashes in by_container.items():
            last = crashes[-1]
            view = records.pods.get(pod)
            namespace, _, name = pod.partition("/")
            backoff = next((e for e in records.result.events if e["reason"] == "BackOff"
                            and e["namespace"] == namespace and e["object"] == f"Pod/{name}"
                            and f"container {container} " in e["message"]), None)
            log = records.log_of(last)
            tail = [line.strip() for line in log.splitlines() if line.strip()][-1:] if log else []
            diagnosis = MR0403 if last.init else MR0402
            kubelet = next((r["component"] for r in records.decisions(component="kubelet", subject=f"Pod {pod}")),
                           "kubelet")
            chain = []
            status = view.status if view else ""
            if backoff is not None:
                chain.append(Link(kubelet, f"Pod {pod}", f"backs off restarting {container} ({backoff['count']}×)",
                                  rule="restartPolicy: the kubelet restarts a failed container after 10 s, 20 s, "
                                       "40 s ... up to 5 min", time=backoff["first"] or "",
                                  evidence=backoff["message"]))
            chain.append(Link(kubelet, f"Pod {pod}", f"container {container} exited with {last.exit_code} "
                                                     f"({len(crashes)} time{'s' if len(crashes) > 1 else ''})",
                              rule=("an init container must exit 0 before the next one and the app containers start"
                                    if last.init else "the container's process ended with a non-zero code"),
                              time=_ms(last.end) if last.end else ""))
            if tail:
                chain.append(Link(f"container {container}", f"Pod {pod}", f"last printed `{_strip_klog(tail[0])}`",
                                  rule="what the process printed before it exited", evidence=tail[0]))
            symptom = f"Pod {pod} is {status}" if status else f"container {container} exited with {last.exit_code}"
            remedy = (f"fix what makes {container} exit {last.exit_code}: its last line is the first clue"
                      if tail else f"fix what makes {container} exit {last.exit_code}")
            found.append(((pod, container), diagnosis.finding(
                f"Pod {pod}", symptom, chain, remedy, pods=[pod], time=_ms(crashes[0].end) if crashes[0].end else "",
                steps=records.steps_showing(tail[0]) if tail else [])))
    return _group(found)


# -- MR00xx: what no diagnosis explains --------------------------------------------------------------------------


def closed_by_design(connection: Mapping[str, Any]) -> bool:
    """An EOF after the listener accepted, with nothing dropping it: the server closed (a probe that only checks
    it can connect, like istio-validation's), not a failure."""
    hops = _hops(connection)
    return connection["outcome"] == "eof" and bool(hops) and hops[-1]["action"].startswith("accepted")


def unexplained(records: Records, connection: Mapping[str, Any]) -> Finding:
    symptom, _, steps, symptom_text = _symptom_link(records, connection)
    chain = [link for link in (symptom, _connection_link(records, connection, None)) if link]
    hops = _hops(connection)
    if hops:
        last = hops[-1]
        chain.append(Link(last["component"], connection["destination"], last["action"], rule=last["detail"]))
    return MR0001.finding(connection["source_owner"], symptom_text, chain, connections=[connection["id"]],
                          steps=steps, time=connection["time"])


# -- the catalogue ------------------------------------------------------------------------------------------------


def _none(records: Records) -> list[Finding]:
    return []


MR0001 = Diagnosis(
    "MR0001", "UnexplainedConnectionFailure", "a connection failed and no diagnosis explains it", "warning",
    "read the connection's hops (meshrepro run --format json) and file what you see", "any failed connection no "
    "other diagnosis matched", _none)
MR0101 = Diagnosis(
    "MR0101", "AmbientUnknownSource", "ztunnel dropped an outbound connection from a source it does not know",
    "error", "upgrade Istio to a release whose istiod publishes Pending pods, or opt the pod out of ambient",
    "a failed connection whose hops end in ztunnel `outbound connection dropped` with `unknown source` / `failed to "
    "fetch information about local workload`; the chain follows istiod's `not published to ztunnel` decision "
    "(its flag), the kubelet's init container runs and istio-cni's capture", _ambient_unknown_source)
MR0102 = Diagnosis(
    "MR0102", "AmbientSandboxRefused", "istio-cni refused the pod's sandbox: no ztunnel on the node", "error",
    "make ztunnel run and become Ready on every node before enrolling pods (the kubelet retries the sandbox)",
    "istio-cni `sandbox refused` decisions and the kubelet's FailedCreatePodSandBox events", _ambient_sandbox_refused)
MR0103 = Diagnosis(
    "MR0103", "AmbientStrictPlaintext", "ztunnel denied a plaintext connection under STRICT mTLS", "error",
    "enroll the client in the mesh, or set the PeerAuthentication to PERMISSIVE",
    "a failed connection with a ztunnel `denied by policy` hop (a peer without identity); istiod's PeerAuthentication "
    "conversion and istio-cni's decision about the client", _ambient_strict)
MR0104 = Diagnosis(
    "MR0104", "SidecarStrictPlaintext", "the sidecar reset a plaintext connection under STRICT mTLS", "error",
    "inject the client with a sidecar (or enroll it in ambient), or set the PeerAuthentication to PERMISSIVE",
    "a failed connection with an Envoy `no filter chain matched` hop under STRICT", _sidecar_strict)
MR0105 = Diagnosis(
    "MR0105", "SidecarRedirectNoListener", "traffic was redirected to the sidecar before Envoy listened", "error",
    "run the container as uid 1337, exclude the destination from redirection, or use native sidecars",
    "a failed connection whose hops hold an iptables REDIRECT to 15001/15006 and then `no listener on …:15001`",
    _redirect_no_listener)
MR0201 = Diagnosis(
    "MR0201", "RbacForbidden", "the API server refused a request: RBAC allows it to no one the client is", "error",
    "bind a Role (or ClusterRole) granting the verb on the resource to the client's ServiceAccount",
    "kube-apiserver `forbidden` decisions (and the client's `(Forbidden)` line)", _rbac_forbidden)
MR0202 = Diagnosis(
    "MR0202", "Unauthorized", "the API server rejected the client's credentials (401)", "error",
    "give the client a valid credential",
    "kube-apiserver `rejected bearer token (401)` decisions (and `You must be logged in to the server`)",
    _unauthorized)
MR0301 = Diagnosis(
    "MR0301", "ServiceNoEndpoints", "kube-proxy refused a connection to a Service without endpoints", "error",
    "make the Service's selector match Ready pods",
    "a failed connection with a kube-proxy REJECT hop commented `has no endpoints`", _no_endpoints)
MR0302 = Diagnosis(
    "MR0302", "NoListener", "nothing listens on the destination port", "error",
    "start the server first, or point the client at the port it listens on",
    "a refused connection whose last hop is `no listener on` (not a mesh redirect port)", _no_listener)
MR0303 = Diagnosis(
    "MR0303", "Unroutable", "no host owns the destination address; the client timed out", "error",
    "use an address and port that a pod, node or Service rule owns",
    "a failed connection with a routing hop `no host owns`", _unroutable)
MR0304 = Diagnosis(
    "MR0304", "DnsNxdomain", "a name did not resolve", "error",
    "check the Service name and namespace; across namespaces use <service>.<namespace>",
    "a resolver error in a step's output (`bad address`, `Could not resolve host`...) and CoreDNS NXDOMAIN hops",
    _dns_nxdomain)
MR0401 = Diagnosis(
    "MR0401", "ImagePullFailed", "the kubelet could not pull an image", "error",
    "fix the image reference or its pull secret", "kubelet events Failed/ErrImagePull/BackOff about pulling",
    _image_pull)
MR0402 = Diagnosis(
    "MR0402", "ContainerFailed", "a container exited with an error (CrashLoopBackOff when it is restarted)", "error",
    "fix what makes the container exit; its last output is the first clue",
    "the kubelet's `container X exited with N` decisions (N ≠ 0) of app containers, and BackOff events",
    _crash_loops)
MR0403 = Diagnosis(
    "MR0403", "InitContainerFailing", "an init container exits with an error, so the pod never starts", "error",
    "fix what makes the init container exit; its last output is the first clue",
    "the kubelet's `container X exited with N` decisions (N ≠ 0) of init containers, and BackOff events", _none)

CATALOGUE: tuple[Diagnosis, ...] = (MR0001, MR0101, MR0102, MR0103, MR0104, MR0105, MR0201, MR0202, MR0301, MR0302,
                                    MR0303, MR0304, MR0401, MR0402, MR0403)
BY_CODE: dict[str, Diagnosis] = {d.code: d for d in CATALOGUE}

# The matchers, in the order they run (MR0403 findings come from MR0402's matcher).
CONNECTION_CODES = ("MR0101", "MR0103", "MR0104", "MR0105", "MR0301", "MR0302", "MR0303")
MATCHERS: tuple[Diagnosis, ...] = (MR0101, MR0102, MR0103, MR0104, MR0105, MR0201, MR0202, MR0301, MR0302, MR0303,
                                   MR0304, MR0401, MR0402)


def match_all(records: Records) -> list[Finding]:
    findings: list[Finding] = []
    for diagnosis in MATCHERS:
        findings += diagnosis.match(records)
    return findings


__all__ = ["BY_CODE", "CATALOGUE", "Diagnosis", "Finding", "FlagRef", "Link", "Records", "Remedy",
           "closed_by_design", "match_all", "parse_time", "unexplained"]

