"""Writes of campaigns and templates: create, change, delete. The API and the dashboard's forms both
call these, so every rule lives here once.

Each function takes a `data` dict of the fields to set (the API's names: `list_id`, `list_ids`,
`segment_ids`, `excluded_list_ids`, `excluded_segment_ids`, `template_id`, ...) and raises Django's
ValidationError({field: [message]}) naming the field at fault. An id of a list, segment or template
the company does not have is refused with the same message whether it does not exist or belongs to
another company, so nothing leaks.

Once a campaign has started sending, what its recipients get is fixed: subject, content, audience,
sender and the rest are frozen (a change is a 400 naming the field); only its name may still change.
Sending, pausing and cancelling belong to campaigns.delivery.
"""

import re
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from contacts.models import ContactList, Segment
from salloq.core.emails import normalize_email
from salloq.core.models import Company
from salloq.core.text import text_problem
from salloq.core.validators import validate_header_safe

from .models import (
    EDITABLE_STATUSES,
    Campaign,
    CampaignActivity,
    CampaignRecipient,
    CampaignStatus,
    CampaignType,
    EmailTemplate,
)
from .personalization import check_template
from .rendering import sanitize_html

NAME_MAX_LENGTH = 200
SUBJECT_MAX_LENGTH = 255
PREVIEW_TEXT_MAX_LENGTH = 255
FROM_NAME_MAX_LENGTH = 200
EMAIL_MAX_LENGTH = 254
# Above any real email (Gmail clips a message's HTML past 102 KB), and below the request limit
# (DATA_UPLOAD_MAX_MEMORY_SIZE, 2.5 MB) even when a client escapes every character as a \uXXXX
# surrogate pair, 12 bytes each: a request the schema allows is never a 413.
CONTENT_MAX_LENGTH = 200_000
TEMPLATE_HTML_MAX_LENGTH = 200_000
# Lists or segments per audience field.
MAX_AUDIENCE_IDS = 100

# The audience fields: data key -> (model, the campaign's many-to-many, what the message calls it).
AUDIENCE_FIELDS = {
    "list_ids": (ContactList, "lists", "list"),
    "segment_ids": (Segment, "segments", "segment"),
    "excluded_list_ids": (ContactList, "excluded_lists", "list"),
    "excluded_segment_ids": (Segment, "excluded_segments", "segment"),
}
TEXT_FIELDS = ("name", "subject", "preview_text", "content", "from_name", "from_email", "reply_to")
CAMPAIGN_FIELDS = frozenset({*TEXT_FIELDS, "type", "template_id", "list_id", *AUDIENCE_FIELDS, "scheduled_at"})
# What a PUT that leaves a field out sets it to.
CAMPAIGN_DEFAULTS = {
    "type": CampaignType.EMAIL,
    "subject": "",
    "preview_text": "",
    "content": "",
    "template_id": None,
    "list_ids": [],
    "segment_ids": [],
    "excluded_list_ids": [],
    "excluded_segment_ids": [],
    "from_name": "",
    "from_email": "",
    "reply_to": "",
    "scheduled_at": None,
}
# Everything but the name is what recipients get: fixed once sending started.
FROZEN_FIELDS = CAMPAIGN_FIELDS - {"name"}
TEMPLATE_FIELDS = frozenset({"name", "html"})

# Where a template's layout takes the campaign's content. No line break inside, so a template's
# line numbers are the same with the slot taken out for the personalization check.
CONTENT_SLOT = re.compile(r"\{\{[ \t]*content[ \t]*\}\}")


def _error(field: str, message: str, code: str = "invalid") -> ValidationError:
    return ValidationError({field: [ValidationError(message, code=code)]})


def _text(data: dict, field: str, errors: dict, *, max_length: int, required: bool = False) -> str | None:
    """The field's text, trimmed, or None when the data does not carry it (errors collected)."""
    if field not in data:
        return None
    value = data[field]
    if value is None:
        value = ""
    if not isinstance(value, str):
        errors[field] = ["Must be text."]
        return None
    if problem := text_problem(value):
        errors[field] = [problem]
        return None
    value = value.strip()
    if required and not value:
        errors[field] = ["This field may not be blank."]
    elif len(value) > max_length:
        errors[field] = [f"Ensure this field has no more than {max_length} characters."]
    return value


