# turbosio: make demo | make test | make install | make lint | make bench
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test lint typecheck fmt js bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

tests/js/node_modules/.installed: tests/js/package.json
	@if command -v npm >/dev/null 2>&1; then \
		cd tests/js && npm install --no-audit --no-fund --loglevel=error && touch node_modules/.installed; \
	else \
		echo "!!! npm not found: the JavaScript interop tests will be skipped"; \
	fi

js: tests/js/node_modules/.installed

# The pages load the official client that turbosio serves from the npm package pinned in
# tests/js (`make js`); without npm they fall back to the CDN build.
demo: $(STAMP)
	-@$(MAKE) --no-print-directory js
	TURBOSIO_CLIENT_DIR=tests/js/node_modules/socket.io-client/dist $(PY) -m turbosio demo

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/mypy

fmt: $(STAMP)
	$(VENV)/bin/ruff format src tests benchmarks
	$(VENV)/bin/ruff check --fix src tests benchmarks

# The browser tests (tests/demo) drive /usr/bin/chromium: install it when it is missing.
.PHONY: chromium
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
		echo "!!! /usr/bin/chromium is missing: installing it with apt-get for the browser tests"; \
		if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }; then \
			echo "!!! could not install chromium: the browser tests will be skipped (CI fails)"; \
			if [ "$$CI" = "true" ]; then exit 1; fi; \
		fi; \
	fi

# The reverse-proxy tests (tests/deploy) run nginx from its Debian package: install it when
# missing. The tests start their own nginx with their own config, never the system service.
.PHONY: nginx
nginx:
	@if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then \
		echo "!!! nginx is missing: installing it with apt-get for the reverse-proxy tests"; \
		if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx; }; then \
			echo "!!! could not install nginx: the reverse-proxy tests will be skipped (CI fails)"; \
			if [ "$$CI" = "true" ]; then exit 1; fi; \
		fi; \
	fi

test: $(STAMP)
	-@$(MAKE) --no-print-directory js
	@$(MAKE) --no-print-directory chromium
	@$(MAKE) --no-print-directory nginx
	$(MAKE) --no-print-directory lint
	$(PY) -m pytest $(PYTEST_ARGS)

# The peers of the benchmark in their own places: python-socketio + uvicorn in a venv, Node's
# socket.io from npm. `make bench BENCH_ARGS=--quick` is a 2-minute smoke run.
PEERS := benchmarks/.venv-peers/.installed
NODE_PEER := benchmarks/node/node_modules/.installed

$(PEERS): benchmarks/requirements-peers.txt
	test -x benchmarks/.venv-peers/bin/python || $(PYTHON) -m venv benchmarks/.venv-peers
	benchmarks/.venv-peers/bin/pip install -q -r benchmarks/requirements-peers.txt
	touch $@

$(NODE_PEER): benchmarks/node/package.json
	cd benchmarks/node && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.installed

# The C load generator of the "connect over websocket" row (benchmarks/connect_ws.c): the Python
# one tops out near 16k connections per second. Without a C compiler the row is measured with
# the Python generator, and run.py says so.
CONNECTOR := benchmarks/.build/connect_ws

$(CONNECTOR): benchmarks/connect_ws.c
	@if command -v $(CC) >/dev/null 2>&1; then \
		mkdir -p $(@D) && echo "$(CC) -O2 -Wall -o $@ $<" && $(CC) -O2 -Wall -o $@ $<; \
	else \
		echo "!!! no C compiler ($(CC)): connect over websocket will use the Python load generator"; \
	fi

bench: $(STAMP) $(PEERS) $(NODE_PEER) $(CONNECTOR)
	$(PY) -m pytest -q -p no:cacheprovider -o python_files='bench_*.py' tests/bench \
		--benchmark-columns=min,median,ops,rounds --benchmark-sort=name
	$(PY) benchmarks/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) tests/js/node_modules .pytest_cache .mypy_cache .ruff_cache
