#!/usr/bin/env python3
"""test/fingerprint/compare.py: the parse-tree and string-literal parts of
test/fingerprint/compare.sh (see test/fingerprint/README.md).

  compare.py trees LOG DIR    compare the parse trees the server logged for
                              the old and the new install (DIR holds the OID
                              maps and the lists of parsed functions)
  compare.py strings DIR      list every operator OPERATOR(pg_catalog.X) of an
                              old function body that is plain X in the new
                              one and sits in a string literal (dynamic SQL)
"""

import os
import re
import sys

HEADER = re.compile(r'^\S+ \S+ \S+ \[(\d+)\] (.*?): ([A-Z]+):  (.*)$')
POSITIONS = re.compile(r':(?:location|stmt_location|stmt_len) -?\d+')
# a SubLink (x op ANY (SELECT ...)) keeps the operator's name as written; the
# operator it resolved to is in its :testexpr, which is compared
OPERNAME = re.compile(r':operName \("pg_catalog" ("[^"]+")\)')
QUALIFIED = re.compile(r'OPERATOR\(pg_catalog\.([^)]+)\)')
# text, varchar, name, bpchar: constants whose bytes are text (dynamic SQL)
TEXT_TYPES = {'25', '1043', '19', '1042'}
CONST = re.compile(r'\{CONST :consttype (\d+) (.*?):constvalue (\d+) \[ ((?:-?\d+ )+)\]')
# types whose constants are OIDs
OID_TYPES = {'26', '24', '2202', '2203', '2204', '2205', '2206', '3734', '3769', '4089', '4096', '4191'}


def read_log(path):
    """the "parse tree" entries of the server log: (application, tree,
    context), in order."""
    entries = []
    cur = None
    field = None
    with open(path, encoding='utf-8', errors='replace') as fh:
        for line in fh:
            line = line.rstrip('\n')
            if line.startswith('\t'):
                if cur is not None and field is not None:
                    cur[field].append(line[1:])
                continue
            m = HEADER.match(line)
            if not m:
                field = None
                continue
            pid, app, level, text = m.groups()
            if level == 'LOG':
                cur = None
                field = None
                if text == 'parse tree:':
                    cur = {'app': app, 'pid': pid, 'DETAIL': [], 'CONTEXT': []}
                    entries.append(cur)
                continue
            if cur is not None and pid == cur['pid'] and level in ('DETAIL', 'CONTEXT'):
                field = level
                cur[level].append(text)
            else:
                field = None
    return [(e['app'], '\n'.join(e['DETAIL']), '\n'.join(e['CONTEXT'])) for e in entries]


def read_map(path):
    m = {}
    with open(path, encoding='utf-8') as fh:
        for line in fh:
            oid, name = line.rstrip('\n').split('\t', 1)
            m[oid] = name
    return m


def normalise(tree, oids):
    """a tree without source positions, the OIDs of the extension's objects
    (which differ between two installs) replaced by the objects' names."""
    t = ' '.join(tree.split())
    t = POSITIONS.sub('', t)

    def word(b, k):
        return str(b[k] | b[k + 1] << 8 | b[k + 2] << 16 | b[k + 3] << 24)

    def const(m):
        typ, mid, length, data = m.groups()
        b = [int(x) & 0xff for x in data.split()]
        if typ in OID_TYPES and length == '4' and word(b, 0) in oids:
            # a regclass, regprocedure, ... constant naming one of ours
            data = '<%s> ' % oids[word(b, 0)]
        elif typ in TEXT_TYPES and length != '4' and len(b) >= 4:
            # a string: its text, OPERATOR(pg_catalog.X) read as X (the
            # operators made plain inside literals are listed for review)
            data = QUALIFIED.sub(r'\1', bytes(b[4:]).decode('utf-8', 'replace'))
            data = 'text %s ' % repr(data)
            length = '(text)'       # its length in bytes changed with it
        elif typ in oids and len(b) >= 16 and word(b, 12) in oids:
            # an array of one of our types carries the element type's OID
            data = ' '.join(str(x) for x in b[:12]) + ' <%s> ' % oids[word(b, 12)] \
                + ''.join('%d ' % x for x in b[16:])
        return '{CONST :consttype %s %s:constvalue %s [ %s]' % (typ, mid, length, data)

    t = CONST.sub(const, t)
    t = OPERNAME.sub(r':operName (\1)', t)
    t = re.sub(r'(?<![\w.-])(\d{5,})(?![\w.])', lambda m: '<%s>' % oids[m.group(1)] if m.group(1) in oids else m.group(1), t)
    return t


def collect(entries, side, oids, checked):
    """function -> the normalised parse trees of one install: the statements
    of its body, parsed in the session named after it (those with a CONTEXT:
    the session's own statements have none)."""
    out = {}
    for app, tree, context in entries:
        if not app.startswith('fp_check_%s:' % side) or not context:
            continue
        key = checked[app.split(':', 1)[1]]
        out.setdefault(key, []).append(normalise(tree, oids))
    return out


def read_checked(path):
    m = {}
    with open(path, encoding='utf-8') as fh:
        for line in fh:
            i, name = line.rstrip('\n').split('\t', 1)
            m[i] = name
    return m


