# Only python3 and make are assumed; uv is bootstrapped into the user site if missing.
export UV_PYTHON_DOWNLOADS := never
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install serve test check fmt bench clean

$(UV):
	$(PYTHON) -m pip install --user --quiet uv || $(PYTHON) -m pip install --quiet uv

$(BIN)/trainset: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen
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

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
