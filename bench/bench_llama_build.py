"""Decode speed of the installed llama.cpp build (native SIMD, AMX off) against other builds of the same sources.

Builds each variant's shared libraries once from the vendored llama.cpp of the installed llama-cpp-python
sdist (cached under ~/.cache/rephraser/bench-builds/), then runs the same probe decode
(`python -m rephraser.engines.llamacpp_probe`, 2 sequences, greedy) with LLAMA_CPP_LIB_PATH pointing at each
build, interleaved A B B A so a machine whose load drifts hurts both sides alike. Prints tok/s per build, the
ratio installed / each other build, or the signal a build died of (the plain native build on an AMX CPU).

    .venv/bin/python bench/bench_llama_build.py [--variants native,avx512] [--tokens 96] [--rounds 2] [--json F]

Variants: native = what a plain `pip install llama-cpp-python` compiles (-march=native, AMX included on AMX
CPUs); avx512 / avx2 = GGML_NATIVE=OFF with explicit instruction sets (the usual portable workaround).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from importlib import metadata
from pathlib import Path

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "rephraser" / "bench-builds"
COMMON = ["-DBUILD_SHARED_LIBS=ON", "-DLLAMA_BUILD_TOOLS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF",
          "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_SERVER=OFF", "-DLLAMA_CURL=OFF", "-DCMAKE_BUILD_TYPE=Release"]
VARIANTS = {
    "native": ["-DGGML_NATIVE=ON"],
    "avx512": ["-DGGML_NATIVE=OFF", "-DGGML_AVX=ON", "-DGGML_AVX2=ON", "-DGGML_FMA=ON", "-DGGML_F16C=ON",
               "-DGGML_BMI2=ON", "-DGGML_AVX512=ON", "-DGGML_AVX512_VNNI=ON", "-DGGML_AVX512_BF16=ON",
               "-DGGML_AVX512_VBMI=ON"],
    "avx2": ["-DGGML_NATIVE=OFF", "-DGGML_AVX=ON", "-DGGML_AVX2=ON", "-DGGML_FMA=ON", "-DGGML_F16C=ON",
             "-DGGML_BMI2=ON"],
}


def vendored_sources() -> Path:
    """The llama.cpp tree of the installed llama-cpp-python version (its sdist, fetched once from PyPI)."""
    version = metadata.version("llama_cpp_python")
    root = CACHE / f"src-{version}"
    if (root / "CMakeLists.txt").is_file():
        return root
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
                        "-d", tmp, f"llama-cpp-python=={version}"], check=True)
        sdist = next(Path(tmp).glob("llama_cpp_python-*.tar.gz"))
        with tarfile.open(sdist) as tf:
            tf.extractall(tmp, filter="data")
        vendor = next(Path(tmp).glob("llama_cpp_python-*/vendor/llama.cpp"))
        root.parent.mkdir(parents=True, exist_ok=True)
        vendor.rename(root)
    return root


def build(name: str) -> Path:
    """Shared libraries of one variant (cached by sources + flags)."""
    src = vendored_sources()
    args = COMMON + VARIANTS[name]
    key = hashlib.sha256(f"{src}\n{' '.join(args)}".encode()).hexdigest()[:12]
    out = CACHE / f"{name}-{key}"
    libs = out / "bin"
    if (libs / "libllama.so").is_file():
        return libs
    print(f"building llama.cpp variant {name} (minutes, once)...", file=sys.stderr)
    subprocess.run(["cmake", "-S", str(src), "-B", str(out), *args], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--build", str(out), "--target", "llama", "-j", str(os.cpu_count() or 2)],
                   check=True, stdout=subprocess.DEVNULL)
    return libs


def decode(lib_dir: Path | None, tokens: int) -> dict:
    # REPHRASER_ALLOW_AMX: let an AMX build reach its first decode (the engine refuses it otherwise)
    env = {**os.environ, "REPHRASER_CRASH_WATCH": "0", "REPHRASER_ALLOW_AMX": "1"}
    if lib_dir is not None:
        env["LLAMA_CPP_LIB_PATH"] = str(lib_dir)
    cmd = [sys.executable, "-m", "rephraser.engines.llamacpp_probe", "--tokens", str(tokens)]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    if p.returncode < 0:
        return {"crashed": f"signal {-p.returncode}", "wall_s": round(time.perf_counter() - t0, 2)}
    line = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    return json.loads(line[-1]) if line else {"error": p.stderr.strip()[-200:]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--variants", default="native,avx512")
    ap.add_argument("--tokens", type=int, default=96)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--figure", action="store_true", help="write bench/results/llama_build.json for the docs")
    a = ap.parse_args()
    others = {v: build(v) for v in a.variants.split(",") if v}
    speeds: dict[str, list[float]] = {"installed": [], **{v: [] for v in others}}
    crashed: dict[str, str] = {}
    for r in range(a.rounds):  # A B B A: installed first on even rounds, last on odd ones
        order = ["installed", *others] if r % 2 == 0 else [*others, "installed"]
        for name in order:
            if name in crashed:
                continue
            res = decode(others.get(name), a.tokens)
            if "crashed" in res or "error" in res:
                crashed[name] = res.get("crashed") or res.get("error", "failed")
            else:
                speeds[name].append(res["tok_per_s"])
    load = os.getloadavg()[0]
    result = {"load_1min": round(load, 2), "tokens": a.tokens, "rounds": a.rounds, "builds": {}}
    base = statistics.median(speeds["installed"]) if speeds["installed"] else None
    for name in speeds:
        if name in crashed:
            result["builds"][name] = {"crashed": crashed[name]}
            print(f"{name:10s} crashed: {crashed[name]}")
            continue
        med = statistics.median(speeds[name])
        ratio = round(base / med, 3) if base and name != "installed" else None
        result["builds"][name] = {"tok_per_s": med, "runs": speeds[name], "installed_over_this": ratio}
        print(f"{name:10s} {med:7.1f} tok/s  runs {speeds[name]}" + (f"  installed/this = {ratio}" if ratio else ""))
    print(f"load average (1 min) at the end: {load:.2f}")
    if a.json:
        a.json.write_text(json.dumps(result, indent=2) + "\n")
    if a.figure:
        write_build_figure(result, how=f"bench/bench_llama_build.py --variants {a.variants} --tokens {a.tokens} "
                                       f"--rounds {a.rounds} --figure")


def write_build_figure(result: dict, how: str, note: str | None = None) -> None:
    from figures import write_figure  # bench/figures.py: the docs' generated figures

    from rephraser.engines.llamacpp_build import cpu_info

    rows = []
    for name, b in result["builds"].items():
        rows.append({"build": BUILD_NAMES.get(name, name),
                     "speed": f"{b['tok_per_s']:.1f} tok/s" if "tok_per_s" in b else f"crashed ({b['crashed']})",
                     "ratio": f"{b['installed_over_this']:.3f}" if b.get("installed_over_this") else "–"})
    cpu = cpu_info()
    data = {"rows": rows, "cpu": cpu.model, "amx": cpu.has_amx, "load": result["load_1min"], **result}
    views = {"builds": {"rows": "rows", "columns": [["build", "{build}"], ["decode (2 sequences, greedy)", "{speed}"],
                                                  ["installed / this build", "{ratio}"]]}}
    write_figure("llama_build", data, views, how=how, note=note,
                 where=f"{cpu.model}, {'with' if cpu.has_amx else 'without'} AMX, 2 cores, load {result['load_1min']}")


BUILD_NAMES = {"installed": "installed (native SIMD, AMX off: scripts/llama_wheel.sh)",
               "native": "plain native (-march=native, what pip builds)",
               "avx512": "GGML_NATIVE=OFF, explicit AVX2 + AVX-512 (+VNNI, BF16, VBMI)",
               "avx2": "GGML_NATIVE=OFF, explicit AVX2"}


if __name__ == "__main__":
    main()
