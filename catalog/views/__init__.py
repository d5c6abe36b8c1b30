"""Dashboard pages of commerce data: the catalog browser and product pages (products.py),
collections (collections.py), stores and orders (orders.py). Viewers may see everything; nothing
here writes (catalogs, products, orders... are written by the API, the Salloq Ecommerce connector
and events, through catalog.services)."""
