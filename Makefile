# `make test` and `make demo` each do their own set-up on a brand-new machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# pip, quiet; the -W hides setuptools' note on every editable install ("Editable installation …
# be careful with folders named like the package"), which is not about this project.
PIP_INSTALL := $(PY) -W "ignore:Editable installation" -m pip install --quiet

.PHONY: test test-full demo bench tutorials notebooks setup graphviz clean pictures

setup: $(STAMP) graphviz

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PIP_INSTALL) -e '.[dev]'
	touch $(STAMP)

# The Graphviz `dot` binary renders graphs; the Python `graphviz` package only writes DOT.
graphviz:
	@command -v dot >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq && apt-get install -y -qq graphviz >/dev/null) || \
	      { echo "could not install graphviz with apt-get"; exit 1; }; \
	  else \
	    echo "Graphviz 'dot' is missing: install it with 'sudo apt-get install graphviz'" \
	         "(or 'brew install graphviz'), then run make again."; exit 1; \
	  fi; }

test: setup
	$(PY) -m pytest -q

# `make test` skips what needs PyTorch (live comparisons) or a browser (the explorer in Chromium);
# `make test-full` installs both (PyTorch CPU, playwright, Debian's chromium when root) and runs all.
test-full: setup
	$(PIP_INSTALL) -e '.[browser]' 'torch==2.13.0'
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  [ "$$(id -u)" = 0 ] && (apt-get update -qq && apt-get install -y -qq chromium) >/dev/null; } \
	  || echo "note: no chromium (apt-get install chromium): the browser tests will skip"
	$(PY) -m pytest -q

demo: setup
	$(PY) -m tinygrad_rnn demo

# Benchmarks also install the reference backends (PyTorch CPU build, HIPS autograd, JAX; tinygrad
# when clang, its CPU compiler, is there or can be installed). OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE
# (set on some machines for old OpenBLAS builds) force a slow numpy kernel: unset for this run
# only; the run prints which kernel numpy then uses. BENCH_ARGS passes options, e.g. --quick.
bench: setup
	$(PIP_INSTALL) -e '.[bench]' 'torch==2.13.0' || \
	  echo "note: a reference backend could not be installed; its rows will be skipped"
	@command -v clang >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && \
	  (apt-get update -qq && apt-get install -y -qq clang) >/dev/null 2>&1; } || true
	@if command -v clang >/dev/null 2>&1; then \
	  $(PY) -m pip install --quiet tinygrad || echo "note: tinygrad could not be installed"; \
	else echo "note: clang is missing, so tinygrad is skipped (apt-get install clang)"; fi
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(PY) benchmarks/bench.py $(BENCH_ARGS)

# The README's pictures, each made by the command printed beside it in the README. The DOT source
# is kept next to each picture: tests/test_docs_pictures.py redraws it and fails when a picture is
# older than what its command draws now.
PICTURES := "--cell lstm --steps 2 --hidden 4 --out docs/lstm_gates" \
            "--cell gru --steps 30 --layers 2 --collapse time --out docs/gru_grid"

pictures: setup
	@for args in $(PICTURES); do \
	  $(PY) -m tinygrad_rnn render $$args --format svg && \
	  $(PY) -m tinygrad_rnn render $$args --format dot || exit 1; done
	$(PY) docs/make_explorer_png.py --out docs/explorer.png

tutorials: setup
	for f in tutorials/[0-9]*.py; do $(PY) $$f || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache out tutorials/out benchmarks/results

# Executed notebooks (outputs and inline figures) from the percent-format tutorials, written to
# tutorials/notebooks/ (git-ignored). `make notebooks NB=01` builds one; the default, all.
NB ?= 0
DOCS_STAMP := $(VENV)/.docs-installed
$(DOCS_STAMP): pyproject.toml $(STAMP)
	$(PIP_INSTALL) -e '.[docs]'
	touch $(DOCS_STAMP)

notebooks: setup $(DOCS_STAMP)
	$(PY) tutorials/make_notebooks.py $(wildcard tutorials/$(NB)*.py)
