"""Settings > Company and team: the double opt-in default, and invitations by email with a role
(sent through a real SMTP server, accepted by a logged-in user or by someone new)."""

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from salloq.core import invitations
from salloq.core.models import Invitation, Membership, Role
from tests.conftest import log_in
from tests.contacts.conftest import smtp_sink  # noqa: F401 (the fixture)
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def link_in(message) -> str:
    body = message.get_body(preferencelist=("plain",)).get_content()
    return re.search(r"http://\S+/invitations/\S+/", body).group(0)


def invite(company, email="new@example.com", role=Role.MARKETER):
    return invitations.invitation_create(company=company, email=email, role=role)


# --- Company settings ---------------------------------------------------------------------------


def test_owner_sets_the_double_opt_in_default_which_new_lists_start_with(client, company):
    log_in(client, company, Role.OWNER)

    response = client.post("/settings/", {"double_opt_in_default": "on"})

    assert response.status_code == 302
    company.refresh_from_db()
    assert company.double_opt_in_default is True
    page = client.get("/contacts/lists/").content.decode()
    assert re.search(r'<input type="checkbox" name="double_opt_in"[^>]*checked', page)

    client.post("/settings/", {})
    company.refresh_from_db()
    assert company.double_opt_in_default is False


def test_marketers_see_the_settings_but_cannot_change_them(client, company):
    log_in(client, company, Role.MARKETER)

    page = client.get("/settings/").content.decode()
    response = client.post("/settings/", {"double_opt_in_default": "on"})

    assert "Owners can change this." in page
    assert 'id="invitation-form"' not in page
    assert response.status_code == 403
    company.refresh_from_db()
    assert company.double_opt_in_default is False


# --- Inviting -----------------------------------------------------------------------------------


def test_owner_invites_by_email_with_a_role(client, company, smtp_sink):  # noqa: F811
    owner = log_in(client, company, Role.OWNER)

    response = client.post("/settings/invitations/", {"email": " New@Example.com ", "role": Role.VIEWER})

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    invitation = Invitation.objects.get()
    assert (invitation.email, invitation.role, invitation.invited_by) == ("new@example.com", "viewer", owner)
    (message,) = smtp_sink.wait_for(1)
    assert message["To"] == "new@example.com"
    assert f"join {company.name}" in message["Subject"]
    link = link_in(message)
    assert "as Viewer" in message.get_body(preferencelist=("plain",)).get_content()
    # Shown once on the page too, and only its hash is stored.
    assert link in response.content.decode()
    assert link.rstrip("/").rsplit("/", 1)[1] not in invitation.token_hash
    assert "new@example.com" in client.get("/settings/").content.decode()


def test_when_the_mail_server_is_down_the_owner_gets_the_link(client, company, settings):
    log_in(client, company, Role.OWNER)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2  # nothing listens

    response = client.post("/settings/invitations/", {"email": "new@example.com", "role": Role.MARKETER})

    page = response.content.decode()
    assert "the mail server did not take the email" in page
    assert re.search(r'<code id="invitation-link">http://\S+/invitations/\S+/</code>', page)
    assert Invitation.objects.count() == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"email": "not an address", "role": "marketer"}, "Enter a valid email address."),
        ({"email": "a@example.com", "role": "admin"}, "Select a valid choice."),
    ],
)
def test_bad_invitation_input_is_a_form_error(client, company, data, message):
    log_in(client, company, Role.OWNER)

    response = client.post("/settings/invitations/", data)

    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Invitation.objects.exists()


def test_a_member_cannot_be_invited_again(client, company):
    log_in(client, company, Role.OWNER)
    MembershipFactory(company=company, role=Role.VIEWER, user=UserFactory(email="Member@example.com"))

    response = client.post("/settings/invitations/", {"email": "member@example.com", "role": "owner"})

    assert response.status_code == 400
    assert "member@example.com is already a member of Acme Shop." in response.content.decode()


def test_inviting_again_replaces_the_open_invitation(company, mailoutbox):
    first, first_token = invite(company)
    second, _ = invite(company, role=Role.OWNER)

    first.refresh_from_db()
    assert first.revoked_at is not None
    assert [i.pk for i in invitations.pending_invitations(company)] == [second.pk]
    with pytest.raises(invitations.InvitationUnusable, match="withdrawn"):
        invitations.invitation_from_token(first_token)


