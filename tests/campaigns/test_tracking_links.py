"""Open pixel, click redirects and unsubscribe links: through the URLs a sent message carries,
with scanners kept apart, hostile tokens refused, and one company's links never touching
another's rows."""

import base64
import hmac
import time
from datetime import timedelta
from urllib.parse import quote, urlsplit

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from campaigns import tracking
from campaigns.models import (
    ActivityKind,
    Campaign,
    CampaignActivity,
    CampaignLink,
    CampaignRecipient,
    CampaignStatus,
    RecipientStatus,
)
from contacts.models import ContactStatus, MembershipStatus
from tests.factories import CompanyFactory
from tests.factories.contacts import ContactFactory, ContactListFactory, ListMembershipFactory

BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
GMAIL_PROXY = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
SAFE_LINKS = "Mozilla/5.0 (compatible; Microsoft SafeLinks scanner)"
BARRACUDA = "Barracuda Sentinel (EE)"


def make_campaign(company, *, urls=("https://shop.example/sale", "https://shop.example/blog"), recipients=1):
    """A sending campaign of `company` with its links and `recipients` rows sent an hour ago."""
    campaign = Campaign.objects.create(
        company=company, name="Spring sale", subject="Hi", status=CampaignStatus.SENDING, started_at=timezone.now()
    )
    links = [CampaignLink.objects.create(campaign=campaign, url=url, position=i) for i, url in enumerate(urls, 1)]
    rows = []
    contact_list = ContactListFactory(company=company)
    for _ in range(recipients):
        contact = ContactFactory(company=company)
        ListMembershipFactory(contact_list=contact_list, contact=contact)
        rows.append(
            CampaignRecipient.objects.create(
                campaign=campaign,
                contact=contact,
                email=contact.email,
                status=RecipientStatus.SENT,
                sent_at=timezone.now() - timedelta(hours=1),
            )
        )
    return campaign, links, rows


def path_of(url: str) -> str:
    return urlsplit(url).path


def statements(queries: CaptureQueriesContext) -> list[str]:
    """The statements run, without the savepoints of the test's own transaction."""
    return [query["sql"] for query in queries.captured_queries if "SAVEPOINT" not in query["sql"]]


def refreshed(recipient: CampaignRecipient) -> CampaignRecipient:
    recipient.refresh_from_db()
    return recipient


# --- Tokens -------------------------------------------------------------------------------------


def test_urls_are_absolute_on_site_url_and_signed_per_purpose(settings):
    settings.SITE_URL = "https://mail.example.org"
    open_url, click_url, unsubscribe_url = (
        tracking.open_pixel_url(41),
        tracking.click_url(41, 7),
        tracking.unsubscribe_url(41),
    )
    for url in (open_url, click_url, unsubscribe_url):
        assert url.startswith("https://mail.example.org/t/")
        assert len(url) < 70
    open_token = path_of(open_url).removeprefix("/t/o/").removesuffix(".gif")
    click_token = path_of(click_url).removeprefix("/t/c/").rstrip("/")
    unsubscribe_token = path_of(unsubscribe_url).removeprefix("/t/u/").rstrip("/")
    assert tracking.read_open_token(open_token) == 41
    assert tracking.read_click_token(click_token) == (41, 7)
    assert tracking.read_unsubscribe_token(unsubscribe_token) == 41
    # One purpose's token is worth nothing as another's, though the ids are the same.
    assert tracking.read_unsubscribe_token(open_token) is None
    assert tracking.read_open_token(unsubscribe_token) is None
    # Another recipient id under the same signature: refused.
    assert tracking.read_open_token(open_token.replace("41.", "42.", 1)) is None


def test_the_signature_is_standard_hmac_sha256_of_the_ids(settings):
    # The primed hash states must give exactly RFC 2104's HMAC, with the purpose's derived key.
    token = path_of(tracking.click_url(123456, 42)).removeprefix("/t/c/").rstrip("/")
    key = hmac.digest(settings.SECRET_KEY.encode(), b"salloq.campaigns.tracking.c", "sha256")
    expected = base64.urlsafe_b64encode(hmac.digest(key, b"123456.42", "sha256")[:12]).decode()
    assert token == f"123456.42.{expected}"


