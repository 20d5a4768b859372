# Maitre — one-line targets; CI calls the same ones (.ci/run → make test).
CARGO ?= cargo

.PHONY: run test unit lint fmt bench chart-check demo migrate token console console-test

run:            ## Everything in one process: SQLite under ./data, in-process coordination; the console at /console
	@if command -v npm >/dev/null; then $(MAKE) --no-print-directory $(CONSOLE); \
	  else echo "npm not found: serving the API without the console (needs Node.js >= 20)"; fi
	$(CARGO) run -p maitre -- run

test: lint unit console-test ## Lint, then every test (needs PostgreSQL and Redis on 127.0.0.1; see README)

# The staff console (clients/console), rebuilt when its or the client's sources change.
CONSOLE := clients/console/dist/index.html
CONSOLE_SOURCES := $(shell find clients/console/src clients/console/index.html clients/console/vite.config.ts clients/typescript/src clients/package-lock.json -type f 2>/dev/null)

$(CONSOLE): $(CONSOLE_SOURCES)
	cd clients && npm ci --no-audit --no-fund && npm run build

console: $(CONSOLE) ## Build the console (needs Node.js >= 20 and npm)

console-test:   ## The TypeScript client's tests and the console's journeys in headless Chromium
	$(CARGO) build -p maitre
	cd clients && npm ci --no-audit --no-fund && npm run build && npm test

unit:
	$(CARGO) test --workspace --doc && $(CARGO) nextest run --workspace --no-fail-fast

lint:
	$(CARGO) fmt --all -- --check && $(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

bench:          ## Benchmarks that print tables (release builds; see bench/README.md)
	$(CARGO) build --release -p maitre
	for b in predictive tagging profile assignment gateway proxies notification eventflow neighbour; do $(CARGO) run --release -p maitre-bench --bin $$b || exit 1; done

chart-check:    ## helm lint + rendered manifests against the Kubernetes schemas
	bash charts/check.sh

migrate:        ## Create/upgrade every service's schema (MAITRE_DATABASE_URL)
	$(CARGO) run -p maitre -- migrate

demo:           ## Load a sample chain through the public API (with `make run` serving)
	$(CARGO) run -p maitre -- demo

token:          ## Print a development token (chain demo, hq_admin)
	@$(CARGO) run -q -p maitre -- token
