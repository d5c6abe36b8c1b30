"""Every dashboard page at a phone's width (390 px) and a laptop's (1366 px): the page is never wider
than the window, and nothing sticks out of its card, even with 100-character values that have no
place to break (an email, a tag, a custom field's name, a list's name, a segment's name, a property key).

The pages are found in the URL conf, not listed here, so a page added later is covered: every route
is fetched, and each one that answers GET with a full HTML page is visited at both widths. A route
whose path takes a parameter this test has no value for fails the test, naming it, and so does a
page of MUST_VISIT that answers anything but a 200 HTML page. A 404 page, a 403 page and the
new-contact form showing its errors are checked at both widths too.
"""

import io
import re
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from playwright.sync_api import expect

from campaigns import tracking
from campaigns.mailcatcher import feedback_id, outbox_message_store
from campaigns.models import (
    ActivityKind,
    Campaign,
    CampaignActivity,
    CampaignLink,
    CampaignRecipient,
    CampaignStatus,
    EmailTemplate,
    RecipientStatus,
)
from catalog.models import Order, Product, ProductCollection, Store
from contacts import bulk_actions, services
from contacts import consent as consent_links
from contacts.imports import contact_import_create, contact_import_run
from contacts.models import (
    Contact,
    ContactImport,
    ContactList,
    CustomField,
    FieldType,
    ListMembership,
    Segment,
    Suppression,
)
from salloq.core import invitations
from salloq.core import services as core_services
from salloq.core.models import ApiKey, Company, Role
from tests.factories import (
    CollectionItemFactory,
    CompanyFactory,
    ContactFactory,
    ContactListFactory,
    CustomFieldFactory,
    MembershipFactory,
    OrderFactory,
    ProductCatalogFactory,
    ProductFactory,
    SegmentFactory,
    StoreFactory,
    UserFactory,
)

pytestmark = pytest.mark.browser

WIDTHS = {"phone": (390, 844), "laptop": (1366, 768)}

# 100 characters with no break opportunity: letters only, an email of 32 + 1 + 63 + 4.
LONG = "x" * 100
LONG_EMAIL = f"{'a' * 32}@{'b' * 63}.com"
LONG_TAG = "t" * 100
LONG_FIELD = "f" * 100
LONG_LIST = "L" * 100
LONG_SEGMENT = "S" * 100
LONG_KEY = "k" * 100
LONG_COMPANY = "C" * 100

# Routes that are not the dashboard's pages: the admin, the API and its docs, the logout action.
NOT_DASHBOARD = ("admin/", "api/", "accounts/logout/")

# Pages that must be among those visited: if the URL conf walk or the data stopped reaching them,
# the test would pass over nothing.
MUST_VISIT = {
    "login",
    "dashboard",
    "api_keys",
    "webhook_secret",
    "connector:shop",
    "contacts:contacts",
    "contacts:contact_detail",
    "contacts:contact_edit",
    "contacts:lists",
    "contacts:list_detail",
    "contacts:list_edit",
    "contacts:fields",
    "contacts:blacklist",
    "contacts:imports",
    "contacts:import_mapping",
    "contacts:import_detail",
    "contacts:segments",
    "contacts:segment_create",
    "contacts:segment_edit",
    "consent_confirm",
    "consent_unsubscribe",
    "consent_preferences",
    "invitation_accept",
    "catalog:products",
    "catalog:product_detail",
    "catalog:collections",
    "catalog:collection_detail",
    "catalog:stores",
    "catalog:store_detail",
    "catalog:orders",
    "catalog:order_detail",
    "campaigns:outbox",
    "campaigns:outbox_message",
    "campaigns:campaigns",
    "campaigns:campaign_create",
    "campaigns:campaign_detail",
    "campaigns:campaign_edit",
    "campaigns:campaign_preview",
    "campaigns:campaign_report",
    "campaigns:templates",
    "campaigns:template_edit",
    "sending_settings",
    "company_settings",
    "events:events",
    "contacts:field_edit",
    "contacts:field_delete",
    "contacts:bulk_action_detail",
    "campaign_track_unsubscribe",
}