def trees(log, d):
    entries = read_log(log)
    old = collect(entries, 'old', read_map(os.path.join(d, 'oids_old.tsv')),
                  read_checked(os.path.join(d, 'checked_old.tsv')))
    new = collect(entries, 'new', read_map(os.path.join(d, 'oids_new.tsv')),
                  read_checked(os.path.join(d, 'checked_new.tsv')))
    differ = 0
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if a is None or b is None:
            print('parse trees: %s: only in the %s install' % (key, 'old' if b is None else 'new'))
            differ += 1
        elif a != b:
            differ += 1
            if len(a) != len(b):
                print('parse trees: %s: %d statements in the old install, %d in the new' % (key, len(a), len(b)))
                continue
            for i, (x, y) in enumerate(zip(a, b)):
                if x != y:
                    j = next(k for k in range(min(len(x), len(y))) if x[k] != y[k]) if x[:len(y)] != y[:len(x)] else min(len(x), len(y))
                    print('parse trees: %s: statement %d differs:\n  old: ...%s\n  new: ...%s'
                          % (key, i + 1, x[max(0, j - 200):j + 200], y[max(0, j - 200):j + 200]))
                    break
    n_trees = sum(len(v) for v in old.values())
    print('parse trees: %d SQL and PL/pgSQL functions, %d statements in the old install, %d in the new; %d functions differ'
          % (len(old), n_trees, sum(len(v) for v in new.values()), differ))
    return 1 if differ or not old else 0


# ---------------------------------------------------------------------------
# string literals
# ---------------------------------------------------------------------------
OP = re.compile(r'OPERATOR\(pg_catalog\.([^)]+)\)')


def literal_spans(body):
    """the (start, end) of every string literal of a function body ('...',
    E'...'), comments and dollar quotes skipped; a $$ string inside the body
    counts as a literal too."""
    spans = []
    i = 0
    n = len(body)
    while i < n:
        c = body[i]
        if body.startswith('--', i):
            j = body.find('\n', i)
            i = n if j < 0 else j
        elif body.startswith('/*', i):
            j = body.find('*/', i + 2)
            i = n if j < 0 else j + 2
        elif c == "'":
            esc = i > 0 and body[i - 1] in 'eE' and not (i > 1 and (body[i - 2].isalnum() or body[i - 2] == '_'))
            j = i + 1
            while j < n:
                if esc and body[j] == '\\':
                    j += 2
                    continue
                if body[j] == "'":
                    if j + 1 < n and body[j + 1] == "'":
                        j += 2
                        continue
                    break
                j += 1
            spans.append((i, j + 1))
            i = j + 1
        elif c == '"':
            j = body.find('"', i + 1)
            i = n if j < 0 else j + 1
        elif c == '$' and not (i > 0 and (body[i - 1].isalnum() or body[i - 1] in '_$')):
            m = re.match(r'\$([A-Za-z_][A-Za-z_0-9]*)?\$', body[i:])
            if m:
                tag = m.group(0)
                j = body.find(tag, i + len(tag))
                j = n if j < 0 else j + len(tag)
                spans.append((i, j))
                i = j
            else:
                i += 1
        else:
            i += 1
    return spans


def read_bodies(path):
    out = {}
    with open(path, encoding='utf-8') as fh:
        text = fh.read()
    for rec in text.split('\x1e'):
        if not rec.strip('\n'):
            continue
        name, body = rec.lstrip('\n').split('\x1f', 1)
        out[name] = body
    return out


def strings(d):
    old = read_bodies(os.path.join(d, 'bodies_old.txt'))
    new = read_bodies(os.path.join(d, 'bodies_new.txt'))
    bad = 0
    n_code = n_string = n_kept = 0
    for name in sorted(old):
        a = old[name]
        b = new.get(name)
        if b is None:
            continue
        spans = literal_spans(a)
        i = j = 0
        events = []
        while i < len(a) or j < len(b):
            m = OP.match(a, i)
            if m and not b.startswith(m.group(0), j) and b.startswith(m.group(1), j):
                events.append(i)
                i = m.end()
                j += len(m.group(1))
                continue
            if i < len(a) and j < len(b) and a[i] == b[j]:
                if m:
                    n_kept += 1
                    i = m.end()
                    j += len(m.group(0))
                    continue
                i += 1
                j += 1
                continue
            print('strings: %s: the new body differs from the old one by more than plain operators (old offset %d)' % (name, i))
            bad += 1
            break
        for e in events:
            inside = any(s <= e < t for s, t in spans)
            if not inside:
                n_code += 1
                continue
            n_string += 1
            line_no = a.count('\n', 0, e) + 1
            # the same line of the new body
            nl = b.split('\n')[line_no - 1] if line_no - 1 < len(b.split('\n')) else ''
            print('string literal: %s line %d: %s' % (name, line_no, nl.strip()))
    print('strings: %d operators made plain in code, %d in string literals (listed above), %d left as OPERATOR(pg_catalog.X)'
          % (n_code, n_string, n_kept))
    return 1 if bad else 0


def main(argv):
    if len(argv) == 4 and argv[1] == 'trees':
        return trees(argv[2], argv[3])
    if len(argv) == 3 and argv[1] == 'strings':
        return strings(argv[2])
    sys.stderr.write(__doc__)
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv))
