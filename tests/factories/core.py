import factory
from django.contrib.auth import get_user_model

from salloq.core import services
from salloq.core.models import Company, Membership, Role


class CompanyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Company
        django_get_or_create = ["name"]

    name = factory.Sequence(lambda n: f"Company {n}")
    webhook_secret = factory.Sequence(lambda n: f"whsec_test{n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("correct-horse-battery")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    company = factory.SubFactory(CompanyFactory)
    role = Role.OWNER


def make_api_key(company=None, **kwargs):
    """An API key and its plain text, through the real service."""
    company = company or CompanyFactory()
    kwargs.setdefault("name", "test key")
    kwargs.setdefault("scopes", ["*"])
    return services.api_key_create(company=company, **kwargs)
