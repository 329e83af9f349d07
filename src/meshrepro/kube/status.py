"""The `Status` bodies the apiserver returns on errors, with the exact messages.

Ports of k8s.io/apimachinery/pkg/api/errors/errors.go (NewNotFound, NewForbidden, NewInvalid...),
k8s.io/apimachinery/pkg/util/validation/field/errors.go (field error texts) and
k8s.io/apiserver/pkg/endpoints/handlers/responsewriters/errors.go (forbiddenMessage). Every builder
returns `(http_status, body)`; body keys are in the order Go's JSON encoder writes metav1.Status.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}
# responsewriters.sanitizer: keep messages from looking like HTML.
_HTML_SANITIZER = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def go_quote(text: str) -> str:
    """Go's %q / strconv.Quote for a string."""
    out = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif char.isprintable():
            out.append(char)
        elif ord(char) < 0x80:
            out.append(f"\\x{ord(char):02x}")
        elif ord(char) <= 0xFFFF:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    return '"' + "".join(out) + '"'


def aggregate_message(messages: Sequence[str]) -> str:
    """utilerrors.NewAggregate(...).Error(): one message alone, several deduplicated in brackets."""
    if len(messages) == 1:
        return messages[0]
    unique = list(dict.fromkeys(messages))
    joined = ", ".join(unique)
    return joined if len(unique) == 1 else f"[{joined}]"


class GroupResource(NamedTuple):
    group: str
    resource: str

    def __str__(self) -> str:
        return f"{self.resource}.{self.group}" if self.group else self.resource


class GroupKind(NamedTuple):
    group: str
    kind: str

    def __str__(self) -> str:
        return f"{self.kind}.{self.group}" if self.group else self.kind


# field.ErrorType values (the JSON `reason` of a cause) and their canonical texts.
_FIELD_ERROR_TEXT = {
    "FieldValueNotFound": "Not found",
    "FieldValueRequired": "Required value",
    "FieldValueDuplicate": "Duplicate value",
    "FieldValueInvalid": "Invalid value",
    "FieldValueNotSupported": "Unsupported value",
    "FieldValueForbidden": "Forbidden",
    "FieldValueTooLong": "Too long",
    "FieldValueTooMany": "Too many",
    "InternalError": "Internal error",
    "FieldValueTypeInvalid": "Invalid value",
}
# These types never print the bad value.
_VALUELESS = frozenset({"FieldValueRequired", "FieldValueForbidden", "FieldValueTooLong", "InternalError"})


