"""Tax rates, imported by the first request that needs them."""

import json

_RAW = '{"DE": 19, "FR": 20, "IT": 22, "ES": 21}'
RATES = json.loads(_RAW)
DEFAULT = min(RATES.values())
REGIONS = {}
for _code in sorted(RATES):
    REGIONS[_code] = "EU"


class Table:
    """Rates, with a default for countries not listed."""

    default = DEFAULT
    known = tuple(sorted(RATES))

    class Limits:
        highest = max(RATES.values())

    def rate(self, country):
        if country in RATES:
            return RATES[country]
        return self.default


_computed = {}


def tax_for(country, amount):
    """Cached per country: the first request for a country fills its entry."""
    if country not in _computed:
        _computed[country] = Table().rate(country) / 100
    return round(amount * _computed[country], 2)
