# `make test` and `make demo` bootstrap .venv with Python 3.10 on a fresh machine.
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
# Every package version, pip's own included, comes from constraints.txt (compiled by pip-compile from
# setup.py and constraints.in; see its header). As PIP_CONSTRAINT it also pins what pip installs to
# build the few source-only dependencies.
CONSTRAINTS := constraints.txt
PIP_INSTALL = PIP_CONSTRAINT="$(abspath $(CONSTRAINTS))" $(PY) -m pip install --quiet

.PHONY: test demo docs install clean-venv

install: $(INSTALLED)

$(PY):
	"$$(scripts/find-python310)" -m venv $(VENV)

$(INSTALLED): setup.py $(CONSTRAINTS) | $(PY)
	$(PIP_INSTALL) pip setuptools wheel
	$(PIP_INSTALL) -e '.[test,serve,bench,ray]'
	touch $(INSTALLED)

test: $(INSTALLED)
	$(PY) -m pytest -q tests

demo: $(INSTALLED)
	PATH="$(abspath $(VENV))/bin:$$PATH" bash scripts/demo.sh

# The results pages and the README's results table, from the JSON recorded under docs/.
docs: $(INSTALLED)
	$(PY) scripts/render_docs.py

clean-venv:
	rm -rf $(VENV)
