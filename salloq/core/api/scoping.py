from rest_framework.generics import GenericAPIView


class CompanyScopedAPIView(GenericAPIView):
    """Base of every API view that touches domain rows: querysets are scoped to the caller's company.

    `queryset` must be built on CompanyScopedQuerySet; another company's row is then simply
    not found (404). tests/core/test_tenancy.py checks every /api/ route uses this base.
    """

    def get_queryset(self):
        return super().get_queryset().for_company(self.request.auth.company_id)
