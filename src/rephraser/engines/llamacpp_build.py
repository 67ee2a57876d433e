"""What the installed llama.cpp build is, and whether it is safe on this CPU — read without running it.

Why this exists: a llama.cpp compiled with -march=native on an Intel CPU with AMX (Sapphire Rapids and
later) contains ggml's AMX backend, which segfaults on the first decode (llama.cpp issue #20824). The
library cannot tell us from inside a crashed process, so everything here reads files: the CPU's flags
from /proc/cpuinfo and the compiled-in backends from the shared libraries' symbol names. Nothing here
imports llama_cpp (which loads the libraries); `rephraser doctor` and the crash supervisor use it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import platform
import re
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from rephraser.engines.base import FatalEngineError

# CPU features that decide which llama.cpp kernels can run (x86 names as in /proc/cpuinfo).
SIMD_FLAGS = ("sse3", "ssse3", "avx", "avx2", "fma", "f16c", "avx_vnni", "avx512f", "avx512bw", "avx512vl",
              "avx512_vnni", "avx512_bf16", "avx512vbmi", "amx_tile", "amx_int8", "amx_bf16", "asimd", "sve")
AMX_SYMBOL = b"ggml_backend_amx"
BUILD_FLAGS_FILE = "rephraser-llama-build.txt"  # every AMX entry point of ggml-cpu is named ggml_backend_amx_*


@dataclass(frozen=True)
class CpuInfo:
    model: str
    arch: str
    flags: tuple[str, ...]  # the SIMD_FLAGS this CPU has

    @property
    def has_amx(self) -> bool:
        return "amx_int8" in self.flags or "amx_tile" in self.flags


@dataclass(frozen=True)
class LlamaBuild:
    version: str | None  # llama-cpp-python's version; None when not installed
    lib_dir: Path | None
    libraries: tuple[str, ...] = ()
    amx_in: tuple[str, ...] = ()  # libraries that contain AMX code
    build_flags: str | None = None  # what scripts/llama_wheel.sh recorded, when it built this one
    problems: tuple[str, ...] = field(default_factory=tuple)

    @property
    def has_amx(self) -> bool:
        return bool(self.amx_in)


def cpu_info() -> CpuInfo:
    model, flags = platform.processor() or "unknown", set()
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        text = ""
    m = re.search(r"^(?:model name|Model|cpu model)\s*:\s*(.+)$", text, re.M)
    if m:
        model = m.group(1).strip()
    f = re.search(r"^(?:flags|Features)\s*:\s*(.+)$", text, re.M)
    if f:
        flags = set(f.group(1).split())
        if "pni" in flags:  # the kernel's name for SSE3
            flags.add("sse3")
    return CpuInfo(model=model, arch=platform.machine(), flags=tuple(x for x in SIMD_FLAGS if x in flags))


def _lib_dir() -> Path | None:
    override = os.environ.get("LLAMA_CPP_LIB_PATH")  # llama-cpp-python loads its libraries from here if set
    if override:
        return Path(override)
    try:
        spec = importlib.util.find_spec("llama_cpp")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    base = Path(next(iter(spec.submodule_search_locations)))
    return base / "lib" if (base / "lib").is_dir() else base


def _contains(path: Path, needle: bytes) -> bool:
    """Streamed search for a symbol name in a shared library (its string tables hold every exported name)."""
    tail = b""
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            if needle in tail + chunk:
                return True
            tail = chunk[-len(needle):]
    return False


def llama_build() -> LlamaBuild:
    try:
        version = metadata.version("llama_cpp_python")
    except metadata.PackageNotFoundError:
        return LlamaBuild(version=None, lib_dir=None, problems=("llama-cpp-python is not installed",))
    lib_dir = _lib_dir()
    if lib_dir is None:
        return LlamaBuild(version=version, lib_dir=None, problems=("llama_cpp package folder not found",))
    # one entry per real file: libggml-cpu.so -> .so.0 -> .so.0.25.3 are one library
    libs = sorted({p.resolve() for p in lib_dir.iterdir() if re.search(r"\.(so|dylib|dll)(\.\d+)*$", p.name)})
    amx = tuple(p.name for p in libs if "ggml" in p.name and _contains(p, AMX_SYMBOL))
    flags_file = Path(sys.prefix) / BUILD_FLAGS_FILE  # written by `make install` beside the venv's python
    flags = flags_file.read_text().strip() if flags_file.is_file() else None
    return LlamaBuild(version=version, lib_dir=lib_dir, libraries=tuple(p.name for p in libs), amx_in=amx,
                      build_flags=flags)


def amx_hazard(cpu: CpuInfo, build: LlamaBuild) -> str | None:
    """One line when this build will crash on this CPU through the AMX path, else None."""
    if cpu.has_amx and build.has_amx:
        return (f"llama.cpp {build.version} was compiled with the AMX backend ({', '.join(build.amx_in)}) and this "
                "CPU has AMX: the first decode segfaults (llama.cpp #20824); rebuild without AMX: make install "
                "(or: sh scripts/llama_wheel.sh PYTHON 0.3.36 and pip install --force-reinstall the wheel it prints)")
    return None


def build_summary(build: LlamaBuild) -> str:
    if build.version is None:
        return "llama-cpp-python not installed"
    amx = f"AMX backend in {', '.join(build.amx_in)}" if build.has_amx else "no AMX backend"
    return f"llama-cpp-python {build.version}, {amx}"


def note_engine(text: str) -> None:
    """Tell the CLI's crash watcher (commands/_crash_watch.py) what is running, for its one-line diagnosis."""
    path = os.environ.get("REPHRASER_CRASH_NOTE")
    if not path:
        return
    with contextlib.suppress(OSError), open(path, "a", encoding="utf-8") as fh:
        fh.write(text.replace("\n", " ") + "\n")


def check_safe() -> LlamaBuild:
    """Refuse, before any weights load, a build that would crash on this CPU (one line with the fix)."""
    build = llama_build()
    hazard = amx_hazard(cpu_info(), build)
    # REPHRASER_ALLOW_AMX=1: for a llama.cpp that has fixed its AMX path (and for bench/bench_llama_build.py)
    if hazard and os.environ.get("REPHRASER_ALLOW_AMX") != "1":
        raise FatalEngineError(hazard)
    return build
