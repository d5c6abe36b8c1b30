"""Tags move from a row per tag (ContactTag) to a list on the contact (Contact.tags)."""

from django.db import migrations, models


def copy_tags_to_contacts(apps, schema_editor):
    Contact = apps.get_model("contacts", "Contact")
    ContactTag = apps.get_model("contacts", "ContactTag")
    tags: dict[int, list[str]] = {}
    for contact_id, name in ContactTag.objects.order_by("contact_id", "id").values_list("contact_id", "name").iterator():
        tags.setdefault(contact_id, []).append(name)
    contacts = [Contact(pk=pk, tags=names) for pk, names in tags.items()]
    Contact.objects.bulk_update(contacts, ["tags"], batch_size=1000)


def copy_tags_to_rows(apps, schema_editor):
    Contact = apps.get_model("contacts", "Contact")
    ContactTag = apps.get_model("contacts", "ContactTag")
    rows = (
        ContactTag(contact_id=pk, name=name)
        for pk, names in Contact.objects.exclude(tags=[]).values_list("pk", "tags").iterator()
        for name in names
    )
    ContactTag.objects.bulk_create(rows, batch_size=1000)


# jsonb_path_ops: the smaller, faster GIN operator class; it serves @> (containment), the
# only operator the exact-tag filter uses. PostgreSQL only: SQLite has no GIN.
CREATE_GIN = "CREATE INDEX contact_tags ON contacts_contact USING gin (tags jsonb_path_ops)"
DROP_GIN = "DROP INDEX IF EXISTS contact_tags"


def create_gin_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE_GIN)


def drop_gin_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_GIN)


class Migration(migrations.Migration):
    dependencies = [("contacts", "0002_drop_redundant_indexes")]

    operations = [
        migrations.AddField(model_name="contact", name="tags", field=models.JSONField(blank=True, default=list)),
        migrations.RunPython(copy_tags_to_contacts, copy_tags_to_rows),
        migrations.DeleteModel(name="ContactTag"),
        migrations.RunPython(create_gin_index, drop_gin_index),
    ]