# What is wrong with the page as it is laid out, as readable lines: the document wider than the
# window, or an element reaching past the card (or the content area, top bar, sidebar) it sits in.
# An element inside a scroll container (overflow other than visible) between it and the box is left
# to that container, which is checked itself: a table that scrolls inside its card is fine.
LAYOUT_PROBLEMS = """
() => {
  const problems = [];
  const root = document.documentElement;
  if (root.scrollWidth > root.clientWidth) {
    problems.push(`the page is ${root.scrollWidth} px wide in a ${root.clientWidth} px window`);
  }
  const describe = (el) => {
    let text = el.tagName.toLowerCase();
    if (el.id) text += "#" + el.id;
    if (el.classList.length) text += "." + [...el.classList].join(".");
    const words = (el.textContent || el.value || "").trim().slice(0, 40);
    return words ? `${text} "${words}"` : text;
  };
  const boxes = document.querySelectorAll(".card, #content, .topbar, .sidebar, .public-page");
  for (const box of boxes) {
    const bounds = box.getBoundingClientRect();
    const reported = new Set();  // an element's overflow is its own, not again each of its children's
    for (const el of box.querySelectorAll("*")) {
      if (reported.has(el.parentElement)) { reported.add(el); continue; }
      const rect = el.getBoundingClientRect();
      if (rect.width === 0 || rect.height === 0) continue;
      if (getComputedStyle(el).position === "fixed") continue;
      let scrolled = false;
      for (let up = el.parentElement; up && up !== box; up = up.parentElement) {
        if (getComputedStyle(up).overflowX !== "visible") { scrolled = true; break; }
      }
      if (scrolled) continue;
      if (rect.right > bounds.right + 1 || rect.left < bounds.left - 1) {
        const span = (r) => `${Math.round(r.left)}..${Math.round(r.right)} px`;
        const outside = describe(box).split(" ")[0];
        problems.push(`${describe(el)} reaches ${span(rect)}, outside ${outside} at ${span(bounds)}`);
        reported.add(el);
      }
    }
  }
  return problems;
}
"""


def dashboard_routes(patterns=None, prefix: str = "", namespace: str = ""):
    """(name to reverse, route, parameter names) of every named route in the URL conf."""
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from dashboard_routes(entry.url_patterns, route, inner)
        elif isinstance(entry, URLPattern) and entry.name and not route.lstrip("^").startswith(NOT_DASHBOARD):
            yield f"{namespace}{entry.name}", route, sorted(re.findall(r"<(?:\w+:)?(\w+)>", route))


@dataclass
class LongValues:
    """A company whose every page shows some 100-character unbroken value, and its objects."""

    company: Company
    owner: object
    contact: Contact
    contact_list: ContactList
    custom_field: CustomField
    segment: Segment
    contact_import: ContactImport
    suppression: Suppression
    api_key: ApiKey


@pytest.fixture
def long_values(db) -> LongValues:
    company = CompanyFactory(name=LONG_COMPANY)
    owner = UserFactory(username="u" * 100, is_staff=True)  # staff: the mail server banner on every page
    MembershipFactory(company=company, user=owner, role=Role.OWNER)
    MembershipFactory(company=CompanyFactory(name="Second shop"), user=owner, role=Role.OWNER)  # the switcher

    contact_list = ContactListFactory(company=company, name=LONG_LIST, description=LONG)
    custom_field = CustomFieldFactory(company=company, name=LONG_FIELD, field_type=FieldType.TEXT)
    CustomFieldFactory(company=company, name="Size", field_type=FieldType.CHOICE, choices=[LONG, "small"])
    contact = ContactFactory(
        company=company,
        email=LONG_EMAIL,
        first_name="F" * 100,
        last_name="N" * 100,
        source="s" * 100,
        external_id="e" * 100,
        tags=[LONG_TAG, "vip"],
        properties={LONG_KEY: LONG, "address": {LONG_KEY: {"street": LONG}}},
        fields={LONG_FIELD: LONG, "Size": LONG},
        lists=[{"id": contact_list.pk}],
    )
    services.key_information_upsert(contact=contact, text=[{"name": LONG_KEY, "value": LONG}])
    for n in range(3):
        ContactFactory(company=company, email=f"fan{n}@example.com", tags=[LONG_TAG])
    suppression, _ = services.suppression_add(company=company, email=f"{'c' * 32}@{'d' * 63}.com", reason="r" * 100)
    segment = SegmentFactory(
        company=company,
        name=LONG_SEGMENT,
        description=LONG,
        definition={
            "operator": "or",
            "rules": [
                {"field": "tags", "comparison": "equals", "value": LONG_TAG},
                {"field": f"properties.{LONG_KEY}", "comparison": "equals", "value": LONG},
                {"field": f"fields.{LONG_FIELD}", "comparison": "contains", "value": LONG},
                {"field": "fields.Size", "comparison": "in", "value": [LONG, "small"]},
                {"field": "created_at", "comparison": "between", "value": ["2020-01-01", "2020-12-31"]},
            ],
        },
    )
    api_key, _ = core_services.api_key_create(company=company, name="K" * 100, scopes=["*"])
    # A finished import with a rejected row: its page shows the file name, the tags and the error.
    csv = io.BytesIO(f"email,{LONG_FIELD}\n{LONG_EMAIL},{LONG}\n{LONG},{LONG}\n".encode())
    csv.name = f"{LONG}.csv"
    contact_import = contact_import_create(
        company=company,
        uploaded_file=csv,
        mapping={"email": "email", LONG_FIELD: f"field:{LONG_FIELD}"},
        contact_list=contact_list,
        tags=[LONG_TAG],
        enqueue=False,
    )
    contact_import = contact_import_run(import_id=contact_import.pk)
    long_commerce(company, contact)
    values = LongValues(
        company, owner, contact, contact_list, custom_field, segment, contact_import, suppression, api_key
    )
    long_campaign(values)  # before the campaign list is visited, which then shows it
    return values


