# stratlab: the two commands are `make demo` and `make test`; everything else is set up on the way.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench
PYTEST_WORKERS ?= 2

.PHONY: setup demo test ui bench lint lock clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)

# The peers the benchmarks race against are heavy and only needed there.
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev,bench]'
	@touch $(BENCH_STAMP)

demo: setup
	$(BIN)/stratlab data demo
	$(BIN)/stratlab data list
	$(BIN)/stratlab data check --source demo --symbol BTC --timeframe 5m
	$(BIN)/stratlab optimize --source demo --symbol BTC --timeframe 5m --max-trials 150 --workers 2 \
		--dd-threshold 20 --label demo
	@echo
	@echo "Next: the stratlab command lives in $(VENV): run 'source $(VENV)/bin/activate' once per shell"
	@echo "(or call $(BIN)/stratlab), then:"
	@echo "  stratlab backtest --manifest $$(ls -d runs/*_demo | tail -1)/champion.json   # replay the champion"
	@echo "  stratlab paper start --manifest $$(ls -d runs/*_demo | tail -1)/champion.json --from 2025-12-01"
	@echo "      # paper-trade the champion bar by bar on December's bars; then: stratlab paper report --state-dir paper/<book>"
	@echo "  make ui                                                # the web UI on http://127.0.0.1:8501"
	@echo "  stratlab optimize --split 0.6,0.15,0.25 --max-trials 150 --label three-way   # validation + holdout"
	@echo "  stratlab optimize --walk-forward 4 --max-trials 100 --label walk-forward     # out-of-sample windows"
	@echo "  stratlab research start --config examples/research.toml   # the research loop: GOOD and BEST pools (15 s)"

test: setup
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist worksteal -q

ui: setup
	$(BIN)/stratlab ui

bench: $(BENCH_STAMP)
	@for script in benchmarks/[!_]*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

lock:
	@rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet -e '.[dev,bench]'
	@{ echo "# Pinned versions of every dependency (runtime + dev + bench). Regenerate with: make lock"; \
	   .lock-venv/bin/python -m pip freeze --exclude-editable | grep -v '^stratlab'; } > constraints.txt
	@rm -rf .lock-venv

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
