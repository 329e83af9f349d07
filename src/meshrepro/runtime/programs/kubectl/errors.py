"""Go errors as kubectl holds them, and how kubectl turns the last one into its final line.

The classes mirror the Go types kubectl switches on ([KC 1.29.0 pkg/cmd/util/helpers.go checkErr,
StandardErrorMessage]): *url.Error, *errors.StatusError, meta.NoResourceMatchError, aggregates,
exec exit errors; anything else is a plain error whose text is printed after `error: `.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit


class GoError(Exception):
    """An error value; `str()` is Go's `err.Error()`."""

    def __init__(self, text: str = "") -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return self.text


class URLError(GoError):
    """net/http's *url.Error: `Get "https://10.96.0.1:443/api?timeout=32s": EOF`."""

    def __init__(self, method: str, url: str, inner: GoError) -> None:
        self.op = method[:1].upper() + method[1:].lower()
        self.url = url
        self.inner = inner
        super().__init__(f'{self.op} {go_quote(url)}: {inner}')


class StatusError(GoError):
    """*errors.StatusError: the text is the Status message."""

    def __init__(self, status: dict[str, Any]) -> None:
        self.status = status
        super().__init__(str(status.get("message", "")))

    @property
    def reason(self) -> str:
        return str(self.status.get("reason", ""))

    @property
    def code(self) -> int:
        return int(self.status.get("code", 0) or 0)

    @property
    def details(self) -> dict[str, Any]:
        return self.status.get("details") or {}


class WrappedPreviousError(GoError):
    """client-go's wrapPreviousError [CG 1.29.0 rest/with_retry.go]: not a *url.Error for kubectl."""

    def __init__(self, current: GoError, previous: GoError) -> None:
        self.current = current
        self.previous = previous
        super().__init__(f"{current} - error from a previous attempt: {previous}")


class NoResourceMatchError(GoError):
    def __init__(self, resource: str, group: str = "", version: str = "") -> None:
        self.resource, self.group, self.version = resource, group, version
        super().__init__(f"no matches for {group}/{version}, Resource={resource}")


class ExitError(GoError):
    """utilexec.ExitError from `kubectl exec`: kubectl prints the text and exits with the code."""

    def __init__(self, code: int) -> None:
        self.code = code
        super().__init__(f"command terminated with exit code {code}")


class AggregateError(GoError):
    """utilerrors.Aggregate."""

    def __init__(self, errors: list[GoError]) -> None:
        self.errors = list(errors)
        super().__init__(_aggregate_text(self.errors))


class ConfigurationInvalid(AggregateError):
    """clientcmd's errConfigurationInvalid: `invalid configuration: ...` (an aggregate)."""

    def __init__(self, errors: list[GoError]) -> None:
        super().__init__(errors)
        self.text = f"invalid configuration: {self.text}"


class ErrExit(GoError):
    """cmdutil.ErrExit: exit 1 and print nothing more (e.g. `auth can-i` answering no)."""

    def __init__(self) -> None:
        super().__init__("exit")


class UsageError(GoError):
    """A command-line error whose text already carries kubectl's usage hint."""


def _aggregate_text(errors: list[GoError]) -> str:
    # utilerrors.aggregate.Error: one error as is, several as `[a, b]`, duplicates dropped
    texts: list[str] = []
    for err in errors:
        if str(err) not in texts:
            texts.append(str(err))
    if len(texts) == 1:
        return texts[0]
    return "[" + ", ".join(texts) + "]"


def go_quote(text: str) -> str:
    """Go's strconv.Quote for the printable ASCII/UTF-8 text kubectl quotes (%q)."""
    out = ['"']
    for ch in text:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def standard_error_message(err: GoError) -> str | None:
    """StandardErrorMessage: the kubectl wording for API status and connection errors, else None."""
    if isinstance(err, StatusError):
        if err.reason == "Unauthorized":
            return f"error: You must be logged in to the server ({err})"
        if err.reason:
            return f"Error from server ({err.reason}): {err}"
        return f"Error from server: {err}"
    if isinstance(err, URLError):
        if "connection refused" in str(err.inner):
            return (f"The connection to the server {urlsplit(err.url).netloc or err.url} was refused "
                    "- did you specify the right host or port?")
        return f"Unable to connect to the server: {err.inner}"
    return None


def _message_for_error(err: GoError) -> str:
    return standard_error_message(err) or str(err)


def check_err(err: GoError) -> tuple[str, int]:
    """checkErr: the text kubectl writes to stderr (with its newline) and the exit code."""
    if isinstance(err, AggregateError) and not isinstance(err, ConfigurationInvalid) and len(err.errors) == 1:
        err = err.errors[0]
    if isinstance(err, ErrExit):
        return "", 1
    if isinstance(err, ConfigurationInvalid):
        if len(err.errors) == 1:  # checkErr unwraps aggregates of one before the configuration case
            return _with_newline(_default_message(err.errors[0])), 1
        return _multiline("Error in configuration: ", err.errors), 1
    if isinstance(err, StatusError) and err.reason == "Invalid":
        return _invalid_message(err), 1
    if isinstance(err, NoResourceMatchError):
        text = f"the server doesn't have a resource type {go_quote(err.resource)}"
        if err.group and err.version:
            text += f" in group {go_quote(err.group)} and version {go_quote(err.version)}"
        elif err.group:
            text += f" in group {go_quote(err.group)}"
        elif err.version:
            text += f" in version {go_quote(err.version)}"
        return text + "\n", 1
    if isinstance(err, AggregateError):
        return "".join(f"{_message_for_error(e)}\n" for e in err.errors), 1
    if isinstance(err, ExitError):
        return _with_newline(str(err)), err.code
    if isinstance(err, UsageError):
        return _with_newline(f"error: {err}"), 1
    return _with_newline(_default_message(err)), 1


def _default_message(err: GoError) -> str:
    message = standard_error_message(err)
    if message is None:
        message = str(err)
        if not message.startswith("error: "):
            message = f"error: {message}"
    return message


def _invalid_message(err: StatusError) -> str:
    details = err.details
    text = "The request is invalid"
    if not details:
        if str(err):
            text += f": {err}"
        return text + "\n"
    causes = details.get("causes") or []
    if details.get("kind") or details.get("name"):
        text = f"The {details.get('kind', '')} {go_quote(str(details.get('name', '')))} is invalid"
    elif str(err) and not causes:
        text += f": {err}"
    if not causes:
        return text + "\n"
    seen: list[GoError] = []
    for cause in causes:
        message = f"{cause.get('field', '')}: {cause.get('message', '')}"
        if all(str(e) != message for e in seen):
            seen.append(GoError(message))
    return _multiline(text + ": ", seen)


def _multiline(prefix: str, errors: list[GoError]) -> str:
    """MultilineError: one error inline, several as a `* ` list under the prefix."""
    if len(errors) == 1:
        return f"{prefix}{_message_for_error(errors[0])}\n"
    return prefix + "\n" + "".join(f"* {_message_for_error(e)}\n" for e in errors)


def _with_newline(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"
