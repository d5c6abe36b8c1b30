"""The company switcher: on every page (a page's own context cannot hide it), and switching from
an object's page lands on the new company's list page of that section."""

import pytest

from contacts import services
from salloq.core.models import Role
from salloq.core.views import landing_page
from tests.factories import CompanyFactory, ContactFactory, MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_companies(client, company):
    """A marketer of Acme Shop (current) and Second Shop, signed in."""
    second = CompanyFactory(name="Second Shop")
    membership = MembershipFactory(company=company, role=Role.MARKETER)
    MembershipFactory(company=second, user=membership.user, role=Role.MARKETER)
    client.force_login(membership.user)
    return second


def switcher(page: str) -> str:
    return page.split('class="company-switcher"')[1].split("</form>")[0]


def test_the_switcher_lists_both_companies_on_a_contact_page_with_two_lists(client, company, two_companies):
    """The contact page's own `memberships` (its lists) used to replace the user's companies."""
    contact = ContactFactory(company=company, email="ada@example.com")
    for name in ("Weekly", "Monthly"):
        services.list_subscribe(contact=contact, contact_list=services.contact_list_create(company=company, name=name))

    page = client.get(f"/contacts/{contact.pk}/").content.decode()

    options = switcher(page)
    assert f'<option value="{company.pk}" selected>Acme Shop</option>' in options
    assert f'<option value="{two_companies.pk}" >Second Shop</option>' in options
    assert "Weekly" not in options and "Monthly" not in options


def test_switching_from_a_contact_page_lands_on_the_other_company_contact_list(client, company, two_companies):
    contact = ContactFactory(company=company, email="ada@example.com")
    theirs = ContactFactory(company=two_companies, email="bob@example.com")

    response = client.post("/switch-company/", {"company_id": two_companies.pk, "next": f"/contacts/{contact.pk}/"})

    assert response.status_code == 302 and response["Location"] == "/contacts/"
    page = client.get("/contacts/").content.decode()
    assert "bob@example.com" in page and "ada@example.com" not in page
    assert f'id="contact-{theirs.pk}"' in page


def test_switching_answers_htmx_with_a_redirect_to_the_list_page(client, company, two_companies):
    segment_page = "/contacts/segments/5/edit/"
    response = client.post(
        "/switch-company/", {"company_id": two_companies.pk, "next": segment_page}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 204 and response["HX-Redirect"] == "/contacts/segments/"


@pytest.mark.parametrize(
    ("path", "lands_on"),
    [
        ("/contacts/", "/contacts/"),
        ("/contacts/12/", "/contacts/"),
        ("/contacts/12/edit/", "/contacts/"),
        ("/contacts/lists/3/", "/contacts/lists/"),
        ("/contacts/lists/3/edit/", "/contacts/lists/"),
        ("/contacts/imports/7/", "/contacts/imports/"),
        ("/contacts/?list_id=3&search=ada", "/contacts/"),  # the old company's filters go too
        ("/settings/api-keys/", "/settings/api-keys/"),
        ("/", "/"),
        ("/no/such/page/", "/"),
    ],
)
def test_landing_page_is_the_section_list_page_of_an_object_page(path, lands_on):
    assert landing_page(path) == lands_on


def test_a_page_context_variable_named_memberships_does_not_reach_the_switcher(rf, company, two_companies):
    """The switcher reads `salloq_companies` from the context processor, whatever a view puts in its context."""
    from django.template.loader import render_to_string

    from salloq.core.models import Membership

    user = Membership.objects.filter(company=company).get().user
    request = rf.get("/")
    request.user = user
    request.company = company
    request.memberships = list(Membership.objects.filter(user=user).select_related("company"))
    request.membership = request.memberships[0]
    page = render_to_string("core/no_company.html", {"memberships": ["shadow"]}, request=request)
    options = switcher(page)
    assert "Acme Shop" in options and "Second Shop" in options
