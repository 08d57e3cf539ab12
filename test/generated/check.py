# test/generated/check.py: one generated example against the database: build
# the schema, cancel the subject (dry run, real run, again), and check the
# invariants (a) to (g) of the test against the model (model.py).

import json
import time
from collections import Counter

import psycopg2
import psycopg2.extensions

from model import Model, effective_action, key_of
from schema import build_sql, cancel_sql, qi, runnable_sql

# what a refusal's SQLSTATE may be (doc/cancellation.md, "Blocked"); the
# refusal of an unlabelled table holding the subject's rows is a foreign key's
# or object_not_in_prerequisite_state
REFUSALS = {'23503', '23502', '23505', '23514', '55000'}
DELETE_ACTIONS = {'deleted'}
# categories whose anonymize method is keep (privacy.category.anonymize)
KEEP_CATEGORIES = {'financial.transaction'}
KEEP_ACTIONS = {'kept until retention', 'kept: legal hold'}
STUB_ACTION = 'kept as an anonymous stub'


class Failure(Exception):
    """A broken invariant: cls names its class (expected_failures.txt lists
    the classes known and reported)."""

    def __init__(self, cls, message):
        super().__init__(f'[{cls}] {message}')
        self.cls = cls


class DB:
    """Fresh databases made from a template that has the extension."""

    def __init__(self, dsn, template, prefix):
        self.dsn, self.template, self.prefix, self.n = dsn, template, prefix, 0
        self.admin = psycopg2.connect(dsn + ' dbname=postgres')
        self.admin.autocommit = True

    def reconnect(self):
        """After a server crash: wait for the restart, connect again."""
        for _ in range(120):
            try:
                self.admin = psycopg2.connect(self.dsn + ' dbname=postgres')
                self.admin.autocommit = True
                return
            except psycopg2.OperationalError:
                time.sleep(0.5)
        raise RuntimeError('the server did not come back after a crash')

    def fresh(self):
        self.n += 1
        if self.admin.closed:
            self.reconnect()
        name = f'{self.prefix}_{self.n}'
        with self.admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS {qi(name)}')
            cur.execute(f'CREATE DATABASE {qi(name)} TEMPLATE {qi(self.template)}')
        conn = psycopg2.connect(self.dsn + f' dbname={name}')
        conn.autocommit = True
        return name, conn

    def drop(self, name, conn):
        conn.close()
        try:
            self.admin.cursor().execute('SELECT 1')
        except psycopg2.Error:
            self.reconnect()
        with self.admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS {qi(name)}')


def snapshot(cur, ex, names, schema_name):
    """Every row of every table, by rid: {table index: {rid: {column: value}}}."""
    out = {}
    for t in range(len(ex.tables)):
        cur.execute(f"SELECT rid, to_jsonb(x) - 'rid' FROM {qi(schema_name)}.{qi(names[t])} x")
        out[t] = {str(rid): row for rid, row in cur.fetchall()}
    return out


def relation_map(cur, ex, names, schema_name):
    """regclass text of every table and partition -> table index."""
    m = {}
    for t in range(len(ex.tables)):
        cur.execute("SELECT c.oid::regclass::text, c.oid FROM pg_class c WHERE c.oid = %s::regclass",
                    (f'{qi(schema_name)}.{qi(names[t])}',))
        text, oid = cur.fetchone()
        m[text] = t
        cur.execute("SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = %s", (oid,))
        for (p,) in cur.fetchall():
            m[p] = t
    return m


def audit_count(cur):
    cur.execute('SELECT max(seq) FROM privacy.audit_log')
    return cur.fetchone()[0] or 0


def audit_growth(cur, since):
    """'' when the audit log has no entry after seq since; else a class
    suffix: '-key-creation' when the new entries only create the database's
    pseudonym key (privacy.subjects), on its first use, '' + '-entries' else."""
    cur.execute("SELECT kind, detail->>'operation', object FROM privacy.audit_log WHERE seq > %s", (since,))
    rows = cur.fetchall()
    if not rows:
        return None
    if all(k == 'key' and op == 'create' for k, op, _ in rows):
        return '-key-creation'
    return ''


