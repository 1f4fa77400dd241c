# facelm: two commands on a fresh Debian/Ubuntu machine with Python 3.11:
#   make demo   -- set up, then convert and render real clips (more as models land)
#   make test   -- set up, then run the test suite
VENV   ?= .venv
PY     := $(VENV)/bin/python
PYTEST_ARGS ?= -q

.PHONY: all setup system venv msgs test demo clean help

all: test

help:
	@echo "make demo | make test | make setup | make clean"

system:
	@bash scripts/system_deps.sh

venv: system
	@bash scripts/ensure_venv.sh $(VENV) requirements/dev.txt

msgs: venv
	@bash scripts/build_msgs.sh $(VENV)

setup: msgs

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

demo: setup
	@bash scripts/demo.sh $(VENV)

clean:
	rm -rf build out .pytest_cache
