-- consent: purposes, policy versions, the ledger, has_consent at any moment, minors
SELECT COALESCE(max(seq), 0) AS audit_start FROM privacy.audit_log \gset
SELECT name, legal_basis, separate_consent, seeded, categories FROM privacy.purpose ORDER BY name;
-- a parent category covers its sub-categories
SELECT privacy.purpose_covers('marketing', 'contact.phone') AS phone,
       privacy.purpose_covers('service', 'contact.phone') AS service_phone_via_contact,
       privacy.purpose_covers('marketing', 'contact.address') AS address,
       privacy.purpose_covers('nosuch', 'contact.phone') AS unknown_purpose;

-- administrators define purposes, and may redefine a seeded one
SELECT privacy.define_purpose('research', 'consent', ARRAY['health.physiological', 'identity.age'],
                              'Academic research on anonymized health data');
SELECT privacy.define_purpose('marketing', 'consent', ARRAY['contact.email'], 'E-mail newsletters only');
SELECT name, legal_basis, categories, separate_consent, seeded FROM privacy.purpose
 WHERE name IN ('research', 'marketing') ORDER BY name;
SELECT name, seeded, categories FROM privacy.purpose_definition WHERE name = 'marketing' ORDER BY seeded;
-- bad definitions, each refused with nothing stored
SELECT try($$SELECT privacy.define_purpose('Bad Name', 'consent', ARRAY['contact'], 'x')$$);
SELECT try($$SELECT privacy.define_purpose('p', 'because', ARRAY['contact'], 'x')$$);
SELECT try($$SELECT privacy.define_purpose('p', 'consent', ARRAY['contact.fone'], 'x')$$);
SELECT try($$SELECT privacy.define_purpose('p', 'consent', ARRAY[]::text[], 'x')$$);
SELECT try($$SELECT privacy.define_purpose('p', 'consent', ARRAY[NULL], 'x')$$);
SELECT try($$SELECT privacy.define_purpose('p', NULL, ARRAY['contact'], 'x')$$);
SELECT count(*) AS defined_p FROM privacy.purpose WHERE name = 'p';

-- policy versions
SELECT privacy.publish_policy('1.0', true) IS NOT NULL AS published;
SELECT try($$SELECT privacy.publish_policy('1.0', false)$$);
SELECT try($$SELECT privacy.publish_policy(NULL, false)$$);

-- grant, withdraw, and has_consent at past moments
SELECT clock_timestamp() AS t0 \gset
SELECT privacy.grant_consent('42', 'analytics', '{"form": "signup", "ip_hash": "ab12"}') > 0 AS granted;
SELECT clock_timestamp() AS t1 \gset
SELECT privacy.withdraw_consent('42', 'analytics') AS was_in_force;
SELECT clock_timestamp() AS t2 \gset
SELECT privacy.grant_consent('42', 'analytics') > 0 AS granted_again;
SELECT clock_timestamp() AS t3 \gset
SELECT privacy.has_consent('42', 'analytics', :'t0') AS before_grant,
       privacy.has_consent('42', 'analytics', :'t1') AS after_grant,
       privacy.has_consent('42', 'analytics', :'t2') AS after_withdrawal,
       privacy.has_consent('42', 'analytics', :'t3') AS after_new_grant,
       privacy.has_consent('42', 'analytics') AS now;
SELECT subject, purpose, granted, policy_version, evidence, by_guardian FROM privacy.consent_event ORDER BY seq;
SELECT subject, purpose, policy_version, by_guardian FROM privacy.consent ORDER BY subject, purpose;
-- withdrawing what is not in force is recorded and answers false
SELECT privacy.withdraw_consent('43', 'analytics') AS was_in_force;
SELECT count(*) AS withdrawals_recorded FROM privacy.consent_event WHERE subject = '43' AND NOT granted;
SELECT privacy.has_consent('43', 'analytics') AS never_granted;

-- a material policy change voids older consent until it is granted again;
-- a minor one does not
SELECT privacy.grant_consent('44', 'personalization') > 0 AS granted;
SELECT privacy.publish_policy('1.1', false) IS NOT NULL AS minor_change;
SELECT privacy.has_consent('44', 'personalization') AS after_minor_change;
SELECT clock_timestamp() AS before_material \gset
SELECT privacy.publish_policy('2.0', true) IS NOT NULL AS material_change;
SELECT privacy.has_consent('44', 'personalization') AS after_material_change,
       privacy.has_consent('44', 'personalization', :'before_material') AS before_it_still_lawful;
-- the consents in force no longer hold it; the ledger still does
SELECT count(*) AS in_force FROM privacy.consent WHERE subject = '44';
SELECT count(*) AS in_ledger FROM privacy.consent_event WHERE subject = '44';
SELECT privacy.grant_consent('44', 'personalization') > 0 AS granted_again;
SELECT privacy.has_consent('44', 'personalization') AS after_new_consent,
       (SELECT policy_version FROM privacy.consent WHERE subject = '44') AS under_policy;

-- minors (privacy.minor_age, default 14): only a guardian's consent counts
SHOW privacy.minor_age;
SET ROLE regress_owner;
CREATE TABLE club_members (id bigint PRIMARY KEY, born date);
SECURITY LABEL FOR privacy ON COLUMN club_members.id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN club_members.born IS 'CATEGORY identity.birth_date';
INSERT INTO club_members VALUES (100, current_date - 3650), (101, current_date - 365 * 30), (102, NULL),
                           (103, current_date - 365 * 16 - 10);
RESET ROLE;
SELECT privacy.is_minor('100') AS ten_years_old, privacy.is_minor('101') AS thirty, privacy.is_minor('102') AS unknown_birth,
       privacy.is_minor('999') AS not_in_table;
