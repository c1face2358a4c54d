# iptmon — build, test, demo. Every target installs what it needs first.
SHELL := /bin/bash
BUN := node_modules/.bin/bun
VERSION := $(shell sed -n 's/^  "version": "\(.*\)",/\1/p' package.json)
SRC := $(shell find src -name '*.ts')
# Hermetic: explicit target, version baked in, no .env/bunfig read at run time.
# --splitting: what a command import()s when it runs is a chunk inside the one
# binary, loaded only then; start-up loads the entry chunk (the declarations).
BUILD_FLAGS := build --compile --splitting --bytecode --format=esm --minify --define 'IPTMON_VERSION="$(VERSION)"' \
	--no-compile-autoload-dotenv --no-compile-autoload-bunfig src/cli.ts
HOST_TARGET := $(if $(filter aarch64 arm64,$(shell uname -m)),bun-linux-arm64,bun-linux-x64)

.PHONY: all build dist dist-musl test test-unit test-package test-e2e demo deps tools clean typecheck web bench

all: build

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

deps: node_modules/.installed

tools:
	@scripts/ensure-tools

build: dist/iptmon web

dist/iptmon: node_modules/.installed $(SRC) Makefile
	@mkdir -p dist
	$(BUN) $(BUILD_FLAGS) --target=$(HOST_TARGET) --outfile $@

# Binaries for OpenWrt (musl) and plain Linux (glibc), x86_64 and aarch64.
MUSL_BINS := dist/iptmon-x86_64-musl dist/iptmon-aarch64-musl
DIST_BINS := $(MUSL_BINS) dist/iptmon-x86_64-glibc dist/iptmon-aarch64-glibc
dist: $(DIST_BINS) web
# What the OpenWrt packages (and test/package) need.
dist-musl: $(MUSL_BINS) web

dist/iptmon-x86_64-musl: node_modules/.installed $(SRC)
	@mkdir -p dist && $(BUN) $(BUILD_FLAGS) --target=bun-linux-x64-musl --outfile $@
dist/iptmon-aarch64-musl: node_modules/.installed $(SRC)
	@mkdir -p dist && $(BUN) $(BUILD_FLAGS) --target=bun-linux-arm64-musl --outfile $@
dist/iptmon-x86_64-glibc: node_modules/.installed $(SRC)
	@mkdir -p dist && $(BUN) $(BUILD_FLAGS) --target=bun-linux-x64 --outfile $@
dist/iptmon-aarch64-glibc: node_modules/.installed $(SRC)
	@mkdir -p dist && $(BUN) $(BUILD_FLAGS) --target=bun-linux-arm64 --outfile $@

# The hosts' traffic page (files/www/iptmon/index.html): one script and one
# stylesheet from web/src, built next to it so the packages ship them (gitignored).
WEB_TS := $(shell find web/src src/top -name '*.ts') src/status.ts
WEB_OUT := files/www/iptmon/iptmon.js files/www/iptmon/iptmon.css
web: $(WEB_OUT)

files/www/iptmon/iptmon.js: node_modules/.installed $(WEB_TS)
	$(BUN) build web/src/main.ts --target=browser --minify --outfile $@ >/dev/null
files/www/iptmon/iptmon.css: node_modules/.installed web/src/style.css
	$(BUN) build web/src/style.css --minify --outfile $@ >/dev/null

typecheck: node_modules/.installed
	node_modules/.bin/tsc --noEmit -p .
	node_modules/.bin/tsc --noEmit -p web

# Every tier (scripts/run-tests says what each ran); one tier alone with test-<tier>.
test: tools build dist
	@scripts/run-tests

test-unit: node_modules/.installed
	@scripts/run-tests unit

# Packaging tier: builds the musl binaries and packages it inspects itself.
test-package: node_modules/.installed
	@scripts/run-tests package

# End-to-end tier: network namespaces, the real kernel and tools (root).
test-e2e: tools build
	@scripts/run-tests e2e

demo: tools build
	$(BUN) test/e2e/demo.ts

# Datapath, events, init, status and memory against baselines measured in the
# same run (root: network namespaces); writes the tables into BENCHMARKS.md.
bench: tools build
	$(BUN) bench/bench.ts

clean:
	rm -rf dist *.ipk *.apk $(WEB_OUT)

# OpenWrt packages from the musl binaries and files/ (scripts/mkipk.ts):
# dist/iptmon_<version>-<release>_<arch>.ipk for x86_64 and aarch64_*, and
# the LuCI app from luci/: dist/luci-app-iptmon_<version>-<release>_all.ipk.
.PHONY: ipk
ipk: dist-musl
	$(BUN) scripts/mkipk.ts --out dist

# The same for OpenWrt 25.12 and later (apk-tools v3, scripts/mkapk.ts):
# dist/iptmon-<version>-r<release>_<arch>.apk and dist/luci-app-iptmon-<version>-r<release>.apk.
.PHONY: apk
apk: dist-musl
	$(BUN) scripts/mkapk.ts --out dist
