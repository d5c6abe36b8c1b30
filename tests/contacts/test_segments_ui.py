"""Dashboard segment pages through the Django test client: list with live counts, the rule builder
(add/remove rows through htmx and without JavaScript), the live count and preview, save, delete, roles."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from contacts import services
from contacts.models import Segment
from contacts.segments.services import segment_create
from events.models import Event
from salloq.core.models import Role
from tests.conftest import html
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def crowd(company):
    """Three subscribed contacts (one a VIP who ordered yesterday) and one unsubscribed."""
    people = [
        services.contact_upsert(company=company, data={"email": f"p{n}@example.com", "first_name": f"P{n}"}).contact
        for n in range(3)
    ]
    services.contact_add_tags(contact=people[0], tags=["vip"])
    services.contact_upsert(company=company, data={"email": "left@example.com", "status": "unsubscribed"})
    Event.objects.create(
        company=company, contact=people[0], event_type="order_placed", value=Decimal(80),
        occurred_at=timezone.now() - timedelta(days=1),
    )  # fmt: skip
    return people


def rule_form(**extra) -> dict:
    """A builder form with one top-level rule (row 1): status is subscribed."""
    form = {
        "name": "Subscribers",
        "description": "",
        "operator": "and",
        "row": ["1"],
        "r1-parent": "",
        "r1-field": "status",
        "r1-comparison": "equals",
        "r1-value": "subscribed",
    }
    form.update(extra)
    return form


def test_list_page_shows_segments_and_loads_each_count_by_itself(marketer_client, company, crowd):
    segment = segment_create(
        company=company,
        name="Subscribers",
        definition={"operator": "and", "rules": [{"field": "status", "comparison": "equals", "value": "subscribed"}]},
    )
    page = marketer_client.get("/contacts/segments/")
    assert page.status_code == 200
    markup = html(page)
    assert "Subscribers" in markup and f'hx-get="/contacts/segments/{segment.pk}/count/"' in markup
    assert 'hx-trigger="revealed" hx-sync="closest table:queue all"' in markup  # on screen, one at a time
    assert 'href="/contacts/segments/"' in markup and 'aria-current="page">Segments' in markup  # the nav entry

    partial = marketer_client.get("/contacts/segments/", **HX)
    assert "HX-Request" in partial["Vary"]
    assert html(partial).lstrip().startswith('<div id="segment-table"')

    count = marketer_client.get(f"/contacts/segments/{segment.pk}/count/", **HX)
    assert count.status_code == 200 and "<strong>3</strong>" in html(count)


def test_count_of_a_segment_with_stale_rules_says_so(marketer_client, company, crowd):
    services.custom_field_create(company=company, name="Tier", field_type="text")
    segment = segment_create(
        company=company,
        name="Gold",
        definition={"operator": "and", "rules": [{"field": "fields.Tier", "comparison": "is_set"}]},
    )
    services.CustomField.objects.filter(name="Tier").delete()
    body = html(marketer_client.get(f"/contacts/segments/{segment.pk}/count/", **HX))
    assert "rules need fixing" in body and "No custom field named" in body


def test_new_segment_page_starts_with_one_rule_and_its_live_count(marketer_client, crowd):
    page = marketer_client.get("/contacts/segments/new/")
    assert page.status_code == 200
    markup = html(page)
    assert 'hx-trigger="change, keyup changed delay:400ms"' in markup
    assert 'name="r1-field"' in markup and '<option value="status" selected>' in markup
    assert '<strong id="segment-count">3</strong> contacts match' in markup
    assert "p0@example.com" in markup and "left@example.com" not in markup
    assert "<script" not in markup.split("</head>")[1] and 'style="' not in markup  # strict CSP: nothing inline


def test_live_count_and_preview_follow_the_form(marketer_client, crowd):
    form = rule_form(
        **{"row": ["1", "2"], "r2-parent": "", "r2-field": "tags", "r2-comparison": "contains", "r2-value": "VIP"}
    )
    response = marketer_client.post("/contacts/segments/live/", form, **HX)
    assert response.status_code == 200
    markup = html(response)
    assert '<strong id="segment-count">1</strong> contact matches' in markup
    assert "p0@example.com" in markup and "p1@example.com" not in markup

    # Any of the rules: everyone subscribed.
    markup = html(marketer_client.post("/contacts/segments/live/", {**form, "operator": "or"}, **HX))
    assert '<strong id="segment-count">3</strong>' in markup


def test_live_preview_badges_say_who_can_be_mailed_not_the_consent_status(
    marketer_client, company, crowd, django_assert_max_num_queries
):
    """A blacklisted or bounced contact keeps its "subscribed" consent status: the preview's badge
    is the contact list's mailability badge, computed with the page's query (none per contact)."""
    services.suppression_add(company=company, email="p1@example.com")
    services.contact_upsert(company=company, data={"email": "gone@example.com", "status": "bounced"})
    form = rule_form(**{"r1-comparison": "not_equals", "r1-value": "unsubscribed"})

    with django_assert_max_num_queries(7):
        markup = html(marketer_client.post("/contacts/segments/live/", form, **HX))

    rows = dict(re.findall(r'<a href="/contacts/\d+/">([^<]+)</a>.*?<span class="badge (\w+)"', markup))
    assert rows == {"p0@example.com": "subscribed", "p1@example.com": "blacklisted",
                    "p2@example.com": "subscribed", "gone@example.com": "bounced"}  # fmt: skip
    assert 'title="Not mailed: the address is on the blacklist">Blacklisted</span>' in markup


def test_live_count_names_the_rule_at_fault(marketer_client, crowd):
    form = rule_form(
        **{"r1-field": "events.count", "r1-name": "order_placed", "r1-comparison": "greater_than", "r1-value": "lots"}
    )
    markup = html(marketer_client.post("/contacts/segments/live/", form, **HX))
    assert "Fix these rules" in markup
    assert "Rule 1: For greater_than on events.order_placed.count the value must be a whole number" in markup


def test_behaviour_rule_with_a_window_and_a_data_match(marketer_client, crowd):
    form = rule_form(
        **{"r1-field": "events.count", "r1-name": "order_placed", "r1-comparison": "greater_than", "r1-value": "0",
           "r1-days": "30", "r1-where-key": ["", ""], "r1-where-value": ["", ""]}
    )  # fmt: skip
    assert '<strong id="segment-count">1</strong>' in html(marketer_client.post("/contacts/segments/live/", form, **HX))
    form["r1-days"] = ""
    form["r1-field"], form["r1-comparison"], form["r1-value"] = "events.total", "greater_than", "100"
    assert '<strong id="segment-count">0</strong>' in html(marketer_client.post("/contacts/segments/live/", form, **HX))


def test_add_and_remove_rules_and_groups_through_htmx(marketer_client, crowd):
    added = marketer_client.post("/contacts/segments/new/", rule_form(_action="add"), **HX)
    assert added.status_code == 200
    markup = html(added)
    assert markup.lstrip().startswith('<div id="segment-builder"')
    assert 'name="r2-field"' in markup  # the new row
    assert 'id="segment-live" aria-live="polite" hx-swap-oob="true"' in markup  # the count follows

    grouped = html(marketer_client.post("/contacts/segments/new/", rule_form(_action="add-group"), **HX))
    assert 'name="r2-kind" value="group"' in grouped and 'name="r3-parent" value="2"' in grouped

    form = rule_form(
        **{"row": ["1", "2", "3"], "r2-parent": "", "r2-kind": "group", "r2-operator": "or", "r3-parent": "2",
           "r3-field": "tags", "r3-comparison": "equals", "r3-value": "vip", "_action": "add:2"}
    )  # fmt: skip
    markup = html(marketer_client.post("/contacts/segments/new/", form, **HX))
    assert 'name="r4-parent" value="2"' in markup  # added inside the group

    form["_action"] = "remove:2"  # the group and what it holds
    markup = html(marketer_client.post("/contacts/segments/new/", form, **HX))
    assert 'name="r2-kind"' not in markup and 'name="r3-field"' not in markup and 'name="r1-field"' in markup


def test_changing_the_field_offers_its_comparisons(marketer_client, crowd):
    form = rule_form(**{"r1-field": "created_at", "r1-comparison": "equals", "r1-value": "", "_action": "refresh"})
    markup = html(marketer_client.post("/contacts/segments/new/", form, **HX))
    assert '<option value="within_last"' in markup and '<option value="contains"' not in markup
    assert 'type="date"' in markup
    form.update({"r1-field": "tags", "r1-comparison": "within_last"})  # no longer applies: falls back
    markup = html(marketer_client.post("/contacts/segments/new/", form, **HX))
    assert '<option value="equals" selected>' in markup


def test_builder_actions_work_without_javascript(marketer_client, crowd):
    page = marketer_client.post("/contacts/segments/new/", rule_form(_action="add"))
    assert page.status_code == 200
    markup = html(page)
    assert "<html" in markup and 'name="r2-field"' in markup
    assert not Segment.objects.exists()


def test_save_creates_the_segment_from_the_rows(marketer_client, company, crowd):
    form = rule_form(
        **{"row": ["1", "2", "3", "4"], "r2-parent": "", "r2-kind": "group", "r2-operator": "or",
           "r3-parent": "2", "r3-field": "tags", "r3-comparison": "in", "r3-value": "vip, gold",
           "r4-parent": "2", "r4-field": "events.last", "r4-name": "order_placed", "r4-comparison": "within_last",
           "r4-value": "7"}
    )  # fmt: skip
    response = marketer_client.post("/contacts/segments/new/", form)
    segment = Segment.objects.for_company(company).get()
    assert response.status_code == 302 and response["Location"] == f"/contacts/segments/{segment.pk}/"
    assert segment.name == "Subscribers"
    assert segment.definition == {
        "operator": "and",
        "rules": [
            {"field": "status", "comparison": "equals", "value": "subscribed"},
            {
                "operator": "or",
                "rules": [
                    {"field": "tags", "comparison": "in", "value": ["vip", "gold"]},
                    {"field": "events.order_placed.last", "comparison": "within_last", "value": 7},
                ],
            },
        ],
    }
    # The edit page shows the same rows back.
    markup = html(marketer_client.get(f"/contacts/segments/{segment.pk}/"))
    assert 'value="vip, gold"' in markup and 'name="r4-name" value="order_placed"' in markup
    assert '<strong id="segment-count">1</strong>' in markup


def test_save_with_a_bad_rule_or_a_taken_name_shows_why(marketer_client, company, crowd):
    segment_create(company=company, name="Subscribers", definition={"operator": "and", "rules": []})
    bad = marketer_client.post("/contacts/segments/new/", rule_form(**{"r1-field": "fields.Nope", "name": "New"}))
    assert bad.status_code == 400
    assert "Field of rule 1" in html(bad)

    taken = marketer_client.post("/contacts/segments/new/", rule_form())
    assert taken.status_code == 400
    assert "A segment named &#x27;Subscribers&#x27; already exists." in html(taken)
    assert Segment.objects.for_company(company).count() == 1


def test_edit_and_delete(marketer_client, company, crowd):
    segment = segment_create(company=company, name="Old", definition={"operator": "and", "rules": []})
    response = marketer_client.post(f"/contacts/segments/{segment.pk}/", rule_form(name="Renamed"))
    assert response.status_code == 302
    segment.refresh_from_db()
    assert segment.name == "Renamed" and len(segment.definition["rules"]) == 1

    deleted = marketer_client.post(f"/contacts/segments/{segment.pk}/delete/", **HX)
    assert deleted.status_code == 204 and deleted["HX-Redirect"] == "/contacts/segments/"
    assert not Segment.objects.filter(pk=segment.pk).exists()


def test_another_companys_segment_is_a_404(marketer_client, other_company):
    theirs = segment_create(company=other_company, name="Theirs", definition={"operator": "and", "rules": []})
    for method, path in (
        ("get", f"/contacts/segments/{theirs.pk}/"),
        ("get", f"/contacts/segments/{theirs.pk}/count/"),
        ("post", f"/contacts/segments/{theirs.pk}/"),
        ("post", f"/contacts/segments/{theirs.pk}/delete/"),
    ):
        assert getattr(marketer_client, method)(path).status_code == 404, path
    assert Segment.objects.filter(pk=theirs.pk).exists()
    assert "Theirs" not in html(marketer_client.get("/contacts/segments/"))


def test_a_viewer_sees_and_counts_but_cannot_change(client, company, crowd):
    client.force_login(MembershipFactory(company=company, role=Role.VIEWER).user)
    segment = segment_create(company=company, name="Seen", definition={"operator": "and", "rules": []})
    markup = html(client.get(f"/contacts/segments/{segment.pk}/"))
    assert "Save segment" not in markup and "Add rule" not in markup and "Delete" not in markup
    assert client.post("/contacts/segments/live/", rule_form(), **HX).status_code == 200
    assert client.post(f"/contacts/segments/{segment.pk}/", rule_form(name="Changed")).status_code == 403
    assert client.post(f"/contacts/segments/{segment.pk}/delete/").status_code == 403
    segment.refresh_from_db()
    assert segment.name == "Seen"


def test_the_list_page_counts_in_few_queries(marketer_client, company, crowd, django_assert_max_num_queries):
    for n in range(5):
        segment_create(company=company, name=f"S{n}", definition={"operator": "and", "rules": []})
    with django_assert_max_num_queries(8):  # session, user, membership(s), segments: not one per segment
        assert marketer_client.get("/contacts/segments/").status_code == 200