def staged_import_token(page) -> str:
    """Upload a CSV with a 100-character column name through the import form; the mapping page's token."""
    page.goto(reverse("contacts:imports"))
    csv = f"email,{LONG}\n{LONG_EMAIL},{LONG}\n".encode()
    upload = page.locator("#import-upload-form")
    upload.locator('input[type="file"]').set_input_files(
        files=[{"name": f"{LONG}.csv", "mimeType": "text/csv", "buffer": csv}]
    )
    upload.locator('button[type="submit"]').click()
    page.wait_for_url(re.compile(r"/contacts/imports/new/\w+/$"))
    return page.url.rstrip("/").rsplit("/", 1)[1]


def bulk_action_id(data: LongValues) -> int:
    selection = bulk_actions.Selection(contact_ids=[data.contact.pk], filters={})
    return bulk_actions.contact_bulk_action_create(
        company=data.company, action="tag", selection=selection, tags=[LONG_TAG], created_by=data.owner
    ).pk


def invitation(data: LongValues, email: str):
    return invitations.invitation_create(company=data.company, email=email, role=Role.MARKETER, invited_by=data.owner)


def long_campaign(data: LongValues) -> int:
    """A sent campaign of 100-character name, subject, preheader, content and link, to the long list
    and segment, with an open and a click (its report has a chart and a link row); made once."""
    existing = Campaign.objects.for_company(data.company).filter(name=LONG).first()
    if existing is not None:
        return existing.pk
    now = timezone.now()
    template, _ = EmailTemplate.objects.get_or_create(
        company=data.company, name=LONG, defaults={"html": f"<div>{LONG}{{{{ content }}}}</div>"}
    )
    campaign = Campaign.objects.create(
        company=data.company,
        name=LONG,
        subject=LONG,
        preview_text=LONG,
        content=f'<p>{LONG}</p><a href="https://shop.example/{LONG}">{LONG}</a>',
        template=template,
        from_name=LONG,
        from_email=LONG_EMAIL,
        status=CampaignStatus.SENT,
        recipient_count=1,
        started_at=now,
        finished_at=now,
    )
    campaign.lists.set([data.contact_list])
    campaign.segments.set([data.segment])
    campaign.excluded_lists.set([data.contact_list])
    link = CampaignLink.objects.create(campaign=campaign, url=f"https://shop.example/{LONG}", position=1)
    recipient = CampaignRecipient.objects.create(
        campaign=campaign,
        contact=data.contact,
        email=LONG_EMAIL,
        status=RecipientStatus.SENT,
        sent_at=now,
        first_opened_at=now,
        open_count=1,
        first_clicked_at=now,
        click_count=1,
    )
    CampaignActivity.objects.create(campaign=campaign, recipient=recipient, kind=ActivityKind.OPEN, occurred_at=now)
    CampaignActivity.objects.create(
        campaign=campaign, recipient=recipient, kind=ActivityKind.CLICK, link=link, occurred_at=now
    )
    return campaign.pk


def long_template(data: LongValues) -> int:
    template, _ = EmailTemplate.objects.get_or_create(
        company=data.company, name=LONG, defaults={"html": f"<div>{LONG}{{{{ content }}}}</div>"}
    )
    return template.pk


