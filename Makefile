# Kiln: one flat Makefile. `make run` serves; `make test` tests.
-include config.mk

PREFIX	?= /usr/local
DESTDIR	?=
CC	?= cc
BUILD	?= build
BIN	?= bin

# Debian packages the build, `make run` and `make test` need.
DEB_PACKAGES = gcc make pkg-config perl libsqlite3-dev \
	libscrypt-dev libcurl4-openssl-dev libjansson-dev libssl-dev libzstd-dev \
	lighttpd spawn-fcgi sqlite3
# node and npm build the dashboard: Debian's packages where the machine
# has no npm of its own (a nodesource nodejs bundles npm and conflicts).
DEB_PACKAGES += $(if $(shell command -v npm),,nodejs npm)
# The browser tests drive Debian's chromium (tests/browser.t).
TEST_DEB_PACKAGES = chromium
# The notification tests' loopback peers are Python scripts (tests/peers/).
TEST_DEB_PACKAGES += python3
# The benchmark: its load generator, and libfcgi for its hello (Kiln's
# own FastCGI is lib/fcgi.c).
BENCH_DEB_PACKAGES = wrk libfcgi-dev

PKGS	 = sqlite3 jansson libcurl libcrypto libzstd
OPT	?= -O2 -D_FORTIFY_SOURCE=2
WARN	 = -Wall -Wextra -Wshadow -Wformat=2 -Werror
CFLAGS	+= -std=c11 -g $(OPT) $(WARN) -D_GNU_SOURCE -Ilib \
	   $(shell pkg-config --cflags $(PKGS))
LDLIBS	+= $(shell pkg-config --libs $(PKGS)) -lscrypt -lm -pthread

LIB_OBJS = \
	$(BUILD)/lib/alert.o \
	$(BUILD)/lib/arena.o \
	$(BUILD)/lib/audit.o \
	$(BUILD)/lib/auth.o \
	$(BUILD)/lib/billing.o \
	$(BUILD)/lib/cfg.o \
	$(BUILD)/lib/cron.o \
	$(BUILD)/lib/db.o \
	$(BUILD)/lib/fcgi.o \
	$(BUILD)/lib/hash.o \
	$(BUILD)/lib/health.o \
	$(BUILD)/lib/id.o \
	$(BUILD)/lib/idem.o \
	$(BUILD)/lib/iso.o \
	$(BUILD)/lib/jsonread.o \
	$(BUILD)/lib/log.o \
	$(BUILD)/lib/notify.o \
	$(BUILD)/lib/outbound.o \
	$(BUILD)/lib/page.o \
	$(BUILD)/lib/rate.o \
	$(BUILD)/lib/req.o \
	$(BUILD)/lib/rules.o \
	$(BUILD)/lib/rules_disk.o \
	$(BUILD)/lib/rules_host.o \
	$(BUILD)/lib/rules_hw.o \
	$(BUILD)/lib/snapshot.o \
	$(BUILD)/lib/store.o \
	$(BUILD)/lib/stripe.o \
	$(BUILD)/lib/valid.o \
	$(BUILD)/schema.o

ROUTES = \
	$(BIN)/kiln-account \
	$(BIN)/kiln-alerts \
	$(BIN)/kiln-auth \
	$(BIN)/kiln-billing \
	$(BIN)/kiln-channels \
	$(BIN)/kiln-health \
	$(BIN)/kiln-ingest \
	$(BIN)/kiln-meta \
	$(BIN)/kiln-servers

# Periodic jobs: cron/<job>.c -> kiln-cron-<job>, scheduled by cron/crontab.
CRON = \
	$(BIN)/kiln-cron-alert-ttl \
	$(BIN)/kiln-cron-billing-suspend \
	$(BIN)/kiln-cron-notify \
	$(BIN)/kiln-cron-retention \
	$(BIN)/kiln-cron-version-poll \
	$(BIN)/kiln-cron-watchdog