def _header_safe(field: str, value: str, errors: dict) -> None:
    """Subject and sender name go into headers: a line break would start a header of its own."""
    try:
        validate_header_safe(value)
    except ValidationError as exc:
        errors.setdefault(field, []).extend(exc.messages)


def _email(field: str, value: str, errors: dict) -> str:
    try:
        return normalize_email(value)
    except ValidationError as exc:
        errors.setdefault(field, []).extend(exc.messages)
        return value


def _template_problem(source: str, field: str, errors: dict) -> None:
    """Personalization errors (syntax, forbidden tags, unknown variables) at save, with their line."""
    if field in errors or not source:
        return
    try:
        check_template(source, field=field)
    except ValidationError as exc:
        for name, messages in exc.message_dict.items():
            errors.setdefault(name, []).extend(messages)


def _ids(data: dict, field: str, errors: dict) -> list[int] | None:
    if field not in data:
        return None
    value = data[field]
    if value is None:
        return []
    if not isinstance(value, list | tuple) or any(isinstance(i, bool) or not isinstance(i, int) for i in value):
        errors[field] = ["Must be a list of ids (whole numbers)."]
        return None
    if len(value) > MAX_AUDIENCE_IDS:
        errors[field] = [f"At most {MAX_AUDIENCE_IDS} ids."]
        return None
    return list(dict.fromkeys(value))  # each once, in the order given


def _company_rows(model, company_id: int, ids: list[int], field: str, noun: str, errors: dict) -> list:
    """The company's rows with these ids; any other id is refused (another company's id reads as
    unknown, never as someone else's)."""
    if not ids:
        return []
    found = {row.pk: row for row in model.objects.for_company(company_id).filter(pk__in=ids)}
    unknown = [str(i) for i in ids if i not in found]
    if unknown:
        errors.setdefault(field, []).append(f"No {noun} with id {', '.join(unknown)} in your company.")
        return []
    return [found[i] for i in ids]


def in_site_time_zone(value: datetime) -> datetime:
    """A send time as stored: a naive one (the Salloq Marketing API's "2024-06-15 09:00:00") is in
    the site's time zone, settings.TIME_ZONE (UTC unless set); an aware one keeps its offset."""
    return timezone.make_aware(value, timezone.get_default_timezone()) if timezone.is_naive(value) else value


def _scheduled_at(data: dict, errors: dict) -> datetime | None:
    value = data["scheduled_at"]
    if value is None:
        return None
    if not isinstance(value, datetime):
        errors["scheduled_at"] = ["Must be a date and time."]
        return None
    return in_site_time_zone(value)


