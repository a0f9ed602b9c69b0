"""The same upgrade on a real PostgreSQL (a throwaway cluster, as tests/integration/test_deployments.py starts one)."""

from __future__ import annotations

import pytest

from tests.integration.test_deployments import postgres_url  # noqa: F401 - the fixture
from tests.unit.test_thought_upgrade import check_upgraded, make_old_database

pytestmark = pytest.mark.integration


def test_a_postgres_memory_made_before_fact_records_keeps_working(postgres_url) -> None:  # noqa: F811
    make_old_database(postgres_url)
    check_upgraded(postgres_url)
