# `make run` and `make test` each do all set-up on a fresh machine (idempotent .venv bootstrap).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Test runs keep exported ONNX models / embeddings out of the user's cache.
export FEWLENS_CACHE_DIR ?= $(CURDIR)/.cache/fewlens

.PHONY: run test venv screenshots bundle clean

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

# Desktop bundle (one folder, light CPU build without torch); see packaging/README.md.
bundle: venv
	$(BIN)/python -m pip install -q -e '.[bundle]'
	FEWLENS_BUNDLE=light $(BIN)/pyinstaller --noconfirm packaging/fewlens.spec

clean:
	rm -rf $(VENV) .cache .pytest_cache
