# Two entry points, each setting up its own environment first:
#   make run    the whole study on the embedded demo (snakemake --cores all)
#   make test   the test suite
# The virtualenv is reused while pyproject.toml is unchanged (a stamp holds its hash).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha256sum pyproject.toml | cut -c1-16)

.PHONY: setup run test lint clean

setup: $(STAMP)

# After installing, numba's cacheable UMAP kernels are compiled once into the environment
# instead of in every atlas and attribution job.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	$(BIN)/python -m vischange.warmup
	rm -f $(VENV)/.installed-*
	touch $@

# PYTHONDONTWRITEBYTECODE is set on these machines: without compiled files in place, every
# job would compile the package's modules again.
run: $(STAMP)
	$(BIN)/python -m compileall -q src
	$(BIN)/snakemake --cores all

test: $(STAMP)
	$(BIN)/python -m compileall -q src
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/snakemake --lint

clean:
	rm -rf results logs benchmarks/demo benchmarks/test .snakemake
