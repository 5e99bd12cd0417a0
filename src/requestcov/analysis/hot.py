"""How traffic flows through the code, per endpoint.

For each endpoint: how many requests, how many distinct code paths (distinct
coverage) they took and how often each, and the lines only a small share of
the endpoint's requests reach — the rarely travelled branches where bugs that
"only happen sometimes" tend to live.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List

import numpy as np

from requestcov.analysis.index import CoverageIndex

__all__ = ["CodePath", "EndpointTraffic", "hot_paths", "UNKNOWN_ENDPOINT"]

#: Label of records that carry no method, route or path (dedupData.yaml).
UNKNOWN_ENDPOINT = "(unknown endpoint)"


@dataclass
class CodePath:
    """One distinct coverage signature and the requests that took it."""

    count: int
    tests: List[int]
    #: Statements the path runs: the index's lines, which the commands fold
    #: into statements (:mod:`requestcov.analysis.covered`).
    line_count: int


@dataclass
class EndpointTraffic:
    endpoint: str
    requests: int
    #: Most frequent first.
    paths: List[CodePath]
    #: Lines (statements, in a folded index) reached by fewer than the rare share of this endpoint's requests.
    rare_lines: Dict[str, List[int]]


def hot_paths(index: CoverageIndex, rare: float = 0.05) -> List[EndpointTraffic]:
    """Traffic per endpoint, busiest endpoint first (name breaks ties)."""
    by_endpoint: Dict[str, Dict[bytes, List[int]]] = {}
    for test, info in enumerate(index.tests):
        endpoint = info.endpoint or UNKNOWN_ENDPOINT
        by_endpoint.setdefault(endpoint, {}).setdefault(index.signatures[test], []).append(test)

    result: List[EndpointTraffic] = []
    for endpoint, signatures in by_endpoint.items():
        paths = [
            CodePath(count=len(tests), tests=tests, line_count=index.tests[tests[0]].line_count)
            for tests in signatures.values()
        ]
        paths.sort(key=lambda path: (-path.count, path.tests[0]))
        requests = sum(path.count for path in paths)
        result.append(EndpointTraffic(
            endpoint=endpoint, requests=requests, paths=paths,
            rare_lines=_rare_lines(index, paths, requests, rare),
        ))
    result.sort(key=lambda traffic: (-traffic.requests, traffic.endpoint))
    return result


def _rare_lines(index: CoverageIndex, paths: List[CodePath], requests: int,
                rare: float) -> Dict[str, List[int]]:
    parts = [index.elements(path.tests[0]) for path in paths]
    if not requests or not any(part.shape[0] for part in parts):
        return {}
    elements = np.concatenate(parts)
    weights = np.repeat(np.asarray([path.count for path in paths], dtype=np.float64),
                        [part.shape[0] for part in parts])
    unique, inverse = np.unique(elements, return_inverse=True)
    hits = np.bincount(inverse.reshape(-1), weights=weights)
    rare_elements = unique[(hits < rare * requests) & (unique < index.line_element_count)]
    return index.lines_by_file(rare_elements.tolist())
