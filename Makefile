# The two quick-start commands (see README.md):
#   make serve   set everything up and run the gateway on the embedded default
#   make test    set everything up and run the whole test suite
.PHONY: setup serve test services browser

setup:
	@bash scripts/setup.sh

serve: setup
	.venv/bin/revstream serve $(ARGS)

services:
	@bash scripts/services.sh

browser:
	@bash scripts/browser.sh

# Playwright drives Debian's Chromium by its path; it never downloads a browser of its own.
test: setup services browser
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 .venv/bin/python -m pytest $(ARGS)
