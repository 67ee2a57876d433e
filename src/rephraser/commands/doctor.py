"""`rephraser doctor`: what a bug report needs, and a short decode of the embedded model in a child process.

The probe runs in a subprocess so that a crash inside llama.cpp (AMX segfault, illegal instruction) ends
as a one-line diagnosis here instead of killing the shell. `make quickstart` runs `doctor --brief` first.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import signal
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import typer

from rephraser.engines import cpu_policy
from rephraser.engines.base import EngineError
from rephraser.engines.llamacpp_build import amx_hazard, build_summary, cpu_info, llama_build
from rephraser.engines.models import resolve_model

PACKAGES = ("rephraser", "llama_cpp_python", "llguidance", "torch", "vllm", "transformers", "numpy", "pyarrow")


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _signal_name(rc: int) -> str:
    try:
        return signal.Signals(-rc).name
    except ValueError:
        return f"signal {-rc}"


def diagnose_crash(rc: int, hazard: str | None) -> str:
    """One line for a probe that died by a signal (rc < 0)."""
    sig = _signal_name(rc)
    if hazard:
        return f"the embedded engine crashed ({sig}) on its first decode: {hazard}"
    if sig == "SIGILL":
        return (f"the embedded engine crashed ({sig}): llama.cpp uses instructions this CPU lacks (a wheel built "
                "on another machine, e.g. through a shared pip cache?); rebuild here with: make install")
    return (f"the embedded engine crashed ({sig}) on its first decode; rebuild with `make install` and, if it "
            "persists, report it with this output")


def probe(model: str, timeout_s: float) -> tuple[dict[str, Any] | None, str | None]:
    """(probe result, failure line): runs the real engine in a child process."""
    # a crash of a bad build happens on the first decode: a few tokens are enough
    cmd = [sys.executable, "-m", "rephraser.engines.llamacpp_probe", "--model", model, "--tokens", "8"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s,
                              env={**os.environ, "REPHRASER_CRASH_WATCH": "0"})
    except subprocess.TimeoutExpired:
        # Not a crash (that would have ended the child at once): a machine this busy is slow, not broken.
        return {"ok": False, "slow": True}, None
    if proc.returncode < 0:
        return None, diagnose_crash(proc.returncode, amx_hazard(cpu_info(), llama_build()))
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    result = json.loads(lines[-1]) if lines else None
    if proc.returncode != 0 or not result or not result.get("ok"):
        why = (result or {}).get("error") or (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return result, f"the embedded engine failed its probe: {why}"
    return result, None


def _kernels(system_info: str) -> str:
    """The features llama.cpp reports as compiled in ('AVX2 = 1 | ...' -> 'AVX2 ...')."""
    on = [k.strip() for k, _, v in (p.partition("=") for p in system_info.replace("CPU :", "|").split("|"))
          if v.strip() == "1"]
    return " ".join(on) or system_info.strip()


def register(app: typer.Typer) -> None:
    @app.command()
    def doctor(
        model: str = typer.Option("smollm2-135m", help="model the probe decodes with"),
        no_probe: bool = typer.Option(False, "--no-probe", help="only report; do not load llama.cpp"),
        brief: bool = typer.Option(False, help="one line on success (what `make quickstart` prints)"),
        as_json: bool = typer.Option(False, "--json", help="machine-readable report"),
        timeout_s: float = typer.Option(180.0, help="limit for the probe decode"),
    ) -> None:
        """Print what a bug report needs and check that the embedded engine decodes on this machine."""
        cpu, build = cpu_info(), llama_build()
        report: dict[str, Any] = {
            "platform": f"{platform.system()} {platform.release()} {platform.machine()}, Python {platform.python_version()}",
            "cpu": cpu.model, "cpu_flags": " ".join(cpu.flags) or "-", "cores": os.cpu_count(),
            "llama_cpp": build_summary(build), "llama_cpp_libs": str(build.lib_dir or "-"),
            "llama_cpp_build_flags": build.build_flags or "unknown (not built by scripts/llama_wheel.sh)",
            "engine_cpu": cpu_policy.choose(None, apply=False).describe(),  # threads + OpenMP waits it would pick
            "packages": {p: _version(p) for p in PACKAGES},
        }
        hazard = amx_hazard(cpu, build)
        try:
            info = resolve_model(model)
            report["model"] = f"{info.model_id} {info.path} ({info.path.stat().st_size / 1e6:.1f} MB)"
            report["model_sha256"] = _sha256(info.path)
        except (EngineError, OSError) as e:
            report["model"] = f"unavailable: {e}"
            info = None
        failure = hazard
        if hazard and os.environ.get("REPHRASER_ALLOW_AMX") != "1":
            pass  # the engine would refuse this build anyway: the hazard is the diagnosis
        elif not no_probe and info is not None and build.version is not None:
            result, fail = probe(model, timeout_s)
            failure = fail or failure
            if result and result.get("slow"):
                report["probe"] = (f"no crash, but the probe decode did not finish in {timeout_s:.0f} s: this machine is "
                                   "very busy (other processes on its cores)")
            elif result and result.get("ok"):
                report["kernels"] = _kernels(str(result.get("system_info", "")))
                report["probe"] = f"{result['completion_tokens']} tokens at {result['tok_per_s']} tok/s (load {result['load_s']} s)"
                if result.get("cpu_policy"):
                    report["engine_cpu"] = result["cpu_policy"]  # what the probe's engine really used
        elif build.version is None:
            failure = "llama-cpp-python is not installed: make install"
        elif info is None:
            failure = f"the model is unavailable: {report['model']}"
        report["status"] = "FAILED: " + failure if failure else "ok"
        if as_json:
            print(json.dumps(report, indent=2))
        elif brief:
            if failure:
                print(f"doctor: FAILED: {failure}", file=sys.stderr)
            else:
                print(f"doctor: ok: {report['llama_cpp']}; {report.get('probe', 'no probe')}")
        else:
            width = max(len(k) for k in report)
            for k, v in report.items():
                if isinstance(v, dict):
                    v = ", ".join(f"{a} {b}" for a, b in v.items())
                print(f"{k:<{width}}  {v}")
        if failure:
            raise typer.Exit(1)
