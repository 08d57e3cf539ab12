# test/generated/model.py: whose rows are whose, computed from a generated
# schema and the rows read back from the database, following the contract of
# doc/cancellation.md ("The model: whose rows are whose") and nothing of the
# code under test.

from schema import CATEGORIES, FAMILIES, canonical


def family_of(ex, col):
    return ex.kinds[col.subject_kind]


def is_unique_key(tab, cols):
    """Are these columns a unique key of the table (the primary key or a
    UNIQUE constraint whose columns they all are)?"""
    keys = [tab.key] + [fk.cols for fk in tab.fks if getattr(fk, 'unique', False)]
    keys += [[c.name] for c in tab.columns if c.unique and not tab.partitioned]
    return any(set(k) <= set(cols) for k in keys)


def strong(tab, fk):
    """Is the foreign key owning by its label or shape alone (OWNER, NOT NULL,
    one to one)?"""
    if fk.link == 'REFERENCE':
        return False
    return fk.link == 'OWNER' or all(tab.col(c).not_null for c in fk.cols) or is_unique_key(tab, fk.cols)


def owned_tables(tabs):
    """The tables whose rows belong to subjects through SUBJECT columns and
    strong keys: those with a SUBJECT column, and those with a strong key to
    one of them, and so on."""
    owned = {t for t, tab in enumerate(tabs) if any(c.subject_kind for c in tab.columns)}
    while True:
        more = {t for t, tab in enumerate(tabs) if t not in owned
                and any(strong(tab, fk) and fk.parent in owned for fk in tab.fks)}
        if not more:
            return owned
        owned |= more


def owning(tab, fk, t, owned):
    """Is the foreign key owning (the table of doc/cancellation.md)?  Returns
    (owning, reason).  t is the table's index, owned owned_tables()."""
    if fk.link == 'OWNER':
        return True, 'OWNER'
    if fk.link == 'REFERENCE':
        return False, 'REFERENCE'
    if all(tab.col(c).not_null for c in fk.cols):
        return True, 'NOT NULL'
    if is_unique_key(tab, fk.cols):
        return True, 'one to one'
    # nullable: owning when the table has no other way to belong to a
    # subject: no SUBJECT column, no strong key that leads to subjects' rows
    # (a key to a table whose rows are nobody's says nothing)
    if any(c.subject_kind for c in tab.columns):
        return False, 'refers (the table has a SUBJECT column)'
    if t in owned:
        return False, 'refers (the table has another owning key to subjects\' rows)'
    return True, 'nullable, the only way'


def effective_action(tab):
    """The table's action: its ON CANCEL, else its categories', else None
    (an unlabelled table)."""
    if tab.on_cancel:
        return tab.on_cancel
    if not tab.labelled():
        return None
    acts = {CATEGORIES[c.category] for c in tab.columns if c.category}
    for a in ('keep until retention', 'anonymize'):
        if a in acts:
            return a
    return 'delete'


def key_of(row, cols):
    vals = tuple(row.get(c) for c in cols)
    return None if any(v is None for v in vals) else vals


class Model:
    """Owners of every row before the cancellation; rows keyed by rid."""

    def __init__(self, ex, before):
        self.ex = ex
        self.before = before          # table index -> {rid: {column: JSON value}}
        tabs = ex.tables
        owned = owned_tables(tabs)
        self.owning = {(t, i): owning(tab, fk, t, owned) for t, tab in enumerate(tabs) for i, fk in enumerate(tab.fks)}
        # the parent row each foreign key of each row reaches, by canonical key
        self.index = {}
        for t, tab in enumerate(tabs):
            idx = {}
            for rid, row in before[t].items():
                idx[self.canon_key(t, tab.key, tab.key, row)] = rid
            self.index[t] = idx
        self.parent = {}              # (t, rid, fk index) -> parent rid
        for t, tab in enumerate(tabs):
            for rid, row in before[t].items():
                for i, fk in enumerate(tab.fks):
                    k = self.canon_key(fk.parent, fk.cols, tabs[fk.parent].key, row)
                    if k is not None and k in self.index[fk.parent]:
                        self.parent[(t, rid, i)] = self.index[fk.parent][k]
        # owners: least fixed point of rule 1 (SUBJECT columns) and rule 2
        # (owning foreign keys), over every subject of every kind
        self.owners = {t: {} for t in range(len(tabs))}
        for t, tab in enumerate(tabs):
            for rid, row in before[t].items():
                o = set()
                for c in tab.columns:
                    if c.subject_kind and row.get(c.name) is not None:
                        o.add((c.subject_kind, canonical(family_of(ex, c), row[c.name])))
                self.owners[t][rid] = o
        changed = True
        while changed:
            changed = False
            for t, tab in enumerate(tabs):
                for i, fk in enumerate(tab.fks):
                    if not self.owning[(t, i)][0]:
                        continue
                    for rid in before[t]:
                        p = self.parent.get((t, rid, i))
                        if p is None:
                            continue
                        add = self.owners[fk.parent][p] - self.owners[t][rid]
                        if add:
                            self.owners[t][rid] |= add
                            changed = True
        s = (ex.kind, ex.subject)
        self.s = s
        # the tables whose rows subjects of s's kind own: a SUBJECT column of
        # the kind, or an owning key into such a table (cancellation.md)
        kind_tables = {t for t, tab in enumerate(tabs) if any(c.subject_kind == s[0] for c in tab.columns)}
        grew = True
        while grew:
            grew = False
            for t, tab in enumerate(tabs):
                if t not in kind_tables and any(self.owning[(t, i)][0] and fk.parent in kind_tables
                                                for i, fk in enumerate(tab.fks)):
                    kind_tables.add(t)
                    grew = True
        # shared: the row belongs to s and to somebody else as well: another
        # SUBJECT column of the row (any kind) holds another subject, or an
        # owning key leads to a row of a table of s's kind that does not belong
        # to s alone; a key to a table of other kinds' or nobody's rows makes
        # no row shared (cancellation.md, "Which rows belong to a subject")
        def other_subject_here(t, row):
            for c in tabs[t].columns:
                if c.subject_kind and row.get(c.name) is not None:
                    if (c.subject_kind, canonical(family_of(ex, c), row[c.name])) != s:
                        return True
            return False
        self.shared = {t: set() for t in range(len(tabs))}
        pending = True
        while pending:
            pending = False
            for t, tab in enumerate(tabs):
                for rid, o in self.owners[t].items():
                    if s not in o or rid in self.shared[t]:
                        continue
                    if other_subject_here(t, before[t][rid]) or any(
                            self.owning[(t, i)][0] and fk.parent in kind_tables and (t, rid, i) in self.parent
                            and (s not in self.owners[fk.parent][self.parent[(t, rid, i)]]
                                 or self.parent[(t, rid, i)] in self.shared[fk.parent])
                            for i, fk in enumerate(tab.fks)):
                        self.shared[t].add(rid)
                        pending = True
        # the rows cancellation follows: s's own SUBJECT columns, then owning
        # keys into followed rows that are the subject's alone ("tables that
        # reach the subject through such a table follow only rows that are
        # the subject's alone")
        self.followed = {t: set() for t in range(len(tabs))}
        for t, tab in enumerate(tabs):
            for rid, row in before[t].items():
                if any(c.subject_kind == s[0] and row.get(c.name) is not None
                       and canonical(family_of(ex, c), row[c.name]) == s[1] for c in tab.columns):
                    self.followed[t].add(rid)
        changed = True
        while changed:
            changed = False
            for t, tab in enumerate(tabs):
                for i, fk in enumerate(tab.fks):
                    if not self.owning[(t, i)][0]:
                        continue
                    for rid in before[t]:
                        p = self.parent.get((t, rid, i))
                        if (p is not None and rid not in self.followed[t] and p in self.followed[fk.parent]
                                and p not in self.shared[fk.parent]):
                            self.followed[t].add(rid)
                            changed = True
        # alone: followed and not shared; shared: followed and shared; other:
        # the rest (rows reached only through shared rows included)
        self.cls = {t: {} for t in range(len(tabs))}
        for t in range(len(tabs)):
            for rid in self.owners[t]:
                if rid not in self.followed[t]:
                    self.cls[t][rid] = 'other'
                else:
                    self.cls[t][rid] = 'shared' if rid in self.shared[t] else 'alone'

    def canon_key(self, ptab_index, cols, pcols, row):
        """A key's values, canonical by the referenced columns' types."""
        ptab = self.ex.tables[ptab_index]
        vals = []
        for c, pc in zip(cols, pcols):
            v = row.get(c)
            if v is None:
                return None
            col = ptab.col(pc)
            typ = col.type
            if typ.startswith('char('):
                v = str(v).rstrip(' ')
            elif typ in FAMILIES['integer']['types']:
                v = str(int(v))
            elif typ == 'uuid':
                v = str(v).lower()
            else:
                v = str(v)
            vals.append(v)
        return tuple(vals)

    def rows_of_s(self, t):
        return {rid for rid, c in self.cls[t].items() if c != 'other'}

    def alone(self, t):
        return {rid for rid, c in self.cls[t].items() if c == 'alone'}

    def holds_subject(self):
        return any(self.cls[t][rid] != 'other' for t in self.cls for rid in self.cls[t])
