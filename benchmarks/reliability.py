"""Reliability benchmark: the running Space under worker faults, hostile images, load, upload floods and idle sockets.

Why: a public demo meets unlucky users and attackers. This starts `space/app.py` (as `python space/app.py` does, in
a subprocess, on 127.0.0.1 only) and runs the probes of issue 15, watching the server's process tree (its memory,
its worker PIDs) and a "canary" user who keeps calling the app meanwhile:

- worker kills: at start-up, in a row (kill, request, kill the replacement as it appears), and mid-request;
- hostile images (the worst formats at the size limits, bombs, strips) through every queued function that takes
  an image, the hidden UI ones included, called the way a browser calls them (queue/join by fn_index);
- 64 concurrent clients for 30 s; then ordinary requests until 20,000 in all (memory against idle);
- 2,000 uploads of distinct files (storage while uploading and after the retention time), oversized requests;
- 1,000 connections that never finish their headers, and keep-alive connections left idle;
- log inflation (a 5 MB path, refused paths), URL paths, cross-origin uploads, headers, /config, bogus event ids.

    python benchmarks/reliability.py                    # model: a copy of models/mnist-cnn or --model DIR
    python benchmarks/reliability.py --quick            # smaller counts (the test suite's smoke check)

Prints a table and writes benchmarks/results/reliability.json. The app runs with a short upload retention
(RETENTION) so that the benchmark can watch storage fall back; the app's own is space/app.py's DELETE_CACHE.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import io
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
import numpy as np
from PIL import Image, ImageDraw
from hub.machine import summary

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "reliability.json"
IMAGE = ROOT / "space" / "examples" / "7_drawing.png"
RETENTION = (5, 20)  # delete_cache (frequency, age) in seconds for the benchmark's app run
TARGETS = {"failed_at_64_clients": 0, "slowest_endpoint_during_restart_ms": 100.0, "answer_after_fault_s": 1.0,
           "memory_ratio_after_requests": 1.5, "single_request_extra_mb": 300.0}
SETTINGS = {
    "full": {"clients": 64, "load_s": 30.0, "requests": 20_000, "soak_max_s": 900.0, "uploads": 2_000,
             "idle": 1_000, "keepalive": 200},
    "quick": {"clients": 8, "load_s": 4.0, "requests": 150, "soak_max_s": 60.0, "uploads": 60, "idle": 50,
              "keepalive": 10},
}


# --------------------------------------------------------------------------- the app and its process tree


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(port: int) -> None:
    """`--serve PORT`: run space/app.py's main() with the benchmark's short upload retention."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("space_app", ROOT / "space" / "app.py")
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    app.DELETE_CACHE = RETENTION
    app.main()


def children(pid: int) -> list[int]:
    """All descendants of `pid` (from /proc)."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    found, frontier = [], [pid]
    while frontier:
        current = frontier.pop()
        for child, parent in parents.items():
            if parent == current:
                found.append(child)
                frontier.append(child)
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class App:
    """The app in a subprocess; its uploads in a fresh GRADIO_TEMP_DIR that is removed afterwards."""

    def __init__(self, model: Path, log_path: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.uploads = Path(tempfile.mkdtemp(prefix="reliability-uploads-"))
        self.log_path = log_path
        env = {**os.environ, "MODEL_ID": str(model), "GRADIO_SERVER_NAME": "127.0.0.1",
               "GRADIO_SERVER_PORT": str(self.port), "GRADIO_ANALYTICS_ENABLED": "False", "TF_CPP_MIN_LOG_LEVEL": "2",
               "GRADIO_TEMP_DIR": str(self.uploads),
               "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
        self.started = time.monotonic()
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen([sys.executable, __file__, "--serve", str(self.port)], env=env, cwd=ROOT,
                                            stdout=log, stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        return self.process.pid

    def workers(self) -> list[int]:
        return [p for p in children(self.pid) if "spawn_main" in cmdline(p) and "resource_tracker" not in cmdline(p)]

    def memory(self) -> dict:
        workers = self.workers()
        server = rss_mb(self.pid)
        worker_mb = sum(rss_mb(p) for p in workers)
        return {"server_mb": round(server, 1), "workers_mb": round(worker_mb, 1),
                "tree_mb": round(server + sum(rss_mb(p) for p in children(self.pid)), 1), "workers": len(workers)}

    def storage(self) -> tuple[int, int]:
        """(files, bytes) under the app's upload folder."""
        files = size = 0
        for path in self.uploads.rglob("*"):
            try:
                if path.is_file():
                    size += path.stat().st_size
                    files += 1
            except FileNotFoundError:  # deleted by the app's cache sweep between listing and stat
                continue
        return files, size

    def log_size(self) -> int:
        return self.log_path.stat().st_size

    def wait_answering(self, timeout: float = 240.0) -> float:
        with httpx.Client(timeout=30) as client:
            while time.monotonic() - self.started < timeout:
                if self.process.poll() is not None:
                    raise RuntimeError(f"the app exited ({self.process.returncode}):\n{self.tail()}")
                try:
                    predict(client, self.url, IMAGE.read_bytes())
                    return time.monotonic() - self.started
                except (httpx.HTTPError, CallError):
                    time.sleep(0.2)
        raise RuntimeError(f"the app gave no answer within {timeout:.0f} s:\n{self.tail()}")

    def tail(self, lines: int = 25) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)  # what Ctrl-C does: Gradio shuts down and deletes its cache
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.uploads, ignore_errors=True)


