"""A campaign's report: its figures, opens and clicks over time (a chart), and clicks per link."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from salloq.core.views import company_view

from ..selectors.stats import campaign_stats
from .common import get_campaign


@company_view()
@require_GET
def campaign_report(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = get_campaign(request, campaign_id)
    stats = campaign_stats(campaign)
    timeline = [
        {
            "at": point["at"].isoformat() if hasattr(point["at"], "isoformat") else str(point["at"]),
            "opens": point["opens"],
            "clicks": point["clicks"],
        }
        for point in stats.get("timeline", [])
    ]
    context = {"campaign": campaign, "stats": stats, "timeline": timeline}
    return render(request, "campaigns/campaign_report.html", context)
