# The two commands of the README:
#   make demo   render and check the seed's cluster (examples/kubeops)
#   make test   the whole test suite
# Both create .venv and install what they need.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO   ?= examples/kubeops

.PHONY: demo test lint fmt tools bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

tools:
	@scripts/ensure-tools

demo: $(STAMP)
	$(BIN)/kopsgen -C $(DEMO) validate

lint: $(STAMP)
	$(BIN)/ruff check kopsgen tests bench

test: $(STAMP) tools lint
	$(BIN)/pytest -q

bench: $(STAMP)
	@for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache
