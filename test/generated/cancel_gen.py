#!/usr/bin/python3
# test/generated/cancel_gen.py: the generated-schema test of account
# cancellation.  Hypothesis draws random schemas with rows (schema.py), each
# is built in a fresh database, a subject is cancelled, and the outcome is
# checked against the contract of doc/cancellation.md (model.py, check.py).
# A failure prints the smallest failing schema as runnable SQL.
#
#   cancel_gen.py --dsn 'host=/sock port=5432 user=postgres' --template gen_template \
#                 --examples 300 --seed 1
#
# Exit status: 0 when every example passed (expected failures counted apart),
# 1 when an invariant broke.

import argparse
import os
import sys
import time
import traceback
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from hypothesis import HealthCheck, Phase, given, note, seed, settings  # noqa: E402

from hypothesis.internal.conjecture import engine  # noqa: E402

from check import DB, Failure, run_example  # noqa: E402
from schema import examples, runnable_sql  # noqa: E402


def read_xfail(path):
    """The expected-failure classes: one a line, '#' starts a comment."""
    out = set()
    if path and os.path.exists(path):
        with open(path) as f:
            for line in f:
                line = line.split('#', 1)[0].strip()
                if line:
                    out.add(line)
    return frozenset(out)


def report(e):
    """Each failure: its invariant, then hypothesis's notes (the falsifying
    example, shrunk, and its SQL); a traceback only for an unexpected error."""
    subs = list(e.exceptions) if isinstance(e, BaseExceptionGroup) else [e]
    for i, sub in enumerate(subs, 1):
        print(f'\n==== failure {i} of {len(subs)} ====', file=sys.stderr)
        if isinstance(sub, Failure):
            print(f'FAILED: {sub}', file=sys.stderr)
        else:
            traceback.print_exception(type(sub), sub, sub.__traceback__, file=sys.stderr)
            continue
        for n in getattr(sub, '__notes__', []):
            print(n, file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--dsn', required=True, help='libpq connection string, without dbname')
    ap.add_argument('--template', required=True, help='a database with the extension, to copy')
    ap.add_argument('--prefix', default='gen', help='prefix of the databases made')
    ap.add_argument('--examples', type=int, default=300)
    ap.add_argument('--seed', type=int, default=None, help='fixed seed (reproducible run)')
    ap.add_argument('--max-tables', type=int, default=8)
    ap.add_argument('--xfail', default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                    'expected_failures.txt'))
    ap.add_argument('--survey', action='store_true',
                    help='run every example, count each failure class, print the smallest example of each')
    ap.add_argument('--shrink-seconds', type=float, default=120,
                    help='stop shrinking this long after the first failure (default 120)')
    ap.add_argument('--no-shrink', action='store_true', help='report the first failure as found')
    args = ap.parse_args()

    xfail = read_xfail(args.xfail)
    db = DB(args.dsn, args.template, args.prefix)
    stats = Counter()
    phases = [Phase.explicit, Phase.reuse, Phase.generate] + ([] if args.no_shrink else [Phase.shrink])

    seen = {}
    start = time.monotonic()

    def features(ex):
        """What the example has that a known failure needs (survey only)."""
        f = []
        edges = {t: {fk.parent for fk in tab.fks} for t, tab in enumerate(ex.tables)}

        def reaches(a, b, seen):
            return any(p == b or (p not in seen and reaches(p, b, seen | {p})) for p in edges[a])
        if any(reaches(t, t, {t}) for t in edges):
            f.append('cycle')
        if any(len(fk.cols) > 1 for tab in ex.tables for fk in tab.fks):
            f.append('composite key')
        return f

    def survey(ex, found):
        size = sum(len(t.rows) + len(t.columns) + 3 * len(t.fks) for t in ex.tables)
        for c, msg in found:
            stats['class:' + c] += 1
            stats['without:' + c] += not features(ex)
            key = c if features(ex) else c + ' (without a cycle or a composite key)'
            if key not in seen or size < seen[key][0]:
                seen[key] = (size, msg, runnable_sql(ex))

    @settings(max_examples=args.examples, deadline=None, database=None, phases=phases,
              suppress_health_check=list(HealthCheck), print_blob=False)
    @given(examples(max_tables=args.max_tables))
    def test_cancellation(ex):
        note('-- the smallest failing schema, as SQL for psql (a database with the extension):\n'
             + runnable_sql(ex))
        try:
            run_example(db, ex, xfail, stats, survey if args.survey else None)
        except Exception:
            # shrinking has no time limit of its own: after --shrink-seconds
            # from the first failure, the next smaller failing example ends it
            first = stats.setdefault('first failure', time.monotonic())
            if time.monotonic() - first > args.shrink_seconds:
                engine.MAX_SHRINKS = 0
            raise
        finally:
            if stats['examples'] % 250 == 0 and stats['examples'] and not stats['printed:%d' % stats['examples']]:
                stats['printed:%d' % stats['examples']] = 1
                print(f'... {stats["examples"]} examples, {time.monotonic() - start:.0f} s', file=sys.stderr, flush=True)

    if args.seed is not None:
        test_cancellation = seed(args.seed)(test_cancellation)
    status = 0
    try:
        test_cancellation()
    except KeyboardInterrupt:
        raise
    except BaseException as e:   # hypothesis raises a group for several distinct failures
        report(e)
        status = 1
    elapsed = time.monotonic() - start
    if any(c.split(' (')[0] not in xfail for c in seen):
        status = 1
    for c, (size, msg, sql) in sorted(seen.items()):
        k = c.split(' (')[0]
        print(f'\n==== class {c}: {stats["class:" + k]} examples ({stats["without:" + k]} without a cycle'
              f' or a composite key); the smallest seen ====\n{msg}\n{sql}')
    xf = ', '.join(f'{k[6:]}: {v}' for k, v in sorted(stats.items()) if k.startswith('xfail:'))
    print(f'generated schemas: {stats["examples"]} examples run in {elapsed:.1f} s'
          f' (seed {args.seed if args.seed is not None else "random"})'
          + (f'; expected failures (expected_failures.txt): {xf}' if xf else ''))
    return status


if __name__ == '__main__':
    sys.exit(main())
