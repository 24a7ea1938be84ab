# The two commands of the README:
#   make demo   render and check the seed's cluster (examples/kubeops)
#   make test   the whole test suite
# Both create .venv and install what they need.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO   ?= examples/kubeops

.PHONY: demo test lint fmt tools bench clean goldens

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	# Bytecode as a wheel install has it (PYTHONDONTWRITEBYTECODE=1 would recompile each run).
	$(BIN)/python -m compileall -q kopsgen > /dev/null
	touch $(STAMP)

tools:
	@scripts/ensure-tools

SCRATCH := .demo

# Render the seed's cluster into a scratch directory and check the Terraform with the real
# terraform. Where an offline provider mirror (a directory named tf-plugins) exists, a CLI
# config that installs from it is written; elsewhere the registry is used as usual.
demo: $(STAMP)
	$(BIN)/kopsgen -C $(DEMO) validate
	rm -rf $(SCRATCH) && mkdir -p $(SCRATCH)
	cp $(DEMO)/cluster.yaml $(SCRATCH)/cluster.yaml
	$(BIN)/kopsgen -C $(SCRATCH) render
	$(BIN)/kopsgen -C $(SCRATCH) render --check
	scripts/tf-offline $(SCRATCH)/terraform fmt -check -recursive
	scripts/tf-offline $(SCRATCH)/terraform init -backend=false -input=false
	scripts/tf-offline $(SCRATCH)/terraform validate
	$(BIN)/kopsgen -C $(SCRATCH) plan --sandbox
	@echo
	@echo "Next: $(BIN)/kopsgen -C $(SCRATCH) up --sandbox   (creates the cluster in the local AWS emulator; no AWS account needed; docs/sandbox.md)"

lint: $(STAMP)
	$(BIN)/ruff check kopsgen tests bench scripts/check-imports
	$(BIN)/python scripts/check-imports

test: $(STAMP) tools lint
	$(BIN)/pytest -q

# Re-render every example's committed workspace (terraform/, userdata/) on purpose, after a
# change to kopsgen's output; review the diff like any other change.
goldens: $(STAMP)
	@for d in examples/*/; do \
	  if [ -f "$$d/cluster.yaml" ]; then $(BIN)/kopsgen -C "$$d" render stack || exit 1; fi; \
	done

bench: $(STAMP)
	@for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache $(SCRATCH)