def long_outbox_message(data: LongValues) -> int:
    """A message the mail catcher received for the company: 100-character subject, recipient, header,
    HTML and text lines (listed on the Outbox, taken apart on its page)."""
    html = f"<!DOCTYPE html><html><body><h1>{LONG}</h1><p>{LONG} {LONG_EMAIL}</p></body></html>"
    raw = (
        f"From: {LONG_COMPANY} <news@example.com>\r\nTo: {LONG_EMAIL}\r\nSubject: {LONG}\r\n"
        f"Feedback-ID: {feedback_id(company_id=data.company.pk, kind='campaign')}\r\nX-Long: {LONG_KEY}\r\n"
        'MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary="b"\r\n\r\n'
        f"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{LONG} {LONG_EMAIL}\r\n"
        f"--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n--b--\r\n"
    ).encode()
    return outbox_message_store(raw=raw, mail_from=LONG_EMAIL, recipients=[LONG_EMAIL]).pk


def long_commerce(company, contact) -> None:
    """A product, collection, store and order (with a line and an open cart) of 100-character names."""
    catalog = ProductCatalogFactory(company=company, name="c" * 64)
    product = ProductFactory(
        catalog=catalog,
        product_id="p" * 100,
        name=LONG,
        main_category=LONG,
        brand=LONG,
        categories=[LONG],
        custom_details={LONG_KEY: LONG},
        description=LONG,
    )
    CollectionItemFactory(collection__catalog=catalog, collection__name=LONG, contact=contact, product=product)
    store = StoreFactory(
        company=company, external_id="s" * 100, name=LONG, manager=LONG, custom_fields={LONG_KEY: LONG}
    )
    OrderFactory(
        company=company,
        contact=contact,
        store=store,
        external_id="o" * 100,
        shipping_address=LONG,
        promo_code=LONG,
        lines=[{"product": product, "product_name": LONG, "unit_price": Decimal("1234567.89")}],
    )
    OrderFactory(company=company, contact=contact, completed=False, external_id="k" * 100)


# A value for each path parameter of the dashboard's routes (a token by route, as each route's token
# means something else).
PARAMETERS = {
    "contact_id": lambda data: data.contact.pk,
    "list_id": lambda data: data.contact_list.pk,
    "field_id": lambda data: data.custom_field.pk,
    "segment_id": lambda data: data.segment.pk,
    "import_id": lambda data: data.contact_import.pk,
    "suppression_id": lambda data: data.suppression.pk,
    "key_id": lambda data: data.api_key.pk,
    "bulk_action_id": bulk_action_id,
    "invitation_id": lambda data: invitation(data, f"{'i' * 32}@{'j' * 63}.com")[0].pk,
    "product_id": lambda data: Product.objects.for_company(data.company).get().pk,
    "collection_id": lambda data: ProductCollection.objects.for_company(data.company).get().pk,
    "store_id": lambda data: Store.objects.for_company(data.company).get().pk,
    "order_id": lambda data: Order.objects.for_company(data.company).filter(completed=True).get().pk,
    "outbox_message_id": long_outbox_message,
    "campaign_id": long_campaign,
    "template_id": long_template,
}
TOKENS = {
    "consent_confirm": lambda data: consent_links.confirmation_token(
        ListMembership.objects.get(contact=data.contact, contact_list=data.contact_list)
    ),
    "consent_unsubscribe": lambda data: consent_links.unsubscribe_token(data.contact, data.contact_list),
    "consent_preferences": lambda data: consent_links.preferences_token(data.contact),
    "invitation_accept": lambda data: invitation(data, f"{'g' * 32}@{'h' * 63}.com")[1],
    # The public tracking links of the long campaign's recipient (the unsubscribe one is a page).
    "campaign_track_open": lambda data: url_token(tracking.open_pixel_url(long_recipient(data).pk), ".gif"),
    "campaign_track_click": lambda data: url_token(
        tracking.click_url(long_recipient(data).pk, CampaignLink.objects.get(campaign_id=long_campaign(data)).pk)
    ),
    "campaign_track_unsubscribe": lambda data: url_token(tracking.unsubscribe_url(long_recipient(data).pk)),
}


def long_recipient(data: LongValues) -> CampaignRecipient:
    return CampaignRecipient.objects.get(campaign_id=long_campaign(data))


def url_token(url: str, suffix: str = "/") -> str:
    """The token part of a tracking URL (its last path segment, without `suffix`)."""
    return url.removesuffix(suffix).rsplit("/", 1)[1]


