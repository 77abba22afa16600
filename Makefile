# `make run` and `make test` each do all set-up on a fresh machine (idempotent .venv bootstrap).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Test runs keep exported ONNX models / embeddings out of the user's cache.
export FEWLENS_CACHE_DIR ?= $(CURDIR)/.cache/fewlens

.PHONY: run test venv screenshots bundle bundle-build bundle-pyinstaller bundle-check clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

run: venv
	@$(BIN)/python -m app.platform_check  # prints the apt line for missing Qt/xcb libraries
	$(BIN)/fewlens gui

test: venv
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q

screenshots: venv
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m app.screenshots docs

# Desktop bundle (one folder, CPU-only torch so it adapts like the pip install; BUNDLE=light: no torch),
# built in its own venv (the dev venv's CUDA torch would add GBs), self-tested as a new user would
# run it (empty cache/config/data folders), then packed as dist/fewlens-<version>-<platform>-<variant>.tar.gz.
# See packaging/README.md.
BUNDLE ?= cpu
BUNDLE_VENV := build/bundle-venv
BUNDLE_BIN ?= $(BUNDLE_VENV)/bin
BUNDLE_HOME := build/self-test-home
bundle: $(BUNDLE_VENV)/.installed
	$(MAKE) bundle-build

bundle-build: bundle-pyinstaller bundle-check

# The two halves of bundle-build, so that CI can run PyInstaller beside the tests (.ci/run).
bundle-pyinstaller:
	FEWLENS_BUNDLE=$(BUNDLE) $(BUNDLE_BIN)/pyinstaller --noconfirm packaging/fewlens.spec

bundle-check:
	rm -rf $(BUNDLE_HOME)
	env -u PYTHONPATH FEWLENS_CACHE_DIR=$(CURDIR)/$(BUNDLE_HOME)/cache FEWLENS_CONFIG_DIR=$(CURDIR)/$(BUNDLE_HOME)/config \
	    FEWLENS_DATA_DIR=$(CURDIR)/$(BUNDLE_HOME)/data dist/fewlens-$(BUNDLE)/fewlens --self-test
	$(BUNDLE_BIN)/python packaging/make_archive.py dist/fewlens-$(BUNDLE)

$(BUNDLE_VENV)/.installed: packaging/requirements-bundle.txt
	test -x $(BUNDLE_VENV)/bin/python || $(PY) -m venv $(BUNDLE_VENV)
	$(BUNDLE_VENV)/bin/python -m pip install -q -r packaging/requirements-bundle.txt
	touch $@

clean:
	rm -rf $(VENV) .cache .pytest_cache