TOOLS = \
	$(BIN)/kiln-admin \
	$(BIN)/kiln-migrate

TEST_PROGS = \
	$(BUILD)/tests/outbound \
	$(BUILD)/tests/rules \
	$(BUILD)/tests/unit

WEBCONF = \
	$(BUILD)/lighttpd.conf \
	$(BUILD)/apache.conf

# The dashboard's npm dependencies (package-lock.json) are installed into
# node_modules/; the files it serves are copied into www/vendor/.
VENDOR = \
	www/vendor/uPlot.iife.min.js \
	www/vendor/uPlot.min.css

HEADERS = $(wildcard lib/*.h)

.PHONY: all run test sanitize install clean deps test-deps bench-deps bench \
	bench-progs fuzz
.DELETE_ON_ERROR:

all: $(ROUTES) $(CRON) $(TOOLS) $(WEBCONF) $(TEST_PROGS) $(VENDOR)

$(BUILD)/libkiln.a: $(LIB_OBJS)
	ar rcs $@ $(LIB_OBJS)

$(BUILD)/lib/%.o: lib/%.c $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/schema.c: tools/embed-schema.sh $(wildcard schema/*.sql)
	@mkdir -p $(@D)
	sh tools/embed-schema.sh $(sort $(wildcard schema/*.sql)) > $@

$(BUILD)/schema.o: $(BUILD)/schema.c lib/migration.h
	$(CC) $(CFLAGS) -c -o $@ $<

$(BIN)/kiln-%: routes/%.c $(BUILD)/libkiln.a $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libkiln.a $(LDFLAGS) $(LDLIBS)

$(BIN)/kiln-cron-%: cron/%.c $(BUILD)/libkiln.a $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libkiln.a $(LDFLAGS) $(LDLIBS)

$(BIN)/kiln-admin: tools/kiln-admin.c $(BUILD)/libkiln.a $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libkiln.a $(LDFLAGS) $(LDLIBS)

$(BIN)/kiln-migrate: tools/kiln-migrate.c $(BUILD)/libkiln.a $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libkiln.a $(LDFLAGS) $(LDLIBS)

$(BUILD)/tests/rules: tests/rules.c tests/tap.h $(BUILD)/libkiln.a $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Itests -o $@ $< $(BUILD)/libkiln.a $(LDFLAGS) $(LDLIBS)

$(BUILD)/tests/unit: tests/unit.c tests/tap.h $(BUILD)/libkiln.a $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Itests -o $@ $< $(BUILD)/libkiln.a $(LDFLAGS) $(LDLIBS)

$(BUILD)/tests/outbound: tests/outbound.c tests/tap.h $(BUILD)/libkiln.a $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Itests -o $@ $< $(BUILD)/libkiln.a $(LDFLAGS) $(LDLIBS)

$(BUILD)/lighttpd.conf: routes/table tools/gen-webconf.sh
	@mkdir -p $(@D)
	sh tools/gen-webconf.sh lighttpd routes/table > $@

$(BUILD)/apache.conf: routes/table tools/gen-webconf.sh
	@mkdir -p $(@D)
	sh tools/gen-webconf.sh apache routes/table > $@

node_modules/.package-lock.json: package.json $(wildcard package-lock.json)
	if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; \
	    else npm install --no-audit --no-fund; fi
	@touch $@

www/vendor/%: node_modules/.package-lock.json
	@mkdir -p $(@D)
	cp node_modules/uplot/dist/$* $@

# Installs the Debian packages that are missing (as root), or says how.
deps:
	@sh tools/deps.sh $(DEB_PACKAGES)

test-deps:
	@sh tools/deps.sh $(TEST_DEB_PACKAGES)

bench-deps:
	@sh tools/deps.sh $(BENCH_DEB_PACKAGES)

run: deps
	@$(MAKE) --no-print-directory all
	@sh tools/run.sh

test: deps test-deps
	@$(MAKE) --no-print-directory all
	KILN_BIN=$(CURDIR)/$(BIN) KILN_BUILD=$(CURDIR)/$(BUILD) \
	    prove -v --timer tests/

# The same tests against an AddressSanitizer + UBSan build.
sanitize: deps test-deps
	@$(MAKE) --no-print-directory BUILD=build/san BIN=build/san/bin \
	    OPT="-O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all" \
	    LDFLAGS="-fsanitize=address,undefined" all
	KILN_BIN=$(CURDIR)/build/san/bin KILN_BUILD=$(CURDIR)/build/san \
	    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    prove --timer tests/

install: all
	install -d $(DESTDIR)$(PREFIX)/lib/kiln/bin $(DESTDIR)$(PREFIX)/bin \
	    $(DESTDIR)$(PREFIX)/share/kiln
	install -m 755 $(ROUTES) $(DESTDIR)$(PREFIX)/lib/kiln/bin/
	install -m 755 $(TOOLS) $(CRON) $(DESTDIR)$(PREFIX)/bin/
	cp -R www $(DESTDIR)$(PREFIX)/lib/kiln/
	install -m 644 $(WEBCONF) $(DESTDIR)$(PREFIX)/share/kiln/
	install -m 644 cron/crontab $(DESTDIR)$(PREFIX)/share/kiln/crontab

clean:
	rm -rf build bin www/vendor

# Benchmarks (not part of `make test`): see bench/run.sh and bench/rss.sh.
bench-progs: $(BUILD)/bench/hello $(BUILD)/bench/jsonread \
	$(BUILD)/bench/mkservers

# The ceiling is the plainest FastCGI program there is: libfcgi's loop.
$(BUILD)/bench/hello: bench/hello.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< $(LDFLAGS) -lfcgi

$(BUILD)/bench/jsonread: bench/jsonread.c $(BUILD)/libkiln.a $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libkiln.a $(LDFLAGS) $(LDLIBS)

$(BUILD)/bench/mkservers: bench/mkservers.c $(BUILD)/libkiln.a $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libkiln.a $(LDFLAGS) $(LDLIBS)

bench: deps bench-deps
	@$(MAKE) --no-print-directory all bench-progs
	sh bench/run.sh

# Fuzzing with libFuzzer (clang): each target runs FUZZ_SECONDS, starting
# from its kept corpus in tests/fuzz/corpus/<target>; inputs that add
# coverage are merged back into that corpus.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS = snapshot parsers json fcgi
FUZZ_CFLAGS = -std=c11 -g -O1 -D_GNU_SOURCE -Ilib -I$(BUILD) \
	-fsanitize=fuzzer,address,undefined $(shell pkg-config --cflags $(PKGS))
LIB_SRCS = $(patsubst $(BUILD)/lib/%.o,lib/%.c,$(filter $(BUILD)/lib/%,$(LIB_OBJS)))

$(BUILD)/fuzz/%: tests/fuzz/%.c $(LIB_SRCS) $(BUILD)/schema.c $(HEADERS)
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) -o $@ $< $(LIB_SRCS) $(BUILD)/schema.c $(LDLIBS)

fuzz: $(addprefix $(BUILD)/fuzz/,$(FUZZ_TARGETS))
	for t in $(FUZZ_TARGETS); do \
	    mkdir -p $(BUILD)/fuzz/new-$$t tests/fuzz/corpus/$$t && \
	    KILN_KEY_PEPPER=fuzz $(BUILD)/fuzz/$$t -max_total_time=$(FUZZ_SECONDS) \
	        -max_len=65536 -timeout=10 $(BUILD)/fuzz/new-$$t tests/fuzz/corpus/$$t && \
	    $(BUILD)/fuzz/$$t -merge=1 tests/fuzz/corpus/$$t $(BUILD)/fuzz/new-$$t \
	        || exit 1; \
	done