@pytest.mark.parametrize("width", WIDTHS, ids=list(WIDTHS))
def test_no_dashboard_page_is_wider_than_the_window(
    live_server, page, log_in, long_values, browser_errors, screenshot, width
):
    page.set_viewport_size(dict(zip(("width", "height"), WIDTHS[width], strict=True)))
    problems: dict[str, list[str]] = {}
    visited: set[str] = set()

    def inspect(name: str):
        """The layout of the page the browser is on."""
        page.wait_for_load_state("networkidle")  # lazy counts and other htmx loads are in
        found = page.evaluate(LAYOUT_PROBLEMS)
        if found:
            problems[f"{name} ({page.url})"] = found
        visited.add(name)
        screenshot(name.replace(":", "-"))  # SALLOQ_SCREENSHOTS=1: test-results/<test>-<page>.png

    def check(name: str, url: str, status: int = 200):
        answer = page.goto(url)
        assert answer.status == status, f"{name} ({url}) answered {answer.status}, not {status}"
        inspect(name)

    check("login", reverse("login"))  # the one page seen logged out
    log_in(long_values.owner)
    tokens = {name: make(long_values) for name, make in TOKENS.items()}
    tokens["contacts:import_mapping"] = staged_import_token(page)

    unknown, not_pages = [], []
    for name, route, parameters in dashboard_routes():
        kwargs = {}
        for parameter in parameters:
            if parameter == "token" and name in tokens:
                kwargs[parameter] = tokens[name]
            elif parameter in PARAMETERS:
                kwargs[parameter] = PARAMETERS[parameter](long_values)
            else:
                unknown.append(f"{name} ({route}): no value for <{parameter}>")
        if len(kwargs) < len(parameters):
            continue
        url = reverse(name, kwargs=kwargs)
        # Actions (POST only), downloads and htmx fragments are not pages.
        answer = page.request.get(url, max_redirects=0)
        if (
            answer.status == 200
            and answer.headers.get("content-type", "").startswith("text/html")
            and "<html" in answer.text()[:500].lower()
        ):
            check(name, url)
        elif name in MUST_VISIT and name not in visited:
            not_pages.append(f"{name} ({url}): {answer.status} {answer.headers.get('content-type', '')}")
    assert unknown == [], "routes this test cannot fill in; add a value for them:\n" + "\n".join(unknown)
    assert not_pages == [], "pages this test must visit that answered no page:\n" + "\n".join(not_pages)
    assert MUST_VISIT - visited == set()

    # The navigation: on a phone it folds away behind "Menu"; on a laptop it is always there.
    page.goto(reverse("dashboard"))
    navigation = page.get_by_role("navigation", name="Main")
    segments_link = navigation.get_by_role("link", name="Segments")
    if width == "phone":
        expect(segments_link).to_be_hidden()
        navigation.get_by_text("Menu").click()
    expect(segments_link).to_be_visible()
    screenshot("navigation")
    segments_link.click()
    expect(page).to_have_url(re.compile(r"/contacts/segments/$"))

    # The builder's preview (its 100-character email included) stays inside its own card.
    page.goto(reverse("contacts:segment_edit", args=[long_values.segment.pk]))
    preview = page.locator("#segment-preview")
    expect(preview).to_contain_text(LONG_EMAIL)
    preview_box, card_box = preview.bounding_box(), page.locator(".segment-live-card").bounding_box()
    assert preview_box["x"] + preview_box["width"] <= card_box["x"] + card_box["width"] + 1

    # A form showing its errors (at the top and beside the fields), a 404 and a 403 page.
    page.goto(reverse("contacts:contacts"))
    create = page.locator("#contact-create-form")
    create.locator("#id_email").fill(f"{'a' * 64}@{'b' * 63}")  # no dot in the domain
    create.locator("#id_phone").fill("0" * 30)
    create.locator("#id_tags").fill(f"{LONG_TAG}, {LONG_TAG}x")
    create.get_by_role("button", name="Add contact").click()
    expect(page.locator("#new-contact p.error").first).to_be_visible()
    inspect("new contact with errors")
    check("404", reverse("contacts:contact_detail", args=[2**62]), status=404)
    page.context.clear_cookies()
    viewer = UserFactory(username="v" * 100)
    MembershipFactory(company=long_values.company, user=viewer, role=Role.VIEWER)
    log_in(viewer)
    check("403", reverse("contacts:contact_edit", args=[long_values.contact.pk]), status=403)
    expect(page.locator("#error-page")).to_contain_text("Your role (Viewer) cannot do this")

    assert problems == {}, "\n".join(f"{page_}:\n  " + "\n  ".join(lines) for page_, lines in problems.items())
    # The browser logs the three error answers asked for above; nothing else went wrong.
    refused = re.compile(r"Failed to load resource: the server responded with a status of (400|403|404) ")
    assert [error for error in browser_errors if not refused.search(error)] == []
