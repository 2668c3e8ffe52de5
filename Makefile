# DynLan: `make serve` to try it, `make test` to check it. Everything the
# project needs is installed from here (system packages via apt-get when
# running as root; otherwise the exact command is printed).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TSTAMP := $(VENV)/.installed-test
SITE   ?= sites/demo
PORT   ?= 8080
# Test processes (pytest-xdist): the suite mostly waits on servers it starts, so more processes than cores pay.
TEST_JOBS ?= 3

# command:debian-package pairs. Serving needs php-cgi alone (for .php pages); the suite adds a Redis server, the
# HTTP clients it drives the server with, a browser, openssl, the PHP applications it serves and the pure-Lua
# libraries it copies into a test site (tests/e2e/test_libraries.py); nginx is an upstream of the proxy tests.
SERVE_SYSDEPS := php-cgi:php-cgi
TEST_SYSDEPS  := redis-server:redis-server nghttp:nghttp2-client h2load:nghttp2-client curl:curl chromium:chromium openssl:openssl nginx:nginx
TEST_DEBS     := adminer php-sqlite3 lua-penlight lua-dkjson lua-inspect
SOAK_SECONDS  ?= 600
BENCH_SYSDEPS := wrk:wrk nginx:nginx h2load:nghttp2-client php-fpm8.2:php-fpm
BENCH_DEBS    := libnginx-mod-http-lua

.PHONY: serve test soak bench lint sysdeps-serve sysdeps-test sysdeps-bench install clean

install: $(STAMP)

# The Wren VM is its own distribution (wrenpy/), installed first: dynlan's `wren` extra requires it.
$(STAMP): pyproject.toml setup.py wrenpy/pyproject.toml wrenpy/setup.py $(wildcard wrenpy/src/wrenpy/*.py wrenpy/src/wrenpy/vm/*.c wrenpy/src/wrenpy/vm/*.h)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip "setuptools>=68" wheel "cffi>=1.17"
	$(BIN)/python -m pip install -q --no-build-isolation -e ./wrenpy
	$(BIN)/python -m pip install -q --no-build-isolation -e '.[all]'
	@touch $@

# Test tools, and the example runtime adapter the suite loads through its entry point.
$(TSTAMP): $(STAMP) examples/dynlan-template/pyproject.toml
	$(BIN)/python -m pip install -q --no-build-isolation -e '.[all,test]'
	$(BIN)/python -m pip install -q --no-build-isolation -e examples/dynlan-template
	@touch $@

define need_sysdeps
	@missing=""; \
	for pair in $(1); do cmd=$${pair%%:*}; pkg=$${pair##*:}; \
	  command -v $$cmd >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	for pkg in $(2); do dpkg -s $$pkg >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing system packages:$$missing"; \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing || exit 1; \
	  else \
	    echo "missing system packages; run: sudo apt-get install$$missing"; exit 1; \
	  fi; \
	fi
endef

sysdeps-serve:
	$(call need_sysdeps,$(SERVE_SYSDEPS),)

sysdeps-test: sysdeps-serve
	$(call need_sysdeps,$(TEST_SYSDEPS),$(TEST_DEBS))

sysdeps-bench:
	$(call need_sysdeps,$(BENCH_SYSDEPS),$(BENCH_DEBS))

serve: sysdeps-serve $(STAMP)
	$(BIN)/dynlan serve $(SITE) --port $(PORT)

test: sysdeps-test $(TSTAMP)
	$(BIN)/python -m pytest -q -n $(TEST_JOBS) --dist loadgroup

# Mixed traffic at a fixed rate for SOAK_SECONDS, with faults mid-run (bench/soak.py says what passes).
soak: sysdeps-test $(TSTAMP)
	SOAK_SECONDS=$(SOAK_SECONDS) $(BIN)/python bench/soak.py

# `make bench BASELINE=<rev>` also runs that commit's dynlan (a worktree in .bench-baseline with its own venv)
# in the same rounds, and reports this checkout's rows against it.
BASELINE ?=
bench: sysdeps-test sysdeps-bench $(TSTAMP)
	@if [ -n "$(BASELINE)" ]; then \
	  rm -rf .bench-baseline; git worktree prune; \
	  git worktree add --detach .bench-baseline $(BASELINE) >/dev/null && \
	  $(MAKE) -C .bench-baseline install PYTHON=$(PYTHON) >/dev/null || exit 1; \
	fi
	BENCH_BASELINE=$(if $(BASELINE),$(CURDIR)/.bench-baseline,) $(BIN)/python bench/run.py

lint: $(TSTAMP)
	$(BIN)/ruff check dynlan runtimes sandboxes tests bench examples sites
	$(BIN)/mypy

clean:
	rm -rf $(VENV) build *.egg-info .bench-baseline
	git worktree prune
