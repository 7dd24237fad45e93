# The two set-up commands of the README:
#   make serve   start the receiver (SQLite default, dashboard at /)
#   make test    install what the tests need, then lint, type-check and test
.PHONY: serve test lint bench

serve:
	scripts/bootstrap
	HF_HUB_OFFLINE=1 .venv/bin/session-buddy-ci serve

test:
	scripts/bootstrap test
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy
	HF_HUB_OFFLINE=1 .venv/bin/pytest

bench:
	scripts/bootstrap test
	HF_HUB_OFFLINE=1 .venv/bin/python -m bench
