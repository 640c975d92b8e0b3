# The two quick-start commands (see README.md):
#   make serve   set everything up and run the gateway on the embedded default
#   make test    set everything up and run the whole test suite
.PHONY: setup serve test services

setup:
	@bash scripts/setup.sh

serve: setup
	.venv/bin/revstream serve $(ARGS)

services:
	@bash scripts/services.sh

test: setup services
	.venv/bin/python -m pytest $(ARGS)
