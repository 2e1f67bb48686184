# Two commands set everything up on a fresh machine: `make demo` and `make test`.
SWIFT ?= scripts/swift
PREFIX ?= /usr/local

.PHONY: all deps build demo test bench docs install clean

all: build

deps:
	@scripts/install-deps

build: deps
	$(SWIFT) build --product hoopctl

demo: build
	@scripts/demo

test: deps
	@scripts/install-deps chromium python3-pip mcp authlib   # the report's HTML in a browser; an MCP client and an OIDC provider (PyPI)
	@scripts/test

bench: deps
	@scripts/install-deps pgbouncer hyperfine
	$(SWIFT) build -c release --product hoopctl
	$(SWIFT) build -c release --product hoopctl-bench
	.build/release/hoopctl-bench

docs: deps
	@scripts/docs

install: deps
	$(SWIFT) build -c release --product hoopctl
	install -D -m 755 .build/release/hoopctl $(DESTDIR)$(PREFIX)/bin/hoopctl
	install -d $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 644 man/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -D -m 644 completions/hoopctl.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/hoopctl
	install -D -m 644 completions/_hoopctl $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_hoopctl
	install -D -m 644 completions/hoopctl.fish $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/hoopctl.fish

clean:
	rm -rf .build