def _go_value(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "[]string{" + ", ".join(go_quote(v) for v in value) + "}"  # %#v of a []string
    return str(value)


@dataclass(frozen=True)
class FieldError:
    """One field.Error: type (e.g. FieldValueRequired), field path, bad value and detail."""

    type: str
    field: str
    bad_value: object = ""
    detail: str = ""

    def body(self) -> str:
        """field.Error.ErrorBody(): the message without the field path."""
        text = _FIELD_ERROR_TEXT[self.type]
        if self.type not in _VALUELESS:
            text = f"{text}: {_go_value(self.bad_value)}"
        return f"{text}: {self.detail}" if self.detail else text

    def __str__(self) -> str:
        return f"{self.field}: {self.body()}"


def required(field: str, detail: str = "") -> FieldError:
    return FieldError("FieldValueRequired", field, "", detail)


def invalid_value(field: str, value: object, detail: str) -> FieldError:
    return FieldError("FieldValueInvalid", field, value, detail)


def not_supported(field: str, value: object, valid: Sequence[str]) -> FieldError:
    detail = "supported values: " + ", ".join(go_quote(v) for v in valid) if valid else ""
    return FieldError("FieldValueNotSupported", field, value, detail)


def forbidden_field(field: str, detail: str) -> FieldError:
    return FieldError("FieldValueForbidden", field, "", detail)


def duplicate(field: str, value: object) -> FieldError:
    return FieldError("FieldValueDuplicate", field, value, "")


def _details(
    name: str = "", group: str = "", kind: str = "", causes: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    # metav1.StatusDetails field order; every field is omitempty.
    details: dict[str, Any] = {}
    for key, value in (("name", name), ("group", group), ("kind", kind)):
        if value:
            details[key] = value
    if causes:
        details["causes"] = causes
    return details


def _status(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> tuple[int, dict]:
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
    }
    if details is not None:  # a non-nil empty Details still prints as "details":{}
        body["details"] = details
    body["code"] = code
    return code, body


class ForbiddenAttributes(Protocol):
    is_resource_request: bool
    path: str
    verb: str
    api_group: str
    namespace: str
    resource: str
    subresource: str
    name: str


class Named(Protocol):
    name: str


class GroupKindLike(Protocol):
    group: str
    kind: str


# registry.OptimisticLockErrorMsg: the text of a resourceVersion conflict.
OPTIMISTIC_LOCK_MESSAGE = (
    "the object has been modified; please apply your changes to the latest version and try again"
)


def forbidden_text(attrs: ForbiddenAttributes, user: Named | None) -> str:
    """responsewriters.forbiddenMessage: what the user could not do."""
    username = go_quote(user.name if user is not None else "")
    if not attrs.is_resource_request:
        return f"User {username} cannot {attrs.verb} path {go_quote(attrs.path)}"
    resource = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    where = f"in the namespace {go_quote(attrs.namespace)}" if attrs.namespace else "at the cluster scope"
    return (
        f"User {username} cannot {attrs.verb} resource {go_quote(resource)} "
        f"in API group {go_quote(attrs.api_group)} {where}"
    )


def forbidden(attrs: ForbiddenAttributes, user: Named | None, reason: str = "") -> tuple[int, dict]:
    """responsewriters.Forbidden: 403 for a request no authorizer allowed; `reason` is the
    authorizers' (RBAC's missing-role errors), appended after ": "."""
    message = forbidden_text(attrs, user).translate(_HTML_SANITIZER)
    if reason:
        message = f"{message}: {reason}"
    # The qualified resource excludes the subresource: `pods "x" is forbidden: ... "pods/log"`.
    return forbidden_message(attrs.api_group, attrs.resource, attrs.name, message)


def forbidden_message(group: str, resource: str, name: str, err: str) -> tuple[int, dict]:
    """errors.NewForbidden(group/resource, name, err), as admission plugins return it."""
    group_resource = GroupResource(group, resource)
    if not group and not resource:
        message = f"forbidden: {err}"
    elif not name:
        message = f"{group_resource} is forbidden: {err}"
    else:
        message = f"{group_resource} {go_quote(name)} is forbidden: {err}"
    return _status(403, "Forbidden", message, _details(name, group, resource))


def unauthorized(message: str = "Unauthorized") -> tuple[int, dict]:
    """401 from the authentication filter (it calls NewUnauthorized("Unauthorized"))."""
    return _status(401, "Unauthorized", message or "not authorized")


def not_found(group: str, resource: str, name: str) -> tuple[int, dict]:
    """`pods "x" not found`."""
    return _status(
        404,
        "NotFound",
        f"{GroupResource(group, resource)} {go_quote(name)} not found",
        _details(name, group, resource),
    )


def not_found_path() -> tuple[int, dict]:
    """The 404 for a path no handler serves (NewGenericServerResponse(404) with no resource)."""
    return _status(404, "NotFound", "the server could not find the requested resource", _details())


def already_exists(group: str, resource: str, name: str) -> tuple[int, dict]:
    return _status(
        409,
        "AlreadyExists",
        f"{GroupResource(group, resource)} {go_quote(name)} already exists",
        _details(name, group, resource),
    )


def conflict(group: str, resource: str, name: str, err: str = OPTIMISTIC_LOCK_MESSAGE) -> tuple[int, dict]:
    return _status(
        409,
        "Conflict",
        f"Operation cannot be fulfilled on {GroupResource(group, resource)} {go_quote(name)}: {err}",
        _details(name, group, resource),
    )


def unsupported_media_type() -> tuple[int, dict]:
    """415 from the PATCH handler (apiserver handlers/patch.go) for a patch type the resource does not take."""
    return _status(415, "UnsupportedMediaType", "the body of the request was in an unknown format - accepted "
                   "media types include: application/json-patch+json, application/merge-patch+json, "
                   "application/apply-patch+yaml")


def bad_request(message: str) -> tuple[int, dict]:
    return _status(400, "BadRequest", message)


def invalid(kind: GroupKindLike, name: str, causes: Sequence[FieldError]) -> tuple[int, dict]:
    """422 `Deployment.apps "x" is invalid: <field errors>`, one details.cause per field error."""
    group_kind = GroupKind(kind.group, kind.kind)
    cause_dicts = [{"reason": c.type, "message": c.body(), "field": c.field} for c in causes]
    message = f"{group_kind} {go_quote(name)} is invalid"
    if causes:
        message = f"{message}: {aggregate_message([str(c) for c in causes])}"
    return _status(422, "Invalid", message, _details(name, group_kind.group, group_kind.kind, cause_dicts))


def method_not_supported(group: str, resource: str, action: str) -> tuple[int, dict]:
    """405 `create is not supported on resources of kind "pods/log"`-style (registry lacks the verb)."""
    return _status(
        405,
        "MethodNotAllowed",
        f"{action} is not supported on resources of kind {go_quote(str(GroupResource(group, resource)))}",
        _details("", group, resource),
    )


def internal_error(err: str) -> tuple[int, dict]:
    return _status(
        500, "InternalError", f"Internal error occurred: {err}", _details(causes=[{"message": err}])
    )


def gone(message: str) -> tuple[int, dict]:
    return _status(410, "Gone", message)


def expired(message: str) -> tuple[int, dict]:
    """errors.NewResourceExpired: a watch or list from a compacted resourceVersion."""
    return _status(410, "Expired", message)
