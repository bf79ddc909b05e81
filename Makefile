# imapd: plain make.  `make`, `make check`, `make demo`, `make install`.
#
# Objects go under $(O)/; binaries land where the documentation says
# (imapd/imapd, tools/<name>).  `make san` builds the same tree with
# AddressSanitizer and UndefinedBehaviorSanitizer under obj-san/ (binaries
# there too), which `make check` runs the test suite against as well.
# `make fuzz` builds the libFuzzer targets of tests/fuzz with clang under
# obj-fuzz/ and runs each for FUZZ_SECONDS.

PREFIX	?= /usr/local
DESTDIR	?=
SYSCONFDIR ?= $(PREFIX)/etc
SBINDIR	?= $(PREFIX)/sbin
BINDIR	?= $(PREFIX)/bin
MANDIR	?= $(PREFIX)/share/man
PAMDIR	?= /etc/pam.d
UNITDIR	?= /lib/systemd/system

CC	?= cc
CFLAGS	?= -O2 -g
O	?= obj
BP	?=
SAN	?=
FUZZ	?=
FUZZCC	?= clang
FUZZ_SECONDS ?= 60

# -Wcast-qual: what is const stays const (a cast that drops it goes
# through uintptr_t, where the callee only reads or owns the bytes);
# -Wvla: every buffer's size is known at compile time.
WARN	 = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	   -Wmissing-prototypes -Wpointer-arith -Wformat=2 -Wundef \
	   -Wno-unused-parameter -Wcast-qual -Wvla -Wnull-dereference
# _FORTIFY_SOURCE checks the sizes of copies into buffers of known size
# at run time, and warns of ignored results of read(2) and write(2).
XCFLAGS	 = -std=gnu11 $(WARN) -I. -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 \
	   -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2 \
	   -DSYSCONFDIR='"$(SYSCONFDIR)"' -fstack-protector-strong
# Every symbol bound at start and the tables read-only after: lazy binding
# would save registers, holding whatever a login last copied, deep in the
# stack at the first call of each function, and leave its table writable.
XLDFLAGS = -Wl,-z,now -Wl,-z,relro
ifneq ($(SAN),)
XCFLAGS	+= -fsanitize=address,undefined -fno-sanitize-recover=all \
	   -fno-omit-frame-pointer
XLDFLAGS += -fsanitize=address,undefined
endif
ifneq ($(FUZZ),)
XCFLAGS	+= -fsanitize=fuzzer-no-link,address,undefined \
	   -fno-sanitize-recover=all -fno-omit-frame-pointer
endif
LIBS	 = -lssl -lcrypto -lpam -lcdb -lz -lcrypt

PYTHON	?= $(shell test -x /usr/bin/python3 && echo /usr/bin/python3 || echo python3)

# --- sources, one per line -------------------------------------------------

# common/, in its layers (HACKING, Layers; `make layers` checks them)
LIB	 = common/lib/apppass.c \
	   common/lib/buf.c \
	   common/lib/cidr.c \
	   common/lib/kvfile.c \
	   common/lib/listenaddr.c \
	   common/lib/log.c \
	   common/lib/mapfile.c \
	   common/lib/privdrop.c \
	   common/lib/quotadef.c \
	   common/lib/safefile.c \
	   common/lib/strnum.c \
	   common/lib/userdb.c \
	   common/lib/wipe.c

MAIL	 = common/mail/base64.c \
	   common/mail/charset.c \
	   common/mail/mime.c \
	   common/mail/mime-decode.c \
	   common/mail/ngram.c \
	   common/mail/preview.c \
	   common/mail/textsearch.c \
	   common/mail/unicase.c

IMAPLIB	 = common/imap/imap-parser.c \
	   common/imap/imapdate.c \
	   common/imap/message-bodystructure.c \
	   common/imap/message-envelope.c \
	   common/imap/message-search.c \
	   common/imap/message-section.c \
	   common/imap/message.c \
	   common/imap/mutf7.c \
	   common/imap/sortkey.c

COMMON	 = $(LIB) $(MAIL) $(IMAPLIB)

