"""Business logic of the catalog, in its own file so requests span files."""


def price_with_tax(price, country):
    if country == "DE":
        rate = 0.19
    elif country == "FR":
        rate = 0.20
    else:
        rate = 0.0
    return round(price * (1 + rate), 2)


def describe_user(user_id):
    if user_id % 2 == 0:
        kind = "even"
    else:
        kind = "odd"
    return {"id": user_id, "kind": kind}


def total(items):
    result = 0
    for item in items:
        if item.get("free"):
            continue
        result += item["price"] * item.get("quantity", 1)
    return result
