# One command to run the service, one to run the tests; both set everything up first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)

.PHONY: serve test lint typecheck install clean browser

serve: $(STAMP)
	$(BIN)/connectord serve

test: $(STAMP) browser
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

# mypy over every module, as [tool.mypy] in pyproject.toml says (strict on plugins, sandbox, runtime).
typecheck: $(STAMP)
	$(BIN)/mypy

install: $(STAMP)

# The console's browser tests drive Debian's chromium (Playwright cannot download a browser
# here). Installed where it is missing and apt-get exists, as root; elsewhere those tests
# skip, unless CONNECTORD_REQUIRE_BROWSER=1 (CI) makes that a failure.
browser:
	@if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; \
		else \
			echo "no /usr/bin/chromium: run 'apt-get install chromium' as root for the browser tests"; \
		fi; \
	fi

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "connectord needs Python >= 3.11; run: make PYTHON=/path/to/python3.11 ..."; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache
