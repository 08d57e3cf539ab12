# test/generated/schema.py: the random schemas of the generated-schema test of
# cancellation: a hypothesis strategy that draws tables, keys, labels and rows,
# and the runnable SQL that builds one (what a failure prints).
#
# Every generated table has an unlabelled column "rid": a row's number, which
# nothing changes, so rows are matched before and after a cancellation.

from dataclasses import dataclass, field
from typing import List, Optional, Tuple

from hypothesis import strategies as st

# the type families of SUBJECT columns (doc/cancellation.md, "One spelling
# per subject"): the subject values each family draws from, and the column
# types of the family
FAMILIES = {
    'integer': {'values': ['1', '2', '7', '91', '1000', '32000'],
                'types': ['integer', 'bigint', 'smallint']},
    'text': {'values': ['a', 'b', 'ab', 'A', 'a b', 'x1'],
             'types': ['text', 'varchar(8)']},
    'bpchar': {'values': ['a', 'b', 'ab', 'abc', 'x'],
               'types': ['char(1)', 'char(2)', 'char(3)', 'char(4)']},
    'uuid': {'values': ['00000000-0000-0000-0000-00000000000a', '00000000-0000-0000-0000-00000000000b',
                        '5b8e1b2c-0f4e-4c41-9d3a-6f1e2d3c4b5a', 'ffffffff-0000-4000-8000-000000000001'],
             'types': ['uuid']},
}

# categories of labelled data columns, and what each does to a table without
# ON CANCEL (privacy.category.on_cancel)
CATEGORIES = {
    'identity.name': 'delete', 'content.message': 'delete', 'account.profile': 'delete',
    'contact.phone': 'delete', 'contact.email': 'delete',
    'commerce.order': 'anonymize', 'financial.transaction': 'anonymize',
    'log.login': 'keep until retention',
}

ON_CANCEL = {'delete': 'ON CANCEL DELETE', 'anonymize': 'ON CANCEL ANONYMIZE',
             'keep until retention': 'RETAIN 1 year AFTER at ON CANCEL KEEP UNTIL RETENTION'}

FK_ACTIONS = ['NO ACTION', 'RESTRICT', 'CASCADE', 'SET NULL', 'SET DEFAULT']


def bpchar_len(typ):
    return int(typ[5:-1]) if typ.startswith('char(') else None


def fits(typ, value):
    n = bpchar_len(typ)
    return n is None or len(value) <= n


def canonical(family, value):
    """The canonical form of a value read back from a column of the family
    (a JSON value of to_jsonb): what the contract compares subjects by."""
    if value is None:
        return None
    if family == 'integer':
        return str(int(value))
    if family == 'bpchar':
        return str(value).rstrip(' ')
    if family == 'uuid':
        return str(value).lower()
    return str(value)


def qi(name):
    return '"' + name.replace('"', '""') + '"'


def lit(value):
    if value is None:
        return 'NULL'
    return "'" + str(value).replace("'", "''") + "'"


@dataclass
class Column:
    name: str
    type: str
    not_null: bool = False
    unique: bool = False
    label: Optional[str] = None      # the column's privacy label
    subject_kind: Optional[str] = None   # a SUBJECT column: its kind
    category: Optional[str] = None
    check: Optional[str] = None      # a CHECK constraint's expression
    role: str = 'data'               # rid, key, subject, data, plain, at, fk


@dataclass
class ForeignKey:
    cols: List[str]
    parent: int
    on_delete: str
    link: Optional[str] = None       # OWNER, REFERENCE or None
    deferrable: bool = False


@dataclass
class Table:
    columns: List[Column]
    key: List[str]                   # the primary key's columns
    fks: List[ForeignKey]
    on_cancel: Optional[str]         # delete, anonymize, keep until retention or None
    partitioned: bool
    indexes: List[List[str]]
    rows: List[dict] = field(default_factory=list)   # column -> Python value (str or None)

    def col(self, name):
        return next(c for c in self.columns if c.name == name)

    def labelled(self):
        return self.on_cancel is not None or any(c.label for c in self.columns)


@dataclass
class Example:
    kinds: dict                      # kind -> family
    tables: List[Table]
    subject: str                     # the canonical subject cancelled
    kind: str
    spelling: str                    # the text given to cancel_subject
    names: List[str]                 # table names
    schema_name: str
    other_names: List[str]           # the same schema, other names (check c)
    other_schema_name: str
    other_order: List[int]           # and another creation order


NAME_CHARS = 'abcdefgxyz_ABZ09 -."'


def names_strategy(n):
    name = st.text(alphabet=NAME_CHARS, min_size=1, max_size=10).filter(lambda s: s.strip(' ') == s)
    return st.lists(name, min_size=n, max_size=n, unique_by=lambda s: s.lower())


