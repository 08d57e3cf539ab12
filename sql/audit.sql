-- audit: the hash-chained, append-only audit log
SELECT * FROM privacy.verify_audit_log();
SELECT count(*) = max(seq) AS gapless, min(seq) AS first FROM privacy.audit_log;
-- each entry links to the hash of the one before, and the first to zeros
SELECT count(*) AS unlinked FROM privacy.audit_log a JOIN privacy.audit_log b ON b.seq = a.seq - 1
 WHERE a.prev_hash <> b.hash;
SELECT prev_hash = decode(repeat('00', 32), 'hex') AS genesis FROM privacy.audit_log WHERE seq = 1;
SELECT length(hash) AS sha256_bytes FROM privacy.audit_log WHERE seq = 1;
-- the hash is SHA-256 over the previous hash and the canonical form
SELECT hash = sha256(prev_hash || convert_to(privacy.audit_canonical(seq, at, actor, kind, object, detail), 'UTF8')) AS recomputed
  FROM privacy.audit_log WHERE seq = 2;
SELECT privacy.audit_canonical(7, '2026-01-02 03:04:05.678+08', 'alice', 'label', 'table public.t', '{"b": 1, "a": [true, null]}');
-- the head records the last entry
SELECT h.seq = (SELECT max(seq) FROM privacy.audit_log) AS head_current FROM privacy.audit_head h;

-- the extension's own API appends entries; bad input is refused
SELECT max(seq) AS last_seq FROM privacy.audit_log \gset
SELECT privacy.audit_append('test', 'object one', '{"n": 1}');
SELECT seq = :last_seq + 1 AS is_next, kind, object FROM privacy.audit_log ORDER BY seq DESC LIMIT 1;
-- entries are written when their transaction commits, and not at all when it rolls back
BEGIN;
SELECT privacy.audit_append('test', 'committed', '{}');
SELECT count(*) AS written_yet FROM privacy.audit_log WHERE object = 'committed';
SAVEPOINT s;
SELECT privacy.audit_append('test', 'rolled back to a savepoint', '{}');
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s2;
SELECT privacy.audit_append('test', 'released savepoint', '{}');
RELEASE SAVEPOINT s2;
COMMIT;
BEGIN;
SELECT privacy.audit_append('test', 'rolled back', '{}');
ROLLBACK;
SELECT seq - :last_seq AS after, object FROM privacy.audit_log WHERE seq > :last_seq + 1 ORDER BY seq;
SELECT try($$SELECT privacy.audit_append(NULL, 'x', '{}')$$);
SELECT try($$SELECT privacy.audit_append('test', 'x', '[1, 2]')$$);
SELECT kind, object, detail, actor FROM privacy.audit_log ORDER BY seq DESC LIMIT 1;

-- append-only, for everybody, superusers included
SELECT try($$UPDATE privacy.audit_log SET detail = '{}' WHERE seq = 1$$);
SELECT try($$DELETE FROM privacy.audit_log WHERE seq = 1$$);
SELECT try($$TRUNCATE privacy.audit_log$$);
SELECT try($$DELETE FROM privacy.audit_head$$);
SELECT try($$TRUNCATE privacy.audit_head$$);
-- other roles cannot read, write or verify it
SET ROLE regress_app;
SELECT try($$SELECT count(*) FROM privacy.audit_log$$);
SELECT try($$INSERT INTO privacy.audit_log VALUES (1000, now(), 'x', 'x', 'x', '{}', '\x00', '\x00')$$);
SELECT try($$SELECT privacy.audit_append('forged', 'x', '{}')$$);
SELECT try($$SELECT * FROM privacy.verify_audit_log()$$);
RESET ROLE;
-- no personal data: entries carry object names and labels, not values
SELECT count(*) AS entries_with_values FROM privacy.audit_log
 WHERE detail::text ~ '1[3-9][0-9]{9}' OR object ~ '1[3-9][0-9]{9}';

-- tampering, which needs triggers bypassed, is detected: an altered entry...
SELECT seq AS victim FROM privacy.audit_log WHERE kind = 'label' ORDER BY seq LIMIT 1 OFFSET 2 \gset
CREATE TEMP TABLE saved AS SELECT * FROM privacy.audit_log WHERE seq = :victim;
SET session_replication_role = replica;
UPDATE privacy.audit_log SET detail = '{"label": "CATEGORY log.access", "previous": null}' WHERE seq = :victim;
SET session_replication_role = DEFAULT;
SELECT valid, first_broken = :victim AS at_victim, problem = format('entry %s does not match its hash', :victim) AS reported
  FROM privacy.verify_audit_log();
-- ...an entry rehashed to cover the change breaks the next link...
SET session_replication_role = replica;
UPDATE privacy.audit_log SET hash = sha256(prev_hash || convert_to(privacy.audit_canonical(seq, at, actor, kind, object, detail), 'UTF8'))
 WHERE seq = :victim;
SET session_replication_role = DEFAULT;
SELECT valid, first_broken = :victim + 1 AS after_victim,
       problem = format('entry %s does not link to the hash of the entry before it', :victim + 1) AS reported
  FROM privacy.verify_audit_log();
-- ...a removed entry...
SET session_replication_role = replica;
DELETE FROM privacy.audit_log WHERE seq = :victim;
SET session_replication_role = DEFAULT;
SELECT valid, first_broken = :victim AS at_victim, problem = format('entry %s is missing', :victim) AS reported
  FROM privacy.verify_audit_log();
SET session_replication_role = replica;
INSERT INTO privacy.audit_log SELECT * FROM saved;
SET session_replication_role = DEFAULT;
SELECT valid, entries FROM privacy.verify_audit_log();
-- ...and entries cut from the end
CREATE TEMP TABLE tail AS SELECT * FROM privacy.audit_log ORDER BY seq DESC LIMIT 2;
SET session_replication_role = replica;
DELETE FROM privacy.audit_log WHERE seq IN (SELECT seq FROM tail);
SET session_replication_role = DEFAULT;
SELECT valid, problem ~ '^the log ends at entry [0-9]+ but its head records entry [0-9]+$' AS reported
  FROM privacy.verify_audit_log();
SET session_replication_role = replica;
INSERT INTO privacy.audit_log SELECT * FROM tail;
SET session_replication_role = DEFAULT;
SELECT valid, problem FROM privacy.verify_audit_log();
