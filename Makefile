# Two commands set everything up on a fresh machine (Python 3.10+ with venv, Debian/Ubuntu for services):
#   make demo   installs the runtime and GUI and runs the demo model on a synthetic line
#   make test   installs everything (training, GUI, dev tools, Mosquitto) and runs the test suite
VENV ?= .venv
PYTHON ?= python3
PIP = $(VENV)/bin/pip
export NO_ALBUMENTATIONS_UPDATE = 1

.PHONY: demo demo-headless test install-runtime install-all demo-model clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

install-runtime: $(VENV)/bin/python
	$(PIP) install -q -e '.[gui]'

install-all: $(VENV)/bin/python
	$(PIP) install -q -e '.[train,gui,dev]'

demo: install-runtime
	$(VENV)/bin/inspector demo   # the GUI; without a display it runs headless for 10 s

demo-headless: install-runtime
	$(VENV)/bin/inspector demo --headless --seconds 20

test: install-all
	bash .ci/services.sh
	QT_QPA_PLATFORM=offscreen $(VENV)/bin/pytest -q -p no:cacheprovider

# Rebuild assets/demo.onnx with the project's own training on synthetic parts.
demo-model: install-all
	$(VENV)/bin/python -m training.make_demo

clean:
	rm -rf $(VENV) build *.egg-info
