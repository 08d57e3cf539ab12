# Makefile: PGXS build of the privacy extension, plus `make test` and `make demo`
# (each prepares a fresh machine and runs on a scratch cluster it starts itself).

EXTENSION = privacy
EXTVERSION := $(shell sed -n "s/^default_version[[:space:]]*=[[:space:]]*'\([^']*\)'.*/\1/p" $(EXTENSION).control)

MODULE_big = privacy
OBJS = \
	src/privacy.o \
	src/label_parse.o \
	src/labels.o \
	src/audit.o \
	src/keys.o \
	src/crypto.o \
	src/subjects.o \
	src/journal.o \
	src/consent.o \
	src/rights.o \
	src/fpe.o \
	src/ff1.o \
	src/masks.o \
	src/validators.o \
	src/discover.o

DATA = src/privacy--$(EXTVERSION).sql
SCRIPTS = bin/privacy_anonymized_dump

# pg_regress suites (sql/ + expected/), one per concern
REGRESS = setup labels label_errors partitions subject_paths taxonomy inventory audit keys crypto masks consent purpose_views cancellation requests export retention discovery check k_anonymity anonymize attacks catalog cancel_cases
# run last by make test only, in the run it logs and profiles (make installcheck
# runs against a server whose logging and libraries it does not set):
# plpgsql_check checks every PL/pgSQL body, coverage reads the profiler, leaks
# reads the server log
REGRESS_LOGGED = plpgsql_check coverage leaks
REGRESS_OPTS = --temp-config=$(CURDIR)/test/privacy.conf
# isolation specs under test/isolation
ISOLATION = audit_concurrent key_invalidation consent_views cancel_concurrent retention_concurrent anonymize_concurrent
ISOLATION_OPTS = --inputdir=test/isolation --outputdir=test/isolation/output_iso

PG_CPPFLAGS = -I$(srcdir)/src
PG_CFLAGS = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-sign-compare \
	-Wno-missing-field-initializers
SHLIB_LINK = -lcrypto

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)

ifneq ($(wildcard $(PGXS)),)
include $(PGXS)
else
# No PGXS yet (fresh machine): only the bootstrap targets below work.
all install installcheck:
	@echo "PostgreSQL server headers are missing: run 'make test' or 'make demo' (they install them), or 'test/deps.sh'." >&2
	@exit 1
endif

.PHONY: deps test demo

# Install the Debian packages the build and the test suites need (idempotent).
deps:
	@test/deps.sh

# Build, install, and run every suite (pg_regress, isolation, TAP) on scratch clusters.
test: deps
	@$(MAKE) --no-print-directory test-run

# A guided run of the extension on a scratch cluster that is started and stopped here.
demo: deps
	@$(MAKE) --no-print-directory demo-run

# `make test` re-enters make so that PGXS, installed by deps, is read.
.PHONY: test-run demo-run
test-run:
	@REGRESS='$(REGRESS)' REGRESS_LOGGED='$(REGRESS_LOGGED)' ISOLATION='$(ISOLATION)' test/run-tests.sh
demo-run:
	@test/demo.sh

# Statement coverage of the PL/pgSQL functions (test/coverage): the regression
# suites run once with plpgsql_check's profiler, then the report is printed.
.PHONY: coverage coverage-run
coverage: deps
	@$(MAKE) --no-print-directory coverage-run
coverage-run:
	@REGRESS='$(REGRESS)' REGRESS_LOGGED='$(REGRESS_LOGGED)' ISOLATION='$(ISOLATION)' STAGES=regress test/run-tests.sh; \
	 status=$$?; test/coverage/report.sh coverage.txt; exit $$status

# Benchmarks: ratios against baselines measured in the same run (doc/benchmarks.md).
.PHONY: bench bench-run
bench: deps
	@$(MAKE) --no-print-directory bench-run
bench-run:
	@test/bench/run.sh

# The fuzz harness (test/fuzz): each target under libFuzzer with ASan/UBSan for
# FUZZ_SECONDS (default 60), then under valgrind.  Installs clang and valgrind.
.PHONY: fuzz
fuzz: deps
	@test/fuzz/run.sh fuzz
