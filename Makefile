# Vault Lab: two commands from a fresh machine (Python 3.11 + make) to a working lab.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install sysdeps nodedeps lab instructor hub test walkthrough redteam bench release grade lint typecheck mutate diagrams clean

$(STAMP): requirements.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH"; exit 1; }
	@echo "[1/3] creating $(VENV) (first run only)"
	@$(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip
	@echo "[2/3] installing the pinned packages from requirements.txt (the long step: a few minutes)"
	@$(PY) -m pip install -q -r requirements.txt
	@echo "[3/3] installing the course's own packages (course, autograde)"
	@$(PY) -m pip install -q --no-deps -e .
	@touch $(STAMP)

install: $(STAMP) sysdeps nodedeps

# Debian packages the course uses, installed when we can (root + apt), else a clear note:
# bubblewrap confines autograde's learner processes; chromium drives the browser tests
# (Playwright with executable_path=/usr/bin/chromium, no browser download) and draws diagrams.
SYSPKGS := bwrap:bubblewrap chromium:chromium
sysdeps:
	@for pair in $(SYSPKGS); do cmd=$${pair%%:*}; pkg=$${pair##*:}; \
	  command -v $$cmd >/dev/null 2>&1 && continue; \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian package $$pkg (once)"; \
	    (apt-get install -y -q $$pkg >/dev/null 2>&1 || (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q $$pkg >/dev/null 2>&1)) \
	      || echo "warning: could not install $$pkg; the tests that need it skip with a message"; \
	  else echo "note: $$cmd not found; install Debian's $$pkg (the tests that need it skip with a message)"; fi; done

# Node tools (package.json, pinned by package-lock.json): JupyterHub's configurable-http-proxy
# and the Mermaid library. Without npm, `make hub` and the diagram tests say so and skip.
NODE_STAMP := node_modules/.installed
nodedeps: $(NODE_STAMP)
$(NODE_STAMP): package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  echo "installing node tools (npm ci)"; npm ci --no-audit --no-fund --loglevel=error && touch $(NODE_STAMP); \
	else echo "note: npm not found; make hub and the Mermaid diagram tests will skip"; fi

# The learner's lab: release the student versions (refused if anything leaks), copy them into
# the learner workspace (WORKSPACE, default workspace/; your edits are never overwritten, a new
# course version lands beside them as <name>.new.ipynb), then JupyterLab there at notebook 00.
# The instructor's lab: JupyterLab at the course root (Formgrader, Assignment List, solutions).
# Both bind 127.0.0.1; LAB_ARGS passes options to jupyter lab (e.g. LAB_ARGS=--port=8899).
WORKSPACE ?=
LAB_ARGS ?=
lab: install
	$(PY) -m autograde.workspace $(if $(WORKSPACE),--workspace "$(WORKSPACE)",) lab $(LAB_ARGS)

instructor: install
	$(PY) -m autograde.workspace instructor $(LAB_ARGS)

# A workshop room on one machine (as root): the roster's Unix accounts, the instructor's course
# root, nbgrader's shared exchange, then JupyterHub on 127.0.0.1:8000 (hub/README.md for TLS and
# a room's address). ROSTER=hub/roster.example.csv to try it.
ROSTER ?= hub/roster.csv
hub: install
	@[ "$$(id -u)" = 0 ] || { echo "make hub runs as root: it creates the learners' Unix accounts"; exit 1; }
	@[ -x node_modules/.bin/configurable-http-proxy ] || { echo "need node_modules/.bin/configurable-http-proxy (npm ci)"; exit 1; }
	@$(PY) hub/room.py setup --roster $(ROSTER)
	@echo "hub: $${VAULTLAB_HUB_URL:-http://127.0.0.1:8000} (instructor approves learners at /hub/roster; Ctrl-C stops)"
	@$(VENV)/bin/jupyterhub -f hub/jupyterhub_config.py

# The suite, nbval over every source notebook (stored outputs must be those of a fresh run),
# the linter and the type checker: all four always run, and any failure fails the target.
# The suite is spread test by test (worksteal: the real nbgrader runs of ten notebooks would
# otherwise queue on one worker); nbval keeps each notebook's cells together (loadfile).
test: install
	@status=0; \
	$(PY) -m pytest -n 2 --dist worksteal tests || status=1; \
	$(PY) -m pytest -n 2 --dist loadfile --nbval notebooks || status=1; \
	$(PY) -m ruff check course autograde tests authoring || status=1; \
	$(PY) -m mypy course || status=1; \
	exit $$status

walkthrough: install
	$(PY) -m course walkthrough

redteam: install
	$(PY) -m course redteam

bench: install
	$(PY) -m course bench
	$(PY) -m autograde bench

release: install
	$(PY) -m autograde release

grade: install
	$(PY) -m autograde grade

lint: install
	$(PY) -m ruff check course autograde tests

typecheck: install
	$(PY) -m mypy course

# Mutation testing of the enforcement modules (slow; not part of `make test`): mutmut over each
# module against the tests that cover it, report in mutation/REPORT.md. One module, quickly:
# `make mutate MODULES=tokens`, or `.venv/bin/python mutation/run.py tokens --keep` after adding tests.
MODULES ?=
mutate: install
	$(PY) mutation/run.py $(MODULES)

# Feedback's diagrams, drawn by the real Mermaid library (node_modules/mermaid) in headless Chromium:
# every ```mermaid block of notebooks/ to autograde/diagrams/<hash>.svg (committed). Run after a
# notebook's diagram changes; `make test` names the missing ones. `--check` compares, writes nothing.
diagrams: install
	$(PY) authoring/render_diagrams.py

clean:
	rm -rf release submitted autograded feedback reports gradebook.db .bench
