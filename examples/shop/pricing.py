"""Pricing rules: discounts, shipping and tax for a cart."""

TAX_RATES = {"DE": 0.19, "FR": 0.20, "US": 0.0}


def line_total(product, quantity):
    subtotal = product["price"] * quantity
    if quantity >= 10:
        subtotal *= 0.9
    elif quantity >= 5:
        subtotal *= 0.95
    return round(subtotal, 2)


def shipping(subtotal, country):
    if subtotal >= 50:
        return 0.0
    if country in ("DE", "FR"):
        return 4.90
    return 12.00


def quote(lines, country):
    if country not in TAX_RATES:
        raise ValueError(f"we do not ship to {country}")
    subtotal = 0.0
    for product, quantity in lines:
        subtotal += line_total(product, quantity)
    tax = round(subtotal * TAX_RATES[country], 2)
    return {
        "subtotal": round(subtotal, 2),
        "shipping": shipping(subtotal, country),
        "tax": tax,
        "total": round(subtotal + tax + shipping(subtotal, country), 2),
    }