def run_cancel(cur, ex, dry_run=False):
    """('done', rows) or ('refused', (sqlstate, message, detail, hint))."""
    sp = not cur.connection.autocommit
    if sp:
        cur.execute('SAVEPOINT c')
    try:
        cur.execute(cancel_sql(ex, dry_run).rstrip(';'))
        rows = [tuple(r) for r in cur.fetchall()]
        if sp:
            cur.execute('RELEASE SAVEPOINT c')
        return 'done', rows
    except psycopg2.Error as e:
        if sp:
            cur.execute('ROLLBACK TO SAVEPOINT c')
        d = e.diag
        return 'refused', (e.pgcode, d.message_primary or '', d.message_detail or '', d.message_hint or '')


def row_diff(before, after):
    """Per table: deleted rids, and changed rids with their changed columns."""
    out = {}
    for t in before:
        deleted = set(before[t]) - set(after[t])
        changed = {}
        for rid, row in before[t].items():
            if rid in after[t]:
                cols = {c for c in row if row.get(c) != after[t][rid].get(c)}
                if cols:
                    changed[rid] = cols
        new = set(after[t]) - set(before[t])
        out[t] = (deleted, changed, new)
    return out


def outcome(before, after):
    """What happened to each row, comparable across table names: deleted, or
    which columns changed and whether each became NULL."""
    o = {}
    for t in before:
        for rid, row in before[t].items():
            if rid not in after[t]:
                o[(t, rid)] = 'deleted'
            else:
                ch = tuple(sorted((c, after[t][rid].get(c) is None) for c in row if row.get(c) != after[t][rid].get(c)))
                if ch:
                    o[(t, rid)] = ch
    return o


def result_by_table(rows, relmap, names):
    """The result's rows, with table indexes for relations (details with
    table names are left out, they differ between names)."""
    out = Counter()
    for rel, action, n, detail in rows:
        t = relmap.get(rel, rel)
        out[(t, action, n)] += 1
    return out


def build(conn, ex, names, schema_name, order=None):
    with conn.cursor() as cur:
        for stmt in build_sql(ex, names, schema_name, order):
            cur.execute(stmt)


def variant_outcome(conn, ex):
    """The same schema with other names and another creation order,
    cancelled in a transaction that is rolled back: its outcome (check c)."""
    conn.autocommit = False
    try:
        with conn.cursor() as cur:
            build(conn, ex, ex.other_names, ex.other_schema_name, ex.other_order)
            before = snapshot(cur, ex, ex.other_names, ex.other_schema_name)
            relmap = relation_map(cur, ex, ex.other_names, ex.other_schema_name)
            st, res = run_cancel(cur, ex)
            after = snapshot(cur, ex, ex.other_names, ex.other_schema_name)
            if st == 'refused':
                return 'refused', res[0], None, None
            return 'done', None, outcome(before, after), result_by_table(res, relmap, ex.other_names)
    finally:
        conn.rollback()
        conn.autocommit = True


def pinned_columns(ex, after):
    """Columns of rows that a row still present after the cancellation
    references through a foreign key: "its key stays"."""
    pinned = {t: {} for t in range(len(ex.tables))}
    for t, tab in enumerate(ex.tables):
        for fk in tab.fks:
            ptab = ex.tables[fk.parent]
            keys = set()
            for row in after[t].values():
                k = key_of(row, fk.cols)
                if k is not None:
                    keys.add(tuple(str(v).rstrip(' ') if isinstance(v, str) else str(v) for v in k))
            for rid, prow in after[fk.parent].items():
                pk = key_of(prow, ptab.key)
                if pk is not None and tuple(str(v).rstrip(' ') if isinstance(v, str) else str(v) for v in pk) in keys:
                    pinned[fk.parent].setdefault(rid, set()).update(ptab.key)
            # and the other end: a NOT NULL key of a row that stays, into a row
            # that stays, keeps its value (it cannot be cut; the parent is a stub)
            if all(tab.col(c).not_null for c in fk.cols):
                present = {tuple(str(v).rstrip(' ') if isinstance(v, str) else str(v) for v in key_of(prow, ptab.key))
                           for prow in after[fk.parent].values() if key_of(prow, ptab.key) is not None}
                for rid, row in after[t].items():
                    k = key_of(row, fk.cols)
                    if k is not None and tuple(str(v).rstrip(' ') if isinstance(v, str) else str(v) for v in k) in present:
                        pinned[t].setdefault(rid, set()).update(fk.cols)
    return pinned


