"""Team invitations: an owner invites someone by email with a role; the emailed link lets them join.

The link's token is the credential: only its SHA-256 is stored (like an API key), so the database
cannot be used to join, and the token is shown once to the owner too (to pass on by hand when the
mail server is down). An invitation is pending until it is accepted, revoked or expires; accepting
is a conditional UPDATE, so a link works once however many times it is clicked."""

import hashlib
import logging
import secrets
import smtplib
from datetime import timedelta
from email.utils import formataddr, parseaddr

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from .models import Company, Invitation, Membership, Role
from .validators import header_safe

logger = logging.getLogger(__name__)

INVITATION_LIFETIME = timedelta(days=7)
TOKEN_BYTES = 32


class InvitationUnusable(Exception):
    """A link that cannot be used; `status` is the HTTP status of the page that says so."""

    def __init__(self, message: str, status: int = 410):
        super().__init__(message)
        self.message = message
        self.status = status


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def accept_url(token: str) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("invitation_accept", args=[token])


def pending_invitations(company: Company) -> QuerySet[Invitation]:
    now = timezone.now()
    return (
        Invitation.objects.filter(
            company=company, accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now
        )
        .select_related("invited_by")
        .order_by("-created_at", "-id")
    )


@transaction.atomic
def invitation_create(*, company: Company, email: str, role: str, invited_by=None) -> tuple[Invitation, str]:
    """A new invitation and its token. Inviting an address again replaces its open invitation (the
    old link stops working); a member of the company cannot be invited."""
    email = (email or "").strip().lower()
    errors = {}
    try:
        validate_email(email)
    except ValidationError:
        errors["email"] = "Enter a valid email address."
    if role not in Role.values:
        errors["role"] = f"Choose a role: {', '.join(Role.values)}."
    if not errors and Membership.objects.filter(company=company, user__email__iexact=email).exists():
        errors["email"] = f"{email} is already a member of {company}."
    if errors:
        raise ValidationError(errors)
    now = timezone.now()
    Invitation.objects.filter(company=company, email=email, accepted_at__isnull=True, revoked_at__isnull=True).update(
        revoked_at=now
    )
    token = secrets.token_urlsafe(TOKEN_BYTES)
    try:
        with transaction.atomic():
            invitation = Invitation.objects.create(
                company=company,
                email=email,
                role=role,
                token_hash=_hash(token),
                invited_by=invited_by,
                expires_at=now + INVITATION_LIFETIME,
            )
    except IntegrityError:  # a concurrent invitation of the same address won
        raise ValidationError({"email": f"{email} was invited at the same moment; reload the page."}) from None
    return invitation, token


def invitation_send(*, invitation: Invitation, token: str) -> bool:
    """Email the invitation; False when the mail server did not take it (the owner is told and
    shown the link)."""
    company_name = header_safe(invitation.company.name)
    inviter = invitation.invited_by.get_username() if invitation.invited_by else "An owner"
    context = {
        "company_name": company_name,
        "inviter": inviter,
        "role": Role(invitation.role).label,
        "accept_url": accept_url(token),
        "expires_at": invitation.expires_at,
    }
    _, address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    message = EmailMultiAlternatives(
        subject=f"{inviter} invites you to join {company_name} on Salloq Marketing",
        body=render_to_string("emails/invitation.txt", context),
        from_email=formataddr((company_name, address)),
        to=[invitation.email],
    )
    message.attach_alternative(render_to_string("emails/invitation.html", context), "text/html")
    try:
        message.send()
    except (smtplib.SMTPException, OSError) as error:
        logger.warning("Invitation email to %s not sent: %s", invitation.email, error)
        return False
    return True


def invitation_revoke(*, invitation: Invitation) -> bool:
    """True when it was pending (an accepted invitation is a membership: remove that instead)."""
    return bool(
        Invitation.objects.filter(pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
    )


def invitation_from_token(token: str) -> Invitation:
    """The pending invitation a link names, or InvitationUnusable saying why it cannot be used."""
    invitation = (
        Invitation.objects.filter(token_hash=_hash(token or "")).select_related("company", "invited_by").first()
    )
    if invitation is None:
        raise InvitationUnusable("This invitation link is not valid. Check that it was copied completely.", 404)
    if invitation.accepted_at is not None:
        raise InvitationUnusable("This invitation was already accepted. Log in to reach the company.")
    if invitation.revoked_at is not None:
        raise InvitationUnusable("This invitation was withdrawn. Ask the company's owner for a new one.")
    if invitation.is_expired():
        raise InvitationUnusable("This invitation has expired. Ask the company's owner for a new one.")
    return invitation


@transaction.atomic
def invitation_accept(*, invitation: Invitation, user) -> Membership:
    """Make `user` a member with the invitation's role. The claim is a conditional UPDATE, so two
    clicks (or two people with the link) make one membership. A user who is already a member keeps
    their role."""
    now = timezone.now()
    claimed = Invitation.objects.filter(
        pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now
    ).update(accepted_at=now, accepted_by=user)
    if not claimed:
        raise InvitationUnusable("This invitation can no longer be used. Ask the company's owner for a new one.")
    membership, _ = Membership.objects.get_or_create(
        user=user, company=invitation.company, defaults={"role": invitation.role}
    )
    return membership


@transaction.atomic
def invitation_accept_new_user(*, invitation: Invitation, username: str, password: str):
    """Create the invited person's account (with the invited address) and make them a member."""
    user = get_user_model().objects.create_user(username=username, email=invitation.email, password=password)
    invitation_accept(invitation=invitation, user=user)
    return user