def test_old_links_survive_a_secret_key_rotation(settings):
    token = path_of(tracking.open_pixel_url(5)).removeprefix("/t/o/").removesuffix(".gif")
    old_key = settings.SECRET_KEY
    settings.SECRET_KEY = "a-new-key-" + "x" * 50
    assert tracking.read_open_token(token) is None
    settings.SECRET_KEY_FALLBACKS = [old_key]
    assert tracking.read_open_token(token) == 5


@pytest.mark.parametrize(
    "token",
    [
        "",
        "x",
        "1",
        "1.",
        "0.AAAAAAAAAAAAAAAA",
        "01.AAAAAAAAAAAAAAAA",
        "-1.AAAAAAAAAAAAAAAA",
        "1.AAAAAAAAAAAAAAAA",
        "99999999999999999999.AAAAAAAAAAAAAAAA",
        "9223372036854775808.AAAAAAAAAAAAAAAA",
        "1.2.3.AAAAAAAAAAAAAAAA",
        "1.AAAAAAAAAAAAAAAA=",
        "１.AAAAAAAAAAAAAAAA",
        "1.AAAAAAAAAAAAAAA\u00e9",
        "'; DROP TABLE campaigns_campaign; --",
        "1" * 5000,
    ],
    ids=lambda token: repr(token)[:40],
)
def test_garbage_tokens_are_refused_without_a_query(db, token, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert tracking.read_open_token(token) is None
        assert tracking.read_click_token(token) is None
        assert tracking.read_unsubscribe_token(token) is None


@hypothesis_settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(token=st.text(st.characters(exclude_categories=["Cs"]), max_size=80))
def test_any_token_in_any_route_answers_without_an_error_or_a_redirect(db, client, token):
    quoted = quote(token, safe="")
    for path in (f"/t/o/{quoted}.gif", f"/t/c/{quoted}/", f"/t/u/{quoted}/"):
        for response in (client.get(path), client.post(path, {"List-Unsubscribe": "One-Click"})):
            assert response.status_code in {200, 400, 404, 405}, (path, response.status_code)
            assert "Location" not in response
    assert not CampaignActivity.objects.exists()


def test_a_token_costs_a_few_microseconds():
    # The renderer computes one per link per message; measured in CPU time (the machine is shared).
    tracking.click_url(1, 1)
    count = 20_000
    started = time.process_time()
    for recipient_id in range(1, count + 1):
        tracking.click_url(recipient_id, 3)
    per_url = (time.process_time() - started) / count
    assert per_url < 25e-6, f"{per_url * 1e6:.1f} us per click URL"


# --- Opens --------------------------------------------------------------------------------------


def test_open_pixel_records_unique_and_total_opens(company, client):
    campaign, _, (recipient,) = make_campaign(company)
    url = path_of(tracking.open_pixel_url(recipient.pk))
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, HTTP_USER_AGENT=BROWSER)
    # No write storm: one UPDATE and one INSERT a hit.
    assert [sql.split()[0] for sql in statements(queries)] == ["UPDATE", "INSERT"]
    assert response.status_code == 200
    assert response["Content-Type"] == "image/gif"
    assert response.content.startswith(b"GIF89a") and len(response.content) == 42
    assert "no-cache" in response["Cache-Control"] and "no-store" in response["Cache-Control"]
    first = refreshed(recipient).first_opened_at
    assert first is not None and recipient.open_count == 1

    client.get(url, HTTP_USER_AGENT=GMAIL_PROXY)  # Gmail fetches through its proxy when the reader opens
    recipient = refreshed(recipient)
    assert recipient.open_count == 2 and recipient.first_opened_at == first
    activities = CampaignActivity.objects.filter(recipient=recipient, kind=ActivityKind.OPEN)
    assert activities.count() == 2 and not activities.filter(is_machine=True).exists()
    assert set(activities.values_list("campaign_id", flat=True)) == {campaign.pk}


