"""The fleet tests' marker: `pytest -m fleet` runs them, `-m "not fleet"` leaves them out."""

from __future__ import annotations


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "fleet: starts scripts/fleet.sh (HAProxy and gateway replicas); a few minutes")
