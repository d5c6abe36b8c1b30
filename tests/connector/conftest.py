import pytest

from connector import services
from tests.connector.shop_server import FULL_KEY, ShopData, ShopServer

# Several pages of everything: 230 products (3 pages), 450 orders (5 pages) of 250 customers, 20
# subscriptions discovered through subscription orders.
SHOP = {"customers": 250, "orders": 450, "products": 230, "subscriptions": 20}


@pytest.fixture
def shop():
    server = ShopServer(ShopData.generate(**SHOP)).start()
    yield server
    server.stop()


class Sleeps(list):
    """An injected sleep that only records how long the client wanted to wait."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps():
    return Sleeps()


@pytest.fixture
def connection(company, shop):
    return services.connection_save(
        company=company,
        base_url=shop.base_url,
        api_key=FULL_KEY,
        resources=["products", "orders", "customers", "loyalty", "subscriptions"],
        sync_interval_minutes=60,
    )