MAILDIR	 = maildir/filename.c \
	   maildir/folder.c \
	   maildir/ftsindex.c \
	   maildir/ftsindex-batch.c \
	   maildir/ftsindex-compact.c \
	   maildir/ftsindex-list.c \
	   maildir/keywords.c \
	   maildir/mailbox.c \
	   maildir/mailbox-scan.c \
	   maildir/mailbox-status.c \
	   maildir/mailbox-sync.c \
	   maildir/mailbox-write.c \
	   maildir/maildirsize.c \
	   maildir/msgcache.c \
	   maildir/objectid.c \
	   maildir/sortcache.c \
	   maildir/storelock.c \
	   maildir/uidcache.c \
	   maildir/uidcache-check.c \
	   maildir/uidcache-file.c \
	   maildir/uidcache-import.c \
	   maildir/uidcache-overlay.c \
	   maildir/uidcache-uidv.c \
	   maildir/uidcache-util.c

IMAPD	 = imapd/auth.c \
	   imapd/authmsg.c \
	   imapd/back.c \
	   imapd/capability.c \
	   imapd/cmd-any.c \
	   imapd/cmd-append.c \
	   imapd/cmd-compress.c \
	   imapd/cmd-copy.c \
	   imapd/cmd-enable.c \
	   imapd/cmd-expunge.c \
	   imapd/cmd-fetch.c \
	   imapd/cmd-idle.c \
	   imapd/cmd-list.c \
	   imapd/cmd-login.c \
	   imapd/cmd-mailbox.c \
	   imapd/cmd-namespace.c \
	   imapd/cmd-quota.c \
	   imapd/cmd-search.c \
	   imapd/cmd-select.c \
	   imapd/cmd-sort.c \
	   imapd/cmd-starttls.c \
	   imapd/cmd-status.c \
	   imapd/cmd-store.c \
	   imapd/cmd-thread.c \
	   imapd/cmdutil.c \
	   imapd/commands.c \
	   imapd/config.c \
	   imapd/conn.c \
	   imapd/esearch.c \
	   imapd/front.c \
	   imapd/indexer.c \
	   imapd/keyclient.c \
	   imapd/keyfile.c \
	   imapd/keymsg.c \
	   imapd/keyproc.c \
	   imapd/limits.c \
	   imapd/main.c \
	   imapd/master.c \
	   imapd/mbname.c \
	   imapd/msgkeys.c \
	   imapd/policy.c \
	   imapd/proxyhdr.c \
	   imapd/quota.c \
	   imapd/relay.c \
	   imapd/sandbox.c \
	   imapd/search.c \
	   imapd/selected.c \
	   imapd/seqset.c \
	   imapd/session.c \
	   imapd/sig.c \
	   imapd/sort.c \
	   imapd/specialuse.c \
	   imapd/storecheck.c \
	   imapd/thread.c \
	   imapd/threadid.c \
	   imapd/tls.c \
	   imapd/tlsproc.c \
	   imapd/worker.c

# the client side of IMAP, for the tools that talk to servers
CLIENT	 = common/imap/imapcmd.c \
	   common/imap/imapconn.c \
	   common/imap/imapresp.c \
	   common/lib/password.c

USERDB	 = tools/imapd-userdb.c
IMAPWAIT = tools/imapwait.c
IMAPCHECK = tools/imapcheck.c
CACHETOOL = tools/imapd-cache.c
ROUTER	 = tools/imapd-router.c \
	   tools/authreq.c

