# Maitre — one-line targets; CI calls the same ones (.ci/run → make test).
CARGO ?= cargo

.PHONY: run test unit lint fmt bench chart-check demo migrate token

run:            ## Everything in one process: SQLite under ./data, in-process coordination
	$(CARGO) run -p maitre -- run

test: lint unit ## Lint, then every test (needs PostgreSQL and Redis on 127.0.0.1; see README)

unit:
	$(CARGO) test --workspace --doc && $(CARGO) nextest run --workspace --no-fail-fast

lint:
	$(CARGO) fmt --all -- --check && $(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

bench:          ## Benchmarks that print tables (release builds; see bench/README.md)
	for b in predictive tagging profile assignment gateway notification; do $(CARGO) run --release -p maitre-bench --bin $$b || exit 1; done

chart-check:    ## helm lint + rendered manifests against the Kubernetes schemas
	bash charts/check.sh

migrate:        ## Create/upgrade every service's schema (MAITRE_DATABASE_URL)
	$(CARGO) run -p maitre -- migrate

demo:           ## Load a sample chain through the public API (with `make run` serving)
	$(CARGO) run -p maitre -- demo

token:          ## Print a development token (chain demo, hq_admin)
	@$(CARGO) run -q -p maitre -- token
