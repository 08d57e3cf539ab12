-- test/upgrade/after.sql: the updated database goes on working (run after
-- observe.sql has shown that it kept everything): the audit chain, the
-- consent ledger and the key ring go on from where the old version left
-- them, and the tombstones keep refusing.  Each check raises on failure.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
SELECT entries AS entries_before FROM privacy.verify_audit_log() \gset
DO $$
DECLARE
    seq bigint;
    c bytea;
BEGIN
    SELECT max(e.seq) INTO seq FROM privacy.consent_event e;
    IF privacy.grant_consent('6', 'newsletter') <> seq + 1 THEN
        RAISE EXCEPTION 'a new consent does not continue the ledger';
    END IF;
    IF NOT privacy.has_consent('6', 'newsletter') THEN
        RAISE EXCEPTION 'a new consent does not answer';
    END IF;
    PERFORM privacy.rotate_key('k2');
    c := privacy.encrypt('after', 'k2');
    IF privacy.decrypt(c, 'k2') <> 'after' THEN
        RAISE EXCEPTION 'a key rotated after the update does not decrypt';
    END IF;
    IF privacy.decrypt((SELECT s.cipher FROM public.secret s WHERE s.n = 8), 'k2') <> 'hello 8' THEN
        RAISE EXCEPTION 'a ciphertext of before the update does not decrypt after a rotation';
    END IF;
    PERFORM * FROM privacy.cancel_subject('4');
    IF NOT EXISTS (SELECT 1 FROM privacy.cancelled_subject t WHERE t.subject_id = privacy.subject_pseudonym('4')) THEN
        RAISE EXCEPTION 'a cancellation after the update left no tombstone';
    END IF;
END
$$;
-- (audit entries are chained when their transaction commits)
SELECT valid AND entries >= :entries_before + 3 AS chain_goes_on FROM privacy.verify_audit_log() \gset
\if :chain_goes_on
\else
SELECT * FROM privacy.verify_audit_log();
DO $$ BEGIN RAISE EXCEPTION 'the audit chain does not go on from the old entries'; END $$;
\endif
SELECT 'after: ok' AS result;