class _Cleaned:
    """A campaign's fields as given, checked: model field values and audience rows."""

    def __init__(self, company_id: int, data: dict, *, creating: bool):
        unknown = set(data) - CAMPAIGN_FIELDS
        if unknown:
            raise ValueError(f"Unknown campaign fields: {sorted(unknown)}")
        errors: dict[str, list[str]] = {}
        fields: dict = {}
        for name, max_length in (
            ("name", NAME_MAX_LENGTH),
            ("subject", SUBJECT_MAX_LENGTH),
            ("preview_text", PREVIEW_TEXT_MAX_LENGTH),
            ("content", CONTENT_MAX_LENGTH),
            ("from_name", FROM_NAME_MAX_LENGTH),
            ("from_email", EMAIL_MAX_LENGTH),
            ("reply_to", EMAIL_MAX_LENGTH),
        ):
            value = _text(data, name, errors, max_length=max_length, required=name == "name")
            if value is not None and name not in errors:
                fields[name] = value
        if creating and "name" not in data:
            errors["name"] = ["This field is required."]
        for name in ("subject", "from_name"):
            if name in fields:
                _header_safe(name, fields[name], errors)
        for name in ("from_email", "reply_to"):
            if name in fields:
                fields[name] = _email(name, fields[name], errors)
        for name in ("subject", "preview_text", "content"):
            if name in fields:
                _template_problem(fields[name], name, errors)
        if "content" in fields and "content" not in errors and fields["content"]:
            fields["content"] = sanitize_html(fields["content"])

        if "type" in data:
            if data["type"] not in CampaignType.values:
                errors["type"] = [f"Use one of: {', '.join(CampaignType.values)}."]
            else:
                fields["type"] = data["type"]
        if "template_id" in data:
            template_id = data["template_id"]
            if template_id is None:
                fields["template"] = None
            elif isinstance(template_id, bool) or not isinstance(template_id, int):
                errors["template_id"] = ["Must be a template id (a whole number)."]
            else:
                templates = _company_rows(EmailTemplate, company_id, [template_id], "template_id", "template", errors)
                if templates:
                    fields["template"] = templates[0]
        if "scheduled_at" in data:
            fields["scheduled_at"] = _scheduled_at(data, errors)

        # The Salloq Marketing API's single `list_id` and the list of `list_ids` are one audience:
        # the lists given in either (each checked under its own name).
        self.audience: dict[str, list] = {}
        lists_given = False
        lists: list = []
        if "list_id" in data:
            lists_given = True
            single = data["list_id"]
            if single is not None and (isinstance(single, bool) or not isinstance(single, int)):
                errors["list_id"] = ["Must be a list id (a whole number)."]
            elif single is not None:
                lists += _company_rows(ContactList, company_id, [single], "list_id", "list", errors)
        for name, (model, relation, noun) in AUDIENCE_FIELDS.items():
            ids = _ids(data, name, errors)
            if ids is None:
                continue
            rows = _company_rows(model, company_id, ids, name, noun, errors)
            if name == "list_ids":
                lists_given = True
                lists += rows
            else:
                self.audience[relation] = rows
        if lists_given:
            self.audience["lists"] = list({row.pk: row for row in lists}.values())

        if errors:
            raise ValidationError(errors)
        self.fields = fields


def _set_audience(campaign: Campaign, audience: dict[str, list]) -> None:
    for relation, rows in audience.items():
        getattr(campaign, relation).set(rows)


def campaign_create(*, company: Company, data: dict) -> Campaign:
    """A new draft campaign. `scheduled_at` is its planned send time: nothing is sent until
    campaigns.delivery.send_campaign (POST /api/campaigns/send/{id})."""
    cleaned = _Cleaned(company.pk, data, creating=True)
    with transaction.atomic():
        campaign = Campaign.objects.create(company=company, **cleaned.fields)
        _set_audience(campaign, cleaned.audience)
    return campaign


def _audience_ids(campaign: Campaign) -> dict[str, set[int]]:
    return {
        relation: set(getattr(campaign, relation).values_list("pk", flat=True))
        for _, relation, _ in AUDIENCE_FIELDS.values()
    }


def _changed(campaign: Campaign, cleaned: _Cleaned) -> list[str]:
    """The data keys whose value differs from the campaign's, in the API's names."""
    changed = []
    for name, value in cleaned.fields.items():
        current = getattr(campaign, name)
        if name == "template":
            changed += ["template_id"] if (value.pk if value else None) != campaign.template_id else []
        elif value != current:
            changed.append(name)
    current_audience = _audience_ids(campaign)
    for data_key, (_, relation, _) in AUDIENCE_FIELDS.items():
        if (
            relation in cleaned.audience
            and {row.pk for row in cleaned.audience[relation]} != current_audience[relation]
        ):
            changed.append(data_key)
    return changed


def campaign_update(*, campaign: Campaign, data: dict, replace: bool = False) -> Campaign:
    """Change the fields given (replace=True: the whole campaign, as a PUT; fields left out go back
    to their defaults). The row is locked while checking its status, so a campaign that a beat
    tick starts meanwhile is not changed after its content was frozen."""
    given = data
    if replace:
        data = {**CAMPAIGN_DEFAULTS, **data}
    cleaned = _Cleaned(campaign.company_id, data, creating=replace)
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        changed = _changed(locked, cleaned)
        if locked.status not in EDITABLE_STATUSES:
            frozen = [name for name in changed if name in FROZEN_FIELDS]
            if "list_id" in given and "list_ids" not in given:
                frozen = ["list_id" if name == "list_ids" else name for name in frozen]
            if frozen:
                message = (
                    f"The campaign is {locked.status}: what its recipients get was frozen when sending started, "
                    "so this cannot change any more."
                )
                raise ValidationError({name: [message] for name in frozen})
        if locked.status == CampaignStatus.SCHEDULED and "scheduled_at" in changed:
            when = cleaned.fields["scheduled_at"]
            if when is None or when <= timezone.now():
                raise _error(
                    "scheduled_at",
                    "The campaign is scheduled: give a time in the future to move it, or cancel it.",
                )
        for name, value in cleaned.fields.items():
            setattr(locked, name, value)
        locked.save()
        _set_audience(locked, cleaned.audience)
    campaign.refresh_from_db()
    return campaign


