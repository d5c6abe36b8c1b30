from django import template

from contacts.mailability import NOT_MAILED_BECAUSE, Mailability

register = template.Library()


@register.inclusion_tag("contacts/_mailability_badge.html")
def mailability_badge(state: str, element_id: str = "") -> dict:
    """The badge of a `mailability` annotation (contacts.mailability): its label, and why such a
    contact gets no email as the badge's tooltip."""
    state = Mailability(state)
    return {"state": state, "label": state.label, "why": NOT_MAILED_BECAUSE.get(state, ""), "element_id": element_id}
