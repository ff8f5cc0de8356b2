# Two commands set everything up on a fresh machine (Python 3.11+ with venv, Debian/Ubuntu for services):
#   make demo   installs the runtime and GUI and runs the demo model on a synthetic line
#   make test   installs everything (training, GUI, MQTT/OPC UA, dev tools, Mosquitto), lints and runs the test suite
VENV ?= .venv
PYTHON ?= python3
PIP = $(VENV)/bin/pip
export NO_ALBUMENTATIONS_UPDATE = 1

# What Qt's xcb (X11) platform plugin links (ldd on PySide6 6.11's libqxcb.so), as Debian 12 packages.
GUI_LIBS = libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-shape0 \
	libxcb-xkb1 libxcb-randr0 libxcb-shm0 libxcb-sync1 libxcb-xfixes0 libxcb-util1 libx11-xcb1 \
	libxkbcommon-x11-0 libegl1 libgl1 libfontconfig1 libdbus-1-3

.PHONY: demo demo-headless gui-libs lint test install-runtime install-all demo-model clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

install-runtime: $(VENV)/bin/python
	$(PIP) install -q -e '.[gui]'

install-all: $(VENV)/bin/python
	$(PIP) install -q -e '.[train,gui,plant,dev]'

demo: install-runtime
	$(VENV)/bin/inspector demo   # the GUI; without a display (or Qt's X11 libraries) it runs headless for 10 s

# The X11 libraries the GUI needs on Debian/Ubuntu (the demo says which are missing); needs root or sudo.
gui-libs:
	$$([ "$$(id -u)" -eq 0 ] || echo sudo) apt-get install -y --no-install-recommends $(GUI_LIBS)

demo-headless: install-runtime
	$(VENV)/bin/inspector demo --headless --seconds 20

# Lint and types (config in pyproject.toml): ruff over the tree, mypy on the edge runtime.
lint: install-all
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy inspector

test: install-all lint
	bash .ci/services.sh
	QT_QPA_PLATFORM=offscreen $(VENV)/bin/pytest -q -p no:cacheprovider

# Rebuild assets/demo.onnx with the project's own training on synthetic parts.
demo-model: install-all
	$(VENV)/bin/python scripts/make_demo.py

clean:
	rm -rf $(VENV) build *.egg-info