UNITTESTS = tests/common/test-apppass \
	   tests/common/test-buf \
	   tests/common/test-charset \
	   tests/common/test-strnum \
	   tests/common/test-imap-parser \
	   tests/common/test-imapdate \
	   tests/common/test-message \
	   tests/common/test-mime \
	   tests/common/test-preview \
	   tests/common/test-search \
	   tests/common/test-sortkey \
	   tests/common/test-textsearch \
	   tests/common/test-userdb \
	   tests/common/test-mutf7 \
	   tests/common/test-ngram \
	   tests/common/test-safefile \
	   tests/common/test-sorted \
	   tests/imapd/test-keymsg \
	   tests/common/test-imapresp \
	   tests/maildir/test-filename \
	   tests/maildir/test-keywords \
	   tests/maildir/test-objectid \
	   tests/maildir/test-maildirsize \
	   tests/maildir/test-mdrename \
	   tests/maildir/test-folder \
	   tests/maildir/test-ftsindex \
	   tests/maildir/test-msgcache \
	   tests/maildir/test-sortcache \
	   tests/maildir/test-storelock \
	   tests/maildir/test-syncplan \
	   tests/maildir/test-uidcache \
	   tests/maildir/test-uidcache-stress \
	   tests/imapd/test-auth \
	   tests/imapd/test-capability \
	   tests/imapd/test-config \
	   tests/imapd/test-limits \
	   tests/imapd/test-mbname \
	   tests/imapd/test-policy \
	   tests/imapd/test-proxyhdr \
	   tests/imapd/test-sandbox \
	   tests/imapd/test-search \
	   tests/imapd/test-seqset \
	   tests/tools/test-authreq

# libFuzzer targets, one per file (tests/fuzz/README)
FUZZERS	 = tests/fuzz/fuzz-authmsg \
	   tests/fuzz/fuzz-authreq \
	   tests/fuzz/fuzz-charset \
	   tests/fuzz/fuzz-config \
	   tests/fuzz/fuzz-filename \
	   tests/fuzz/fuzz-imap-parser \
	   tests/fuzz/fuzz-imapdate \
	   tests/fuzz/fuzz-imapresp \
	   tests/fuzz/fuzz-import \
	   tests/fuzz/fuzz-keymsg \
	   tests/fuzz/fuzz-keywords \
	   tests/fuzz/fuzz-maildirsize \
	   tests/fuzz/fuzz-message \
	   tests/fuzz/fuzz-msgcache \
	   tests/fuzz/fuzz-mutf7 \
	   tests/fuzz/fuzz-proxyhdr \
	   tests/fuzz/fuzz-search \
	   tests/fuzz/fuzz-seqset \
	   tests/fuzz/fuzz-thread \
	   tests/fuzz/fuzz-uidcache \
	   tests/fuzz/fuzz-userdb

# ---------------------------------------------------------------------------

LIBOBJ	 = $(COMMON:%.c=$(O)/%.o) $(MAILDIR:%.c=$(O)/%.o)
LIBA	 = $(O)/libimapd.a
DAEMONOBJ = $(filter-out $(O)/imapd/main.o,$(IMAPD:%.c=$(O)/%.o))
DAEMONA	 = $(O)/libdaemon.a
CLIENTA	 = $(O)/libclient.a
PROGS	 = $(BP)imapd/imapd $(BP)tools/imapd-userdb $(BP)tools/imapwait \
	   $(BP)tools/imapcheck $(BP)tools/imapd-cache $(BP)tools/imapd-router
TESTBINS = $(UNITTESTS:%=$(O)/%)

all: $(PROGS) $(TESTBINS)

$(O)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(XCFLAGS) -MMD -MP -c -o $@ $<

$(LIBA): $(LIBOBJ)
	@rm -f $@
	$(AR) rcs $@ $(LIBOBJ)

$(CLIENTA): $(CLIENT:%.c=$(O)/%.o)
	@rm -f $@
	$(AR) rcs $@ $^

