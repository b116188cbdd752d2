# `make test` and `make demo` bootstrap .venv with Python 3.10 on a fresh machine.
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: test demo install clean-venv

install: $(INSTALLED)

$(PY):
	"$$(scripts/find-python310)" -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip<25" wheel setuptools

$(INSTALLED): setup.py | $(PY)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(INSTALLED)

test: $(INSTALLED)
	$(PY) -m pytest -q tests

demo: $(INSTALLED)
	PATH="$(abspath $(VENV))/bin:$$PATH" bash scripts/demo.sh

clean-venv:
	rm -rf $(VENV)
