"""The seed's HTML report in real headless Chromium (Debian's `chromium`): it renders with no console errors, and a
screenshot of the timeline shows the pod's life (container bars, connection marks).

The browser is driven over the DevTools protocol with the standard library only: a WebSocket client on
`--remote-debugging-port` (127.0.0.1), and a PNG decoder for the screenshot. Without chromium the tests skip with
the reason (CI installs it, as `.ci/run` does: `apt-get install chromium`)."""

from __future__ import annotations

import base64
import json
import os
import re
import select
import shutil
import socket
import struct
import subprocess
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from meshrepro.report import html as html_report
from meshrepro.scenario import factors, runner
from meshrepro.scenario.explain import explain

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SEED = Path(__file__).resolve().parents[2] / "examples" / "istio-48854" / "exp3-ambient-1.20.yaml"
TIMEOUT = 60.0

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (CI installs it: "
                                                         "apt-get install chromium)")


# -- a WebSocket client, enough for the DevTools protocol ----------------------------------------------------------


class WebSocket:
    def __init__(self, url: str) -> None:
        match = re.fullmatch(r"ws://([\d.]+):(\d+)(/.*)", url)
        assert match, url
        self.sock = socket.create_connection((match.group(1), int(match.group(2))), timeout=TIMEOUT)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {match.group(3)} HTTP/1.1\r\nHost: {match.group(1)}:{match.group(2)}\r\n"
                           f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            assert chunk, "DevTools closed the connection during the handshake"
            head += chunk
        status, _, self.buffer = head.partition(b"\r\n\r\n")
        assert status.startswith(b"HTTP/1.1 101"), status

    def send(self, text: str) -> None:
        payload = text.encode()
        mask = os.urandom(4)
        header = bytes([0x81])
        if len(payload) < 126:
            header += bytes([0x80 | len(payload)])
        elif len(payload) < 65536:
            header += bytes([0x80 | 126]) + struct.pack(">H", len(payload))
        else:
            header += bytes([0x80 | 127]) + struct.pack(">Q", len(payload))
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def _read(self, count: int) -> bytes:
        while len(self.buffer) < count:
            chunk = self.sock.recv(1 << 16)
            assert chunk, "DevTools closed the connection"
            self.buffer += chunk
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def receive(self) -> str:
        message = b""
        while True:
            first, second = self._read(2)
            length = second & 0x7F
            if length == 126:
                length = struct.unpack(">H", self._read(2))[0]
            elif length == 127:
                length = struct.unpack(">Q", self._read(8))[0]
            mask = self._read(4) if second & 0x80 else b""
            payload = self._read(length)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            opcode = first & 0x0F
            if opcode == 0x9:  # ping
                continue
            if opcode == 0x8:
                raise ConnectionError("DevTools closed the WebSocket")
            message += payload
            if first & 0x80:
                return message.decode()

    def close(self) -> None:
        self.sock.close()


class Page:
    """One tab, attached through the browser's DevTools endpoint (flat sessions)."""

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self.next_id = 0
        self.events: list[dict[str, Any]] = []
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]

    def call(self, method: str, params: dict[str, Any] | None = None, session: bool = False) -> dict[str, Any]:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        self.ws.send(json.dumps(message))
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            reply = json.loads(self.ws.receive())
            if reply.get("id") == self.next_id:
                assert "error" not in reply, reply
                return reply.get("result", {})
            self.events.append(reply)
        raise TimeoutError(method)

    def wait_for(self, method: str) -> dict[str, Any]:
        deadline = time.monotonic() + TIMEOUT
        for event in self.events:
            if event.get("method") == method:
                return event
        while time.monotonic() < deadline:
            event = json.loads(self.ws.receive())
            self.events.append(event)
            if event.get("method") == method:
                return event
        raise TimeoutError(method)

    def errors(self) -> list[str]:
        """Console errors and warnings, uncaught exceptions, and browser log errors (a resource that failed)."""
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert", "warning"):
                found.append("console: " + " ".join(str(a.get("value", a.get("description", "")))
                                                    for a in params.get("args", [])))
            elif method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                found.append("uncaught: " + str(details.get("exception", {}).get("description", details.get("text"))))
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                found.append("log: " + str(params["entry"].get("text")))
        return found


