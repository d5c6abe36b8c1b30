"""The consent policy of contacts: where a consent-relevant action came from (ConsentContext) and
the rule every status write follows (decide_status): nobody unsubscribed, bounced or blacklisted is
subscribed again without fresh consent. The services and the bulk upsert both apply it, so a single
write and a bulk item cannot decide differently.
"""

from dataclasses import dataclass

from .models import ConsentAction, ContactStatus


@dataclass(frozen=True)
class ConsentContext:
    """Where a consent-relevant action came from, recorded with it.

    `fresh` is True when the caller asserts the contact has just given consent (a signup form,
    a confirmed opt-in): only then may an unsubscribed or blacklisted contact be subscribed again.
    """

    source: str = ""
    ip_address: str | None = None
    user_agent: str = ""
    fresh: bool = False


NO_CONSENT = ConsentContext()


def consent_with(base: ConsentContext, given: dict | None) -> ConsentContext:
    """`base` (where the request came from), or the fresh consent a write carries (its "consent":
    source, ip, user_agent; what it leaves out comes from `base`)."""
    if given is None:
        return base
    return ConsentContext(
        source=given.get("source") or base.source or "api",
        ip_address=given.get("ip") or base.ip_address,
        user_agent=given.get("user_agent") or base.user_agent,
        fresh=True,
    )


@dataclass(frozen=True)
class StatusChange:
    """What an upsert's requested status leads to; contact_upsert and the bulk upsert apply it."""

    status: str
    actions: tuple[str, ...] = ()  # consent actions to record
    warning: str | None = None
    lift_suppression: bool = False


def decide_status(*, current: str, requested: str | None, suppressed: bool, fresh: bool, created: bool) -> StatusChange:
    """The consent rule: nobody unsubscribed, bounced or blacklisted is subscribed again without fresh consent."""
    if created:
        status = requested or current
        if suppressed and status == ContactStatus.SUBSCRIBED and not fresh:
            return StatusChange(
                ContactStatus.UNSUBSCRIBED,
                warning="status: the address is blacklisted; the contact was created unsubscribed.",
            )
        return StatusChange(status)
    if requested is None or requested == current:
        return StatusChange(current)
    if requested == ContactStatus.SUBSCRIBED:
        if not fresh:
            return StatusChange(
                current,
                actions=(ConsentAction.RESUBSCRIBE_REFUSED,),
                warning=(
                    f"status: the contact is {current}{' and blacklisted' if suppressed else ''}; "
                    'send "consent" with the upsert to record fresh consent and re-subscribe.'
                ),
            )
        return StatusChange(ContactStatus.SUBSCRIBED, actions=(ConsentAction.SUBSCRIBED,), lift_suppression=suppressed)
    return StatusChange(
        requested, actions=(ConsentAction.UNSUBSCRIBED,) if requested == ContactStatus.UNSUBSCRIBED else ()
    )
