#!/usr/bin/env python3
# src/sql/update.py: build the update script privacy--A--B.sql from the
# frozen install script of A, the hand-written steps of A--B and the concern
# files of B (doc/upgrading.md, "Writing an upgrade step").
#
#   update.py FROM TO FROZEN_A STEPS PART...
#
# The script written to stdout is, in this order:
#   1. the steps (src/sql/upgrade/A--B.sql): changes of state (ALTER TABLE,
#      data moves, new tables) and DROPs of routines removed or whose
#      signature changed, as written;
#   2. the code of every concern file (src/sql/code/*.sql) carried again:
#      CREATE FUNCTION / PROCEDURE / VIEW / TRIGGER as CREATE OR REPLACE,
#      an event trigger dropped and created again, comments as written;
#   3. the comments, GRANTs, REVOKEs and pg_extension_config_dump() calls of
#      the state files and then the GRANTs and REVOKEs of the code files, run
#      again (all of them are idempotent).
# It refuses (exit 1, naming the file and the statement):
#   - a DO block, or a statement of a kind it does not know, in a code file
#     or in the steps (a DO block's effects cannot be carried twice);
#   - a statement of state (CREATE TABLE / SEQUENCE / INDEX / TYPE, a seed
#     INSERT or UPDATE, ALTER SEQUENCE) that is new or changed since A and
#     whose object the steps do not name;
#   - a routine of A that B no longer creates with the same arguments, unless
#     the steps drop it;
#   - CREATE OR REPLACE / IF NOT EXISTS in a concern file (install scripts
#     never use them).
# Everything in src/sql/code/install.sql above the line "-- end of the
# install-time guards" runs at CREATE EXTENSION only and is not carried.
import re
import sys

GUARD_END = '-- end of the install-time guards'


def split(text):
    """Split SQL text into statements (comments kept out), each with the line
    it starts on.  Knows quotes, E'' strings, dollar quotes, -- and /* */
    comments, and psql's backslash lines (left out)."""
    stmts = []
    buf = []
    line = 1
    start = None
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == '\n':
            line += 1
        if c == '-' and text.startswith('--', i):
            j = text.find('\n', i)
            j = n if j < 0 else j
            i = j
            continue
        if c == '/' and text.startswith('/*', i):
            depth = 0
            while i < n:
                if text.startswith('/*', i):
                    depth += 1
                    i += 2
                elif text.startswith('*/', i):
                    depth -= 1
                    i += 2
                    if depth == 0:
                        break
                else:
                    if text[i] == '\n':
                        line += 1
                    i += 1
            buf.append(' ')
            continue
        if c == '\\' and not ''.join(buf).strip():
            # a psql meta-command line (the \echo guard)
            j = text.find('\n', i)
            j = n if j < 0 else j
            i = j
            continue
        if start is None and not c.isspace():
            start = line
        if c == "'":
            escape = i > 0 and text[i - 1] in 'eE' and (i < 2 or not (text[i - 2].isalnum() or text[i - 2] == '_'))
            j = i + 1
            while j < n:
                if escape and text[j] == '\\':
                    j += 2
                    continue
                if text[j] == "'":
                    if j + 1 < n and text[j + 1] == "'":
                        j += 2
                        continue
                    break
                j += 1
            seg = text[i:j + 1]
            line += seg.count('\n')
            buf.append(seg)
            i = j + 1
            continue
        if c == '"':
            j = text.find('"', i + 1)
            seg = text[i:j + 1]
            line += seg.count('\n')
            buf.append(seg)
            i = j + 1
            continue
        if c == '$':
            m = re.match(r'\$([A-Za-z_][A-Za-z_0-9]*)?\$', text[i:])
            if m and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == '_')):
                tag = m.group(0)
                j = text.find(tag, i + len(tag))
                if j < 0:
                    raise SyntaxError('unterminated dollar quote %s at line %d' % (tag, line))
                seg = text[i:j + len(tag)]
                line += seg.count('\n')
                buf.append(seg)
                i = j + len(tag)
                continue
        if c == ';':
            s = ''.join(buf).strip()
            if s:
                stmts.append((start, s))
            buf = []
            start = None
            i += 1
            continue
        buf.append(c)
        i += 1
    s = ''.join(buf).strip()
    if s:
        stmts.append((start, s))
    return stmts