# --------------------------------------------------------------------------- calling the app over HTTP


class CallError(RuntimeError):
    """A call that ended without an answer (the message is the app's)."""


def upload(client: httpx.Client, url: str, data: bytes, name: str = "digit.png") -> str:
    response = client.post(f"{url}/gradio_api/upload", files={"files": (name, data, "application/octet-stream")})
    if response.status_code != 200:
        raise CallError(f"upload {response.status_code}: {response.text[:120]}")
    return response.json()[0]


def file_data(path: str) -> dict:
    return {"path": path, "meta": {"_type": "gradio.FileData"}}


def predict(client: httpx.Client, url: str, data: bytes) -> dict:
    """What a curl user does: upload, POST /gradio_api/call/predict, read the result stream."""
    path = upload(client, url, data)
    response = client.post(f"{url}/gradio_api/call/predict", json={"data": [file_data(path)]})
    if response.status_code != 200:
        raise CallError(f"call {response.status_code}: {response.text[:120]}")
    event = None
    with client.stream("GET", f"{url}/gradio_api/call/predict/{response.json()['event_id']}") as stream:
        for line in stream.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event in ("complete", "error"):
                payload = line.split(":", 1)[1].strip()
                if event == "error":
                    raise CallError(payload[:160])
                return json.loads(payload)[0]
    raise CallError(f"stream ended without a result (last event {event!r})")


def call_fn(client: httpx.Client, url: str, fn_index: int, data: list) -> dict:
    """What the browser does for a UI event: POST queue/join with fn_index, read the session's SSE stream."""
    session = uuid.uuid4().hex[:12]
    response = client.post(f"{url}/gradio_api/queue/join", json={
        "data": data, "fn_index": fn_index, "session_hash": session, "event_data": None, "trigger_id": None})
    if response.status_code != 200:
        raise CallError(f"join {response.status_code}: {response.text[:160]}")
    with client.stream("GET", f"{url}/gradio_api/queue/data", params={"session_hash": session}) as stream:
        for line in stream.iter_lines():
            if not line.startswith("data:"):
                continue
            message = json.loads(line[5:])
            if message.get("msg") == "process_completed":
                if message.get("success"):
                    return message["output"]
                raise CallError(str((message.get("output") or {}).get("error") or message)[:160])
    raise CallError("stream ended without a result")


def image_functions(client: httpx.Client, url: str) -> list[dict]:
    """Every queued function whose input is an image component, from /config: fn_index, name, payload kind."""
    config = client.get(f"{url}/config").json()
    kinds = {c["id"]: c["type"] for c in config["components"]}
    found = []
    for index, dependency in enumerate(config["dependencies"]):
        inputs = [kinds.get(i) for i in dependency["inputs"]]
        if dependency.get("backend_fn") is False or not inputs:
            continue
        if any(kind in ("image", "sketchpad", "imageeditor") for kind in inputs):
            found.append({"fn_index": index, "name": dependency.get("api_name") or f"fn{index}",
                          "kinds": inputs, "visibility": dependency.get("api_visibility")})
    return found


def payload_for(kinds: list[str], path: str) -> list:
    value = []
    for kind in kinds:
        if kind in ("sketchpad", "imageeditor"):
            value.append({"background": None, "layers": [], "composite": file_data(path), "id": None})
        else:
            value.append(file_data(path))
    return value


