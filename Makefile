# Makefile: PGXS build of the privacy extension, plus `make test` and `make demo`
# (each prepares a fresh machine and runs on a scratch cluster it starts itself).

EXTENSION = privacy
EXTVERSION := $(shell sed -n "s/^default_version[[:space:]]*=[[:space:]]*'\([^']*\)'.*/\1/p" $(EXTENSION).control)

MODULE_big = privacy
OBJS = \
	src/privacy.o \
	src/citus.o \
	src/label_parse.o \
	src/labels.o \
	src/audit.o \
	src/keys.o \
	src/crypto.o \
	src/subjects.o \
	src/kinds.o \
	src/journal.o \
	src/wal.o \
	src/consent.o \
	src/rights.o \
	src/fpe.o \
	src/ff1.o \
	src/masks.o \
	src/validators.o \
	src/discover.o

# The install script is built from one file per concern (doc/development.md):
# each concern's state (tables, sequences, types, seed rows, config dumps),
# then its code (functions, views, triggers), in this order: what a view,
# trigger, table or function signature names must come before it (function
# bodies are not checked inside CREATE EXTENSION).
SQL_PARTS = \
	src/sql/code/install.sql \
	src/sql/state/audit.sql \
	src/sql/code/audit.sql \
	src/sql/state/taxonomy.sql \
	src/sql/code/taxonomy.sql \
	src/sql/code/labels.sql \
	src/sql/code/subjects.sql \
	src/sql/code/inventory.sql \
	src/sql/state/keys.sql \
	src/sql/code/keys.sql \
	src/sql/code/crypto.sql \
	src/sql/code/masks.sql \
	src/sql/state/consent.sql \
	src/sql/code/consent.sql \
	src/sql/state/purpose_views.sql \
	src/sql/code/purpose_views.sql \
	src/sql/code/rights.sql \
	src/sql/code/placeholders.sql \
	src/sql/state/cancellation.sql \
	src/sql/code/cancellation.sql \
	src/sql/code/tombstones.sql \
	src/sql/state/requests.sql \
	src/sql/code/requests.sql \
	src/sql/code/export.sql \
	src/sql/state/retention.sql \
	src/sql/code/retention.sql \
	src/sql/state/discovery.sql \
	src/sql/code/discovery.sql \
	src/sql/state/k_anonymity.sql \
	src/sql/code/k_anonymity.sql \
	src/sql/state/anonymization.sql \
	src/sql/code/anonymization.sql \
	src/sql/state/citus.sql \
	src/sql/code/citus.sql \
	src/sql/code/check.sql

# Releases (doc/upgrading.md): the install script of each released version is
# frozen in src/sql/release (src/sql/freeze.sh, checked against SHA256SUMS by
# the stage frozen of make test) and installed as it is; the update script
# from the last release to this version is built by src/sql/update.py from
# that frozen script, the upgrade steps src/sql/upgrade/A--B.sql and the
# concern files.
RELEASE_DIR = src/sql/release
LAST_RELEASE = 0.1.0
DATA = $(wildcard $(RELEASE_DIR)/$(EXTENSION)--*.sql)
UPDATE_SCRIPT = $(EXTENSION)--$(LAST_RELEASE)--$(EXTVERSION).sql
DATA_built = $(EXTENSION)--$(EXTVERSION).sql $(UPDATE_SCRIPT)
EXTRA_CLEAN = $(EXTENSION)--$(EXTVERSION).sql.tmp $(UPDATE_SCRIPT).tmp
SCRIPTS = bin/privacy_anonymized_dump

# pg_regress suites (sql/ + expected/), one per concern
REGRESS = setup labels label_errors partitions subject_paths taxonomy inventory audit keys crypto masks consent purpose_views cancellation requests export retention discovery check k_anonymity anonymize attacks catalog cancel_cases subject_model generated_cases boundary
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

# the install script: a header, the guard against running it in psql, then
# each part after a blank line
$(EXTENSION)--$(EXTVERSION).sql: $(SQL_PARTS) $(EXTENSION).control Makefile
	@{ printf '%s\n\n' '/* $@: install script of the privacy extension, version $(EXTVERSION), built from src/sql by make (edit those files, not this one) */'; \
	  printf '%s\n' '\echo Use "CREATE EXTENSION privacy" to load this file. \quit'; \
	  for part in $(filter %.sql,$^); do printf '\n'; cat "$$part"; done; } > $@.tmp
	@mv $@.tmp $@

# the update script from the last release: its steps, then the code of every
# concern carried again (src/sql/update.py refuses what an update script
# must not hold)
$(UPDATE_SCRIPT): $(RELEASE_DIR)/$(EXTENSION)--$(LAST_RELEASE).sql src/sql/upgrade/$(LAST_RELEASE)--$(EXTVERSION).sql $(SQL_PARTS) src/sql/update.py $(EXTENSION).control Makefile
	@python3 src/sql/update.py $(LAST_RELEASE) $(EXTVERSION) $(RELEASE_DIR)/$(EXTENSION)--$(LAST_RELEASE).sql \
	  src/sql/upgrade/$(LAST_RELEASE)--$(EXTVERSION).sql $(SQL_PARTS) > $@.tmp
	@mv $@.tmp $@

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

# The generated-schema test of cancellation alone (test/generated), longer than
# in make test: CANCEL_EXAMPLES random schemas (default 10000) over CANCEL_JOBS
# processes (default 2), from CANCEL_SEED (default: a new seed each run).
CANCEL_EXAMPLES ?= 10000
CANCEL_JOBS ?= 2
CANCEL_SEED ?= random
.PHONY: check-cancel check-cancel-run
check-cancel: deps
	@$(MAKE) --no-print-directory check-cancel-run
check-cancel-run:
	@test/generated/run.sh $(CANCEL_EXAMPLES) $(CANCEL_SEED) $(CANCEL_JOBS)

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