SELECT privacy.grant_consent('100', 'marketing') > 0 AS child_consents;
SELECT privacy.has_consent('100', 'marketing') AS child_alone;
SELECT privacy.grant_consent('100', 'marketing', '{"guardian": "verified by SMS"}', by_guardian => true) > 0 AS guardian_consents;
SELECT privacy.has_consent('100', 'marketing') AS with_guardian;
SELECT privacy.grant_consent('101', 'marketing') > 0 AS adult_consents;
SELECT privacy.has_consent('101', 'marketing') AS adult;
-- an explicit setting wins over the birth date; the age limit is a setting
SELECT privacy.set_minor('101', true);
SELECT privacy.has_consent('101', 'marketing') AS adult_marked_minor;
SELECT privacy.set_minor('101', NULL);
SELECT privacy.has_consent('101', 'marketing') AS back_to_birth_date;
SELECT privacy.is_minor('103') AS sixteen_under_14;
SET privacy.minor_age = 18;
SELECT privacy.is_minor('103') AS sixteen_under_18;
RESET privacy.minor_age;
SELECT try($$SET privacy.minor_age = 0$$);
SET ROLE regress_app;
SELECT try($$SET privacy.minor_age = 10$$);
RESET ROLE;

-- purposes on another legal basis need no consent
SELECT privacy.may_process('45', 'service') AS contract, privacy.may_process('45', 'security') AS legal_obligation,
       privacy.may_process('45', 'analytics') AS consent_not_given;

-- bad input
SELECT try($$SELECT privacy.grant_consent(NULL, 'analytics')$$);
SELECT try($$SELECT privacy.grant_consent('42', 'nosuch')$$);
SELECT try($$SELECT privacy.grant_consent('42', NULL)$$);
SELECT try($$SELECT privacy.grant_consent('42', 'service')$$);
SELECT try($$SELECT privacy.withdraw_consent(NULL, 'analytics')$$);
SELECT try($$SELECT privacy.withdraw_consent('42', 'nosuch')$$);
SELECT try($$SELECT privacy.has_consent(NULL, 'analytics')$$);
SELECT privacy.has_consent('44', 'personalization', NULL) AS null_moment_is_now,
       privacy.has_consent('42', 'analytics') AS voided_by_policy_2;
-- within one transaction, a grant and a withdrawal count from the next statement on
BEGIN;
SELECT privacy.grant_consent('47', 'analytics') > 0 AS granted;
SELECT privacy.has_consent('47', 'analytics') AS in_force;
SELECT privacy.withdraw_consent('47', 'analytics') AS withdrawn;
SELECT privacy.has_consent('47', 'analytics') AS in_force;
ROLLBACK;
SELECT count(*) AS rolled_back_events FROM privacy.consent_event WHERE subject = '47';
SELECT try($$SELECT privacy.has_consent('42', 'security')$$);
SELECT try($$SELECT privacy.may_process('42', 'nosuch')$$);
SELECT try($$SELECT privacy.drop_purpose('marketing')$$);
SELECT try($$SELECT privacy.drop_purpose('nosuch')$$);
-- a purpose without consents in force can be dropped, seeded or not
SELECT privacy.drop_purpose('research');
SELECT privacy.drop_purpose('location_services');
SELECT count(*) AS left_in_force FROM privacy.purpose WHERE name IN ('research', 'location_services');

-- the ledger is append-only, and no application role can read or edit it
SELECT try($$UPDATE privacy.consent_event SET granted = true$$);
SELECT try($$DELETE FROM privacy.consent_event$$);
SELECT try($$TRUNCATE privacy.consent_event$$);
SET ROLE regress_app;
SELECT try($$SELECT count(*) FROM privacy.consent_event$$);
SELECT try($$SELECT count(*) FROM privacy.consent$$);
SELECT try($$INSERT INTO privacy.consent VALUES ('42', 'marketing', now(), NULL, false)$$);
SELECT try($$SELECT privacy.grant_consent('42', 'marketing')$$);
SELECT try($$SELECT privacy.has_consent('42', 'marketing')$$);
SELECT try($$SELECT privacy.define_purpose('x', 'consent', ARRAY['contact'], 'x')$$);
RESET ROLE;
-- an application role granted the functions records consent, and still cannot edit the ledger
GRANT EXECUTE ON FUNCTION privacy.grant_consent(text, text, jsonb, boolean, text),
                          privacy.withdraw_consent(text, text, text),
                          privacy.has_consent(text, text, timestamptz, text) TO regress_app;
SET ROLE regress_app;
SELECT privacy.grant_consent('46', 'analytics') > 0 AS app_granted;
SELECT privacy.has_consent('46', 'analytics') AS app_checks;
SELECT actor FROM privacy.consent_event WHERE subject = '46';
SELECT try($$DELETE FROM privacy.consent WHERE subject = '46'$$);
RESET ROLE;
SELECT actor FROM privacy.consent_event WHERE subject = '46';

-- every grant and withdrawal is audited under the subject's pseudonym, never the subject
SELECT kind, detail->>'operation' AS op, detail->>'purpose' AS purpose,
       object IN (SELECT 'subject ' || privacy.subject_pseudonym(s)
                    FROM unnest(ARRAY['42', '43', '44', '46', '100', '101']) s) AS by_pseudonym
  FROM privacy.audit_log WHERE seq > :audit_start AND kind = 'consent' ORDER BY seq LIMIT 6;
SELECT count(*) AS entries_naming_a_subject FROM privacy.audit_log
 WHERE seq > :audit_start AND (object ~ 'subject (42|43|44|100|101)$' OR detail::text ~ '"(42|100)"');
SELECT kind, object, detail FROM privacy.audit_log
 WHERE seq > :audit_start AND kind IN ('purpose', 'policy') ORDER BY seq;