def check_completed(ex, m, before, after, result, receipt):
    """The invariants of a completed cancellation: (a), (b), (f)."""
    from schema import canonical
    pinned = pinned_columns(ex, after)
    diff = row_diff(before, after)
    s_kind, s = m.s
    problems = []

    def fail(cls, msg):
        problems.append((cls, msg))

    # the foreign keys of each table whose row (before) reached a row of s
    def fk_cols_to_s(t, rid):
        cols = set()
        for i, fk in enumerate(ex.tables[t].fks):
            p = m.parent.get((t, rid, i))
            if p is not None and m.cls[fk.parent][p] != 'other':
                cols.update(fk.cols)
        return cols

    def holds_s(t, col, val):
        c = ex.tables[t].col(col)
        return c.subject_kind == s_kind and val is not None and canonical(ex.kinds[s_kind], val) == s

    def key_suffix(t, c):
        """'-referenced-key' when the column is in the table's key and some
        foreign key of the schema references the table (a reading: "a key
        other tables reference stays", by the schema rather than the rows)."""
        referenced = any(fk.parent == t for tab in ex.tables for fk in tab.fks)
        return '-referenced-key' if referenced and c in ex.tables[t].key else ''

    for t, tab in enumerate(ex.tables):
        act = effective_action(tab)
        deleted, changed, new = diff[t]
        if new:
            fail('new-rows', f'table {t}: rows appeared: {sorted(new)}')
        labelled = {c.name for c in tab.columns if c.category}
        subj_cols = {c.name for c in tab.columns if c.subject_kind == s_kind}
        for rid, row in before[t].items():
            cls = m.cls[t][rid]
            a = after[t].get(rid)
            to_s = fk_cols_to_s(t, rid)
            pin = pinned[t].get(rid, set())
            where = f'table {t} ({act or "unlabelled"}) row rid={rid} ({cls}, owners {sorted(m.owners[t][rid])})'
            if cls == 'other':
                if a is None:
                    fail('b-other-row-deleted' + ('' if m.owners[t][rid] else '-nobody'),
                         f'{where} was deleted: it does not belong to the subject')
                    continue
                bad = changed.get(rid, set()) - to_s
                if bad:
                    fail('b-other-row-changed', f'{where}: columns {sorted(bad)} changed: {row} -> {a}')
                continue
            if cls == 'shared':
                if a is None:
                    fail('b-shared-row-deleted', f'{where} was deleted: it is shared with another subject')
                    continue
                allowed = to_s | {c for c in subj_cols if holds_s(t, c, row.get(c))}
                bad = changed.get(rid, set()) - allowed
                if bad:
                    fail('b-shared-row-changed', f'{where}: columns {sorted(bad)} changed: {row} -> {a}')
                for c in subj_cols:
                    if holds_s(t, c, row.get(c)) and holds_s(t, c, a.get(c)) and c not in pin:
                        fail('a-shared-subject-remains' + key_suffix(t, c),
                             f'{where}: SUBJECT column {c} still holds the subject: {a}')
                continue
            # the subject's alone
            if act is None:
                # left to the database (its owning keys all cascade)
                if a is not None:
                    bad = changed.get(rid, set()) - to_s
                    if bad:
                        fail('b-unlabelled-row-changed', f'{where}: columns {sorted(bad)} changed: {row} -> {a}')
                continue
            if a is None:
                if act in ('anonymize', 'keep until retention'):
                    fail(f'a-{act.split()[0]}-row-deleted', f'{where} was deleted: its table says {act}')
                continue
            ch = changed.get(rid, set())
            if act == 'keep until retention':
                bad = ch - to_s
                if bad:
                    fail('a-kept-row-changed', f'{where}: columns {sorted(bad)} changed: {row} -> {a}')
                continue
            if act == 'delete' and not pin:
                fail('a-deleted-row-remains', f'{where} is still there and nothing references it: {a}')
            # anonymized, or a stub: every labelled value replaced
            for c in labelled:
                if row.get(c) is not None and a.get(c) == row.get(c) and c not in pin:
                    keep = ('ANONYMIZE WITH KEEP' in (tab.col(c).label or '')
                            or tab.col(c).category in KEEP_CATEGORIES)
                    if keep:
                        # labels.md: a column anonymized WITH KEEP (or of a category
                        # whose method is keep) keeps its value in cancellation too
                        continue
                    fail('a-labelled-value-remains',
                         f'{where}: labelled column {c} kept its value {row.get(c)!r}')
            for c in subj_cols:
                if holds_s(t, c, a.get(c)) and c not in pin:
                    fail('a-subject-remains' + key_suffix(t, c),
                         f'{where}: SUBJECT column {c} still holds the subject: {a}')
            plain = {c for c in row if not tab.col(c).label and tab.col(c).role not in ('fk',)}
            bad = (ch & plain) - to_s
            if bad:
                fail('b-unlabelled-column-changed', f'{where}: unlabelled columns {sorted(bad)} changed')
            if act == 'anonymize':
                for i, fk in enumerate(tab.fks):
                    p = m.parent.get((t, rid, i))
                    if (p is not None and m.cls[fk.parent][p] == 'alone' and m.owning[(t, i)][0]
                            and all(not tab.col(c).not_null for c in fk.cols) and key_of(a, fk.cols) is not None):
                        fail('a-link-not-cut', f'{where}: the nullable owning key {fk.cols} still points at the subject\'s row')

    # no SUBJECT column anywhere still holds the subject, except kept rows
    # and referenced keys
    for t, tab in enumerate(ex.tables):
        act = effective_action(tab)
        for rid, a in after[t].items():
            if act == 'keep until retention' and m.cls[t].get(rid) == 'alone':
                continue
            for c in tab.columns:
                if holds_s(t, c.name, a.get(c.name)) and c.name not in pinned[t].get(rid, set()):
                    if m.cls[t].get(rid) == 'other':
                        fail('a-subject-remains', f'table {t} row {rid}: SUBJECT column {c.name} holds the subject')

    # (f) the result and the receipt count the rows that changed
    relmap = ex._relmap
    got = Counter()
    for rel, action, n, detail in result:
        got[(relmap.get(rel, rel), action)] += n
    rec = Counter()
    for e in receipt.get('tables', []):
        rec[(relmap.get(e.get('relation'), e.get('relation')), e.get('action'))] += e.get('rows', 0)
    if got != rec:
        fail('f-receipt-differs-from-result', f'result {dict(got)} but receipt {dict(rec)}')
    for t, tab in enumerate(ex.tables):
        deleted, changed, _ = diff[t]
        acts = {a: n for (tt, a), n in got.items() if tt == t}
        n_del = sum(n for a, n in acts.items() if a in DELETE_ACTIONS)
        n_keep = sum(n for a, n in acts.items() if a in KEEP_ACTIONS)
        n_stub = acts.get(STUB_ACTION, 0)
        n_chg = sum(n for a, n in acts.items()
                    if a not in DELETE_ACTIONS | KEEP_ACTIONS | {'blocked', 'unchanged', STUB_ACTION})
        n_same = acts.get('unchanged', 0)
        # stubs: the subject's rows of a table that deletes them, still there
        # (pinned by a kept row); counted as kept, whether or not anything of
        # them had to be cleared (a stub of only ANONYMIZE WITH KEEP columns
        # changes nothing), and left out of the rows changed below
        # and, in a table that anonymizes them, the subject's rows whose
        # referenced SUBJECT key still holds the subject (rows that stay refer to it)
        subj_t = {c.name for c in tab.columns if c.subject_kind == s_kind}
        if acts.get('kept: legal hold'):
            stubs = set()
        elif effective_action(tab) == 'delete':
            stubs = {rid for rid in m.alone(t) if rid in after[t]}
        elif effective_action(tab) == 'anonymize':
            stubs = {rid for rid in m.alone(t) if rid in after[t]
                     and any(holds_s(t, c, after[t][rid].get(c)) and c in pinned[t].get(rid, set()) for c in subj_t)}
        else:
            stubs = set()
        if n_stub != len(stubs):
            fail('f-stub-count', f'table {t}: the result counts {n_stub} kept as anonymous stubs, '
                 f'{len(stubs)} rows of the subject that its table deletes stayed')
        changed = {rid: cols for rid, cols in changed.items() if rid not in stubs}
        # rows left as they were: of others, shared, or the subject's own in a
        # table that anonymizes them with nothing to change (doc/cancellation.md)
        stayed = sum(1 for rid in after[t] if rid in m.before[t] and rid not in changed
                     and (m.cls[t].get(rid) in ('shared', 'other')
                          or (m.cls[t].get(rid) == 'alone' and effective_action(tab) == 'anonymize')))
        if n_same > stayed:
            fail('f-unchanged-count', f'table {t}: the result counts {n_same} unchanged, {stayed} rows of others stayed as they were')
        if n_del != len(deleted):
            fail('f-deleted-count', f'table {t}: the result counts {n_del} deleted, {len(deleted)} rows were deleted ({acts})')
        unchanged_shared = sum(1 for rid in m.shared[t] if m.cls[t].get(rid) == 'shared'
                               and rid in after[t] and rid not in changed)
        if n_chg > len(changed) and n_chg - len(changed) <= unchanged_shared:
            # shared rows where nothing could be cleared, counted though
            # unchanged (sql/cancel_cases.sql expects it; (f) counts changes)
            fail('f-counted-unchanged-shared', f'table {t}: the result counts {n_chg} changed ({acts}), '
                 f'{len(changed)} rows changed; {unchanged_shared} shared rows stayed as they were')
        elif n_chg != len(changed):
            fail('f-changed-count', f'table {t}: the result counts {n_chg} changed ({acts}), {len(changed)} rows changed: {sorted(changed.items())}')
        if effective_action(tab) == 'keep until retention':
            kept = len(m.alone(t))
            if n_keep != kept:
                fail('f-kept-count', f'table {t}: the result counts {n_keep} kept until retention, {kept} rows are the subject\'s')
    return problems


