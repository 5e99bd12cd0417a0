"""The shop's product catalogue, kept in SQLite."""

import sqlite3
import threading

_PRODUCTS = [
    (1, "notebook", 4.50, "stationery", 120),
    (2, "fountain pen", 32.00, "stationery", 8),
    (3, "espresso beans", 14.90, "food", 0),
    (4, "tea sampler", 19.00, "food", 40),
    (5, "desk lamp", 45.00, "home", 3),
]

_local = threading.local()


def _connection():
    connection = getattr(_local, "connection", None)
    if connection is None:
        connection = sqlite3.connect(":memory:")
        connection.execute(
            "CREATE TABLE product (id INTEGER PRIMARY KEY, name TEXT, price REAL, category TEXT, stock INTEGER)"
        )
        connection.executemany("INSERT INTO product VALUES (?, ?, ?, ?, ?)", _PRODUCTS)
        _local.connection = connection
    return connection


def _as_dict(row):
    return {"id": row[0], "name": row[1], "price": row[2], "category": row[3], "stock": row[4]}


def all_products(category=None):
    if category:
        rows = _connection().execute("SELECT * FROM product WHERE category = ? ORDER BY id", (category,))
    else:
        rows = _connection().execute("SELECT * FROM product ORDER BY id")
    return [_as_dict(row) for row in rows]


def product(product_id):
    row = _connection().execute("SELECT * FROM product WHERE id = ?", (product_id,)).fetchone()
    return _as_dict(row) if row else None


def low_stock(threshold=5):
    rows = _connection().execute("SELECT * FROM product WHERE stock < ? ORDER BY stock", (threshold,))
    result = []
    for row in rows:
        product = _as_dict(row)
        product["reorder"] = max(0, 20 - product["stock"])
        result.append(product)
    return result