@st.composite
def examples(draw, max_tables=8):
    nkinds = draw(st.sampled_from([1, 1, 1, 2]))
    kinds = {'person': draw(st.sampled_from(sorted(FAMILIES)))}
    if nkinds == 2:
        kinds['org'] = draw(st.sampled_from(sorted(FAMILIES)))
    kind_names = sorted(kinds)
    pools = {k: draw(st.lists(st.sampled_from(FAMILIES[f]['values']), min_size=2, max_size=4, unique=True))
             for k, f in kinds.items()}
    ntables = draw(st.integers(min_value=2, max_value=max_tables))
    tables = []
    for t in range(ntables):
        cols = [Column('rid', 'integer', not_null=True, role='rid')]
        key_kind = None
        key_style = draw(st.sampled_from(['id', 'id', 'id2', 'subject']))
        if key_style == 'subject':
            key_kind = draw(st.sampled_from(kind_names))
            typ = draw(st.sampled_from(FAMILIES[kinds[key_kind]]['types']))
            # a subject table: its key is the subject (users.id)
            cols.append(Column('id', typ, not_null=True, role='subject', subject_kind=key_kind,
                               label='SUBJECT' + ('' if key_kind == 'person' else ' ' + key_kind)))
            key = ['id']
        elif key_style == 'id2':
            cols += [Column('id', 'integer', not_null=True, role='key'),
                     Column('id2', 'integer', not_null=True, role='key')]
            key = ['id', 'id2']
        else:
            cols.append(Column('id', 'integer', not_null=True, role='key'))
            key = ['id']
        for j in range(draw(st.integers(0, 2))):
            k = draw(st.sampled_from(kind_names))
            typ = draw(st.sampled_from(FAMILIES[kinds[k]]['types']))
            cols.append(Column(f's{j}', typ, not_null=draw(st.booleans()), role='subject', subject_kind=k,
                               label='SUBJECT' + ('' if k == 'person' else ' ' + k)))
        for j in range(draw(st.integers(0, 2))):
            cat = draw(st.sampled_from(sorted(CATEGORIES)))
            typ = draw(st.sampled_from(['text', 'varchar(40)']))
            c = Column(f'd{j}', typ, not_null=draw(st.booleans()), unique=draw(st.integers(0, 4)) == 0,
                       category=cat, label='CATEGORY ' + cat)
            if draw(st.integers(0, 9)) == 0:
                c.label += ' ANONYMIZE WITH KEEP'
            if c.not_null and draw(st.integers(0, 9)) == 0:
                # refuses the anonymous value (the rows' values pass it)
                c.check = (f"{qi(c.name)} LIKE '138%'" if cat == 'contact.phone' else f"{qi(c.name)} LIKE 'v%'")
            cols.append(c)
        cols.append(Column('u', 'text', role='plain'))
        on_cancel = draw(st.sampled_from([None, 'delete', 'anonymize', 'keep until retention', 'delete', 'anonymize']))
        if on_cancel is None and draw(st.integers(0, 2)) == 0:
            # an unlabelled table: no label on it or its columns
            cols = [c for c in cols if c.role in ('rid', 'key', 'plain')]
            if key_style == 'subject':
                cols.insert(1, Column('id', 'integer', not_null=True, role='key'))
        cols.append(Column('at', 'date', not_null=True, role='at'))
        tables.append(Table(cols, key, [], on_cancel, draw(st.integers(0, 4)) == 0, []))

    # foreign keys: forward (to an earlier table), back (cycles) and to itself
    for t, tab in enumerate(tables):
        for j in range(draw(st.integers(0, 3))):
            parent = draw(st.integers(0, ntables - 1))
            back = parent >= t
            if back and draw(st.integers(0, 2)) > 0:
                parent = draw(st.integers(0, t - 1)) if t > 0 else parent
            ptab = tables[parent]
            pkey = [ptab.col(c) for c in ptab.key]
            nullable = draw(st.booleans())
            mixed = len(pkey) > 1 and draw(st.integers(0, 3)) == 0
            names = [f'f{j}_{i}' for i in range(len(pkey))]
            fcols = []
            for i, (nm, pc) in enumerate(zip(names, pkey)):
                nn = (not nullable) if not mixed else (i == 0)
                fcols.append(Column(nm, pc.type, not_null=nn, role='fk'))
            link = None
            labelled_table = tab.labelled()
            r = draw(st.integers(0, 9))
            if labelled_table and r < 2:
                link = 'OWNER'
            elif labelled_table and r < 4:
                link = 'REFERENCE'
            elif labelled_table and r == 4 and pkey[0].subject_kind and len(pkey) == 1:
                # the foreign key's column is a SUBJECT column too (messages.sender)
                fcols[0].role = 'subject'
                fcols[0].subject_kind = pkey[0].subject_kind
                fcols[0].label = pkey[0].label
            if link:
                fcols[0].label = link
            all_nullable = all(not c.not_null for c in fcols)
            acts = [a for a in FK_ACTIONS if all_nullable or a not in ('SET NULL', 'SET DEFAULT')]
            on_delete = draw(st.sampled_from(acts))
            if not tab.partitioned and draw(st.integers(0, 6)) == 0:
                for c in fcols:
                    c.unique = False
                fk_unique = True
            else:
                fk_unique = False
            tab.columns[-1:-1] = fcols     # before "at"
            fk = ForeignKey(names, parent, on_delete, link, deferrable=draw(st.integers(0, 9)) == 0)
            fk.unique = fk_unique
            tab.fks.append(fk)
            if draw(st.booleans()):
                tab.indexes.append(names)
        for c in tab.columns:
            if c.role == 'subject' and c.name != 'id' and draw(st.booleans()):
                tab.indexes.append([c.name])

    # rows
    rid = 0
    counts = [draw(st.integers(0, 6)) for _ in tables]
    changed = True
    while changed:      # a NOT NULL key needs a parent row
        changed = False
        for t, tab in enumerate(tables):
            for fk in tab.fks:
                if counts[t] and counts[fk.parent] == 0 and any(tab.col(c).not_null for c in fk.cols):
                    counts[t] = 0
                    changed = True
    for t, tab in enumerate(tables):
        if tab.key == ['id'] and tab.col('id').role == 'subject':
            c = tab.col('id')
            vals = [v for v in pools[c.subject_kind] if fits(c.type, v)]
            counts[t] = min(counts[t], len(vals))
            ids = draw(st.permutations(vals))[:counts[t]]
        else:
            ids = None
        for i in range(counts[t]):
            rid += 1
            row = {'rid': str(rid)}
            for c in tab.columns:
                if c.role == 'key':
                    row[c.name] = str(rid) if c.name == 'id' else str(rid % 2)
                elif c.role == 'subject' and c.name == 'id':
                    row['id'] = ids[i]
                elif c.role == 'subject' and not c.name.startswith('f'):
                    vals = [v for v in pools[c.subject_kind] if fits(c.type, v)]
                    if not vals:
                        c.not_null = False      # no subject of the kind fits char(n)
                    opts = vals + ([None] if not c.not_null else [])
                    row[c.name] = draw(st.sampled_from(opts))
                elif c.role == 'data':
                    row[c.name] = (f'1380000{rid:04d}' if c.category == 'contact.phone' else
                                   f'v{rid}@example.com' if c.category == 'contact.email' else f'v{rid}{c.name}')
                elif c.role == 'plain':
                    row[c.name] = f'u{rid}'
                elif c.role == 'at':
                    row[c.name] = '2026-01-01'
            tab.rows.append(row)
    for t, tab in enumerate(tables):
        keep = []
        for row in tab.rows:
            ok = True
            for fk in tab.fks:
                ptab = tables[fk.parent]
                fcols = [tab.col(c) for c in fk.cols]
                nullable = not any(c.not_null for c in fcols)
                used = {tuple(r[c] for c in fk.cols) for r in keep} if fk.unique else set()
                choices = [tuple(p[c] for c in ptab.key) for p in ptab.rows]
                choices = [ch for ch in choices if ch not in used]
                if nullable and (not choices or draw(st.integers(0, 3)) == 0):
                    vals = (None,) * len(fk.cols)
                elif not choices:
                    ok = False
                    break
                else:
                    vals = draw(st.sampled_from(choices))
                for c, v in zip(fk.cols, vals):
                    row[c] = v
            if ok:
                keep.append(row)
        tab.rows = keep
    # a NOT NULL key whose parent lost its rows: drop the child's rows (repeat)
    changed = True
    while changed:
        changed = False
        for tab in tables:
            for fk in tab.fks:
                pkeys = {tuple(p[c] for c in tables[fk.parent].key) for p in tables[fk.parent].rows}
                keep = [r for r in tab.rows
                        if any(r.get(c) is None for c in fk.cols) or tuple(r[c] for c in fk.cols) in pkeys]
                if len(keep) != len(tab.rows):
                    tab.rows = keep
                    changed = True

    used = sorted({c.subject_kind for tab in tables for c in tab.columns if c.subject_kind})
    kind = draw(st.sampled_from(used)) if used else 'person'
    family = kinds[kind]
    held = sorted({canonical(family, r[c.name]) for tab in tables for r in tab.rows for c in tab.columns
                   if c.subject_kind == kind and r.get(c.name) is not None})
    subject = draw(st.sampled_from(held or pools[kind]))
    spellings = [subject]
    if family == 'integer':
        spellings += ['+' + subject, '00' + subject, ' ' + subject]
    elif family == 'bpchar':
        spellings += [subject + '  ']
    elif family == 'uuid':
        spellings += [subject.upper()]
    spelling = draw(st.sampled_from(spellings))
    names = draw(names_strategy(ntables))
    schema_name = draw(names_strategy(1))[0]
    other_names = draw(names_strategy(ntables))
    other_schema_name = draw(names_strategy(1))[0]
    other_order = draw(st.permutations(range(ntables)))
    return Example(kinds, tables, subject, kind, spelling, names, schema_name, other_names,
                   other_schema_name, list(other_order))