@pytest.mark.parametrize(
    ("method", "user_agent"),
    [("GET", SAFE_LINKS), ("GET", BARRACUDA), ("GET", ""), ("GET", "Mozilla/5.0"), ("HEAD", BROWSER)],
    ids=["safe-links", "barracuda", "no-user-agent", "apple-privacy-proxy", "head"],
)
def test_machine_opens_are_kept_but_not_counted(company, client, method, user_agent):
    _, _, (recipient,) = make_campaign(company)
    url = path_of(tracking.open_pixel_url(recipient.pk))
    response = client.generic(method, url, HTTP_USER_AGENT=user_agent)
    assert response.status_code == 200
    recipient = refreshed(recipient)
    assert recipient.open_count == 0 and recipient.first_opened_at is None
    activity = CampaignActivity.objects.get(recipient=recipient)
    assert activity.is_machine and activity.kind == ActivityKind.OPEN


@pytest.mark.parametrize("token", ["garbage", "1.AAAAAAAAAAAAAAAA", "99999999999999999999.AAAAAAAAAAAAAAAA"])
def test_open_pixel_answers_the_image_to_a_bad_token_and_records_nothing(db, client, token):
    response = client.get(f"/t/o/{token}.gif", HTTP_USER_AGENT=BROWSER)
    assert response.status_code == 200 and response["Content-Type"] == "image/gif"
    assert not CampaignActivity.objects.exists()


def test_open_of_a_deleted_recipient_records_nothing(company, client):
    _, _, (recipient,) = make_campaign(company)
    url = path_of(tracking.open_pixel_url(recipient.pk))
    recipient.delete()
    assert client.get(url, HTTP_USER_AGENT=BROWSER).status_code == 200
    assert not CampaignActivity.objects.exists()


# --- Clicks -------------------------------------------------------------------------------------


def test_click_redirects_to_the_stored_url_and_counts_unique_and_total(company, client):
    campaign, (sale, blog), (recipient,) = make_campaign(company)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path_of(tracking.click_url(recipient.pk, sale.pk)), HTTP_USER_AGENT=BROWSER)
    assert [sql.split()[0] for sql in statements(queries)] == ["SELECT", "UPDATE", "INSERT"]
    assert response.status_code == 302 and response["Location"] == "https://shop.example/sale"
    client.get(path_of(tracking.click_url(recipient.pk, sale.pk)), HTTP_USER_AGENT=BROWSER)
    response = client.get(path_of(tracking.click_url(recipient.pk, blog.pk)), HTTP_USER_AGENT=BROWSER)
    assert response["Location"] == "https://shop.example/blog"
    recipient = refreshed(recipient)
    assert recipient.click_count == 3 and recipient.first_clicked_at is not None
    # A click is not taken as an open: opens are what the pixel saw.
    assert recipient.open_count == 0
    clicks = CampaignActivity.objects.filter(campaign=campaign, kind=ActivityKind.CLICK, is_machine=False)
    assert sorted(clicks.values_list("link_id", flat=True)) == sorted([sale.pk, sale.pk, blog.pk])


@pytest.mark.parametrize(
    ("method", "user_agent"),
    [
        ("GET", SAFE_LINKS),
        ("GET", BARRACUDA),
        ("GET", "Proofpoint URL Defense"),
        ("GET", "Mimecast"),
        ("HEAD", BROWSER),
    ],
    ids=["safe-links", "barracuda", "proofpoint", "mimecast", "head"],
)
def test_scanner_clicks_are_redirected_but_not_counted(company, client, method, user_agent):
    _, (sale, _), (recipient,) = make_campaign(company)
    response = client.generic(method, path_of(tracking.click_url(recipient.pk, sale.pk)), HTTP_USER_AGENT=user_agent)
    # The scanner still gets the real target: a scanner that meets an error may flag the message.
    assert response.status_code == 302 and response["Location"] == sale.url
    recipient = refreshed(recipient)
    assert recipient.click_count == 0 and recipient.first_clicked_at is None
    assert CampaignActivity.objects.get(recipient=recipient).is_machine


