def current_company(request) -> dict:
    """The signed-in user's company context for every template.

    The names are namespaced (`salloq_…`) where a page's own context could use the same word: a
    contact page's `memberships` (its lists) once replaced the user's companies in the switcher.
    `company` and `membership` stay for the page titles and role checks that read them."""
    company = getattr(request, "company", None)
    membership = getattr(request, "membership", None)
    return {
        "company": company,
        "membership": membership,
        "salloq_company": company,
        "salloq_membership": membership,
        "salloq_companies": getattr(request, "memberships", []),
    }
