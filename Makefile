# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# torch: the pinned CPU wheel. Change TORCH_SPEC for a CUDA machine (see README).
TORCH_SPEC ?= torch==2.13.0
# Benchmarks: ../shared/data when it is there (offline machines), else the user cache (downloads).
ifneq ($(wildcard ../shared/data),)
export MATHDISTILL_DATA ?= $(abspath ../shared/data)
endif

# llama-cpp-python for the local llama.cpp teacher. Built from source without AMX: the native
# build segfaults on the first decode on CPUs with AMX. The wheel is cached between runs.
LLAMA_VERSION := 0.3.36
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF \
	-DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF
WHEELS := $(HOME)/.cache/mathdistill/wheels

.PHONY: demo test test-fast setup llamacpp llamacpp-src chromium clean bench

$(VENV)/.installed: pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q "$(TORCH_SPEC)"
	$(PIP) install -q -e ".[train,report,test,encoder-kd,serve]"
	touch $@

$(VENV)/.llamacpp: $(VENV)/.installed
	mkdir -p $(WHEELS)
	ls $(WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1 || \
	  CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PIP) wheel -q --no-deps llama-cpp-python==$(LLAMA_VERSION) -w $(WHEELS)
	$(PIP) install -q --find-links $(WHEELS) "llama-cpp-python[server]==$(LLAMA_VERSION)"
	touch $@

setup: $(VENV)/.installed $(VENV)/.llamacpp

llamacpp: $(VENV)/.llamacpp

# llama.cpp's GGUF converter for `mathdistill export` and the llamacpp backend (convert_hf_to_gguf.py,
# conversion/, gguf-py/ from the llama-cpp-python sdist of the installed version): fetched into the
# user cache on first use; this target fetches it ahead, e.g. before going offline.
llamacpp-src: $(VENV)/.llamacpp
	$(PY) -c "from mathdistill.models.to_gguf import llama_cpp_source; print(llama_cpp_source())"

# Headless Chromium for the page's browser test (tests/test_serve_browser.py skips without it):
# Debian's package, installed when absent and apt is usable; never fails the build.
chromium:
	@test -x /usr/bin/chromium || { command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && \
	  { DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 || \
	    { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1; }; }; } || \
	  echo "chromium: not installed (no apt-get, not root, or no package); the browser test will be skipped"

test: setup chromium
	$(VENV)/bin/pytest -q $(PYTEST_ARGS)

# The quick loop: every test but those marked slow (whole datasets, training runs, real servers).
# `make test` (and CI) runs them all.
test-fast: setup
	$(VENV)/bin/pytest -q -m "not slow" $(PYTEST_ARGS)

demo: setup
	$(VENV)/bin/mathdistill demo

bench: setup
	$(PY) benchmarks/verify_speed.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