def _launch(profile: Path) -> tuple[subprocess.Popen[bytes], str]:
    assert CHROMIUM is not None
    process = subprocess.Popen(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--no-default-browser-check",
         f"--user-data-dir={profile}", "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
         "--window-size=1100,900", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert process.stderr is not None
    deadline = time.monotonic() + TIMEOUT
    seen = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stderr], [], [], 1.0)
        if ready:
            line = process.stderr.readline()
            seen += line
            match = re.search(rb"DevTools listening on (ws://\S+)", line)
            if match:
                return process, match.group(1).decode()
        if process.poll() is not None:
            break
    process.kill()
    raise AssertionError(f"chromium did not start its DevTools endpoint:\n{seen.decode(errors='replace')[-2000:]}")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Page]:
    process, url = _launch(tmp_path / "profile")
    ws = WebSocket(url)
    try:
        page = Page(ws)
        for domain in ("Runtime.enable", "Log.enable", "Page.enable"):
            page.call(domain, session=True)
        yield page
    finally:
        ws.close()
        process.kill()
        process.wait(timeout=TIMEOUT)
        if process.stderr is not None:
            process.stderr.close()


def open_page(page: Page, path: Path) -> None:
    page.call("Page.navigate", {"url": path.as_uri()}, session=True)
    page.wait_for("Page.loadEventFired")


def evaluate(page: Page, expression: str) -> Any:
    return page.call("Runtime.evaluate", {"expression": expression, "returnByValue": True},
                     session=True)["result"].get("value")


# -- PNG, decoded with zlib --------------------------------------------------------------------------------------


def decode_png(data: bytes) -> tuple[int, int, list[bytes]]:
    """(width, height, rows of RGB(A) bytes) of an 8-bit RGB or RGBA PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    offset, idat, width = 8, b"", 0
    height = channels = 0
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        body = data[offset + 8:offset + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour in (2, 6), (depth, colour)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        offset += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            corner = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
        rows.append(bytes(line if channels == 3 else bytes(b for i, b in enumerate(line) if i % 4 != 3)))
        previous = line
    return width, height, rows


def colours(rows: list[bytes]) -> dict[str, int]:
    counts = {"background": 0, "red": 0, "blue": 0, "other": 0}
    for row in rows:
        for i in range(0, len(row), 3):
            r, g, b = row[i], row[i + 1], row[i + 2]
            if r > 235 and g > 235 and b > 235:
                counts["background"] += 1
            elif r > 150 and g < 90 and b < 90:
                counts["red"] += 1
            elif b > 180 and r < 120:
                counts["blue"] += 1
            else:
                counts["other"] += 1
    return counts


# -- the tests --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seed_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    scenario = factors.baseline(*factors.load(str(SEED)))
    result = runner.run(scenario)
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(html_report.render(result, explain(result), scenario=scenario), encoding="utf-8")
    return path


def test_the_seed_report_renders_without_console_errors_and_shows_the_timeline(browser: Page, seed_report: Path,
                                                                              tmp_path: Path) -> None:
    open_page(browser, seed_report)
    # the whole page in one viewport, so the layout does not move between measuring and capturing
    height = evaluate(browser, "document.documentElement.scrollHeight")
    browser.call("Emulation.setDeviceMetricsOverride", {"width": 1100, "height": int(height), "deviceScaleFactor": 1,
                                                        "mobile": False}, session=True)
    found = evaluate(browser, """JSON.stringify((() => {
        const svg = document.querySelector('svg.timeline');
        const r = svg.getBoundingClientRect();
        return {x: r.x + window.scrollX, y: r.y + window.scrollY, width: r.width, height: r.height,
                marks: svg.querySelectorAll('.mark').length, flows: document.querySelectorAll('svg.flow').length,
                title: document.title};
    })())""")
    box = json.loads(found)
    assert box["title"].startswith("seed experiment 3")
    assert box["width"] > 800 and box["height"] > 150 and box["marks"] > 60 and box["flows"] == 1
    shot = browser.call("Page.captureScreenshot", {
        "format": "png",
        "clip": {"x": box["x"], "y": box["y"], "width": box["width"], "height": box["height"], "scale": 1}},
        session=True)
    png = base64.b64decode(shot["data"])
    (tmp_path / "timeline.png").write_bytes(png)
    width, height, rows = decode_png(png)
    assert (width, height) == (round(box["width"]), round(box["height"]))
    counts = colours(rows)
    total = width * height
    # drawn, not blank: the red bar of the failed init container and the 60 red EOF marks, the blue running bar
    assert counts["background"] < 0.95 * total, counts
    assert counts["red"] > 2000 and counts["blue"] > 500, counts
    assert browser.errors() == []


def test_a_console_error_would_be_caught(browser: Page, tmp_path: Path) -> None:
    """The check above can fail: a page that logs an error and throws is reported."""
    page = tmp_path / "bad.html"
    page.write_text("<!DOCTYPE html><html><body><script>console.error('boom'); undefinedFunction();</script>"
                    "</body></html>", encoding="utf-8")
    open_page(browser, page)
    errors = browser.errors()
    assert any("boom" in e for e in errors) and any("undefinedFunction" in e for e in errors), errors
