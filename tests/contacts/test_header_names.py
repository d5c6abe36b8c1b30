"""Names that end up in email headers (list names: the subject; company names: the From name)
refuse control characters on every write path: API, dashboard forms, admin, services, command."""

import os
import re
import subprocess
import sys
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from contacts import services
from contacts.models import ContactList
from salloq.core import services as core_services
from salloq.core.api.fields import HEADER_NAME
from salloq.core.models import Company
from salloq.core.validators import header_safe, validate_header_safe
from tests.conftest import html

pytestmark = pytest.mark.django_db

HOSTILE_NAMES = [
    "News\nBcc: attacker@evil.test",
    "News\r\nBcc: attacker@evil.test",
    "News\rX",
    "News\x00X",
    "News\tX",
    "News\x1bX",
    "News\x7fX",
    "News\x85X",  # NEL, a C1 control
    "News\u2028X",  # line separator
]
FINE_NAMES = ["Newsletter", "Café crème ☕", "Famille 👨\u200d👩\u200d👧", "Offres -20 % / semaine"]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_api_refuses_a_list_name_with_a_control_character(api, name):
    answer = api.post("/api/lists", {"name": name})
    assert answer.status_code == 400
    assert answer.json()["code"] == 400 and "name" in answer.json()["details"]
    assert not ContactList.objects.exists()


@pytest.mark.parametrize("name", FINE_NAMES)
def test_api_accepts_names_without_control_characters(api, name):
    answer = api.post("/api/lists", {"name": name})
    assert answer.status_code == 201, answer.content
    assert answer.json()["name"] == name


def test_api_update_refuses_a_list_name_with_a_line_break(api, company):
    newsletter = services.contact_list_create(company=company, name="Newsletter")
    for method in (api.patch, api.put):
        answer = method(f"/api/lists/{newsletter.pk}", {"name": "News\nBcc: attacker@evil.test"})
        assert answer.status_code == 400
        assert "control characters" in answer.json()["details"]["name"][0]
    newsletter.refresh_from_db()
    assert newsletter.name == "Newsletter"


def test_the_schema_states_the_rule(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    assert HEADER_NAME in schema.content.decode().replace("\\\\", "\\")
    assert all(re.search(HEADER_NAME, name) for name in FINE_NAMES)
    assert not any(re.search(HEADER_NAME, name) for name in HOSTILE_NAMES)


def test_dashboard_forms_refuse_a_list_name_with_a_line_break(marketer_client, company):
    answer = marketer_client.post("/contacts/lists/", {"name": "News\nBcc: attacker@evil.test"})
    assert answer.status_code == 400
    assert "control characters" in html(answer)
    assert not ContactList.objects.exists()

    newsletter = services.contact_list_create(company=company, name="Newsletter")
    answer = marketer_client.post(f"/contacts/lists/{newsletter.pk}/edit/", {"name": "News\r\nX"})
    assert answer.status_code == 400
    assert "control characters" in html(answer)
    newsletter.refresh_from_db()
    assert newsletter.name == "Newsletter"


def test_admin_refuses_list_and_company_names_with_a_line_break(admin_client, company):
    answer = admin_client.post(
        "/admin/contacts/contactlist/add/", {"name": "News\nBcc: attacker@evil.test", "company": company.pk}
    )
    assert answer.status_code == 200  # the form again, with its error
    assert "control characters" in html(answer)
    assert not ContactList.objects.exists()

    answer = admin_client.post(
        "/admin/core/company/add/",
        {
            "name": "Evil\r\nBcc: boss@evil.test",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )
    assert answer.status_code == 200
    assert "control characters" in html(answer)
    assert not Company.objects.filter(name__contains="Evil").exists()


def test_services_refuse_names_with_a_control_character(company):
    newsletter = services.contact_list_create(company=company, name="Newsletter")
    for write in (
        lambda: services.contact_list_create(company=company, name="News\nX"),
        lambda: services.contact_list_update(contact_list=newsletter, data={"name": "News\x85X"}),
        lambda: core_services.company_get_or_create(name="Evil\nBcc: boss@evil.test"),
    ):
        with pytest.raises(ValidationError) as refused:
            write()
        assert list(refused.value.message_dict) == ["name"]


def test_create_api_key_command_refuses_a_company_name_with_a_line_break():
    with pytest.raises(CommandError, match="control characters"):
        call_command("create_api_key", "--company", "Evil\nBcc: x@evil.test", stdout=StringIO(), stderr=StringIO())
    assert not Company.objects.exists()


def test_a_default_from_email_with_a_line_break_stops_start_up(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update({"SALLOQ_VAR_DIR": str(tmp_path), "DEFAULT_FROM_EMAIL": "Shop\nBcc: x@evil.test <shop@example.com>"})
    done = subprocess.run([sys.executable, "-c", "import salloq.settings"], env=env, capture_output=True, text=True)
    assert done.returncode != 0
    assert "DEFAULT_FROM_EMAIL" in done.stderr and "control characters" in done.stderr


def test_header_safe_turns_each_run_of_controls_into_one_space():
    assert header_safe("News\r\nBcc: attacker@evil.test") == "News Bcc: attacker@evil.test"
    assert header_safe("\tNews\x00\x85X\u2028") == "News X"
    for name in FINE_NAMES:
        assert header_safe(name) == name
        validate_header_safe(name)