class Canary:
    """Another user meanwhile: GET /gradio_api/info every 50 ms (and optionally a prediction), latencies recorded."""

    def __init__(self, url: str, predictions: bool = False):
        self.url, self.predictions = url, predictions
        self.info_ms: list[float] = []
        self.predict_ms: list[float] = []
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _run(self):
        data = IMAGE.read_bytes()
        with httpx.Client(timeout=30) as client:
            while not self._stop.is_set():
                start = time.perf_counter()
                try:
                    client.get(f"{self.url}/gradio_api/info").raise_for_status()
                    self.info_ms.append((time.perf_counter() - start) * 1000)
                    if self.predictions:
                        start = time.perf_counter()
                        predict(client, self.url, data)
                        self.predict_ms.append((time.perf_counter() - start) * 1000)
                except (httpx.HTTPError, CallError):
                    self.failures += 1
                self._stop.wait(0.05)

    def summary(self) -> dict:
        out = {"info_median_ms": _median(self.info_ms), "info_max_ms": _max(self.info_ms), "failures": self.failures}
        if self.predictions:
            out.update(predict_median_ms=_median(self.predict_ms), predict_max_ms=_max(self.predict_ms))
        return out


class PeakMemory:
    """Samples the process tree's memory every 20 ms: the peak above the level at the start."""

    def __init__(self, app: App):
        self.app = app
        self._stop = threading.Event()

    def __enter__(self):
        self.start = self.app.memory()["tree_mb"]
        self.peak = self.start
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.app.memory()["tree_mb"])
            self._stop.wait(0.02)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.extra = round(self.peak - self.start, 1)


def _median(values):
    return round(statistics.median(values), 1) if values else None


def _max(values):
    return round(max(values), 1) if values else None


# --------------------------------------------------------------------------- hostile images