def test_a_click_seconds_after_delivery_is_a_scanners(company, client):
    _, (sale, _), (recipient,) = make_campaign(company)
    CampaignRecipient.objects.filter(pk=recipient.pk).update(sent_at=timezone.now() - timedelta(seconds=2))
    client.get(path_of(tracking.click_url(recipient.pk, sale.pk)), HTTP_USER_AGENT=BROWSER)
    assert refreshed(recipient).click_count == 0
    # Before the worker has even marked the row sent (the server accepted it a moment ago): too.
    CampaignRecipient.objects.filter(pk=recipient.pk).update(sent_at=None, status=RecipientStatus.SENDING)
    client.get(path_of(tracking.click_url(recipient.pk, sale.pk)), HTTP_USER_AGENT=BROWSER)
    assert refreshed(recipient).click_count == 0
    assert CampaignActivity.objects.filter(recipient=recipient, is_machine=True).count() == 2
    # Later, the reader's own click counts.
    CampaignRecipient.objects.filter(pk=recipient.pk).update(sent_at=timezone.now() - timedelta(minutes=3))
    client.get(path_of(tracking.click_url(recipient.pk, sale.pk)), HTTP_USER_AGENT=BROWSER)
    assert refreshed(recipient).click_count == 1


def _assert_not_redirected(response):
    assert response.status_code == 404
    assert "Location" not in response
    # The public invalid-link page (or, for a path no route matches, the site's 404 page).
    assert b"This link cannot be used" in response.content or b"Log in" in response.content


def test_forged_click_tokens_are_never_redirected(company, client):
    _, (sale, _), (recipient,) = make_campaign(company)
    good = path_of(tracking.click_url(recipient.pk, sale.pk)).removeprefix("/t/c/").rstrip("/")
    rid, lid, signature = good.split(".")
    forged = [
        f"{rid}.{lid}.{'A' * 16}",
        f"{rid}.{int(lid) + 1}.{signature}",
        f"{int(rid) + 1}.{lid}.{signature}",
        f"{rid}.{signature}",
        f"{rid}.{lid}.{signature[:-1]}",
        "garbage",
        "https:%2F%2Fevil.example",
        "javascript:alert(1)",
    ]
    for token in forged:
        _assert_not_redirected(client.get(f"/t/c/{token}/", HTTP_USER_AGENT=BROWSER))
    # The open and unsubscribe tokens of the same recipient are not click tokens.
    open_token = path_of(tracking.open_pixel_url(recipient.pk)).removeprefix("/t/o/").removesuffix(".gif")
    _assert_not_redirected(client.get(f"/t/c/{open_token}/", HTTP_USER_AGENT=BROWSER))
    assert not CampaignActivity.objects.exists()
    assert refreshed(recipient).click_count == 0


def test_another_campaigns_link_is_never_a_redirect(company, client):
    _, _, (recipient,) = make_campaign(company)
    _, (elsewhere, _), _ = make_campaign(company, urls=("https://evil.example/phish", "https://evil.example/2"))
    # A correctly signed token naming a link of another campaign (the signature is ours: only
    # the pairing is wrong) is still refused: a link is looked up within the recipient's campaign.
    _assert_not_redirected(client.get(path_of(tracking.click_url(recipient.pk, elsewhere.pk)), HTTP_USER_AGENT=BROWSER))
    _assert_not_redirected(client.get(path_of(tracking.click_url(recipient.pk, 10**12)), HTTP_USER_AGENT=BROWSER))
    assert not CampaignActivity.objects.exists()