def norm(s):
    """A statement as compared: whitespace collapsed, keywords in one case
    (quoted text compared as written)."""
    return re.sub(r'\s+', ' ', s).strip()


def head(s):
    return norm(s)[:200].upper()


NAME = r'((?:"[^"]+"|[A-Za-z_][A-Za-z_0-9$]*)(?:\.(?:"[^"]+"|[A-Za-z_][A-Za-z_0-9$]*))?)'


def state_object(s):
    """The object a statement of state makes or changes, or None."""
    h = norm(s)
    for pat in (r'^CREATE\s+(?:UNLOGGED\s+)?TABLE\s+' + NAME,
                r'^CREATE\s+SEQUENCE\s+' + NAME,
                r'^CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?:CONCURRENTLY\s+)?' + NAME,
                r'^CREATE\s+TYPE\s+' + NAME,
                r'^CREATE\s+DOMAIN\s+' + NAME,
                r'^ALTER\s+SEQUENCE\s+' + NAME,
                r'^ALTER\s+TABLE\s+(?:ONLY\s+)?' + NAME,
                r'^INSERT\s+INTO\s+' + NAME,
                r'^UPDATE\s+(?:ONLY\s+)?' + NAME,
                r'^DELETE\s+FROM\s+(?:ONLY\s+)?' + NAME):
        m = re.match(pat, h, re.I)
        if m:
            return m.group(1).lower()
    return None


def routine_key(s):
    """(name, argument types) of a CREATE FUNCTION / PROCEDURE, as text that
    compares the same for the same signature (names and defaults left out)."""
    m = re.match(r'^CREATE\s+(?:OR\s+REPLACE\s+)?(FUNCTION|PROCEDURE)\s+' + NAME + r'\s*\(', norm(s), re.I)
    if not m:
        return None
    h = norm(s)
    i = m.end()
    depth = 1
    j = i
    while depth and j < len(h):
        if h[j] == '(':
            depth += 1
        elif h[j] == ')':
            depth -= 1
        j += 1
    args = h[i:j - 1]
    types = []
    for a in split_args(args):
        a = re.split(r'\s+(?:DEFAULT\b|=)', a, flags=re.I)[0].strip()
        words = a.split()
        mode = 'in'
        if words and words[0].upper() in ('IN', 'OUT', 'INOUT', 'VARIADIC'):
            mode = words[0].lower()
            words = words[1:]
        if mode == 'out':
            continue
        # a name comes first when two words or more remain and the first is
        # not the start of a type of several words
        multi = ('DOUBLE', 'CHARACTER', 'TIMESTAMP', 'TIME', 'BIT', 'INTERVAL')
        if len(words) >= 2 and words[0].upper() not in multi:
            words = words[1:]
        types.append(' '.join(words).lower())
    return (m.group(1).lower(), m.group(2).lower(), ', '.join(types))


def split_args(args):
    out = []
    depth = 0
    cur = ''
    for ch in args:
        if ch == '(':
            depth += 1
        elif ch == ')':
            depth -= 1
        if ch == ',' and depth == 0:
            out.append(cur)
            cur = ''
        else:
            cur += ch
    if cur.strip():
        out.append(cur)
    return out


class Refused(Exception):
    pass


def refuse(path, line, why, stmt):
    raise Refused('%s:%s: %s: %s' % (path, line, why, norm(stmt)[:120]))


