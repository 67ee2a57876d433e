"""The installed llama.cpp build cannot take the AMX path, the doctor's probe passes, and native crashes end in
one line. None of this needs an AMX machine: the libraries are inspected, and crashes are real segfaults."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rephraser.commands import _crash_watch
from rephraser.commands.doctor import diagnose_crash
from rephraser.engines.base import FatalEngineError
from rephraser.engines.llamacpp_build import (
    CpuInfo,
    LlamaBuild,
    amx_hazard,
    check_safe,
    cpu_info,
    llama_build,
)

AMX_CPU = CpuInfo(model="Intel Xeon (Sapphire Rapids)", arch="x86_64", flags=("avx2", "avx512f", "amx_tile", "amx_int8"))


def test_installed_libraries_have_no_amx_backend():
    build = llama_build()
    assert build.version is not None, "llama-cpp-python must be installed (make install)"
    assert any(name.startswith("libggml-cpu") for name in build.libraries), build.libraries
    assert build.amx_in == (), f"AMX code compiled into {build.amx_in}: scripts/llama_wheel.sh was bypassed"
    assert amx_hazard(AMX_CPU, build) is None


def test_compiled_features_keep_the_cpus_simd_but_not_amx():
    import llama_cpp

    info = llama_cpp.llama_print_system_info().decode()
    assert "AMX_INT8 = 1" not in info
    if "avx2" in cpu_info().flags:  # native SIMD kept: not a generic SSE build
        assert "AVX2 = 1" in info, info


def test_a_library_with_amx_symbols_is_detected_and_refused(tmp_path, monkeypatch):
    (tmp_path / "libggml-cpu.so").write_bytes(b"\x7fELF" + b"\0" * 4096 + b"ggml_backend_amx_buffer_type\0" + b"\0" * 64)
    (tmp_path / "libllama.so").write_bytes(b"\x7fELF" + b"\0" * 128)
    monkeypatch.setenv("LLAMA_CPP_LIB_PATH", str(tmp_path))
    build = llama_build()
    assert build.amx_in == ("libggml-cpu.so",)
    line = amx_hazard(AMX_CPU, build)
    assert line and "#20824" in line and "make install" in line and "\n" not in line
    assert amx_hazard(CpuInfo("AMD EPYC", "x86_64", ("avx2",)), build) is None  # no AMX on the CPU: safe
    monkeypatch.setattr("rephraser.engines.llamacpp_build.cpu_info", lambda: AMX_CPU)
    monkeypatch.delenv("REPHRASER_ALLOW_AMX", raising=False)
    with pytest.raises(FatalEngineError, match="AMX"):
        check_safe()


def test_probe_crash_lines_name_signal_and_fix():
    amx_build = LlamaBuild(version="0.3.36", lib_dir=None, amx_in=("libggml-cpu.so",))
    line = diagnose_crash(-signal.SIGSEGV, amx_hazard(AMX_CPU, amx_build))
    assert "SIGSEGV" in line and "make install" in line
    assert "SIGILL" in diagnose_crash(-signal.SIGILL, None) and "another machine" in diagnose_crash(-signal.SIGILL, None)


def _run_watched(tmp_path: Path, body: str) -> subprocess.CompletedProcess:
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(f"""
        import ctypes, os, signal, time
        from rephraser.commands import _crash_watch
        _crash_watch.install()
        {body}
    """))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONFAULTHANDLER", "REPHRASER_CRASH_WATCH")}
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, env=env)


def test_a_native_segfault_ends_with_one_line(tmp_path):
    # a real segfault inside native code, with an engine note as the llama.cpp engine writes it
    p = _run_watched(tmp_path, """
        open(os.environ["REPHRASER_CRASH_NOTE"], "a").write("model SmolLM2, llama-cpp-python 0.3.36, no AMX backend\\n")
        ctypes.string_at(0)
    """)
    assert p.returncode == -signal.SIGSEGV
    lines = [ln for ln in p.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, p.stderr
    assert "SIGSEGV" in lines[0] and "resumes" in lines[0] and "rephraser doctor" in lines[0]
    assert "Traceback" not in p.stderr and "Fatal Python error" not in p.stderr  # the stacks went to the file


def test_kill_and_normal_exit_print_nothing(tmp_path):
    assert _run_watched(tmp_path, "print('done')").stderr == ""
    p = _run_watched(tmp_path, "os.kill(os.getpid(), signal.SIGKILL)")
    assert p.returncode == -signal.SIGKILL and "error:" not in p.stderr


def test_explain_reads_faulthandler_dumps():
    dump = 'Fatal Python error: Illegal instruction\n\nThread 0x1 (most recent call first):\n  File "llamacpp.py", line 180 in _run\n'
    line = _crash_watch.explain(dump, "model X, llama-cpp-python 0.3.36, no AMX backend\n")
    assert line and "SIGILL" in line and "llama.cpp engine (model X" in line and "make install" in line
    assert _crash_watch.explain("", "") is None


@pytest.mark.model
def test_doctor_probe_passes():
    p = subprocess.run([sys.executable, "-m", "rephraser.cli", "doctor", "--brief"], capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("doctor: ok: llama-cpp-python") and "no AMX backend" in p.stdout
