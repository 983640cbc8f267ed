# `make run`: set up and run the main job (profile this machine, then the pets recommendation).
# `make test`: set up and run the fast tests; `make check`: every test (what CI runs).
# All of them create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test check bench clean

$(BIN)/advisor: pyproject.toml constraints-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -c constraints-dev.txt -e '.[test,plot,bench,fastai,lightning]'
	touch $@

run: $(BIN)/advisor
	$(BIN)/advisor profile
	$(BIN)/advisor recommend --dataset-size 7390 --epochs 4

test: $(BIN)/advisor
	$(BIN)/python -m pytest -q -m "not slow"

check: $(BIN)/advisor
	$(BIN)/python -m pytest -q

bench: $(BIN)/advisor
	$(BIN)/python benchmarks/accuracy.py

clean:
	rm -rf $(VENV) *.egg-info
