from functools import wraps
from urllib.parse import urlsplit

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import Resolver404, resolve, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from . import selectors, services
from .forms import ApiKeyForm
from .htmx import htmx_partial, render_page
from .middleware import CurrentCompanyMiddleware
from .models import ApiKey, Role


class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    pass


def company_view(min_role: str = Role.VIEWER, write_role: str = Role.MARKETER):
    """Dashboard view guard: logged in, in a company, and allowed to read (GET) or change (POST).

    Viewers may look at everything and change nothing.
    """

    def decorator(view):
        @login_required
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.membership is None:
                return render(request, "core/no_company.html", status=403)
            needed = min_role if request.method in ("GET", "HEAD") else write_role
            if not request.membership.allows(needed):
                # Rendered by the product's 403 page (templates/403.html), which says this and links back.
                raise PermissionDenied(
                    f"Your role ({request.membership.get_role_display()}) cannot do this; "
                    f"it needs {Role(needed).label}."
                )
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


@company_view()
def dashboard(request):
    context = {
        "checklist": selectors.onboarding_checklist(
            company=request.company, is_owner=request.membership.allows(Role.OWNER)
        ),
        "status": selectors.system_status(),
    }
    return render(request, "core/dashboard.html", context)


@login_required
@require_POST
def switch_company(request):
    try:
        company_id = int(request.POST.get("company_id", ""))
    except ValueError:
        company_id = None
    if not any(m.company_id == company_id for m in getattr(request, "memberships", [])):
        raise PermissionDenied("You are not a member of that company.")
    request.session[CurrentCompanyMiddleware.SESSION_KEY] = company_id
    target = request.POST.get("next") or reverse("dashboard")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = reverse("dashboard")
    target = landing_page(target)
    if htmx_partial(request):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = target
        return response
    return redirect(target)


def landing_page(path: str) -> str:
    """Where switching company from `path` lands: the page itself when it names no object, else
    the list page of its section (/contacts/123/edit/ -> /contacts/): the object belongs to the
    company just left, so in the new one it would be a 404. Filters (the query string) may name
    the old company's lists or tags, so they are dropped too."""
    path = urlsplit(path).path or "/"
    while path not in ("", "/"):
        try:
            match = resolve(path)
        except Resolver404:
            match = None
        if match is not None and not match.kwargs:
            return path
        path = path.rstrip("/").rpartition("/")[0] + "/"
    return reverse("dashboard")


def page_not_found(request, exception):
    """The product's 404 page (handler404), with a link to the list the missing object was in."""
    section = landing_page(request.path)
    context = {"section_url": section if section not in (request.path, reverse("dashboard")) else None}
    return render(request, "404.html", context, status=404)


def _api_keys_context(request, form, new_key=None, new_api_key=None):
    return {
        "form": form,
        "api_keys": selectors.api_key_list(company=request.company),
        "new_key": new_key,
        "new_api_key": new_api_key,
        "can_manage": request.membership.allows(Role.OWNER),
        "full_access": ["*"],
    }


@company_view(write_role=Role.OWNER)
@require_http_methods(["GET", "POST"])
def api_keys(request):
    """Settings > API keys: the list, and the create form whose result shows the key once."""
    form = ApiKeyForm(request.POST or None)
    new_key = new_api_key = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                new_api_key, new_key = services.api_key_create(
                    company=request.company, created_by=request.user, **form.cleaned_data
                )
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
        if new_key is None:
            status = 400
        else:
            form = ApiKeyForm()
    context = _api_keys_context(request, form, new_key, new_api_key)
    response = render_page(request, "core/api_keys.html", "core/_api_keys.html", context, status=status)
    # The one response that carries the plain key must not be kept anywhere.
    response["Cache-Control"] = "no-store"
    return response


@company_view(write_role=Role.OWNER)
@require_POST
def api_key_revoke_view(request, key_id: int):
    api_key = get_object_or_404(ApiKey.objects.for_company(request.company), pk=key_id)
    services.api_key_revoke(api_key=api_key)
    if htmx_partial(request):
        return render_page(
            request, "core/api_keys.html", "core/_api_keys.html", _api_keys_context(request, ApiKeyForm())
        )
    messages.success(request, f"Revoked {api_key.name}.")
    return redirect("api_keys")


@company_view(min_role=Role.OWNER, write_role=Role.OWNER)
@require_http_methods(["GET", "POST"])
def webhook_secret(request):
    """Settings > Webhook secret: the HMAC secret the shop signs webhooks with, and its rotation."""
    if request.method == "POST":
        services.webhook_secret_rotate(company=request.company)
        messages.success(request, "Webhook secret rotated. Update it in your shop's webhook settings.")
        return redirect("webhook_secret")
    response = render(request, "core/webhook_secret.html", {"webhook_url": request.build_absolute_uri("/api/webhook")})
    response["Cache-Control"] = "no-store"
    return response