_classes = {}


def failure_type(cls):
    """One exception type per class, so that hypothesis reports (and shrinks)
    each distinct failure on its own."""
    if cls not in _classes:
        _classes[cls] = type('Failure_' + cls.replace('-', '_'), (Failure,), {})
    return _classes[cls]


def run_example(db, ex, xfail=frozenset(), stats=None, survey=None):
    """Run one example; raise Failure on the first broken invariant that is
    not an expected failure."""
    name, conn = db.fresh()
    found = []
    steps = []
    try:
        found = _run(conn, ex, steps)
    except (psycopg2.OperationalError, psycopg2.InterfaceError) as e:
        # the server went away: a backend crashed
        found = [('server-crashed', f'the connection broke during {steps[-1] if steps else "?"}: {e}')]
    finally:
        db.drop(name, conn)
    if stats is not None:
        stats['examples'] += 1
    if survey is not None:
        survey(ex, found)
        return
    real = [(c, msg) for c, msg in found if c not in xfail]
    if stats is not None:
        for c, _ in found:
            if c in xfail:
                stats['xfail:' + c] += 1
    if real:
        cls, msg = real[0]
        more = ''.join(f'\n  also [{c}] {mm}' for c, mm in real[1:6])
        raise failure_type(cls)(cls, msg + more)


