"""The shop's sqlite3 database: an in-memory database filled at start-up.

A shared-cache in-memory database lets every server thread open its own
connection (sqlite3 connections must not cross threads) while the data is
built once per process. The contents are fixed (seeded), so every run and
every mode answers the same queries with the same rows.
"""

from __future__ import annotations

import os
import random
import sqlite3
import threading
from typing import List, Optional

CATEGORIES = ("tools", "garden", "kitchen", "clearance")
_local = threading.local()
_uri = f"file:bench-shop-{os.getpid()}?mode=memory&cache=shared"
_anchor: Optional[sqlite3.Connection] = None


def _populate(connection: sqlite3.Connection) -> None:
    generator = random.Random(6)
    connection.executescript(
        """
        CREATE TABLE product (sku TEXT PRIMARY KEY, name TEXT, category TEXT, price REAL, stock INTEGER);
        CREATE TABLE customer (id INTEGER PRIMARY KEY, email TEXT, kind TEXT, country TEXT);
        CREATE TABLE orders (id INTEGER PRIMARY KEY, day TEXT, customer TEXT, sku TEXT,
                             quantity INTEGER, amount REAL);
        CREATE INDEX orders_day ON orders (day);
        """
    )
    products = []
    for number in range(400):
        category = CATEGORIES[number % len(CATEGORIES)]
        sku = f"{category[:2].upper()}-{number:04d}"
        products.append((sku, f"{category} item {number}", category,
                         round(generator.uniform(2, 250), 2), generator.randint(0, 40)))
    connection.executemany("INSERT INTO product VALUES (?, ?, ?, ?, ?)", products)
    countries = ("DE", "FR", "NL", "IT", "ES", "GB", "US")
    customers = [(number, f"customer{number}@example.com", ("retail", "business", "staff")[number % 3],
                  countries[number % len(countries)]) for number in range(1, 201)]
    connection.executemany("INSERT INTO customer VALUES (?, ?, ?, ?)", customers)
    orders = []
    for number in range(3000):
        sku, _, _, price, _ = products[generator.randrange(len(products))]
        quantity = generator.randint(1, 6)
        orders.append((number, f"2024-05-{1 + number % 30:02d}", customers[number % 200][1], sku,
                       quantity, round(price * quantity, 2)))
    connection.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?)", orders)
    connection.commit()


def setup() -> None:
    """Create and fill the database once per process (idempotent)."""
    global _anchor
    if _anchor is None:
        _anchor = sqlite3.connect(_uri, uri=True, check_same_thread=False)
        _populate(_anchor)


def connection() -> sqlite3.Connection:
    """This thread's connection to the shop database."""
    current = getattr(_local, "connection", None)
    if current is None:
        setup()
        current = _local.connection = sqlite3.connect(_uri, uri=True)
    return current


def products_in(category: str, limit: int = 20) -> List[tuple]:
    return connection().execute(
        "SELECT sku, name, category, price, stock FROM product WHERE category = ? ORDER BY sku LIMIT ?",
        (category, limit),
    ).fetchall()


def catalogue_for(skus: List[str]) -> dict:
    placeholders = ",".join("?" for _ in skus)
    rows = connection().execute(
        f"SELECT sku, category, price FROM product WHERE sku IN ({placeholders})", skus
    ).fetchall()
    return {sku: {"category": category, "price": price} for sku, category, price in rows}


def orders_between(first_day: str, last_day: str, limit: int = 120) -> List[tuple]:
    return connection().execute(
        "SELECT o.day, o.customer, p.category, o.quantity, o.amount FROM orders o "
        "JOIN product p ON p.sku = o.sku WHERE o.day BETWEEN ? AND ? ORDER BY o.id LIMIT ?",
        (first_day, last_day, limit),
    ).fetchall()


def customer(customer_id: int) -> Optional[tuple]:
    return connection().execute(
        "SELECT id, email, kind, country FROM customer WHERE id = ?", (customer_id,)
    ).fetchone()
