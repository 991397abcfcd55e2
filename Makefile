# Only python3 and make are assumed; uv is installed with pip when it is missing.
export UV_PYTHON_DOWNLOADS := never
PYTHON ?= python3
# uv is run as a module of the system Python, wherever pip put it.
UV := $(PYTHON) -m uv
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install serve test check fmt bench clean

$(BIN)/trainset: pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv \
	  || $(PYTHON) -m pip install --quiet --user uv \
	  || $(PYTHON) -m pip install --quiet --user --break-system-packages uv
	@# Bytecode compiled up front, as pip does on install: the CLI then starts without
	@# compiling its imports on every run (PYTHONDONTWRITEBYTECODE would make that so).
	$(UV) sync --frozen --compile-bytecode
	$(BIN)/python -m compileall -q src
	@touch $@

install: $(BIN)/trainset  ## create .venv with trainset and the dev tools

serve: install  ## run the embedded service (SQLite + ./data), printing a token to use
	@# First start: serve creates the account and prints its token. Later starts cannot
	@# show that one again (only its hash is kept), so a fresh token is made for you.
	@if [ -f "$${TRAINSET_DATA_DIR:-data}/trainset.db" ]; then \
	  echo "trainset: a new token for account 'default' (earlier tokens keep working):"; \
	  $(BIN)/trainset admin create-token default --label "make serve" | sed 's/^/    /' || true; \
	fi
	$(BIN)/trainset serve

check: install  ## ruff format + lint, mypy
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

fmt: install
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

test: check  ## all checks, then the whole test suite
	$(BIN)/pytest -q

bench: install  ## side-by-side benchmarks (a few minutes)
	$(BIN)/python bench/bench_core.py
	$(BIN)/python bench/bench_checks.py
	$(BIN)/python bench/bench_cli.py
	$(BIN)/python bench/bench_scaled.py
	$(BIN)/python bench/bench_s3_clients.py
	$(BIN)/python bench/bench_ui.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
