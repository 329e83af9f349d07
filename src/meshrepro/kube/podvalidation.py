"""Pod validation the API server applies to probes (pkg/apis/core/validation: validateProbe and callers)."""

from __future__ import annotations

import re
from typing import Any

from meshrepro.kube import status as api_status
from meshrepro.kube.store import Obj

FIELDS = {"startup": "startupProbe", "liveness": "livenessProbe", "readiness": "readinessProbe"}
HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")

def validate_probes(pod_spec: Obj, path: str = "spec", sidecars: bool = True) -> list[api_status.FieldError]:
    """The probe checks of pkg/apis/core/validation (validateProbe and its callers) for one pod spec.

    `path` is where the spec sits ("spec" for a Pod, "spec.template.spec" for a workload); `sidecars` is
    the SidecarContainers behaviour (flags.sidecar_containers), which allows probes on restartable init
    containers.
    """
    errors: list[api_status.FieldError] = []
    for index, container in enumerate(pod_spec.get("initContainers") or []):
        where = f"{path}.initContainers[{index}]"
        if sidecars and container.get("restartPolicy") == "Always":
            errors += _validate_container(container, where)
            continue
        detail = "may not be set for init containers without restartPolicy=Always" if sidecars \
            else "must not be set for init containers"
        errors += [api_status.forbidden_field(f"{where}.{FIELDS[k]}", detail) for k in ("liveness", "readiness",
                                                                                         "startup")
                   if container.get(FIELDS[k]) is not None]
    for index, container in enumerate(pod_spec.get("containers") or []):
        errors += _validate_container(container, f"{path}.containers[{index}]")
    return errors


def _validate_container(container: Obj, where: str) -> list[api_status.FieldError]:
    errors: list[api_status.FieldError] = []
    for kind in ("liveness", "readiness", "startup"):
        probe = container.get(FIELDS[kind])
        if not isinstance(probe, dict):
            continue
        field = f"{where}.{FIELDS[kind]}"
        errors += _validate_probe(probe, field)
        if kind != "readiness" and probe.get("successThreshold", 1) != 1:
            errors.append(api_status.invalid_value(f"{field}.successThreshold", probe.get("successThreshold"),
                                                   "must be 1"))
        if kind == "readiness" and probe.get("terminationGracePeriodSeconds") is not None:
            errors.append(api_status.invalid_value(f"{field}.terminationGracePeriodSeconds",
                                                   probe["terminationGracePeriodSeconds"],
                                                   "must not be set for readinessProbes"))
    return errors


def _validate_probe(probe: Obj, field: str) -> list[api_status.FieldError]:
    errors = _validate_handler(probe, field)
    for key in ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold", "failureThreshold"):
        value = probe.get(key, 0)
        if isinstance(value, int) and value < 0:
            errors.append(api_status.invalid_value(f"{field}.{key}", value, "must be greater than or equal to 0"))
    grace = probe.get("terminationGracePeriodSeconds")
    if isinstance(grace, int) and grace <= 0:
        errors.append(api_status.invalid_value(f"{field}.terminationGracePeriodSeconds", grace,
                                               "must be greater than 0"))
    return errors


def _validate_handler(probe: Obj, field: str) -> list[api_status.FieldError]:
    errors: list[api_status.FieldError] = []
    count = 0
    for name in HANDLERS:
        action = probe.get(name)
        if action is None:
            continue
        if count:
            errors.append(api_status.forbidden_field(f"{field}.{name}", "may not specify more than 1 handler type"))
            continue
        count += 1
        errors += _validate_action(name, action if isinstance(action, dict) else {}, f"{field}.{name}")
    if not count:
        errors.append(api_status.required(field, "must specify a handler type"))
    return errors


def _validate_action(name: str, action: Obj, field: str) -> list[api_status.FieldError]:
    """validateExecAction / validateHTTPGetAction / validateTCPSocketAction / validateGRPCAction."""
    if name == "exec":
        return [] if action.get("command") else [api_status.required(f"{field}.command", "")]
    if name != "httpGet":
        return _validate_port(action.get("port"), f"{field}.port")
    errors = [api_status.required(f"{field}.path", "")] if not action.get("path") else []
    errors += _validate_port(action.get("port"), f"{field}.port")
    scheme = action.get("scheme", "HTTP")
    if scheme not in ("HTTP", "HTTPS"):
        errors.append(api_status.not_supported(f"{field}.scheme", scheme, ["HTTP", "HTTPS"]))
    for header in action.get("httpHeaders") or []:
        header_name = str(header.get("name", ""))
        if not re.fullmatch(r"[-A-Za-z0-9]+", header_name):  # validation.IsHTTPHeaderName
            errors.append(api_status.invalid_value(
                f"{field}.httpHeaders", header_name, "a valid HTTP header must consist of alphanumeric characters "
                "or '-' (e.g. 'X-Header-Name', regex used for validation is '[-A-Za-z0-9]+')"))
    return errors


def _validate_port(port: Any, field: str) -> list[api_status.FieldError]:
    """ValidatePortNumOrName."""
    if isinstance(port, int):
        if not 1 <= port <= 65535:
            return [api_status.invalid_value(field, port, "must be between 1 and 65535, inclusive")]
        return []
    if not isinstance(port, str):  # absent: the zero IntOrString
        return [api_status.invalid_value(field, 0, "must be between 1 and 65535, inclusive")]
    errors = []
    if len(port) > 15:
        errors.append(api_status.invalid_value(field, port, "must be no more than 15 characters"))
    if not re.fullmatch(r"[-a-z0-9]+", port):
        errors.append(api_status.invalid_value(field, port, "must contain only alpha-numeric characters (a-z, 0-9), "
                                                            "and hyphens (-)"))
    if not re.search(r"[a-z]", port):
        errors.append(api_status.invalid_value(field, port, "must contain at least one letter (a-z)"))
    if "--" in port:
        errors.append(api_status.invalid_value(field, port, "must not contain consecutive hyphens"))
    if port.startswith("-") or port.endswith("-"):
        errors.append(api_status.invalid_value(field, port, "must not begin or end with a hyphen"))
    return errors
