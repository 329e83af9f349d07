"""Volume contents as the kubelet's volume plugins present them inside containers."""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from meshrepro.kube.store import Obj, ResourceKey, Store

CONFIGMAPS = ResourceKey("", "configmaps")
SECRETS = ResourceKey("", "secrets")

# (pod, audience or "", expiration seconds) -> token, or an error message
TokenSource = Callable[[Obj, str, int], "str | MountError"]


@dataclass(frozen=True)
class MountError:
    """Why a volume could not be set up: the kubelet reports it as a FailedMount event and retries."""

    message: str


@dataclass(frozen=True)
class PreparedVolume:
    files: Mapping[str, str] | None  # None: a writable directory shared by the pod's containers
    read_only: bool


def prepare(volume: Obj, pod: Obj, store: Store, token: TokenSource,
            shared: dict[str, dict[str, str]]) -> PreparedVolume | MountError:
    """Materialise one pod volume; `shared` keeps emptyDir contents across the pod's containers."""
    namespace = pod["metadata"]["namespace"]
    if "projected" in volume:
        files: dict[str, str] = {}
        for source in volume["projected"].get("sources") or []:
            part = _projected_source(source, pod, namespace, store, token, volume["name"])
            if isinstance(part, MountError):
                return part
            files.update(part)
        return PreparedVolume(files, True)
    if "configMap" in volume:
        part = _config_map(volume["configMap"], namespace, store, volume["name"])
        return part if isinstance(part, MountError) else PreparedVolume(part, True)
    if "secret" in volume:
        part = _secret(volume["secret"], namespace, store, volume["name"])
        return part if isinstance(part, MountError) else PreparedVolume(part, True)
    if "downwardAPI" in volume:
        return PreparedVolume(_downward(volume["downwardAPI"].get("items") or [], pod), True)
    # emptyDir, hostPath and anything else: a writable directory shared within the pod.
    return PreparedVolume(shared.setdefault(volume["name"], {}), False)


def _projected_source(source: Obj, pod: Obj, namespace: str, store: Store, token: TokenSource,
                      volume_name: str) -> dict[str, str] | MountError:
    if "serviceAccountToken" in source:
        spec = source["serviceAccountToken"]
        value = token(pod, spec.get("audience", ""), int(spec.get("expirationSeconds", 3600)))
        if isinstance(value, MountError):
            return value
        return {spec["path"]: value}
    if "configMap" in source:
        return _config_map(source["configMap"], namespace, store, volume_name)
    if "secret" in source:
        return _secret(source["secret"], namespace, store, volume_name)
    if "downwardAPI" in source:
        return _downward(source["downwardAPI"].get("items") or [], pod)
    return {}


def _config_map(ref: Obj, namespace: str, store: Store, volume_name: str) -> dict[str, str] | MountError:
    obj = store.peek(CONFIGMAPS, namespace, ref["name"])
    if obj is None:
        if ref.get("optional"):
            return {}
        return MountError(f'MountVolume.SetUp failed for volume "{volume_name}" : '
                          f'configmap "{ref["name"]}" not found')
    return _items(obj.get("data") or {}, ref.get("items"), ref, volume_name, "configmap")


def _secret(ref: Obj, namespace: str, store: Store, volume_name: str) -> dict[str, str] | MountError:
    name = ref.get("secretName") or ref.get("name")
    obj = store.peek(SECRETS, namespace, name)
    if obj is None:
        if ref.get("optional"):
            return {}
        return MountError(f'MountVolume.SetUp failed for volume "{volume_name}" : secret "{name}" not found')
    data = {k: base64.b64decode(v).decode(errors="replace") for k, v in (obj.get("data") or {}).items()}
    data.update(obj.get("stringData") or {})
    return _items(data, ref.get("items"), ref, volume_name, "secret")


def _items(data: Mapping[str, str], items: list[Obj] | None, ref: Obj, volume_name: str,
           what: str) -> dict[str, str] | MountError:
    if not items:
        return dict(data)
    files = {}
    for item in items:
        if item["key"] not in data:
            if ref.get("optional"):
                continue
            return MountError(f'MountVolume.SetUp failed for volume "{volume_name}" : '
                              f'configmap references non-existent config key: {item["key"]}'
                              if what == "configmap" else
                              f'MountVolume.SetUp failed for volume "{volume_name}" : '
                              f'references non-existent secret key: {item["key"]}')
        files[item["path"]] = data[item["key"]]
    return files


def _downward(items: list[Obj], pod: Obj) -> dict[str, str]:
    files = {}
    for item in items:
        field_path = (item.get("fieldRef") or {}).get("fieldPath", "")
        files[item["path"]] = field_value(pod, field_path)
    return files


def field_value(pod: Obj, field_path: str) -> str:
    """The downward API's fieldRef values."""
    meta = pod["metadata"]
    if field_path in ("metadata.labels", "metadata.annotations"):
        values = meta.get(field_path.split(".")[1]) or {}
        return "\n".join(f'{k}="{v}"' for k, v in sorted(values.items()))
    if field_path.startswith(("metadata.labels['", "metadata.annotations['")):
        group, key = field_path.split("['", 1)
        return str((meta.get(group.split(".")[1]) or {}).get(key.rstrip("']"), ""))
    simple = {
        "metadata.name": meta.get("name", ""), "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""), "spec.nodeName": pod["spec"].get("nodeName", ""),
        "spec.serviceAccountName": pod["spec"].get("serviceAccountName", ""),
        "status.podIP": pod.get("status", {}).get("podIP", ""), "status.hostIP": pod.get("status", {}).get("hostIP", ""),
    }
    return simple.get(field_path, "")
