"""Money caps under a burst: 500 launches' spends taken at once by 4 processes (16 threads each) on
MariaDB and PostgreSQL, against an hourly cap of 100. Exactly the cap is granted and held, and no
take fails: a lock wait past the store's bound or a deadlock would surface as StoreUnavailable
("money caps unavailable"), the 503s and tick tracebacks a burst used to cause. The harness is the
benchmark's (bench/caps.py), which prints the same figures with timings."""

from __future__ import annotations

import pytest

from bench.caps import burst
from tests.databases import fresh_database


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["postgres", "mariadb"])
def test_five_hundred_launches_in_four_processes_take_exactly_the_cap_without_a_store_error(backend, tmp_path):
    """Slow: four spawned processes, each opening its own pool, take 500 spends (about 10 s on two cores)."""
    with fresh_database(backend, tmp_path) as url:
        figures = burst(url, launches=500, processes=4, threads=16, cap=100)
    assert figures["store_errors"] == figures["other_errors"] == 0, figures
    assert figures["granted"] == figures["held"] == 100, figures
    assert figures["refused"] == 400, figures
