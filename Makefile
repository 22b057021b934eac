# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# torch: the pinned CPU wheel. Change TORCH_SPEC for a CUDA machine (see README).
TORCH_SPEC ?= torch==2.13.0
export MATHDISTILL_DATA ?= $(abspath ../shared/data)

.PHONY: demo test setup clean bench

$(VENV)/.installed: pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q "$(TORCH_SPEC)"
	$(PIP) install -q -e ".[train,report,test]"
	touch $@

setup: $(VENV)/.installed

test: setup
	$(VENV)/bin/pytest -q $(PYTEST_ARGS)

demo: setup
	$(VENV)/bin/mathdistill demo

bench: setup
	$(PY) benchmarks/verify_speed.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
