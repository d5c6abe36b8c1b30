"""The PostgreSQL statements of the bulk upsert (bulk.py), apart from its ORM path: on PostgreSQL
bulk.py runs these, one statement per table with every row's values in array parameters; on any
other database it writes the same columns through Django's bulk operations. The column lists here
must follow bulk.py's (UPDATED_COLUMNS, CONTACT_COLUMNS, FIELD_VALUE_COLUMNS):
tests/contacts/test_structure_bulk_sql.py checks they do, and that every column exists on the model.
"""

# The PostgreSQL statements send their parameters in binary, apart from the statement (%b;
# salloq.core.db.binary_cursor).
#
# The lookups. The unique indexes on email and external_id are partial (WHERE email <> '', WHERE external_id IS
# NOT NULL); a lookup must repeat their conditions, or the planner cannot use them. Each value
# probes its index once, in a LATERAL subquery: `email = ANY(...) OR external_id = ANY(...)` is
# priced as a thousand random probes and planned as a scan of all the company's contacts (a third
# of an update batch's time at 100,000 contacts), and a plain join is hash-joined against all of
# them whenever the statistics say the company is small (every batch of a first import).
# The rows found are locked (FOR NO KEY UPDATE, what the UPDATE takes anyway, so foreign keys to
# them do not wait): properties and tags are merged in Python, and a concurrent batch holding
# the same contact must wait and read the merged row, not overwrite it. Locking in id order
# keeps two batches from deadlocking on each other's rows.
# Columns in bulk.UPDATED_COLUMNS order, as bulk's rows take them.
LOOKUP_CONTACTS = """
SELECT c.id, c.email, c.external_id, c.phone, c.first_name, c.last_name, c.lang, c.source, c.status, c.phone_valid,
    c.properties, c.tags, c.erased_at
FROM contacts_contact AS c
WHERE c.id IN (
    SELECT m.id FROM UNNEST(%b::varchar[]) AS v(email) CROSS JOIN LATERAL (
        SELECT id FROM contacts_contact WHERE company_id = %b AND email = v.email AND email <> '' LIMIT 1
    ) AS m
    UNION ALL
    SELECT m.id FROM UNNEST(%b::varchar[]) AS v(external_id) CROSS JOIN LATERAL (
        SELECT id FROM contacts_contact
        WHERE company_id = %b AND external_id = v.external_id AND external_id IS NOT NULL LIMIT 1
    ) AS m
)
ORDER BY c.id
FOR NO KEY UPDATE OF c
"""
LOOKUP_SUPPRESSIONS = "SELECT email FROM contacts_suppression WHERE company_id = %b AND email = ANY(%b::varchar[])"
# The writes: one statement per table, every row's values in array parameters.
UPDATE_CONTACTS = """
UPDATE contacts_contact AS c SET email = v.email, external_id = v.external_id, phone = v.phone,
    first_name = v.first_name, last_name = v.last_name, lang = v.lang, source = v.source, status = v.status,
    phone_valid = v.phone_valid, properties = v.properties::jsonb, tags = v.tags::jsonb, erased_at = v.erased_at,
    updated_at = %b
FROM UNNEST(%b::bigint[], %b::varchar[], %b::varchar[], %b::varchar[], %b::varchar[], %b::varchar[], %b::varchar[],
    %b::varchar[], %b::varchar[], %b::boolean[], %b::text[], %b::text[], %b::timestamptz[])
    AS v(id, email, external_id, phone, first_name, last_name, lang, source, status, phone_valid, properties, tags,
    erased_at)
WHERE c.id = v.id AND c.company_id = %b
"""
INSERT_CONTACTS = """
INSERT INTO contacts_contact (company_id, email, external_id, phone, first_name, last_name, lang, source, status,
    phone_valid, properties, tags, created_at, updated_at)
SELECT %b, v.email, v.external_id, v.phone, v.first_name, v.last_name, v.lang, v.source, v.status, v.phone_valid,
    v.properties::jsonb, v.tags::jsonb, %b, %b
FROM UNNEST(%b::varchar[], %b::varchar[], %b::varchar[], %b::varchar[], %b::varchar[], %b::varchar[], %b::varchar[],
    %b::varchar[], %b::boolean[], %b::text[], %b::text[]) WITH ORDINALITY
    AS v(email, external_id, phone, first_name, last_name, lang, source, status, phone_valid, properties, tags, n)
ORDER BY v.n
RETURNING id
"""
UPSERT_FIELD_VALUES = """
INSERT INTO contacts_customfieldvalue (contact_id, field_id, text_value, number_value, date_value, bool_value)
SELECT * FROM UNNEST(%b::bigint[], %b::bigint[], %b::text[], %b::numeric[], %b::date[], %b::boolean[])
ON CONFLICT (contact_id, field_id) DO UPDATE SET text_value = EXCLUDED.text_value,
    number_value = EXCLUDED.number_value, date_value = EXCLUDED.date_value, bool_value = EXCLUDED.bool_value
"""
INSERT_CONSENT_RECORDS = """
INSERT INTO contacts_consentrecord (company_id, contact_id, action, contact_list_id, source, ip_address, user_agent,
    note, created_at)
SELECT %b, v.contact_id, v.action, v.contact_list_id, %b, %b::inet, %b, v.note, %b
FROM UNNEST(%b::bigint[], %b::varchar[], %b::bigint[], %b::varchar[]) WITH ORDINALITY
    AS v(contact_id, action, contact_list_id, note, n)
ORDER BY v.n
"""
INSERT_MEMBERSHIPS = """
INSERT INTO contacts_listmembership (contact_list_id, contact_id, status, created_at, subscribed_at)
SELECT %b, v.contact_id, %b, %b, %b FROM UNNEST(%b::bigint[]) WITH ORDINALITY AS v(contact_id, n)
ORDER BY v.n
RETURNING id
"""