@pytest.mark.parametrize(
    "stored_url",
    [
        "javascript:alert(document.cookie)",
        "JavaScript:alert(1)",
        "data:text/html,<script>1</script>",
        "//evil.example/x",
        "https:///evil.example",
        "https://ok.example/\r\nSet-Cookie: a=b",
        "/relative/path",
        "ftp://files.example/a",
    ],
)
def test_a_stored_link_that_is_not_http_is_never_redirected_to(company, client, stored_url):
    # The renderer stores only http(s) hrefs; should anything else ever reach the table, the
    # redirect still refuses it (and never answers a 500 from Django's own redirect check).
    _, (sale, _), (recipient,) = make_campaign(company)
    CampaignLink.objects.filter(pk=sale.pk).update(url=stored_url)
    response = client.get(path_of(tracking.click_url(recipient.pk, sale.pk)), HTTP_USER_AGENT=BROWSER)
    _assert_not_redirected(response)
    assert b"This link cannot be used" in response.content
    assert not CampaignActivity.objects.exists()


def test_tracking_urls_are_public_and_outside_the_api(company):
    _, (sale, _), (recipient,) = make_campaign(company)
    anonymous = Client()
    assert anonymous.get(path_of(tracking.open_pixel_url(recipient.pk))).status_code == 200
    response = anonymous.get(path_of(tracking.click_url(recipient.pk, sale.pk)), HTTP_USER_AGENT=BROWSER)
    assert response.status_code == 302 and response["Location"] == sale.url
    assert anonymous.get(path_of(tracking.unsubscribe_url(recipient.pk)), HTTP_USER_AGENT=BROWSER).status_code == 200


# --- Tenant isolation ---------------------------------------------------------------------------


