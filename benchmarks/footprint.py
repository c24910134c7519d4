"""Footprint of the Space: install size, start-up to first answer, and memory of the server and its workers.

Why: the Space should install and start like a small app, not like a TensorFlow workstation (issue 13: at most
600 MB of site-packages, 5 s from start to first answer, 400 MB for the server plus its workers; and issue 15: the
process tree's memory at most 1.5x its idle size after 20,000 requests).

What it does, as a Space would:
1. Creates a fresh venv and installs only space/requirements.txt from the package registry (or reuses --venv).
   Measures the size of its site-packages.
2. Lays out the Space's files as `python -m hub.space_deploy` uploads them (space/ plus hub/ beside app.py) in a
   temporary folder and starts `python app.py` there with that venv, the model from --model-dir (default: the
   release model, models/mnist-cnn). Measures the time from start to the first /predict answer over HTTP.
3. Reads the resident memory (RSS, and PSS, which splits shared pages fairly) of the server and every process
   under it, and checks that none of them loaded TensorFlow.
4. Sends --requests /predict calls from 8 clients and reads the memory again (1.5x target).

    python benchmarks/footprint.py                            # fresh venv in a temp folder, 20,000 requests
    python benchmarks/footprint.py --venv /tmp/space-venv     # create it there once, reuse it afterwards
    python benchmarks/footprint.py --requests 0               # skip the long memory run

Prints a table and writes benchmarks/results/footprint.json. Linux only (reads /proc).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from api import CLIENTS, IMAGE, CallError, HttpCaller, free_port, http_predict, run_clients
from hub.machine import describe, summary

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "footprint.json"
RELEASE_MODEL = ROOT / "models" / "mnist-cnn"
TARGET_SITE_PACKAGES_MB = 600
TARGET_STARTUP_S = 5.0
TARGET_TREE_RSS_MB = 400
TARGET_GROWTH = 1.5
MB = 1024 * 1024


def create_venv(venv: Path, requirements: Path) -> float:
    """A venv with only `requirements` installed; returns the seconds it took (0 when reused)."""
    if (venv / "bin" / "python").exists():
        return 0.0
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "-r", str(requirements)], check=True)
    return time.perf_counter() - start


def site_packages(venv: Path) -> Path:
    found = sorted((venv / "lib").glob("python3*/site-packages"))
    if not found:
        raise SystemExit(f"error: no site-packages under {venv / 'lib'}")
    return found[0]


def folder_bytes(folder: Path) -> int:
    """Bytes of every file under `folder` (what `du --apparent-size` counts), symlinks not followed."""
    total = 0
    for dirpath, _, filenames in os.walk(folder):
        for name in filenames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                total += os.path.getsize(path)
    return total


def largest_packages(folder: Path, count: int = 8) -> list[tuple[str, float]]:
    sizes = [(entry.name, folder_bytes(entry) / MB) for entry in folder.iterdir()
             if entry.is_dir() and not entry.name.endswith((".dist-info", "__pycache__"))]
    return sorted(sizes, key=lambda item: -item[1])[:count]


def space_layout(target: Path) -> Path:
    """space/ with hub/ beside app.py, as the Space deploy uploads them (caches and tests left out)."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "flagged", ".gradio")
    shutil.copytree(ROOT / "space", target, ignore=ignore)
    shutil.copytree(ROOT / "hub", target / "hub", ignore=ignore)
    return target


def descendants(pid: int) -> list[int]:
    """pid and every process under it (workers, multiprocessing's resource tracker)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (FileNotFoundError, ProcessLookupError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def process_memory(pid: int) -> dict:
    """RSS and PSS in MB, the command, and whether TensorFlow's library is mapped."""
    with open(f"/proc/{pid}/status") as status:
        rss_kb = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    with open(f"/proc/{pid}/smaps_rollup") as rollup:
        pss_kb = next(int(line.split()[1]) for line in rollup if line.startswith("Pss:"))
    with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
        command = cmdline.read().replace(b"\0", b" ").decode(errors="replace").strip()
    with open(f"/proc/{pid}/maps") as maps:
        tensorflow = "tensorflow" in maps.read()
    return {"pid": pid, "rss_mb": rss_kb / 1024, "pss_mb": pss_kb / 1024, "command": command[:100],
            "tensorflow_loaded": tensorflow}