$(BP)imapd/imapd: $(IMAPD:%.c=$(O)/%.o) $(LIBA)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(XLDFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BP)tools/imapd-userdb: $(USERDB:%.c=$(O)/%.o) $(LIBA)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(XLDFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BP)tools/imapwait: $(IMAPWAIT:%.c=$(O)/%.o) $(CLIENTA) $(LIBA)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(XLDFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BP)tools/imapcheck: $(IMAPCHECK:%.c=$(O)/%.o) $(CLIENTA) $(LIBA)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(XLDFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BP)tools/imapd-cache: $(CACHETOOL:%.c=$(O)/%.o) $(LIBA)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(XLDFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BP)tools/imapd-router: $(ROUTER:%.c=$(O)/%.o) $(LIBA)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(XLDFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

$(O)/tests/common/test-imapresp: $(O)/tests/common/test-imapresp.o $(CLIENTA) $(LIBA)
	$(CC) $(CFLAGS) $(XLDFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

$(O)/tests/%: $(O)/tests/%.o $(LIBA)
	$(CC) $(CFLAGS) $(XLDFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

$(O)/tests/tools/test-authreq: $(O)/tests/tools/test-authreq.o \
	    $(O)/tools/authreq.o $(LIBA)
	$(CC) $(CFLAGS) $(XLDFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

# The daemon's unit tests link its modules from an archive of all but
# main(), so that each takes only what it uses.
$(DAEMONA): $(DAEMONOBJ) Makefile
	@rm -f $@
	$(AR) rcs $@ $(DAEMONOBJ)

$(O)/tests/imapd/test-%: $(O)/tests/imapd/test-%.o $(DAEMONA) $(LIBA)
	$(CC) $(CFLAGS) $(XLDFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

san:
	$(MAKE) O=obj-san BP=obj-san/ SAN=1 all

# The C unit tests alone, against the plain build: the quick loop while
# changing common/, maildir/ or a module of imapd/.
unit: all
	IMAPD_BUILDS="plain=$(O):." $(PYTHON) -m pytest -q tests/test_unit.py $(PYTEST_ARGS)

# The fuzz targets link everything but main() (the daemon's code is
# reached through its own modules), and syslog(3) that logs nowhere.
FUZZOBJ	 = $(LIBOBJ) $(CLIENT:%.c=$(O)/%.o) $(DAEMONOBJ) $(O)/tools/authreq.o

# (the Makefile too: with .SECONDARY an object added to the list but
# never built would not make the archive out of date)
$(O)/libfuzz.a: $(FUZZOBJ) Makefile
	@rm -f $@
	$(AR) rcs $@ $(FUZZOBJ)

$(O)/tests/fuzz/fuzz-%: $(O)/tests/fuzz/fuzz-%.o \
	    $(O)/tests/fuzz/nosyslog.o $(O)/libfuzz.a
	$(CC) $(CFLAGS) -fsanitize=fuzzer,address,undefined $(LDFLAGS) \
	    -o $@ $^ $(LIBS)

fuzzers: $(FUZZERS:%=$(O)/%)

fuzz-build:
	$(MAKE) O=obj-fuzz CC=$(FUZZCC) FUZZ=1 fuzzers

# Each target for FUZZ_SECONDS from its corpus; a crash fails.
fuzz: fuzz-build
	$(PYTHON) tests/fuzz/fuzzrun.py --seconds $(FUZZ_SECONDS) $(FUZZ_ARGS)

# The suite runs against the plain build and the sanitizer build; pytest's
# summary is the last line.  IMAPD_BUILDS lists "name=objdir:bindir" pairs.
check: all san fuzz-build banned analyze layers
	IMAPD_BUILDS="plain=$(O):.,asan=obj-san:obj-san" $(PYTHON) -m pytest -q tests $(PYTEST_ARGS)

# Functions this codebase does not use: unbounded copies and formats, and
# number parsing without error checks (common/lib/strnum.c does that instead).
banned:
	@if grep -nE '\b(sscanf|atoi|atol|strcpy|strcat|sprintf|vsprintf|gets)[[:space:]]*\(' \
	    $(COMMON) $(MAILDIR) $(IMAPD) $(CLIENT) $(USERDB) $(IMAPWAIT) $(IMAPCHECK) $(CACHETOOL) $(ROUTER) \
	    imapd/*.h common/*/*.h maildir/*.h; then \
	    echo "banned function used (see the comment above the banned target)"; exit 1; fi

# Each folder includes only from its own layer and those below it
# (HACKING, Layers): the runtime nothing above it, the store nothing of
# the daemon, the daemon nothing of the tools.
layers:
	$(PYTHON) tools/check-layers.py

# Static analysis (cppcheck, from Debian): what the compilers do not
# see, such as a struct read before all of it is set; any finding fails.
analyze:
	cppcheck -q -j2 --enable=warning,portability --std=c11 -I. \
	    -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 --error-exitcode=1 \
	    --template='{file}:{line}: {severity}: {message} [{id}]' \
	    common maildir imapd tools

demo: all
	sh tools/demo.sh

bench: all
	$(PYTHON) tests/bench/bench.py $(BENCH_ARGS)

# Two imapd hosts on one GlusterFS volume (three FUSE mounts on loopback)
# behind imapd-router and nginx's mail proxy: failover, drain and the UID
# contract across hosts, then figures (tests/cluster; root; installs
# glusterfs-server and glusterfs-client if missing).  Not part of check.
cluster-test: all
	@test "$$(id -u)" -eq 0 || { echo "make cluster-test needs root"; exit 1; }
	IMAPD_CLUSTER_TEST=1 IMAPD_BUILDS="plain=$(O):." $(PYTHON) -m pytest -q \
	    tests/cluster $(PYTEST_ARGS)

# The first SELECT of a large folder beside the kernel's time to read its
# directories (tests/bench/firstselect.py; any user, no Dovecot).
bench-select: all
	$(PYTHON) tests/bench/firstselect.py $(BENCH_SELECT_ARGS)

# The conformance scripts (tests/conformance) against imapd and against a
# private Dovecot side by side (root; installs dovecot-imapd if missing);
# prints a table of the results.  `make check` runs them against imapd.
conformance: all
	$(PYTHON) tests/conformance/conformance.py $(CONFORMANCE_ARGS)

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) \
	    $(DESTDIR)$(SYSCONFDIR) $(DESTDIR)$(MANDIR)/man1 \
	    $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
	    $(DESTDIR)$(PAMDIR) $(DESTDIR)$(UNITDIR)
	install -m 755 imapd/imapd $(DESTDIR)$(SBINDIR)/imapd
	install -m 755 tools/imapd-userdb $(DESTDIR)$(SBINDIR)/imapd-userdb
	install -m 755 tools/imapd-cache $(DESTDIR)$(SBINDIR)/imapd-cache
	install -m 755 tools/imapd-router $(DESTDIR)$(SBINDIR)/imapd-router
	install -m 755 tools/imapwait $(DESTDIR)$(BINDIR)/imapwait
	install -m 755 tools/imapcheck $(DESTDIR)$(BINDIR)/imapcheck
	install -m 644 man/imapwait.1 man/imapcheck.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 644 man/imapd.8 man/imapd-userdb.8 man/imapd-cache.8 \
	    man/imapd-router.8 \
	    $(DESTDIR)$(MANDIR)/man8/
	install -m 644 man/imapd.conf.5 man/imapd-uidcache.5 \
	    $(DESTDIR)$(MANDIR)/man5/
	install -m 644 tools/imapd.conf.example $(DESTDIR)$(SYSCONFDIR)/imapd.conf.example
	test -e $(DESTDIR)$(SYSCONFDIR)/imapd.conf || \
	    install -m 644 tools/imapd.conf.example $(DESTDIR)$(SYSCONFDIR)/imapd.conf
	test -e $(DESTDIR)$(PAMDIR)/imapd || \
	    install -m 644 tools/imapd.pam $(DESTDIR)$(PAMDIR)/imapd
	sed 's|@SBINDIR@|$(SBINDIR)|g; s|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	    tools/imapd.service.in > $(DESTDIR)$(UNITDIR)/imapd.service
	chmod 644 $(DESTDIR)$(UNITDIR)/imapd.service

clean:
	rm -rf obj obj-san obj-fuzz imapd/imapd tools/imapd-userdb \
	    tools/imapwait tools/imapcheck tools/imapd-cache tools/imapd-router
	find . -name __pycache__ -prune -exec rm -rf {} +

.PHONY: all san unit fuzzers fuzz-build fuzz check banned analyze layers \
	demo bench bench-select cluster-test conformance install clean
# test objects are intermediate files; keep them so a rebuild is quick
.SECONDARY:

-include $(shell find $(O) -name '*.d' 2>/dev/null)
