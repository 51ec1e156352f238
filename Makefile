# make demo   – set up and run the demo: the flood drill (local Mosquitto and InfluxDB, hub, scenario)
# make test   – set up and run the whole test suite against real Mosquitto and InfluxDB
# make bench  – set up and run the benchmarks; prints a table of figures
.PHONY: setup demo test bench check lint clean

VENV := .venv
PY := $(VENV)/bin/python

setup:
	@scripts/setup.sh

demo: setup
	$(VENV)/bin/ews demo --scenario flood --speed 360

test: setup
	$(PY) -m pytest -q

bench: setup
	$(PY) -m bench

lint: setup
	$(PY) -m pyflakes hub adapters rules dashboards firmware_sim bench tests

check: setup
	$(VENV)/bin/ews check -c examples/kazanlak/site.yaml

clean:
	rm -rf var .pytest_cache .hypothesis bench/results