def campaign_delete(*, campaign: Campaign) -> None:
    """Delete the campaign with its recipients and figures; not while it is sending or paused
    (cancel it first, so no worker is mid-batch on rows that vanish)."""
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().filter(pk=campaign.pk).first()
        if locked is None:
            return
        if locked.status in (CampaignStatus.SENDING, CampaignStatus.PAUSED):
            raise _error("status", f"The campaign is {locked.status}: cancel it before deleting it.")
        locked.delete()


# --- Templates -------------------------------------------------------------------------------------


def _clean_template(data: dict, *, creating: bool) -> dict:
    unknown = set(data) - TEMPLATE_FIELDS
    if unknown:
        raise ValueError(f"Unknown template fields: {sorted(unknown)}")
    errors: dict[str, list[str]] = {}
    fields = {}
    name = _text(data, "name", errors, max_length=NAME_MAX_LENGTH, required=True)
    if name is not None and "name" not in errors:
        fields["name"] = name
    if "html" in data:
        html = data["html"]
        if not isinstance(html, str):
            errors["html"] = ["Must be text."]
        elif problem := text_problem(html):
            errors["html"] = [problem]
        elif len(html) > TEMPLATE_HTML_MAX_LENGTH:
            errors["html"] = [f"Ensure this field has no more than {TEMPLATE_HTML_MAX_LENGTH} characters."]
        elif not CONTENT_SLOT.search(html):
            errors["html"] = ["A template needs the content slot {{ content }}, where each campaign's content goes."]
        else:
            _template_problem(CONTENT_SLOT.sub("", html), "html", errors)
            fields["html"] = html
    if creating:
        for required in ("name", "html"):
            if required not in data:
                errors[required] = ["This field is required."]
    if errors:
        raise ValidationError(errors)
    return fields


def _save_template(template: EmailTemplate) -> EmailTemplate:
    try:
        with transaction.atomic():
            template.save()
    except IntegrityError:
        # Two requests racing for one name: the loser gets the same answer as a later request would.
        raise _error("name", "A template with this name already exists.", code="unique") from None
    return template


def template_create(*, company: Company, data: dict) -> EmailTemplate:
    fields = _clean_template(data, creating=True)
    if EmailTemplate.objects.for_company(company).filter(name=fields["name"]).exists():
        raise _error("name", "A template with this name already exists.", code="unique")
    return _save_template(EmailTemplate(company=company, **fields))


def template_update(*, template: EmailTemplate, data: dict) -> EmailTemplate:
    """Change the fields given. Campaigns that already started keep the layout they were frozen with."""
    fields = _clean_template(data, creating=False)
    if "name" in fields and (
        EmailTemplate.objects.for_company(template.company_id)
        .filter(name=fields["name"])
        .exclude(pk=template.pk)
        .exists()
    ):
        raise _error("name", "A template with this name already exists.", code="unique")
    for name, value in fields.items():
        setattr(template, name, value)
    return _save_template(template)


def template_delete(*, template: EmailTemplate) -> None:
    """Delete a template no campaign still to be sent uses (it would silently lose its layout)."""
    users = list(
        Campaign.objects.filter(template=template, status__in=EDITABLE_STATUSES).values_list("name", flat=True)[:5]
    )
    if users:
        raise _error("template", f"Campaigns not yet sent use this template: {', '.join(users)}.")
    template.delete()


def forget_erased_contact(*, contact, **_signal) -> None:
    """The contacts' erase (contacts.signals.contact_erased): the person's address and user agents
    leave the campaign rows; the rows stay, without them, so the campaign's figures still add up."""
    CampaignRecipient.objects.filter(contact=contact).update(email="")
    CampaignActivity.objects.filter(recipient__contact=contact).update(user_agent="")
