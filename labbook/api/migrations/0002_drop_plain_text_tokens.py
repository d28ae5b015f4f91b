"""DRF's authtoken table (plain-text keys, no expiry) is no longer used: empty it where it exists,
so no old key lingers in the database. Its owners make new tokens (POST /api/auth/token/)."""

from django.db import migrations


def forget_plain_text_tokens(apps, schema_editor):
    connection = schema_editor.connection
    if "authtoken_token" in connection.introspection.table_names():
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM authtoken_token")


class Migration(migrations.Migration):
    dependencies = [("api", "0001_initial")]

    operations = [migrations.RunPython(forget_plain_text_tokens, migrations.RunPython.noop)]
