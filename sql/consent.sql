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

-- a material change can name the purposes it affects: consent to them given
-- before it is void, consent to the others stays (44's personalization too)
SELECT privacy.grant_consent('48', 'marketing') > 0 AS m, privacy.grant_consent('48', 'analytics') > 0 AS a,
       privacy.grant_consent('48', 'personalization') > 0 AS p;
SELECT clock_timestamp() AS before_named \gset
SELECT privacy.publish_policy('2.1', true, ARRAY['marketing', 'analytics', 'marketing']) IS NOT NULL AS material_for_two;
SELECT clock_timestamp() AS after_named \gset
SELECT purpose, privacy.has_consent('48', purpose) AS now,
       privacy.has_consent('48', purpose, :'before_named') AS before_it,
       privacy.has_consent('48', purpose, :'after_named') AS just_after
  FROM unnest(ARRAY['analytics', 'marketing', 'personalization']) purpose ORDER BY 1;
SELECT privacy.has_consent('44', 'personalization') AS other_subject_unaffected;
SELECT subject, purpose FROM privacy.consent WHERE subject IN ('44', '48') ORDER BY 1, 2;
SELECT version, material, purposes FROM privacy.policy_version ORDER BY published_at;
-- granted again after it, marketing counts again; a later change naming
-- personalization only voids that, and at the moments between each change
-- counts for its own purposes only
SELECT privacy.grant_consent('48', 'marketing') > 0 AS regranted;
SELECT clock_timestamp() AS after_regrant \gset
SELECT privacy.publish_policy('2.2', true, ARRAY['personalization']) IS NOT NULL AS material_for_one;
SELECT purpose, privacy.has_consent('48', purpose) AS now,
       privacy.has_consent('48', purpose, :'after_named') AS after_2_1,
       privacy.has_consent('48', purpose, :'after_regrant') AS before_2_2
  FROM unnest(ARRAY['analytics', 'marketing', 'personalization']) purpose ORDER BY 1;
SELECT detail FROM privacy.audit_log WHERE kind = 'policy' ORDER BY seq;
SELECT try($$SELECT privacy.publish_policy('2.3', false, ARRAY['marketing'])$$);
SELECT try($$SELECT privacy.publish_policy('2.3', true, ARRAY[]::text[])$$);
SELECT try($$SELECT privacy.publish_policy('2.3', true, ARRAY['nosuch'])$$);
SELECT try($$SELECT privacy.publish_policy('2.3', true, ARRAY[NULL]::text[])$$);
SELECT count(*) AS not_published FROM privacy.policy_version WHERE version = '2.3';
-- (44 consents to personalization again, 48 withdraws marketing: the rest of
-- the suite as before)
SELECT privacy.grant_consent('44', 'personalization') > 0 AS granted_again,
       privacy.withdraw_consent('48', 'marketing') AS withdrawn;

-- minors (privacy.minor_age, default 14): only a guardian's consent counts
SHOW privacy.minor_age;
SET ROLE regress_owner;
CREATE TABLE club_members (id bigint PRIMARY KEY, born date);
SECURITY LABEL FOR privacy ON COLUMN club_members.id IS 'SUBJECT';
SECURITY LABEL FOR privacy ON COLUMN club_members.born IS 'CATEGORY identity.birth_date';
INSERT INTO club_members VALUES (100, current_date - 3650), (101, current_date - 365 * 30), (102, NULL),
                           (103, current_date - 365 * 16 - 10), (104, current_date - 365 * 40);
RESET ROLE;
SELECT privacy.is_minor('100') AS ten_years_old, privacy.is_minor('101') AS thirty, privacy.is_minor('102') AS unknown_birth,
       privacy.is_minor('999') AS not_in_table;
SELECT privacy.grant_consent('100', 'marketing') > 0 AS child_consents;
SELECT privacy.has_consent('100', 'marketing') AS child_alone;
-- a guardian's consent names the guardian, a subject (of a kind); by_guardian alone is refused
SELECT try($$SELECT privacy.grant_consent('100', 'marketing', '{"guardian": "verified by SMS"}', by_guardian => true)$$);
SELECT try($$SELECT privacy.grant_consent('100', 'marketing', by_guardian => false, guardian => '104')$$);
SELECT try($$SELECT privacy.grant_consent('100', 'marketing', guardian => '100')$$);
SELECT try($$SELECT privacy.grant_consent('100', 'marketing', guardian => '104', guardian_kind => NULL)$$);
SELECT try($$SELECT privacy.grant_consent('100', 'marketing', guardian => '104', guardian_kind => 'nosuch')$$);
-- a minor is no one's guardian
SELECT try($$SELECT privacy.grant_consent('103', 'marketing', guardian => '100')$$);
SELECT count(*) AS refused_left_nothing FROM privacy.consent_event WHERE subject = '100' AND by_guardian;
SELECT privacy.grant_consent('100', 'marketing', '{"guardian": "verified by SMS"}', guardian => '104') > 0 AS guardian_consents;
SELECT privacy.has_consent('100', 'marketing') AS with_guardian;
SELECT subject, purpose, by_guardian, guardian, guardian_kind, evidence FROM privacy.consent_event
 WHERE subject = '100' ORDER BY seq;
-- the audit log names the guardian by pseudonym, and the key is nowhere else
-- in the entry (the pseudonym, 64 random hex digits, may hold '104' itself)
SELECT detail->>'by_guardian' AS by_guardian, detail->>'guardian' = privacy.subject_pseudonym('104') AS guardian_by_pseudonym,
       position('104' IN replace(detail::text, detail->>'guardian', '')) AS key_in_detail
  FROM privacy.audit_log WHERE kind = 'consent' AND object = 'subject ' || privacy.subject_pseudonym('100')
 ORDER BY seq DESC LIMIT 1;
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

-- cancelling a guardian: the consents they gave stay in force, and name
-- them by the pseudonym their own consent history is kept under (rolled
-- back, and the request numbers it took given back: the later suites count
-- cancellations and requests)
SELECT last_value AS request_last, is_called AS request_called FROM privacy.request_id_seq \gset
BEGIN;
SELECT privacy.grant_consent('104', 'analytics') > 0 AS guardian_own_consent;
SELECT relation, action, rows, detail FROM privacy.cancel_subject('104') ORDER BY relation::text, action, detail;
SELECT subject, purpose, by_guardian, guardian = 'cancelled:' || privacy.subject_pseudonym('104') AS guardian_pseudonymized
  FROM privacy.consent_event WHERE subject = '100' AND by_guardian ORDER BY seq;
SELECT count(*) AS guardian_key_left FROM privacy.consent_event WHERE guardian = '104' OR subject = '104';
SELECT privacy.has_consent('100', 'marketing') AS still_in_force;
-- a cancelled guardian gives no more consent; the ledger stays append-only for them too
SELECT try($$SELECT privacy.grant_consent('100', 'analytics', guardian => '104')$$);
SELECT try($$UPDATE privacy.consent_event SET guardian = '105' WHERE subject = '100' AND by_guardian$$);
ROLLBACK;
SELECT setval('privacy.request_id_seq', :request_last, :'request_called') IS NOT NULL AS request_numbers_given_back;

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
GRANT EXECUTE ON FUNCTION privacy.grant_consent(text, text, jsonb, boolean, text, text, text),
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