def must_block(ex, m):
    """An unlabelled table holds the subject's rows and not all its owning
    keys cascade: the cancellation must be refused."""
    for t, tab in enumerate(ex.tables):
        if effective_action(tab) is None and m.alone(t):
            owning = [fk for i, fk in enumerate(tab.fks) if m.owning[(t, i)][0]]
            if not all(fk.on_delete == 'CASCADE' for fk in owning):
                return t
    return None


def must_complete(ex, m):
    """A schema on which nothing may stop the cancellation: every table
    labelled, no CHECK constraint, no cycle of foreign keys."""
    if any(effective_action(tab) is None for tab in ex.tables):
        return False
    if any(c.check for tab in ex.tables for c in tab.columns):
        return False
    # a short char(n) or varchar(n) key that is labelled: its anonymous value
    # may collide (23505) or not fit
    for tab in ex.tables:
        for c in tab.columns:
            short = c.type.startswith('char(') or c.type.startswith('varchar(')
            if short and c.label and (c.name in tab.key or c.unique):
                return False
    # cycles (self-references included)
    edges = {t: {fk.parent for fk in tab.fks} for t, tab in enumerate(ex.tables)}
    seen, stack = set(), set()

    def cyc(t):
        if t in stack:
            return True
        if t in seen:
            return False
        seen.add(t)
        stack.add(t)
        r = any(cyc(p) for p in edges[t])
        stack.discard(t)
        return r
    return not any(cyc(t) for t in edges)


