# Sandpit: `make run` serves on http://127.0.0.1:8000, `make test` runs every test.
# Both set up whatever is missing first (venv, Docker engine, sandbox image, database,
# static files), and a second call on a set-up machine starts in seconds.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
export SANDPIT_STATE_DIR ?= $(CURDIR)/.sandpit

.PHONY: run test test-fast lint setup venv engine image db static ci browser cluster cluster-stop

# --no-proxy-headers: uvicorn would believe X-Forwarded-For from any loopback client;
# Sandpit believes it only from SANDPIT_TRUSTED_PROXIES (playground/web/guests.py).
# --ws-max-size: a watcher sends lines of input, not 16 MiB (uvicorn's default) to buffer.
run: setup
	@$(BIN)/python manage.py admin_hint
	$(BIN)/uvicorn playground.asgi:application --host $(HOST) --port $(PORT) --lifespan on \
		--no-proxy-headers --ws-max-size 1048576

# Two nodes on PostgreSQL and Redis behind nginx on 127.0.0.1:8000 (scripts/cluster.sh).
cluster: setup
	scripts/cluster.sh start

cluster-stop:
	scripts/cluster.sh stop

test: setup browser
	$(BIN)/pytest

# The pure parts only: no Docker, no server, no browser.
test-fast: venv
	$(BIN)/pytest tests/unit -q

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

ci: lint test

setup: venv engine image db static

venv: $(BIN)/.installed

$(BIN)/.installed: pyproject.toml scripts/venv.sh
	PYTHON=$(PYTHON) scripts/venv.sh $(VENV)
	touch $@

engine:
	scripts/docker-engine.sh

image: venv engine
	@command -v debootstrap >/dev/null || scripts/apt-install.sh debootstrap
	$(BIN)/python manage.py sandbox_image

db: venv
	$(BIN)/python manage.py migrate --noinput -v 0

static: venv
	$(BIN)/python manage.py collectstatic --noinput -v 0

# Only the tests need a browser: Debian's Chromium and its driver, for Selenium.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null \
		|| scripts/apt-install.sh chromium chromium-driver
