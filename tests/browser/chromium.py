"""Headless Chromium driven over the DevTools protocol, just enough to check a page as a reader sees it.

It uses aiohttp's websocket client (already installed with ray[default]) instead of playwright: the
browser is Debian's `chromium`, and a ~40 MB driver package would buy nothing these tests need.
`open_page` loads a URL with the network cut off and reports console errors, uncaught exceptions,
every request the page made, what a JS expression finds in the DOM, and a full-page screenshot.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import itertools
import json
import re
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

import aiohttp

BINARIES = ("chromium", "chromium-browser", "google-chrome")
LISTENING = re.compile(rb"DevTools listening on (ws://\S+)")


def find_chromium() -> str | None:
    """Returns the path of a Chromium binary on PATH, or None."""
    return next((path for name in BINARIES if (path := shutil.which(name))), None)


@dataclasses.dataclass(kw_only=True)
class PageVisit:
    """What one page load showed: console errors and exceptions, requests, the probe's result, a PNG."""

    errors: list[str]
    requests: list[str]
    probe: Any
    screenshot: bytes


class _Session:
    """One page target's websocket: numbered commands, and every event kept."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws, self.events, self._ids = ws, [], itertools.count(1)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        number = next(self._ids)
        await self.ws.send_str(json.dumps({"id": number, "method": method, "params": params}))
        while True:
            message = json.loads((await self.ws.receive(timeout=60)).data)
            if message.get("id") == number:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    async def until(self, method: str, timeout_s: float = 60.0) -> None:
        if any(e.get("method") == method for e in self.events):
            return
        while True:
            message = json.loads((await self.ws.receive(timeout=timeout_s)).data)
            self.events.append(message)
            if message.get("method") == method:
                return


def _errors(events: list[dict[str, Any]]) -> list[str]:
    out = []
    for e in events:
        params = e.get("params", {})
        if e.get("method") == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            out.append(str(details.get("exception", {}).get("description") or details.get("text")))
        elif e.get("method") == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            out.append(" ".join(str(a.get("value", a.get("description"))) for a in params.get("args", [])))
        elif e.get("method") == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            out.append(str(params["entry"].get("text")))
    return out


async def _visit(browser_ws: str, url: str, probe_js: str, width: int) -> PageVisit:
    port = browser_ws.split("/")[2]
    async with aiohttp.ClientSession() as http:
        async with http.put(f"http://{port}/json/new?about:blank") as response:
            target = await response.json()
        async with http.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as ws:
            page = _Session(ws)
            for domain in ("Page", "Runtime", "Log", "Network"):
                await page.send(f"{domain}.enable")
            await page.send("Network.setBlockedURLs", urls=["http://*", "https://*", "ws://*", "wss://*"])
            await page.send("Emulation.setDeviceMetricsOverride", width=width, height=900, deviceScaleFactor=1, mobile=False)
            await page.send("Page.navigate", url=url)
            await page.until("Page.loadEventFired")
            probe = (await page.send("Runtime.evaluate", expression=probe_js, returnByValue=True))["result"].get("value")
            size = (await page.send("Page.getLayoutMetrics"))["cssContentSize"]
            shot = await page.send("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                                   clip={"x": 0, "y": 0, "width": width, "height": size["height"], "scale": 1})
            requests = [e["params"]["request"]["url"] for e in page.events if e.get("method") == "Network.requestWillBeSent"]
            return PageVisit(errors=_errors(page.events), requests=requests, probe=json.loads(probe),
                             screenshot=base64.b64decode(shot["data"]))


def open_page(binary: str, url: str, probe_js: str, *, width: int = 1320, timeout_s: float = 90.0) -> PageVisit:
    """Loads `url` in a fresh headless Chromium and returns what it showed; `probe_js` must evaluate to a JSON string."""
    profile = tempfile.mkdtemp(prefix="ke-chromium-")
    proc = subprocess.Popen([binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                             "--disable-extensions", "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1",
                             f"--user-data-dir={profile}", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        browser_ws = _listening(proc)
        return asyncio.run(asyncio.wait_for(_visit(browser_ws, url, probe_js, width), timeout_s))
    finally:
        proc.kill()
        proc.wait(timeout=30)
        shutil.rmtree(profile, ignore_errors=True)


def _listening(proc: subprocess.Popen) -> str:
    """Returns the browser's DevTools websocket URL from its stderr (it prints it once ready)."""
    assert proc.stderr is not None
    seen = b""
    for line in proc.stderr:
        seen += line
        found = LISTENING.search(line)
        if found:  # keep draining stderr, or a chatty browser blocks on a full pipe
            threading.Thread(target=proc.stderr.read, daemon=True).start()
            return found.group(1).decode()
    raise RuntimeError(f"chromium exited before serving DevTools: {seen[-2000:].decode(errors='replace')}")


def save(path: Path, data: bytes) -> Path:
    """Writes a test artifact and returns its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