def test_only_owners_invite_and_revoke(client, company):
    log_in(client, company, Role.MARKETER)
    invitation, _ = invite(company)

    assert client.post("/settings/invitations/", {"email": "x@example.com", "role": "owner"}).status_code == 403
    assert client.post(f"/settings/invitations/{invitation.pk}/revoke/").status_code == 403
    invitation.refresh_from_db()
    assert invitation.revoked_at is None
    assert Invitation.objects.count() == 1


def test_revoke_kills_the_link(client, company):
    log_in(client, company, Role.OWNER)
    invitation, token = invite(company)

    client.post(f"/settings/invitations/{invitation.pk}/revoke/")
    client.logout()
    response = client.get(f"/invitations/{token}/")

    assert response.status_code == 410
    assert "This invitation was withdrawn." in response.content.decode()


def test_another_companys_invitation_cannot_be_revoked(client, company, other_company):
    log_in(client, company, Role.OWNER)
    theirs, _ = invite(other_company)

    assert client.post(f"/settings/invitations/{theirs.pk}/revoke/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


# --- Accepting ----------------------------------------------------------------------------------


def test_someone_new_sets_a_password_and_joins(client, company, smtp_sink):  # noqa: F811
    owner_client = client.__class__()
    log_in(owner_client, company, Role.OWNER)
    owner_client.post("/settings/invitations/", {"email": "new@example.com", "role": Role.MARKETER})
    link = link_in(smtp_sink.wait_for(1)[0])
    path = urlsplit(link).path

    page = client.get(path).content.decode()
    response = client.post(
        path, {"username": "newbie", "password1": "a-long-pass-phrase-9", "password2": "a-long-pass-phrase-9"}
    )

    assert "Create my account and join" in page
    assert response.status_code == 302 and response["Location"] == "/"
    user = get_user_model().objects.get(username="newbie")
    assert user.email == "new@example.com" and user.check_password("a-long-pass-phrase-9")
    assert Membership.objects.get(user=user).role == Role.MARKETER
    assert client.get("/").status_code == 200  # logged in, in the company
    assert client.get(path).status_code == 410  # the link worked once


def test_a_weak_or_mismatched_password_is_a_form_error(client, company):
    _, token = invite(company)

    response = client.post(f"/invitations/{token}/", {"username": "newbie", "password1": "abc", "password2": "abd"})

    assert response.status_code == 400
    assert "The two password fields didn’t match." in response.content.decode()
    assert not get_user_model().objects.filter(username="newbie").exists()
    assert Invitation.objects.get().accepted_at is None


def test_a_logged_in_user_joins_with_one_click(client, company, other_company):
    user = log_in(client, other_company, Role.VIEWER)
    _, token = invite(company, email=user.email, role=Role.OWNER)

    page = client.get(f"/invitations/{token}/").content.decode()
    response = client.post(f"/invitations/{token}/")

    assert f"Join {company.name}" in page
    assert response.status_code == 302
    assert Membership.objects.get(user=user, company=company).role == Role.OWNER
    # The session now works in the company joined.
    assert company.name in client.get("/settings/").content.decode()


def test_expired_and_unknown_links_say_so(client, company):
    invitation, token = invite(company)
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    expired = client.get(f"/invitations/{token}/")
    unknown = client.get("/invitations/not-a-real-token/")
    posted = client.post(f"/invitations/{token}/", {"username": "x", "password1": "p", "password2": "p"})

    assert expired.status_code == 410 and "has expired" in expired.content.decode()
    assert unknown.status_code == 404 and "not valid" in unknown.content.decode()
    assert posted.status_code == 410
    assert not get_user_model().objects.filter(username="x").exists()


def test_accepting_twice_makes_one_membership(company):
    invitation, _ = invite(company)
    user = UserFactory()

    invitations.invitation_accept(invitation=invitation, user=user)
    with pytest.raises(invitations.InvitationUnusable):
        invitations.invitation_accept(invitation=invitation, user=UserFactory())

    assert Membership.objects.filter(company=company).count() == 1