def _digit_mask(width: int, height: int) -> Image.Image:
    mask = Image.new("L", (width, height), 0)
    side = min(width, height)
    cx, cy = width // 2, height // 2
    ImageDraw.Draw(mask).line([(cx - side // 4, cy - side // 3), (cx + side // 4, cy - side // 3),
                               (cx - side // 8, cy + side // 3)], fill=255, width=max(2, side // 25))
    return mask


def _encoded(image: Image.Image, **save) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, **save)
    return buffer.getvalue()


def hostile_images(quick: bool) -> dict[str, bytes]:
    """The costliest images the app accepts (at hub.images' limits) and some it must refuse, as file bytes."""
    w, h = (4000, 3000) if not quick else (1200, 900)  # hub.images.MAX_PIXELS = 12 MP
    jw, jh = (6000, 4000) if not quick else (1800, 1200)  # hub.images.MAX_JPEG_PIXELS = 24 MP
    mask = _digit_mask(w, h)
    ink = np.asarray(mask) > 0
    paper = Image.eval(mask, lambda v: 255 - v)
    rgba = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    rgba.putalpha(mask)
    jmask = _digit_mask(jw, jh)
    out = {
        f"png16_{w}x{h}": _encoded(Image.fromarray(np.where(ink, 2000, 60000).astype(np.uint16)), format="PNG",
                                   compress_level=1),
        f"png_rgba_transparent_{w}x{h}": _encoded(rgba, format="PNG", compress_level=1),
        f"tiff_float_{w}x{h}": _encoded(Image.fromarray(np.where(ink, 0.1, 0.9).astype(np.float32)), format="TIFF",
                                        compression="tiff_deflate"),
        f"tiff_int32_{w}x{h}": _encoded(Image.fromarray(np.where(ink, 100, 100000).astype(np.int32)), format="TIFF",
                                        compression="tiff_deflate"),
        f"webp_animated_{w}x{h}": _encoded(rgba, format="WEBP", save_all=True, append_images=[rgba.copy()],
                                           lossless=True, method=0, quality=0),
        f"gif_animated_{w}x{h}": _encoded(paper.convert("P"), format="GIF", save_all=True,
                                          append_images=[mask.convert("P")] * 3),
        f"jpeg_cmyk_progressive_{jw}x{jh}": _encoded(Image.merge("CMYK", [jmask] * 4), format="JPEG", quality=95,
                                                     progressive=True, subsampling=0),
    }
    bomb, big16 = ((13000, 13000), (8000, 8000)) if not quick else ((4000, 3500), (4000, 3500))  # issue 15's
    out[f"refused_png_rgba_{bomb[0]}x{bomb[1]}"] = _encoded(Image.new("RGBA", bomb), format="PNG", compress_level=9)
    out[f"refused_png16_{big16[0]}x{big16[1]}"] = _encoded(Image.new("I;16", big16), format="PNG", compress_level=9)
    for width, height in ((1000, 8), (3000, 20), (8, 1000)):
        strip = Image.new("L", (width, height), 255)
        ImageDraw.Draw(strip).line([(width // 3, height // 3), (2 * width // 3, 2 * height // 3)], fill=0, width=3)
        out[f"strip_{width}x{height}"] = _encoded(strip, format="PNG")
    return out


# --------------------------------------------------------------------------- probes


def probe_hostile_images(app: App, images: dict[str, bytes]) -> dict:
    rows, worst_extra, worst_s, unexpected = [], 0.0, 0.0, []
    with httpx.Client(timeout=120) as client, Canary(app.url) as canary:
        functions = image_functions(client, app.url)
        for name, data in images.items():
            for fn in functions:
                before = app.memory()
                start = time.perf_counter()
                with PeakMemory(app) as peak:
                    try:
                        path = upload(client, app.url, data, name + ".img")
                        output = call_fn(client, app.url, fn["fn_index"], payload_for(fn["kinds"], path))
                        outcome = "answered: " + json.dumps(output.get("data", output))[:60]
                    except (CallError, httpx.HTTPError) as e:
                        outcome = f"refused: {e}"[:110]
                seconds = time.perf_counter() - start
                accepted = not name.startswith(("refused", "strip"))
                if not accepted and not outcome.startswith("refused"):
                    unexpected.append(f"{name} via {fn['name']} was answered")
                if name.startswith("strip") and "too wide" not in outcome and "too tall" not in outcome:
                    unexpected.append(f"{name} via {fn['name']}: {outcome}")
                worst_extra = max(worst_extra, peak.extra)
                if accepted:
                    worst_s = max(worst_s, seconds)
                rows.append({"image": name, "bytes": len(data), "function": fn["name"], "fn_index": fn["fn_index"],
                             "visibility": fn["visibility"], "seconds": round(seconds, 2), "extra_mb": peak.extra,
                             "outcome": outcome, "server_mb_before": before["server_mb"],
                             "server_mb_after": app.memory()["server_mb"]})
    return {"functions": functions, "requests": rows, "worst_extra_mb": worst_extra,
            "slowest_accepted_s": round(worst_s, 2), "unexpected": unexpected, "canary": canary.summary(),
            "result": f"{len(rows)} calls through {len(functions)} functions, worst +{worst_extra:.0f} MB, "
                      f"slowest {worst_s:.2f} s" + (f"; UNEXPECTED {unexpected}" if unexpected else "")}


def _wait_for(condition, timeout: float, step: float = 0.005):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step)
    return None


def _first_answer_after(app: App, start: float, timeout: float = 60.0) -> tuple[float | None, float | None]:
    """(s until GET /gradio_api/info answers, s until a prediction answers), both from `start`."""
    info_s = predict_s = None
    with httpx.Client(timeout=10) as client:
        deadline = start + timeout
        while time.monotonic() < deadline and (info_s is None or predict_s is None):
            try:
                if info_s is None:
                    client.get(f"{app.url}/gradio_api/info").raise_for_status()
                    info_s = time.monotonic() - start
                predict(client, app.url, IMAGE.read_bytes())
                predict_s = time.monotonic() - start
            except (httpx.HTTPError, CallError):
                time.sleep(0.05)
    return info_s, predict_s


def probe_kill_in_a_row(app: App) -> dict:
    """Defect 1: kill the worker, send a request, kill the replacement as soon as it appears."""
    before = app.memory()
    with Canary(app.url) as canary:
        old = set(app.workers())
        victim = sorted(old)[0]
        os.kill(victim, signal.SIGKILL)
        start = time.monotonic()
        outcome = {}

        def request():
            with httpx.Client(timeout=60) as client:
                try:
                    predict(client, app.url, IMAGE.read_bytes())
                    outcome["request"] = "answered"
                except (httpx.HTTPError, CallError) as e:
                    outcome["request"] = f"failed: {e}"[:100]

        thread = threading.Thread(target=request)
        thread.start()
        replacement = _wait_for(lambda: [p for p in app.workers() if p not in old], timeout=20)
        if replacement:
            os.kill(replacement[0], signal.SIGKILL)
        fault_end = time.monotonic()
        info_s, predict_s = _first_answer_after(app, fault_end)  # while the request may still be waiting
        thread.join(timeout=90)
        time.sleep(1.0)
    return {"killed": [victim] + (replacement[:1] if replacement else []), "request": outcome.get("request", "hung"),
            "answer_info_s": _round(info_s), "answer_predict_s": _round(predict_s), "canary": canary.summary(),
            "memory_before": before, "memory_after": app.memory(), "seconds": round(time.monotonic() - start, 1),
            "result": f"killed {1 + bool(replacement)} workers; request {outcome.get('request', 'hung')}; "
                      f"/info after {_fmt_s(info_s)}, prediction after {_fmt_s(predict_s)}"}


def probe_kill_mid_request(app: App, slow_image: bytes) -> dict:
    """A worker killed while it handles a slow image: that request may fail, everyone else must not wait."""
    before = app.memory()
    with Canary(app.url, predictions=True) as canary:
        time.sleep(0.5)
        outcome = {}

        def slow():
            with httpx.Client(timeout=60) as client:
                try:
                    path = upload(client, app.url, slow_image, "slow.png")
                    response = client.post(f"{app.url}/gradio_api/call/predict", json={"data": [file_data(path)]})
                    event_id = response.json()["event_id"]
                    outcome["started"] = time.monotonic()
                    text = client.get(f"{app.url}/gradio_api/call/predict/{event_id}").text
                    outcome["request"] = "answered" if "event: complete" in text else "error: " + text[-100:]
                except (httpx.HTTPError, CallError, KeyError) as e:
                    outcome["request"] = f"failed: {e}"[:100]

        thread = threading.Thread(target=slow)
        thread.start()
        _wait_for(lambda: "started" in outcome, timeout=30)
        time.sleep(0.3)
        busy = max(app.workers(), key=_cpu_ticks, default=None)
        if busy:
            os.kill(busy, signal.SIGKILL)
        fault = time.monotonic()
        info_s, predict_s = _first_answer_after(app, fault)
        thread.join(timeout=90)
        time.sleep(1.0)
    return {"killed": busy, "request": outcome.get("request", "hung"), "answer_info_s": _round(info_s),
            "answer_predict_s": _round(predict_s), "canary": canary.summary(), "memory_before": before,
            "memory_after": app.memory(),
            "result": f"slow request {outcome.get('request', 'hung')[:40]}; /info after {_fmt_s(info_s)}, "
                      f"prediction after {_fmt_s(predict_s)}"}


def _cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return 0


def probe_kill_at_startup(model: Path, log_dir: Path) -> dict:
    """Kill the first workers as they appear while the app starts: it must still start and answer."""
    app = App(model, log_dir / "startup.log")
    killed = []
    try:
        for round_ in range(2):  # the first worker, then its replacement if the app starts one by itself
            pids = _wait_for(lambda: [p for p in app.workers() if p not in killed], timeout=120 if not round_ else 10,
                             step=0.01)
            if not pids:
                break
            time.sleep(0.2)  # inside its start-up (importing, loading the model)
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])
        start = time.monotonic()
        try:
            app.wait_answering(timeout=time.monotonic() - app.started + 120)
            answered = time.monotonic() - start
            result = f"killed {len(killed)} starting workers; first answer {answered:.1f} s later"
        except RuntimeError as e:
            answered, result = None, f"FAILED: {str(e)[:100]}"
        return {"killed": killed, "answer_after_kills_s": _round(answered), "memory_after": app.memory(),
                "result": result}
    finally:
        app.stop()


def run_clients(app: App, clients: int, duration: float | None = None, total: int | None = None) -> dict:
    """`clients` threads doing predictions until `duration` s have passed or `total` calls were made."""
    data = IMAGE.read_bytes()
    lock = threading.Lock()
    made = {"n": 0}
    latencies, errors = [], []
    start = time.monotonic()

    def one_client(_):
        with httpx.Client(timeout=120) as client:
            while True:
                with lock:
                    if (duration and time.monotonic() - start > duration) or (total and made["n"] >= total):
                        return
                    made["n"] += 1
                t = time.perf_counter()
                try:
                    predict(client, app.url, data)
                    latencies.append((time.perf_counter() - t) * 1000)
                except (httpx.HTTPError, CallError) as e:
                    errors.append(f"{type(e).__name__}: {e}"[:120])

    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        list(pool.map(one_client, range(clients)))
    wall = time.monotonic() - start
    return {"clients": clients, "requests": len(latencies) + len(errors), "failed": len(errors),
            "errors": errors[:5], "wall_s": round(wall, 1), "per_s": round(len(latencies) / wall, 1),
            "median_ms": _median(latencies), "p95_ms": round(float(np.percentile(latencies, 95)), 1) if latencies
            else None, "max_ms": _max(latencies)}


def probe_concurrent(app: App, clients: int, seconds: float) -> dict:
    before = app.memory()
    with Canary(app.url) as canary:
        run = run_clients(app, clients, duration=seconds)
    return {**run, "memory_before": before, "memory_after": app.memory(), "canary": canary.summary(),
            "result": f"{run['requests']} requests, {run['failed']} failed, median {run['median_ms']} ms, "
                      f"{run['per_s']}/s"}


def probe_soak(app: App, idle: dict, done: int, total: int, max_s: float) -> dict:
    """Ordinary requests until `total` in all (counting `done`): the tree's memory against its idle size."""
    run = run_clients(app, 8, duration=max_s, total=max(0, total - done))
    after = app.memory()
    ratio = after["tree_mb"] / idle["tree_mb"]
    return {**run, "requests_in_all": done + run["requests"], "memory_before": idle, "memory_after": after,
            "ratio": round(ratio, 2),
            "result": f"{done + run['requests']} requests in all ({run['failed']} failed); tree {idle['tree_mb']:.0f}"
                      f" -> {after['tree_mb']:.0f} MB = {ratio:.2f}x idle"}


def probe_uploads(app: App, count: int) -> dict:
    """Distinct files uploaded as fast as 8 clients can; storage while uploading and after the retention time."""
    before = app.memory()
    baseline_files, baseline_bytes = app.storage()
    peak = {"files": baseline_files, "bytes": baseline_bytes}
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            files, size = app.storage()
            peak["files"], peak["bytes"] = max(peak["files"], files), max(peak["bytes"], size)
            stop.wait(0.5)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    rng = np.random.default_rng(0)
    blobs = [rng.integers(0, 256, 50_000, dtype=np.uint8).tobytes() for _ in range(8)]
    failed, stored_at = [], []
    start = time.monotonic()
    with Canary(app.url) as canary:
        def one(i):
            with httpx.Client(timeout=60) as client:
                for j in range(i, count, 8):
                    try:
                        upload(client, app.url, blobs[i] + j.to_bytes(4, "big"), f"u{j}.bin")
                        stored_at.append(time.monotonic())
                    except (httpx.HTTPError, CallError) as e:
                        failed.append(str(e)[:80])

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(one, range(8)))
        wall = time.monotonic() - start
        with httpx.Client(timeout=60) as client:
            many = client.post(f"{app.url}/gradio_api/upload",
                               files=[("files", (f"{i}.bin", b"x", "application/octet-stream")) for i in range(1000)])
            five = client.post(f"{app.url}/gradio_api/upload",
                               files=[("files", (f"{i}.png", IMAGE.read_bytes(), "image/png")) for i in range(5)])
    frequency, age = RETENTION
    settle_start = time.monotonic()
    settle = _wait_for(lambda: not any(app.uploads.rglob("u*.bin")), timeout=frequency + age + 30, step=1)
    settle_s = time.monotonic() - settle_start
    stop.set()
    watcher.join()
    files_after, bytes_after = app.storage()
    left = sum(1 for _ in app.uploads.rglob("u*.bin"))
    rate = count * 50_000 / wall
    # The documented bound: what was there, plus what arrived within any (age + frequency) seconds (a file lives
    # at most that long: it is older than `age` at the latest at the first sweep after).
    stored_at.sort()
    window, first = 0, 0
    for last, moment in enumerate(stored_at):
        while moment - stored_at[first] > frequency + age:
            first += 1
        window = max(window, last - first + 1)
    bound = baseline_bytes + window * 50_004
    return {"uploads": count, "failed": len(failed), "wall_s": round(wall, 1), "mb_per_s": round(rate / 1e6, 1),
            "peak_files": peak["files"], "peak_mb": round(peak["bytes"] / 1e6, 1), "bound_mb": round(bound / 1e6, 1),
            "files_after_retention": files_after, "mb_after_retention": round(bytes_after / 1e6, 2),
            "probe_files_left": left, "settled": bool(settle), "settle_s": round(settle_s, 1),
            "thousand_files_status": many.status_code, "five_files_status": five.status_code,
            "canary": canary.summary(), "memory_before": before, "memory_after": app.memory(),
            "result": f"peak {peak['files']} files / {peak['bytes'] / 1e6:.0f} MB (bound {bound / 1e6:.0f} MB at "
                      f"{rate / 1e6:.1f} MB/s); all deleted {settle_s:.0f} s after the last ({left} left); "
                      f"1000 files: {many.status_code}, 5 files: {five.status_code}"}


def probe_idle_connections(app: App, count: int, keepalive: int) -> dict:
    """Connections that never finish their headers, and keep-alive connections left idle after one request."""
    before = app.memory()
    log_before = app.log_size()
    sockets = []
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", app.port), timeout=5)
        s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        sockets.append(s)
    with Canary(app.url, predictions=True) as canary:
        time.sleep(10)
    open_after = sum(_still_open(s) for s in sockets)
    for s in sockets:
        s.close()
    kept = []
    for _ in range(keepalive):
        s = socket.create_connection(("127.0.0.1", app.port), timeout=5)
        s.sendall(b"GET /gradio_api/info HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        s.recv(65536)
        kept.append(s)
    time.sleep(7)  # uvicorn's keep-alive timeout is 5 s
    kept_open = sum(_still_open(s) for s in kept)
    for s in kept:
        s.close()
    return {"incomplete": count, "incomplete_open_after_10s": open_after, "keepalive": keepalive,
            "keepalive_open_after_7s": kept_open, "log_bytes": app.log_size() - log_before,
            "canary": canary.summary(), "memory_before": before, "memory_after": app.memory(),
            "result": f"{open_after}/{count} incomplete still open after 10 s (no header timeout: reverse proxy); "
                      f"{kept_open}/{keepalive} idle keep-alive open after 7 s"}


def _still_open(s: socket.socket) -> bool:
    """False once the server has closed the connection (after reading whatever it had sent)."""
    s.setblocking(False)
    try:
        while s.recv(65536):
            pass
        return False  # b"": closed by the server
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        s.setblocking(True)


def probe_hostile_requests(app: App, model: Path) -> dict:
    """Log inflation, URL and outside paths, cross-origin upload, headers, /config, a bogus event id."""
    out = {}
    with httpx.Client(timeout=60) as client:
        for name, path in (("5 MB path", "A" * 5_000_000), ("outside path", "/etc/passwd"),
                           ("URL path", "https://example.com/digit.png")):
            log_before = app.log_size()
            response = client.post(f"{app.url}/gradio_api/call/predict", json={"data": [file_data(path)]})
            time.sleep(0.2)
            out[name] = {"status": response.status_code, "message": response.text[:100],
                         "log_bytes": app.log_size() - log_before}
        log_before = app.log_size()
        for i in range(100):
            client.post(f"{app.url}/gradio_api/call/predict", json={"data": [file_data(f"/etc/{'x' * 1000}{i}")]})
        time.sleep(0.2)
        out["100 refused paths"] = {"log_bytes": app.log_size() - log_before}
        response = client.post(f"{app.url}/gradio_api/upload", headers={"Origin": "https://elsewhere.example"},
                               files={"files": ("d.png", IMAGE.read_bytes(), "image/png")})
        out["cross-origin upload"] = {"status": response.status_code,
                                      "allow_origin": response.headers.get("access-control-allow-origin")}
        page = client.get(f"{app.url}/")
        out["headers"] = {k: page.headers.get(k) for k in ("x-content-type-options", "x-frame-options",
                                                          "content-security-policy")}
        config = client.get(f"{app.url}/config").text
        out["/config shows model folder"] = str(model) in config
        try:
            response = client.get(f"{app.url}/gradio_api/call/predict/{uuid.uuid4().hex}")
            out["bogus event id"] = {"status": response.status_code, "body": response.text[:100]}
        except httpx.HTTPError as e:
            out["bogus event id"] = {"error": f"{type(e).__name__}: {e}"[:100]}
    worst_log = max(v.get("log_bytes", 0) for v in out.values() if isinstance(v, dict))
    out["result"] = (f"5 MB path -> {out['5 MB path']['status']}, {out['5 MB path']['log_bytes']} log bytes; "
                     f"100 refused paths -> {out['100 refused paths']['log_bytes']} log bytes; "
                     f"URL -> {out['URL path']['status']}")
    out["worst_log_bytes"] = worst_log
    return out


def _round(value):
    return None if value is None else round(value, 2)


def _fmt_s(value):
    return "never" if value is None else f"{value:.2f} s"


# --------------------------------------------------------------------------- report


def targets(probes: dict) -> dict:
    kills = [probes[k] for k in ("kill_in_a_row", "kill_mid_request") if k in probes]
    restart_ms = max((k["canary"]["info_max_ms"] or 0) for k in kills) if kills else None
    after_fault = max((k["answer_info_s"] if k["answer_info_s"] is not None else float("inf")) for k in kills) \
        if kills else None
    measured = {
        "failed_at_64_clients": probes["concurrent"]["failed"],
        "slowest_endpoint_during_restart_ms": restart_ms,
        "answer_after_fault_s": after_fault,
        "memory_ratio_after_requests": probes["soak"]["ratio"],
        "single_request_extra_mb": probes["hostile_images"]["worst_extra_mb"],
    }
    out = {}
    for name, value in measured.items():
        limit = TARGETS[name]
        out[name] = {"value": value, "target": limit, "met": value is not None and value <= limit}
    upload = probes["uploads"]
    out["upload_storage_bounded"] = {"value": upload["peak_mb"], "target": upload["bound_mb"],
                                     "met": upload["peak_mb"] <= upload["bound_mb"] + 1 and upload["settled"]}
    return out


def print_table(result: dict) -> None:
    print(f"\nmachine: {result['machine']}; mode: {result['mode']}; model: {result['model']}")
    print(f"start-up to first answer: {result['startup_s']:.1f} s; idle tree {result['idle']['tree_mb']:.0f} MB "
          f"(server {result['idle']['server_mb']:.0f}, {result['idle']['workers']} workers "
          f"{result['idle']['workers_mb']:.0f})\n")
    header = f"{'probe':18} {'server MB':>13} {'workers MB':>13} {'others: median/max ms':>22}  result"
    print(header)
    for name, probe in result["probes"].items():
        before, after = probe.get("memory_before"), probe.get("memory_after")
        server = f"{before['server_mb']:.0f}->{after['server_mb']:.0f}" if before and after else ""
        workers = f"{before['workers_mb']:.0f}->{after['workers_mb']:.0f}" if before and after else ""
        canary = probe.get("canary") or {}
        others = f"{canary.get('info_median_ms')}/{canary.get('info_max_ms')}" if canary else ""
        if canary.get("predict_median_ms") is not None:
            others += f" (pred {canary['predict_median_ms']:.0f}/{canary['predict_max_ms']:.0f})"
        print(f"{name:18} {server:>13} {workers:>13} {others:>22}  {probe['result']}")
    print("\nothers: a canary user's GET /gradio_api/info (and predictions, where shown) during the probe")
    print("\nhostile images (seconds, extra MB of the process tree, outcome):")
    for row in result["probes"]["hostile_images"]["requests"]:
        print(f"  {row['image']:34} {row['function']:>8} {row['seconds']:6.2f} s {row['extra_mb']:7.1f} MB  "
              f"{row['outcome'][:70]}")
    print("\ntargets:")
    for name, target in result["targets"].items():
        print(f"  {name:36} {str(target['value']):>10}  <= {target['target']!s:<8} {'met' if target['met'] else 'NOT MET'}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="model folder (default: a copy of models/mnist-cnn)")
    parser.add_argument("--quick", action="store_true", help="small counts: a smoke check")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--soak-max-s", type=float, help="stop the 20,000-request soak after this many seconds")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve)
        return 0
    settings = dict(SETTINGS["quick" if args.quick else "full"])
    if args.soak_max_s:
        settings["soak_max_s"] = args.soak_max_s
    work = Path(tempfile.mkdtemp(prefix="reliability-"))
    source = args.model or ROOT / "models" / "mnist-cnn"
    model = work / "model"
    shutil.copytree(source, model)  # the app may only read it; a copy keeps the original out of reach
    for attempt in range(5):  # Gradio's launch() gives up when its own HEAD / takes over 3 s (a busy machine)
        app = App(model, work / "app.log")
        try:
            startup = app.wait_answering()
            break
        except RuntimeError:
            gave_up = "localhost is not accessible" in app.log_path.read_text(errors="replace")
            app.stop()
            if not gave_up or attempt == 4:
                raise
            print("the app gave up starting (its HEAD / took over 3 s); starting it again", flush=True)
    probes = {}
    try:
        with httpx.Client(timeout=60) as client:  # warm: a few requests, then the idle size
            for _ in range(5):
                predict(client, app.url, IMAGE.read_bytes())
        time.sleep(2)
        idle = app.memory()
        print(f"app answering after {startup:.1f} s; idle {idle}", flush=True)
        hostile = hostile_images(args.quick)
        slowest = next(data for name, data in hostile.items() if name.startswith("png16"))
        steps = [
            ("hostile_images", lambda: probe_hostile_images(app, hostile)),
            ("kill_in_a_row", lambda: probe_kill_in_a_row(app)),
            ("kill_mid_request", lambda: probe_kill_mid_request(app, slowest)),
            ("concurrent", lambda: probe_concurrent(app, settings["clients"], settings["load_s"])),
            ("uploads", lambda: probe_uploads(app, settings["uploads"])),
            ("idle_connections", lambda: probe_idle_connections(app, settings["idle"], settings["keepalive"])),
            ("hostile_requests", lambda: probe_hostile_requests(app, model)),
        ]
        for name, run in steps:
            print(f"probe {name}...", flush=True)
            probes[name] = run()
            print(f"  {probes[name]['result']}", flush=True)
        done = probes["concurrent"]["requests"]
        print("probe soak...", flush=True)
        probes["soak"] = probe_soak(app, idle, done, settings["requests"], settings["soak_max_s"])
        print(f"  {probes['soak']['result']}", flush=True)
    finally:
        app.stop()
        log_tail = app.tail(15)
    print("probe kill_at_startup...", flush=True)
    probes["kill_at_startup"] = probe_kill_at_startup(model, work)
    print(f"  {probes['kill_at_startup']['result']}", flush=True)
    result = {
        "machine": summary(),
        "mode": "quick" if args.quick else "full", "settings": settings, "model": str(source),
        "retention_s": RETENTION, "startup_s": round(startup, 1), "idle": idle, "probes": probes,
        "app_log_tail": log_tail,
    }
    result["targets"] = targets(probes)
    print_table(result)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=1, default=str) + "\n")
    print(f"\nwrote {args.output}")
    shutil.rmtree(work, ignore_errors=True)
    met = all(t["met"] for t in result["targets"].values())
    print("all targets met" if met else "some targets NOT met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
