"""Which requests to record, for production traffic.

Requests that carry a test id are always recorded: they are the tests. Other
requests are recorded at ``sample_rate``, or at the rate of the first
per-endpoint rule that matches (``"GET /health*=0"``). An unrecorded request
runs with a collector nobody reads and is never put in flight, so on the
sys.monitoring engine it meets disabled locations and costs next to nothing.
"""

from __future__ import annotations

import fnmatch
import random
from typing import List, Sequence, Tuple

from requestcov.config import parse_sample_rule

__all__ = ["Sampler"]


class Sampler:
    def __init__(self, rate: float = 1.0, rules: Sequence[str] = ()) -> None:
        self.rate = rate
        self.rules: List[Tuple[str, str, float]] = [parse_sample_rule(rule) for rule in rules]
        self.records_everything = rate >= 1.0 and not self.rules
        self._random = random.Random()

    def should_record(self, method: str, path: str, has_test_id: bool) -> bool:
        if self.records_everything or has_test_id:
            return True
        rate = self.rate
        for rule_method, pattern, rule_rate in self.rules:
            if (rule_method == "*" or rule_method == method.upper()) and fnmatch.fnmatchcase(path, pattern):
                rate = rule_rate
                break
        if rate >= 1.0:
            return True
        if rate <= 0.0:
            return False
        return self._random.random() < rate
