"""The PostgreSQL statements of the bulk upsert (contacts/bulk_sql.py) name the same columns, in the
same order, as the lists the ORM path and the parameter building of contacts/bulk.py use, and every
column they name exists on the model. A column added to one side only fails here, not in production
on PostgreSQL alone."""

import re

import pytest
from django.db.models.fields import NOT_PROVIDED

from contacts import bulk, bulk_sql
from contacts.contact_input import CONTACT_COLUMNS
from contacts.models import ConsentRecord, Contact, CustomFieldValue, ListMembership, Suppression


def _names(text: str) -> list[str]:
    return [name.strip().removeprefix("c.").removeprefix("v.") for name in text.split(",")]


def _insert_columns(sql: str, table: str) -> list[str]:
    match = re.search(rf"INSERT INTO {table} \(([^)]*)\)", sql)
    assert match, sql
    return _names(match.group(1))


def _alias(sql: str) -> list[str]:
    match = re.search(r"AS v\(([^)]*)\)", sql)
    assert match, sql
    return _names(match.group(1))


def _unnest_arrays(sql: str) -> int:
    match = re.search(r"UNNEST\(([^)]*)\)", sql)
    assert match, sql
    return match.group(1).count("%b")


def _columns_of(model) -> set[str]:
    return {field.column for field in model._meta.concrete_fields}


def test_the_lookup_reads_the_columns_a_bulk_row_takes_in_their_order():
    selected = re.search(r"SELECT (.*?)\nFROM", bulk_sql.LOOKUP_CONTACTS, re.DOTALL)
    assert selected
    assert _names(selected.group(1)) == ["id", *bulk.UPDATED_COLUMNS]


def test_the_update_writes_the_columns_the_orm_path_updates():
    assigned = re.findall(r"(\w+) = v\.(\w+)", bulk_sql.UPDATE_CONTACTS.split("FROM")[0])
    assert all(column == value for column, value in assigned)
    assert [column for column, _ in assigned] == list(bulk.UPDATED_COLUMNS)
    assert "updated_at = %b" in bulk_sql.UPDATE_CONTACTS
    alias = _alias(bulk_sql.UPDATE_CONTACTS)
    assert alias == ["id", *bulk.UPDATED_COLUMNS]
    assert _unnest_arrays(bulk_sql.UPDATE_CONTACTS) == len(alias)


def test_the_insert_writes_the_columns_the_orm_path_creates():
    inserted = _insert_columns(bulk_sql.INSERT_CONTACTS, "contacts_contact")
    # bulk.py sends the CONTACT_COLUMNS arrays, then properties and tags (UPDATED_COLUMNS but erased_at).
    assert inserted == ["company_id", *CONTACT_COLUMNS, "properties", "tags", "created_at", "updated_at"]
    assert [*CONTACT_COLUMNS, "properties", "tags", "erased_at"] == list(bulk.UPDATED_COLUMNS)
    alias = _alias(bulk_sql.INSERT_CONTACTS)
    assert alias == [*CONTACT_COLUMNS, "properties", "tags", "n"]  # n: WITH ORDINALITY
    assert _unnest_arrays(bulk_sql.INSERT_CONTACTS) == len(alias) - 1


def test_the_insert_leaves_out_no_column_a_new_contact_needs():
    """A column that is NOT NULL without a database default must be in the INSERT (the ORM path
    fills every field from the model; the SQL only what it names)."""
    inserted = set(_insert_columns(bulk_sql.INSERT_CONTACTS, "contacts_contact"))
    needed = {
        field.column
        for field in Contact._meta.concrete_fields
        if not field.primary_key and not field.null and field.db_default is NOT_PROVIDED
    }
    assert needed <= inserted, needed - inserted


def test_the_field_value_upsert_writes_the_orm_path_s_columns():
    sql = bulk_sql.UPSERT_FIELD_VALUES
    assert _insert_columns(sql, "contacts_customfieldvalue") == ["contact_id", "field_id", *bulk.FIELD_VALUE_COLUMNS]
    updated = re.findall(r"(\w+) = EXCLUDED\.(\w+)", sql)
    assert [column for column, _ in updated] == bulk.FIELD_VALUE_COLUMNS
    assert all(column == value for column, value in updated)
    assert _unnest_arrays(sql) == 2 + len(bulk.FIELD_VALUE_COLUMNS)


@pytest.mark.parametrize(
    ("sql", "table", "model"),
    [
        (bulk_sql.INSERT_CONTACTS, "contacts_contact", Contact),
        (bulk_sql.UPSERT_FIELD_VALUES, "contacts_customfieldvalue", CustomFieldValue),
        (bulk_sql.INSERT_CONSENT_RECORDS, "contacts_consentrecord", ConsentRecord),
        (bulk_sql.INSERT_MEMBERSHIPS, "contacts_listmembership", ListMembership),
    ],
)
def test_every_column_a_statement_writes_exists_on_its_model(sql, table, model):
    assert model._meta.db_table == table
    assert set(_insert_columns(sql, table)) <= _columns_of(model)


def test_every_column_the_lookups_read_exists_on_its_model():
    selected = re.search(r"SELECT (.*?)\nFROM", bulk_sql.LOOKUP_CONTACTS, re.DOTALL)
    assert set(_names(selected.group(1))) <= _columns_of(Contact)
    assert Contact._meta.db_table in bulk_sql.LOOKUP_CONTACTS
    assert Suppression._meta.db_table in bulk_sql.LOOKUP_SUPPRESSIONS
    assert {"email", "company_id"} <= _columns_of(Suppression)


def test_a_statement_with_a_column_the_model_lacks_is_caught():
    """The checks above can fail: a column list with an unknown name does not pass them."""
    broken = bulk_sql.INSERT_CONTACTS.replace("first_name,", "first_nam,", 1)
    assert not set(_insert_columns(broken, "contacts_contact")) <= _columns_of(Contact)
    assert _insert_columns(broken, "contacts_contact") != _insert_columns(bulk_sql.INSERT_CONTACTS, "contacts_contact")
