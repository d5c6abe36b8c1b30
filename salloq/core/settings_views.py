"""Settings > Company and team: the company's defaults (double opt-in for new lists), its members,
and invitations by email with a role (salloq.core.invitations). Everyone in the company sees the
page; only owners change the defaults and invite or revoke. The invitation's accept page is public:
its token is the credential."""

from django import forms
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.forms import BaseUserCreationForm
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from . import company_settings, invitations
from .middleware import CurrentCompanyMiddleware
from .models import Invitation, Membership, Role
from .views import company_view


class CompanySettingsForm(forms.Form):
    double_opt_in_default = forms.BooleanField(
        required=False,
        label="New lists ask subscribers to confirm by email (double opt-in)",
        help_text="The starting value of the double opt-in box when a list is created; each list can differ.",
    )


class InvitationForm(forms.Form):
    email = forms.EmailField(max_length=254, widget=forms.EmailInput(attrs={"placeholder": "name@example.com"}))
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MARKETER)


class AccountForm(BaseUserCreationForm):
    """The invited person's new account: a username and a password (the address is the invited one)."""

    class Meta:
        model = User
        fields = ("username",)


def _context(request: HttpRequest, *, settings_form=None, invite_form=None, **extra) -> dict:
    company = request.company
    return {
        "settings_form": settings_form
        or CompanySettingsForm(initial={"double_opt_in_default": company.double_opt_in_default}),
        "invite_form": invite_form or InvitationForm(),
        "members": Membership.objects.filter(company=company).select_related("user").order_by("user__username"),
        "invitations": invitations.pending_invitations(company),
        "is_owner": request.membership.allows(Role.OWNER),
        "lifetime_days": invitations.INVITATION_LIFETIME.days,
        **extra,
    }


@company_view(write_role=Role.OWNER)
@require_http_methods(["GET", "POST"])
def company_settings_page(request: HttpRequest) -> HttpResponse:
    """The page, and the company defaults form, which posts here."""
    if request.method == "POST":
        form = CompanySettingsForm(request.POST)
        if form.is_valid():
            company_settings.company_defaults_update(
                company=request.company, double_opt_in_default=form.cleaned_data["double_opt_in_default"]
            )
            messages.success(request, "Company settings saved.")
            return redirect("company_settings")
        return render(request, "core/settings.html", _context(request, settings_form=form), status=400)
    return render(request, "core/settings.html", _context(request))


@company_view(write_role=Role.OWNER)
@require_POST
def invitation_create(request: HttpRequest) -> HttpResponse:
    form = InvitationForm(request.POST)
    if form.is_valid():
        try:
            invitation, token = invitations.invitation_create(
                company=request.company,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                invited_by=request.user,
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            sent = invitations.invitation_send(invitation=invitation, token=token)
            if sent:
                messages.success(request, f"Invited {invitation.email} as {invitation.get_role_display()}.")
            else:
                messages.warning(
                    request,
                    f"The invitation of {invitation.email} is saved, but the mail server did not take the "
                    "email: send them the link below yourself.",
                )
            # The one answer that carries the link: rendered, not redirected, and not kept anywhere.
            context = _context(request, new_invitation=invitation, new_link=invitations.accept_url(token), sent=sent)
            response = render(request, "core/settings.html", context)
            response["Cache-Control"] = "no-store"
            return response
    return render(request, "core/settings.html", _context(request, invite_form=form), status=400)


@company_view(write_role=Role.OWNER)
@require_POST
def invitation_revoke(request: HttpRequest, invitation_id: int) -> HttpResponse:
    invitation = get_object_or_404(Invitation.objects.filter(company=request.company), pk=invitation_id)
    if invitations.invitation_revoke(invitation=invitation):
        messages.success(request, f"Withdrew the invitation of {invitation.email}; its link no longer works.")
    else:
        messages.info(request, f"The invitation of {invitation.email} was no longer pending.")
    return redirect("company_settings")


@require_http_methods(["GET", "POST"])
def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    """A logged-in person joins with one click; someone new picks a username and a password."""
    try:
        invitation = invitations.invitation_from_token(token)
    except invitations.InvitationUnusable as exc:
        return render(request, "core/invitation_unusable.html", {"message": exc.message}, status=exc.status)
    user = request.user if request.user.is_authenticated else None
    form = AccountForm(request.POST if request.method == "POST" and user is None else None)
    if request.method == "POST":
        try:
            if user is not None:
                invitations.invitation_accept(invitation=invitation, user=user)
            elif form.is_valid():
                user = invitations.invitation_accept_new_user(
                    invitation=invitation,
                    username=form.cleaned_data["username"],
                    password=form.cleaned_data["password1"],
                )
                login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        except invitations.InvitationUnusable as exc:
            return render(request, "core/invitation_unusable.html", {"message": exc.message}, status=exc.status)
        if user is not None:
            request.session[CurrentCompanyMiddleware.SESSION_KEY] = invitation.company_id
            messages.success(request, f"Welcome to {invitation.company}.")
            return redirect("dashboard")
    context = {
        "invitation": invitation,
        "form": form,
        "login_url": f"{reverse('login')}?next={request.path}",
    }
    return render(request, "core/invitation_accept.html", context, status=400 if form.errors else 200)
