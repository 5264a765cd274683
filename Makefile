# The two commands of the README, `make book` and `make test`, and `make lab`: each sets itself up from nothing.
PYTHON  ?= python3
VENV    ?= .venv
BIN      = $(VENV)/bin
PROFILE ?= quick

.PHONY: setup data book site test lab clean

setup: $(VENV)/.installed data
	bash scripts/get-browser.sh

# The virtualenv is rebuilt when the pinned requirements or the package metadata change.
$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

data:
	bash scripts/get-data.sh

# Execute every notebook of _toc.yml with notebooks/profiles/$(PROFILE).yaml, then build _build/html.
book: setup
	$(BIN)/python -m equalnets book --profile $(PROFILE)

# Rebuild the site from the executed notebooks without executing anything.
site: setup
	$(BIN)/python -m equalnets site

test: setup
	$(BIN)/python -m pytest

# JupyterLab on notebooks/, with the project's kernel registered in the venv ("Python (equalnets)"),
# so that a notebook opened in any JupyterLab of this venv finds the package. As root (a container),
# JupyterLab refuses to start without --allow-root.
lab: setup
	$(BIN)/python -m ipykernel install --sys-prefix --name equalnets --display-name "Python (equalnets)"
	$(BIN)/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root)

clean:
	rm -rf _build book/executed