def tree_memory(pid: int) -> dict:
    processes = []
    for member in descendants(pid):
        try:
            processes.append(process_memory(member))
        except (FileNotFoundError, ProcessLookupError, StopIteration):
            continue  # ended meanwhile
    return {"rss_mb": sum(p["rss_mb"] for p in processes), "pss_mb": sum(p["pss_mb"] for p in processes),
            "tensorflow_loaded": any(p["tensorflow_loaded"] for p in processes), "processes": processes}


def start_app(python: Path, app_dir: Path, model_dir: Path, timeout: float = 180.0):
    """(process, url, seconds from start to the first /predict answer)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(MODEL_ID=str(model_dir), GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port),
               GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1")
    log = tempfile.NamedTemporaryFile(prefix="footprint-app-", suffix=".log", delete=False)
    url = f"http://127.0.0.1:{port}"
    data = IMAGE.read_bytes()
    start = time.perf_counter()
    process = subprocess.Popen([str(python), "app.py"], cwd=app_dir, env=env, stdout=log, stderr=subprocess.STDOUT)
    with httpx.Client(timeout=30) as client:
        while True:
            if process.poll() is not None or time.perf_counter() - start > timeout:
                process.kill()
                raise SystemExit(f"error: the app did not answer (exit code {process.poll()}):\n"
                                 + Path(log.name).read_text(errors="replace")[-3000:])
            try:
                answer = http_predict(client, url, data)
                break
            except (httpx.TransportError, CallError):
                time.sleep(0.05)
    return process, url, time.perf_counter() - start, answer, log.name


def stop_app(process) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def run(args) -> dict:
    with tempfile.TemporaryDirectory(prefix="footprint-") as scratch:
        venv = args.venv or Path(scratch) / "venv"
        install_s = create_venv(venv, args.requirements)
        packages = site_packages(venv)
        size_mb = folder_bytes(packages) / MB
        tensorflow_installed = (packages / "tensorflow").is_dir()
        app_dir = space_layout(Path(scratch) / "app")
        process, url, startup_s, answer, log_path = start_app(venv / "bin" / "python", app_dir, args.model_dir)
        try:
            time.sleep(2.0)  # let start-up work settle before reading idle memory
            idle = tree_memory(process.pid)
            after, checkpoints = None, []
            if args.requests:
                data = IMAGE.read_bytes()
                rounds = 5
                calls_each = max(1, args.requests // (CLIENTS * rounds))
                for _ in range(rounds):
                    result = run_clients(lambda: HttpCaller(url, data), CLIENTS, calls_each)
                    memory = tree_memory(process.pid)
                    checkpoints.append({"requests": result["answered"], "dropped": result["dropped"],
                                        "rss_mb": memory["rss_mb"], "pss_mb": memory["pss_mb"],
                                        "throughput_per_s": result["throughput_per_s"]})
                    print(f"  {sum(c['requests'] for c in checkpoints):>6} requests: tree RSS "
                          f"{memory['rss_mb']:.0f} MB, PSS {memory['pss_mb']:.0f} MB", flush=True)
                after = tree_memory(process.pid)
        finally:
            stop_app(process)
            Path(log_path).unlink(missing_ok=True)

    growth = after["rss_mb"] / idle["rss_mb"] if after else None
    targets = {
        "site_packages_mb": {"target": TARGET_SITE_PACKAGES_MB, "value": size_mb,
                             "met": size_mb <= TARGET_SITE_PACKAGES_MB},
        "startup_s": {"target": TARGET_STARTUP_S, "value": startup_s, "met": startup_s <= TARGET_STARTUP_S},
        "tree_rss_mb": {"target": TARGET_TREE_RSS_MB, "value": idle["rss_mb"],
                        "met": idle["rss_mb"] <= TARGET_TREE_RSS_MB},
        "no_tensorflow": {"target": False, "value": idle["tensorflow_loaded"] or tensorflow_installed,
                          "met": not (idle["tensorflow_loaded"] or tensorflow_installed)},
    }
    if after:
        targets["rss_growth"] = {"target": TARGET_GROWTH, "value": growth, "met": growth <= TARGET_GROWTH}
    return {"benchmark": "footprint", "requirements": str(args.requirements),
            "model_dir": str(args.model_dir), "venv_install_s": install_s, "site_packages_mb": size_mb,
            "largest_packages_mb": largest_packages(packages), "tensorflow_installed": tensorflow_installed,
            "startup_s": startup_s, "first_answer": answer["label"], "idle": idle, "requests": args.requests,
            "after_requests": after, "checkpoints": checkpoints, "rss_growth": growth, "targets": targets,
            "all_targets_met": all(t["met"] for t in targets.values()),
            "machine": describe(),  # its load_avg: at the end of the run
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}


def print_table(results: dict) -> None:
    t = results["targets"]
    rows = [("site-packages of a venv with space/requirements.txt", f"{results['site_packages_mb']:.0f} MB",
             f"<= {TARGET_SITE_PACKAGES_MB} MB"),
            ("start-up to first /predict answer", f"{results['startup_s']:.1f} s", f"<= {TARGET_STARTUP_S:.0f} s"),
            ("memory, server + workers, idle (RSS)", f"{results['idle']['rss_mb']:.0f} MB",
             f"<= {TARGET_TREE_RSS_MB} MB"),
            ("memory, server + workers, idle (PSS)", f"{results['idle']['pss_mb']:.0f} MB", "(reported)"),
            ("TensorFlow installed or loaded", "yes" if t["no_tensorflow"]["value"] else "no", "no")]
    if results["after_requests"]:
        after = results["after_requests"]
        rows.append((f"memory after {results['requests']:,} requests (RSS)",
                     f"{after['rss_mb']:.0f} MB ({results['rss_growth']:.2f}x idle)", f"<= {TARGET_GROWTH}x idle"))
    width = max(len(r[0]) for r in rows)
    for name, value, target in rows:
        print(f"{name.ljust(width)}  {value:<22}  {target}")
    print("\nprocesses (idle):")
    for p in results["idle"]["processes"]:
        print(f"  {p['rss_mb']:6.0f} MB RSS {p['pss_mb']:6.0f} MB PSS  {p['command'][:70]}")
    print("largest packages: " + ", ".join(f"{name} {mb:.0f} MB" for name, mb in results["largest_packages_mb"]))
    verdict = "all targets met" if results["all_targets_met"] else "targets NOT met: " + ", ".join(
        k for k, v in t.items() if not v["met"])
    print(f"\n{verdict}  ({summary(results['machine'])} at the end)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--venv", type=Path, help="venv folder to create (or reuse if it exists)")
    parser.add_argument("--requirements", type=Path, default=ROOT / "space" / "requirements.txt")
    parser.add_argument("--model-dir", type=Path, default=RELEASE_MODEL)
    parser.add_argument("--requests", type=int, default=20_000, help="/predict calls for the memory check (0: skip)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    args.model_dir = args.model_dir.resolve()
    args.requirements = args.requirements.resolve()
    if not (args.model_dir / "classifier.json").is_file():
        print(f"error: no model folder at {args.model_dir}; pass --model-dir (a folder train.py wrote).",
              file=sys.stderr)
        return 1
    results = run(args)
    print_table(results)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2))
    print(f"\nwrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