def main(argv):
    if len(argv) < 6:
        print('usage: update.py FROM TO FROZEN_A STEPS PART...', file=sys.stderr)
        return 2
    frm, to, frozen, steps_path, parts = argv[1], argv[2], argv[3], argv[4], argv[5:]
    old = split(open(frozen).read())
    old_norm = set(norm(s) for _, s in old)
    old_routines = {}
    for _, s in old:
        k = routine_key(s)
        if k:
            old_routines[k] = s
        m = re.match(r'^DROP\s+(?:FUNCTION|PROCEDURE)\s+' + NAME, norm(s), re.I)
        if m:
            # dropped by the install script itself (privacy.check_preload)
            for r in [r for r in old_routines if r[1] == m.group(1).lower()]:
                del old_routines[r]
    steps_text = open(steps_path).read()
    steps = split(steps_text)
    steps_lower = '\n'.join(norm(s).lower() for _, s in steps)

    for line, s in steps:
        h = head(s)
        if h.startswith('DO ') or h == 'DO':
            refuse(steps_path, line, 'a DO block in an upgrade step (write its statements out)', s)

    code = []
    regrants = []
    new_routines = set()
    for path in parts:
        text = open(path).read()
        is_code = '/code/' in path
        if path.endswith('code/install.sql'):
            k = text.find(GUARD_END)
            if k < 0:
                raise Refused('%s: no line "%s"' % (path, GUARD_END))
            text = '\n' * text[:k].count('\n') + text[k:]
        for line, s in split(text):
            h = head(s)
            if re.match(r'^CREATE\s+OR\s+REPLACE\b', h) or re.search(r'\bIF\s+NOT\s+EXISTS\b', h[:80]):
                refuse(path, line, 'CREATE OR REPLACE / IF NOT EXISTS in a concern file (the update script adds it)', s)
            if h.startswith('GRANT ') or h.startswith('REVOKE ') or h.startswith('COMMENT ON ') \
                    or re.match(r'^SELECT PG_CATALOG\.PG_EXTENSION_CONFIG_DUMP\(', h):
                if is_code and h.startswith('COMMENT ON '):
                    code.append((path, line, s))
                else:
                    regrants.append((path, line, s))
                continue
            if is_code:
                m = re.match(r'^CREATE\s+(FUNCTION|PROCEDURE|VIEW|TRIGGER)\b', s, re.I)
                if m:
                    if m.group(1).upper() in ('FUNCTION', 'PROCEDURE'):
                        new_routines.add(routine_key(s))
                    code.append((path, line, re.sub(r'^CREATE\s+', 'CREATE OR REPLACE ', s, count=1, flags=re.I)))
                    continue
                m = re.match(r'^CREATE\s+EVENT\s+TRIGGER\s+' + NAME, s, re.I)
                if m:
                    code.append((path, line, 'DROP EVENT TRIGGER IF EXISTS %s' % m.group(1)))
                    code.append((path, line, s))
                    continue
                if h.startswith('DO ') or h == 'DO':
                    refuse(path, line, 'a DO block in a code file (an update script cannot carry it again: write its statements out)', s)
                refuse(path, line, 'a statement a code file may not hold (functions, procedures, views, triggers, event triggers, comments, grants)', s)
            else:
                obj = state_object(s)
                if obj is None:
                    refuse(path, line, 'a statement of state the update builder does not know', s)
                if norm(s) in old_norm:
                    continue
                short = obj.split('.')[-1].strip('"')
                if short not in steps_lower:
                    refuse(path, line, 'state new or changed since %s with no upgrade step naming %s in %s'
                           % (frm, obj, steps_path), s)

    for k, s in sorted(old_routines.items()):
        if k in new_routines:
            continue
        name = k[1]
        short = name.split('.')[-1]
        if not re.search(r'drop (function|procedure|routine) (if exists )?(privacy\.)?"?%s"?\s*\(' % re.escape(short),
                         steps_lower):
            raise Refused('%s: routine %s(%s) of %s is gone or changed its arguments in %s; '
                          'its upgrade step in %s must drop it' % (frozen, name, k[2], frm, to, steps_path))

    out = sys.stdout
    out.write('/* privacy--%s--%s.sql: update script of the privacy extension from %s to %s, built by '
              'src/sql/update.py from %s and the concern files of src/sql (edit those, not this file) */\n\n'
              % (frm, to, frm, to, steps_path))
    out.write('\\echo Use "ALTER EXTENSION privacy UPDATE TO \'%s\'" to load this file. \\quit\n' % to)
    out.write('\n-- 1. the upgrade steps (%s)\n' % steps_path)
    body = steps_text
    body = re.sub(r'^\\.*$', '', body, flags=re.M)
    out.write(body.rstrip() + '\n')
    last = None
    out.write('\n-- 2. the code of every concern, carried again\n')
    for path, line, s in code:
        if path != last:
            out.write('\n-- %s\n' % path)
            last = path
        out.write(s + ';\n')
    out.write('\n-- 3. comments, config dumps and privileges, run again\n')
    last = None
    for path, line, s in regrants:
        if path != last:
            out.write('\n-- %s\n' % path)
            last = path
        out.write(s + ';\n')
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main(sys.argv))
    except (Refused, SyntaxError) as e:
        print('update.py: refused: %s' % e, file=sys.stderr)
        sys.exit(1)