def test_one_companys_tokens_never_touch_anothers_rows(company, other_company, client):
    _, (ours, _), (our_recipient,) = make_campaign(company)
    theirs_campaign, (theirs, _), (their_recipient,) = make_campaign(
        other_company, urls=("https://rival.example/", "https://rival.example/2")
    )
    # Our recipient with their link, their recipient with our link: both refused.
    _assert_not_redirected(
        client.get(path_of(tracking.click_url(our_recipient.pk, theirs.pk)), HTTP_USER_AGENT=BROWSER)
    )
    _assert_not_redirected(
        client.get(path_of(tracking.click_url(their_recipient.pk, ours.pk)), HTTP_USER_AGENT=BROWSER)
    )
    # Our valid open token, its id swapped to their recipient: nothing recorded on their row.
    token = path_of(tracking.open_pixel_url(our_recipient.pk)).removeprefix("/t/o/").removesuffix(".gif")
    swapped = f"{their_recipient.pk}.{token.split('.')[1]}"
    client.get(f"/t/o/{swapped}.gif", HTTP_USER_AGENT=BROWSER)
    unsubscribe_token = path_of(tracking.unsubscribe_url(our_recipient.pk)).removeprefix("/t/u/").rstrip("/")
    swapped = f"{their_recipient.pk}.{unsubscribe_token.split('.')[1]}"
    response = client.post(f"/t/u/{swapped}/", {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 404
    their_recipient = refreshed(their_recipient)
    assert (their_recipient.open_count, their_recipient.click_count, their_recipient.unsubscribed_at) == (0, 0, None)
    assert their_recipient.contact.status == ContactStatus.SUBSCRIBED
    assert not CampaignActivity.objects.filter(campaign=theirs_campaign).exists()


# --- Unsubscribe --------------------------------------------------------------------------------


def test_get_shows_the_unsubscribe_page_and_changes_nothing(company, client):
    _, _, (recipient,) = make_campaign(company)
    response = client.get(path_of(tracking.unsubscribe_url(recipient.pk)), HTTP_USER_AGENT=SAFE_LINKS)
    assert response.status_code == 200
    assert recipient.email.encode() in response.content and b"Acme Shop" in response.content
    assert b'name="scope" value="all"' in response.content
    assert refreshed(recipient).unsubscribed_at is None
    assert recipient.contact.status == ContactStatus.SUBSCRIBED
    assert not CampaignActivity.objects.exists()


def test_one_click_post_unsubscribes_at_once_and_only_once(company):
    _, _, (recipient,) = make_campaign(company)
    # RFC 8058: the mail client's POST carries no cookie and no CSRF token.
    client = Client(enforce_csrf_checks=True)
    url = path_of(tracking.unsubscribe_url(recipient.pk))
    response = client.post(url, {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200 and b"You are unsubscribed" in response.content
    recipient = refreshed(recipient)
    contact = recipient.contact
    assert contact.status == ContactStatus.UNSUBSCRIBED
    assert not contact.list_memberships.exclude(status=MembershipStatus.UNSUBSCRIBED).exists()
    first = recipient.unsubscribed_at
    assert first is not None
    assert client.post(url, {"List-Unsubscribe": "One-Click"}).status_code == 200
    assert refreshed(recipient).unsubscribed_at == first
    assert CampaignActivity.objects.filter(recipient=recipient, kind=ActivityKind.UNSUBSCRIBE).count() == 1
    assert contact.consent_records.filter(action="unsubscribed").count() == 1


def test_the_pages_own_form_unsubscribes_with_its_csrf_token(company):
    _, _, (recipient,) = make_campaign(company)
    client = Client(enforce_csrf_checks=True)
    url = path_of(tracking.unsubscribe_url(recipient.pk))
    page = client.get(url, HTTP_USER_AGENT=BROWSER)
    csrf = page.context["csrf_token"]
    # Without the token, a cross-site form post does nothing.
    assert client.post(url, {"scope": "all"}, HTTP_COOKIE="").status_code == 403
    response = client.post(url, {"scope": "all", "csrfmiddlewaretoken": str(csrf)})
    assert response.status_code == 200 and b"You are unsubscribed" in response.content
    assert refreshed(recipient).unsubscribed_at is not None
    assert recipient.contact.status == ContactStatus.UNSUBSCRIBED


def test_unsubscribe_link_dies_with_the_address_it_was_sent_to(company, client):
    _, _, (recipient,) = make_campaign(company)
    type(recipient.contact).objects.filter(pk=recipient.contact_id).update(email="new-owner@example.com")
    response = client.post(path_of(tracking.unsubscribe_url(recipient.pk)), {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 410
    assert refreshed(recipient).unsubscribed_at is None
    assert recipient.contact.status == ContactStatus.SUBSCRIBED


def test_forged_unsubscribe_tokens_get_the_invalid_link_page(company, client):
    _, _, (recipient,) = make_campaign(company)
    for token in ["garbage", f"{recipient.pk}.{'A' * 16}", "99999999999999999999.AAAAAAAAAAAAAAAA"]:
        for response in (
            client.get(f"/t/u/{token}/"),
            client.post(f"/t/u/{token}/", {"List-Unsubscribe": "One-Click"}),
        ):
            assert response.status_code == 404 and b"This link cannot be used" in response.content
    assert refreshed(recipient).contact.status == ContactStatus.SUBSCRIBED


def test_unsubscribe_of_a_deleted_contact_says_the_link_is_gone(company, client):
    _, _, (recipient,) = make_campaign(company)
    recipient.contact.delete()
    response = client.post(path_of(tracking.unsubscribe_url(recipient.pk)), {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 410


def test_other_companies_are_untouched_by_an_unsubscribe(company, other_company, client):
    _, _, (ours,) = make_campaign(company)
    # The same person on the other company's list: that company's consent is its own.
    theirs = ContactFactory(company=other_company, email=ours.email)
    client.post(path_of(tracking.unsubscribe_url(ours.pk)), {"List-Unsubscribe": "One-Click"})
    theirs.refresh_from_db()
    assert theirs.status == ContactStatus.SUBSCRIBED
    assert CompanyFactory._meta.model.objects.count() == 2
