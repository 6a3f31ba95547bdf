# KetaClinic — set-up and checks. Two commands on a fresh machine: `make serve`, `make test`.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install postgres browser pdflibs test bench lint serve clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

postgres:
	@sh scripts/ensure_postgres.sh

browser:
	@sh scripts/ensure_chromium.sh

pdflibs:
	@sh scripts/ensure_pdf_libs.sh

test: install postgres browser pdflibs
	$(BIN)/python -m pytest -n 2 --dist loadgroup

bench: install
	$(BIN)/python benchmarks/run_all.py

lint: install
	$(BIN)/ruff check src tests benchmarks

serve: install pdflibs
	$(BIN)/ketaclinic migrate
	$(BIN)/ketaclinic demo --if-empty
	$(BIN)/ketaclinic serve --host 127.0.0.1 --port 8000

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