def partition_name(name, i):
    return f'{name}%{i}'      # '%' is not in NAME_CHARS: no clash with a table


def build_sql(ex: Example, names=None, schema_name=None, order=None):
    """The statements that build the example's schema and rows."""
    names = names or ex.names
    sch = qi(schema_name or ex.schema_name)
    order = order or list(range(len(ex.tables)))
    q = lambda t: f'{sch}.{qi(names[t])}'
    out = [f'CREATE SCHEMA {sch};']
    for t in order:
        tab = ex.tables[t]
        defs = []
        for c in tab.columns:
            d = f'{qi(c.name)} {c.type}'
            if c.not_null:
                d += ' NOT NULL'
            if c.role == 'at':
                d += " DEFAULT '2026-01-01'"
            if c.unique and not tab.partitioned:
                d += ' UNIQUE'
            if c.check:
                d += f' CHECK ({c.check})'
            defs.append(d)
        defs.append('PRIMARY KEY (' + ', '.join(qi(c) for c in tab.key) + ')')
        for fk in tab.fks:
            if fk.unique:
                defs.append('UNIQUE (' + ', '.join(qi(c) for c in fk.cols) + ')')
        part = f' PARTITION BY HASH ({qi(tab.key[0])})' if tab.partitioned else ''
        out.append(f'CREATE TABLE {q(t)} (' + ', '.join(defs) + f'){part};')
        if tab.partitioned:
            for i in range(2):
                out.append(f'CREATE TABLE {sch}.{qi(partition_name(names[t], i))} PARTITION OF {q(t)}'
                           f' FOR VALUES WITH (MODULUS 2, REMAINDER {i});')
    for t in order:
        tab = ex.tables[t]
        if tab.rows:
            cols = [c.name for c in tab.columns]
            vals = ', '.join('(' + ', '.join(lit(r.get(c)) for c in cols) + ')' for r in tab.rows)
            out.append(f'INSERT INTO {q(t)} (' + ', '.join(qi(c) for c in cols) + f') VALUES {vals};')
    for t in order:
        tab = ex.tables[t]
        for fk in tab.fks:
            ptab = ex.tables[fk.parent]
            out.append(f'ALTER TABLE {q(t)} ADD FOREIGN KEY (' + ', '.join(qi(c) for c in fk.cols) + ') REFERENCES '
                       + q(fk.parent) + ' (' + ', '.join(qi(c) for c in ptab.key) + f') ON DELETE {fk.on_delete}'
                       + (' DEFERRABLE INITIALLY DEFERRED' if fk.deferrable else '') + ';')
        for ix in tab.indexes:
            out.append(f'CREATE INDEX ON {q(t)} (' + ', '.join(qi(c) for c in ix) + ');')
    for t in order:
        tab = ex.tables[t]
        for c in tab.columns:
            if c.label:
                out.append(f'SECURITY LABEL FOR privacy ON COLUMN {q(t)}.{qi(c.name)} IS {lit(c.label)};')
        if tab.on_cancel:
            out.append(f'SECURITY LABEL FOR privacy ON TABLE {q(t)} IS {lit(ON_CANCEL[tab.on_cancel])};')
    return out


def cancel_sql(ex: Example, dry_run=False):
    args = lit(ex.spelling)
    if dry_run:
        args += ', dry_run => true'
    if ex.kind != 'person':
        args += f', kind => {lit(ex.kind)}'
    return f'SELECT * FROM privacy.cancel_subject({args});'


def runnable_sql(ex: Example):
    """A script a developer pastes into psql (a database with the extension)."""
    return '\n'.join(['-- generated schema (test/generated): paste into psql',
                      '\\set VERBOSITY verbose'] + build_sql(ex) +
                     [cancel_sql(ex, dry_run=True), cancel_sql(ex)])
