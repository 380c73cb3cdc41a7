# psm: privileged session management filters.
# make [all|libtests|check|check-asan|demo|install|install-hardened|uninstall|clean|bench|fuzz]

VERSION = 0.1.0
PREFIX ?= /usr/local
BINDIR = $(PREFIX)/bin
MANDIR = $(PREFIX)/share/man
DATADIR = $(PREFIX)/share/psm
BASHCOMPDIR = $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR = $(PREFIX)/share/zsh/vendor-completions
# Where a set-user-id psm-record (make install-hardened) records, and its settings.
SPOOLDIR ?= /var/log/psm
CONFDIR ?= /etc/psm
PSM_USER ?= psm

# O: where objects and executables go (default: next to the sources).
O ?= .
CC ?= cc
CFLAGS ?= -O2 -g
PKG_CONFIG ?= pkg-config

PROGS = psm-record psm-replay psm-keygen psm-seal psm-verify psm-redact psm-ship psm-grant
LIBSRC = $(wildcard lib/*.c)
MAN1 = $(PROGS:%=man/%.1)
MAN5 = man/psm-stream.5 man/psm-redact.5 man/psm-policy.5
MANPAGES = $(wildcard man/*.[157])

# One pkg-config query per library; each program links only what it uses.
pkg_cflags = $(shell $(PKG_CONFIG) --cflags $(1) 2>/dev/null)
pkg_libs = $(shell $(PKG_CONFIG) --libs $(1) 2>/dev/null || echo $(2))
UUID_CFLAGS := $(call pkg_cflags,uuid)
UUID_LIBS := $(call pkg_libs,uuid,-luuid)
CRYPTO_CFLAGS := $(call pkg_cflags,libcrypto)
CRYPTO_LIBS := $(call pkg_libs,libcrypto,-lcrypto)
SODIUM_CFLAGS := $(call pkg_cflags,libsodium)
SODIUM_LIBS := $(call pkg_libs,libsodium,-lsodium)
SECCOMP_CFLAGS := $(call pkg_cflags,libseccomp)
SECCOMP_LIBS := $(call pkg_libs,libseccomp,-lseccomp)
HS_CFLAGS := $(call pkg_cflags,libhs)
HS_LIBS := $(call pkg_libs,libhs,-lhs)
PCRE2_CFLAGS := $(call pkg_cflags,libpcre2-8)
PCRE2_LIBS := $(call pkg_libs,libpcre2-8,-lpcre2-8)
SSL_CFLAGS := $(call pkg_cflags,libssl)
SSL_LIBS := $(call pkg_libs,libssl,-lssl -lcrypto)
PQ_CFLAGS := $(call pkg_cflags,libpq)
PQ_LIBS := $(call pkg_libs,libpq,-lpq)
JQ_LIBS := $(call pkg_libs,libjq,-ljq)
DEP_CFLAGS = $(UUID_CFLAGS) $(CRYPTO_CFLAGS) $(SODIUM_CFLAGS) $(SECCOMP_CFLAGS) $(HS_CFLAGS) \
	$(PCRE2_CFLAGS) $(SSL_CFLAGS) $(PQ_CFLAGS)

LIBS_psm-record = $(UUID_LIBS) $(SODIUM_LIBS) $(JQ_LIBS)
LIBS_psm-replay = $(SECCOMP_LIBS) $(SODIUM_LIBS)
LIBS_psm-keygen = $(SODIUM_LIBS)
LIBS_psm-seal = $(CRYPTO_LIBS) $(SODIUM_LIBS) $(SECCOMP_LIBS) $(UUID_LIBS)
LIBS_psm-verify = $(CRYPTO_LIBS) $(SODIUM_LIBS) $(SECCOMP_LIBS) $(JQ_LIBS)
LIBS_psm-redact = $(HS_LIBS) $(PCRE2_LIBS) $(SECCOMP_LIBS) -lm
LIBS_psm-ship = $(SSL_LIBS) $(CRYPTO_LIBS) $(PQ_LIBS) $(SECCOMP_LIBS)
LIBS_psm-grant = $(JQ_LIBS) $(SODIUM_LIBS) $(UUID_LIBS) $(CRYPTO_LIBS)
ALL_DEP_LIBS = $(SSL_LIBS) $(CRYPTO_LIBS) $(SODIUM_LIBS) $(SECCOMP_LIBS) $(UUID_LIBS) $(HS_LIBS) \
	$(PCRE2_LIBS) $(PQ_LIBS) $(JQ_LIBS) -lm

WARN = -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes -Werror
HARDEN = -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -Ilib -I$(O)/gen -DPSM_VERSION='"$(VERSION)"' \
	-DPSM_SPOOL_DIR='"$(SPOOLDIR)"' -DPSM_CONF_DIR='"$(CONFDIR)"' \
	$(CPPFLAGS) $(WARN) $(HARDEN) $(DEP_CFLAGS) $(SAN) $(CFLAGS)
ALL_LDFLAGS = -pie -Wl,-z,relro -Wl,-z,now -Wl,-z,noexecstack $(SAN) $(LDFLAGS)

LIBOBJ = $(LIBSRC:%.c=$(O)/%.o)
BINS = $(PROGS:%=$(O)/bin/%)

ASAN = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

all: $(BINS)

HEADERS = $(wildcard lib/*.h)

$(O)/lib/%.o: lib/%.c $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(O)/lib/libpsm.a: $(LIBOBJ)
	$(AR) rcs $@ $(LIBOBJ)

$(O)/bin/%: bin/%.c $(O)/lib/libpsm.a $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(O)/lib/libpsm.a $(LIBS_$*)

# psm-redact's built-in rules: share/psm/redact.rules as a C array.
$(O)/gen/redact_rules.h: share/psm/redact.rules
	@mkdir -p $(@D)
	{ echo 'static const char builtin_rules[] = {'; \
	  od -An -v -tx1 $< | sed 's/ \([0-9a-f][0-9a-f]\)/0x\1,/g'; echo '};'; } > $@.tmp && mv $@.tmp $@

# ... and compiled: the database of the rules on by default (scripts/redact-db.c).
$(O)/gen/redact-db: scripts/redact-db.c $(O)/gen/redact_rules.h $(O)/lib/libpsm.a $(HEADERS)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(O)/lib/libpsm.a $(HS_LIBS) $(PCRE2_LIBS) -lm

$(O)/gen/redact_db.h: $(O)/gen/redact-db
	$(O)/gen/redact-db > $@.bin
	{ echo 'static const char builtin_db[] = {'; \
	  od -An -v -tx1 $@.bin | sed 's/ \([0-9a-f][0-9a-f]\)/0x\1,/g'; echo '};'; } > $@.tmp && mv $@.tmp $@
	rm -f $@.bin

$(O)/bin/psm-redact: $(O)/gen/redact_rules.h $(O)/gen/redact_db.h

# The fuzz harness as a plain program that replays the corpus (make check).
$(O)/tests/fuzz/replay: tests/fuzz/fuzz-reader.c $(O)/lib/libpsm.a $(HEADERS) $(O)/gen/redact_rules.h
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -DSTANDALONE $(ALL_LDFLAGS) -o $@ $< $(O)/lib/libpsm.a $(ALL_DEP_LIBS)

# The library's tests in C: each tests/lib/test-*.c is a program that
# tests/lib.bats runs (make check); tests/lib/check.h has their CHECK macros.
LIBTESTS = $(patsubst %.c,$(O)/%,$(wildcard tests/lib/test-*.c))

$(O)/tests/lib/test-%: tests/lib/test-%.c tests/lib/check.h $(O)/lib/libpsm.a $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(O)/lib/libpsm.a $(ALL_DEP_LIBS)

# test-redact includes the built-in rules.
$(O)/tests/lib/test-redact: $(O)/gen/redact_rules.h

libtests: $(LIBTESTS)

deps:
	@scripts/deps.sh build test

lint-man:
	@for m in $(MANPAGES); do mandoc -Tlint -W warning $$m || exit 1; done

# The tests run against the executables in $(O)/bin; the last line of
# tests/run.sh is "N passed, N failed, N skipped".
check: deps
	$(MAKE) all $(O)/tests/fuzz/replay libtests
	$(MAKE) lint-man
	tests/run.sh $(O)/bin

check-asan: deps
	$(MAKE) O=build/asan SAN="$(ASAN)" CFLAGS="-O1 -g" all build/asan/tests/fuzz/replay libtests
	PSM_SANITIZED=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	tests/run.sh build/asan/bin

demo: deps all
	@scripts/demo.sh $(O)/bin

bench: all
	@scripts/deps.sh build bench
	bench/record.sh $(O)/bin
	bench/seal.sh $(O)/bin
	bench/replay.sh $(O)/bin
	bench/redact.sh $(O)/bin
	bench/ship.sh $(O)/bin
	bench/grant.sh $(O)/bin

fuzz: deps
	@scripts/deps.sh fuzz
	$(MAKE) O=build/fuzz CC=clang SAN="-fsanitize=fuzzer-no-link,address,undefined" CFLAGS="-O1 -g" \
		build/fuzz/lib/libpsm.a build/fuzz/gen/redact_rules.h
	clang -std=c11 -D_GNU_SOURCE -Ilib -Ibuild/fuzz/gen -O1 -g -fsanitize=fuzzer,address,undefined \
		-o build/fuzz/fuzz-reader tests/fuzz/fuzz-reader.c build/fuzz/lib/libpsm.a $(ALL_DEP_LIBS)
	mkdir -p build/fuzz/corpus
	build/fuzz/fuzz-reader -max_total_time=$${FUZZ_SECONDS:-60} -max_len=4096 \
		build/fuzz/corpus tests/fuzz/corpus

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(MANDIR)/man7 $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(DATADIR)
	install -m 755 $(BINS) $(DESTDIR)$(BINDIR)
	install -m 644 $(MAN1) $(DESTDIR)$(MANDIR)/man1
	install -m 644 $(MAN5) $(DESTDIR)$(MANDIR)/man5
	install -m 644 man/psm.7 $(DESTDIR)$(MANDIR)/man7
	for p in $(PROGS); do install -m 644 completions/psm.bash $(DESTDIR)$(BASHCOMPDIR)/$$p; done
	install -m 644 completions/_psm $(DESTDIR)$(ZSHCOMPDIR)/_psm
	cp -R share/psm/. $(DESTDIR)$(DATADIR)/

# psm-record set-user-id on a system user of its own, which owns the spool
# (psm-record(1), "Set-user-id"). As root, with the SPOOLDIR and CONFDIR that
# psm-record was built with; NO_USERADD=1 when the user exists
# elsewhere (a DESTDIR for a package).
install-hardened: install
	if [ -z "$(NO_USERADD)" ] && ! getent passwd $(PSM_USER) >/dev/null; then \
		useradd --system --user-group --home-dir $(SPOOLDIR) --no-create-home \
			--shell /usr/sbin/nologin $(PSM_USER); fi
	install -d -m 0750 $(DESTDIR)$(SPOOLDIR)
	chown $(PSM_USER): $(DESTDIR)$(SPOOLDIR)
	install -d -m 0755 $(DESTDIR)$(CONFDIR)
	chown $(PSM_USER) $(DESTDIR)$(BINDIR)/psm-record
	chmod 4755 $(DESTDIR)$(BINDIR)/psm-record
	@[ -e $(DESTDIR)$(CONFDIR)/escrow.pub ] || echo "install-hardened: no $(CONFDIR)/escrow.pub:" \
		"withheld input is dropped, not escrowed (psm-record(1), CAVEATS)" >&2

uninstall:
	for p in $(PROGS); do rm -f $(DESTDIR)$(BINDIR)/$$p $(DESTDIR)$(MANDIR)/man1/$$p.1 \
		$(DESTDIR)$(BASHCOMPDIR)/$$p; done
	rm -f $(MAN5:man/%=$(DESTDIR)$(MANDIR)/man5/%) $(DESTDIR)$(MANDIR)/man7/psm.7 \
		$(DESTDIR)$(ZSHCOMPDIR)/_psm
	rm -rf $(DESTDIR)$(DATADIR)

clean:
	rm -f $(BINS) $(LIBOBJ) lib/libpsm.a $(LIBTESTS)
	rm -rf build demo gen

.PHONY: all libtests deps lint-man check check-asan demo bench fuzz install install-hardened uninstall clean