def _run(conn, ex, steps):
    problems = []

    def fail(cls, msg):
        problems.append((cls, msg))

    # (c) first, rolled back: the same schema with other names and order
    steps.append('the cancellation with other table names (check c)')
    v_state, v_code, v_outcome, v_result = variant_outcome(conn, ex)
    steps.append('building the schema')

    cur = conn.cursor()
    conn.autocommit = False
    build(conn, ex, ex.names, ex.schema_name)
    conn.commit()
    before = snapshot(cur, ex, ex.names, ex.schema_name)
    ex._relmap = relation_map(cur, ex, ex.names, ex.schema_name)
    conn.commit()
    conn.autocommit = True
    m = Model(ex, before)
    n_audit = audit_count(cur)

    # (d) the dry run: the plan, nothing changed
    steps.append('the dry run')
    d_state, d_res = run_cancel(cur, ex, dry_run=True)
    if (d_state == 'refused' and d_res[0] == '42704'
            and not any(c.subject_kind == ex.kind for tab in ex.tables for c in tab.columns)):
        return problems     # no column of the kind: an unknown kind, refused
    after_dry = snapshot(cur, ex, ex.names, ex.schema_name)
    if d_state != 'done':
        fail(f'd-dry-run-error-{d_res[0]}', f'the dry run failed: {d_res}')
    if after_dry != before:
        fail('d-dry-run-changed', f'the dry run changed rows: {row_diff(before, after_dry)}')
    g = audit_growth(cur, n_audit)
    if g is not None:
        fail('d-dry-run-audited' + g, 'the dry run wrote to the audit log')
    n_audit = audit_count(cur)

    # the cancellation
    steps.append('the cancellation')
    state, res = run_cancel(cur, ex)
    after = snapshot(cur, ex, ex.names, ex.schema_name)
    n_audit2 = audit_count(cur)
    blocked_in_plan = d_state == 'done' and any(r[1] == 'blocked' for r in d_res)
    if state == 'refused':
        code, msg, det, hint = res
        text = ' '.join((msg, det, hint))
        # (g) refused: nothing changed, and the message names a table and what to do
        if after != before:
            fail('g-refused-but-changed', f'refused ({code}: {msg}) but rows changed: {row_diff(before, after)}')
        g = audit_growth(cur, n_audit)
        if g is not None:
            fail('g-refused-but-audited' + g, 'refused, but the audit log grew')
        if code not in REFUSALS:
            fail(f'g-error-{code}', f'the cancellation failed with {code}: {msg} / {det} / {hint}')
        elif not any(r in text for r in ex._relmap):
            fail('g-message-names-no-table', f'{code}: {text}')
        elif 'label' not in text.lower() and 'constraint' not in text.lower():
            fail('g-message-says-nothing-to-do', f'{code}: {text}')
        elif must_complete(ex, m):
            fail('g-refused-but-must-complete', f'refused on a schema where nothing may stop it: {code}: {text}')
        if d_state == 'done' and not blocked_in_plan:
            fail('d-refused-but-plan-not-blocked', f'refused ({code}: {msg}), but the dry run shows no blocked row: {d_res}')
        if v_state != 'refused':
            fail('c-names-change-outcome', f'refused ({code}) here, completed with other table names')
        return problems

    # completed
    if blocked_in_plan:
        fail('d-plan-blocked-but-done', f'the dry run shows blocked rows, the real run completed: {d_res}')
    if d_state == 'done' and Counter(d_res) != Counter(res):
        fail('d-plan-differs', f'dry run {sorted(d_res, key=str)} but real run {sorted(res, key=str)}')
    mb = must_block(ex, m)
    if mb is not None:
        fail('g-unlabelled-table-not-refused',
             f'table {mb} has no label and holds the subject\'s rows ({sorted(m.alone(mb))}), yet the cancellation completed')

    actions = [r[1] for r in res]
    if not m.holds_subject():
        if actions != ['not found']:
            fail('a-not-found', f'no row holds the subject, the result is {res}')
        if after != before:
            fail('a-not-found-changed', 'a subject nobody holds: rows changed')
        g = audit_growth(cur, n_audit)
        if g is not None:
            fail('a-not-found-audited' + g, 'a subject nobody holds: the audit log grew')
        receipt = None
    else:
        if 'not found' in actions:
            fail('a-found-not-found', f'rows hold the subject, the result is {res}')
        cur.execute("SELECT detail FROM privacy.audit_log WHERE kind = 'cancellation' ORDER BY seq DESC LIMIT 1")
        r = cur.fetchone()
        receipt = r[0] if r else {}
        if n_audit2 <= n_audit or not r:
            fail('f-no-receipt', 'the cancellation wrote no audit entry')
        problems += check_completed(ex, m, before, after, res, receipt)

    # (e) a second cancellation changes nothing
    steps.append('the second cancellation')
    state2, res2 = run_cancel(cur, ex)
    after2 = snapshot(cur, ex, ex.names, ex.schema_name)
    if after2 != after:
        fail('e-second-changed', f'the second cancellation changed rows: {row_diff(after, after2)}')
    g = audit_growth(cur, n_audit2)
    if g is not None:
        fail('e-second-audited' + g, 'the second cancellation wrote to the audit log')
    if m.holds_subject() and (state2 != 'done' or [r[1] for r in res2] != ['already cancelled']):
        fail('e-second-not-already-cancelled', f'the second cancellation gave {state2}: {res2}')

    # (c) other names, same outcome
    if v_state != 'done':
        fail('c-names-change-outcome', f'completed here, refused ({v_code}) with other table names')
    else:
        mine = outcome(before, after)
        if mine != v_outcome:
            keys = sorted(set(mine) | set(v_outcome))
            d = [(k, mine.get(k), v_outcome.get(k)) for k in keys if mine.get(k) != v_outcome.get(k)]
            fail('c-names-change-outcome', f'rows differ with other names (row, here, there): {d[:8]}')
        if result_by_table(res, ex._relmap, ex.names) != v_result:
            fail('c-names-change-result', f'result {sorted(result_by_table(res, ex._relmap, ex.names).items(), key=str)} '
                 f'but with other names {sorted(v_result.items(), key=str)}')
    return problems


def explain(ex):
    """The model's view of an example, printed with a failure."""
    m = getattr(ex, '_model', None)
    return runnable_sql(ex)
