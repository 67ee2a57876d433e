#!/usr/bin/env sh
# Build (once) and print the path of a llama-cpp-python wheel that is safe on this CPU.
#
# Why: a plain `pip install llama-cpp-python` compiles llama.cpp with -march=native. On Intel CPUs with
# AMX (Sapphire Rapids and later: most current cloud x86) that compiles ggml's AMX backend in, which
# repacks the weights into AMX tiles and segfaults on the first decode (llama.cpp issue #20824, closed
# unfixed). We keep -march=native (every AVX2/AVX-512/VNNI extension the CPU has) and switch only the AMX
# instruction sets off: GCC and clang treat an explicit -mno-amx-* as winning over what -march=native
# implies, whatever the order on the command line, so ggml's `__AMX_INT8__` guard is never defined and no
# AMX code is compiled at all (tests/engines/test_llamacpp_build.py checks the installed library).
#
# Why a wheel folder of our own: pip's wheel cache is keyed by the package version, not by CMAKE_ARGS,
# so a user who once built the crashing wheel would get it back. Ours is keyed by the version, the
# cmake arguments, the compiler flags and this CPU's model and flags (a native build must not travel
# to another CPU through a shared home folder), and the wheel is built with pip's cache off.
#
# Usage: scripts/llama_wheel.sh PYTHON VERSION   (prints the wheel's path on stdout, progress on stderr)
set -eu
PY="$1"
VERSION="$2"
CMAKE_BASE="-DLLAVA_BUILD=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF"

cpu_flags=""
case "$(uname -m)" in
  x86_64|amd64)
    cc="${CC:-cc}"
    # Compilers too old to know AMX cannot emit it either: add the switches only where they exist.
    if echo 'int main(void){return 0;}' | "$cc" -x c -mno-amx-tile -mno-amx-int8 -mno-amx-bf16 -c -o /dev/null - 2>/dev/null; then
      cpu_flags="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
    fi
    ;;
esac
# GGML_AMX_* are the explicit switches used when GGML_NATIVE is off; keep them off too.
CMAKE_ARGS_ALL="$CMAKE_BASE -DGGML_NATIVE=ON -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
if [ -n "$cpu_flags" ]; then
  CMAKE_ARGS_ALL="$CMAKE_ARGS_ALL -DCMAKE_C_FLAGS='$cpu_flags' -DCMAKE_CXX_FLAGS='$cpu_flags'"
fi

cpu_id="$( (grep -m1 -E '^(model name|Model|cpu model)' /proc/cpuinfo 2>/dev/null; grep -m1 -E '^(flags|Features)' /proc/cpuinfo 2>/dev/null) || sysctl -n machdep.cpu.brand_string 2>/dev/null || uname -m)"
key="$(printf '%s\n%s\n%s\n%s\n' "$VERSION" "$CMAKE_ARGS_ALL" "$cpu_id" "$("$PY" -c 'import sys; print(sys.version)')" | sha256sum | cut -c1-16)"
dir="${REPHRASER_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rephraser/llama-wheels}/$VERSION-$key"

if ! ls "$dir"/llama_cpp_python-*.whl >/dev/null 2>&1; then
  echo "building llama-cpp-python $VERSION for this CPU (native SIMD, AMX off): ~9 min on 2 cores, once" >&2
  mkdir -p "$dir.tmp"
  CMAKE_ARGS="$CMAKE_ARGS_ALL" "$PY" -m pip wheel -q --no-deps --no-cache-dir --no-binary llama-cpp-python \
    -w "$dir.tmp" "llama-cpp-python==$VERSION" >&2
  printf '%s\n' "$CMAKE_ARGS_ALL" > "$dir.tmp/BUILD_FLAGS"
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
fi
ls "$dir"/llama_cpp_python-*.whl | head -n1
