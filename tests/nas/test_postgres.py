"""The journal on PostgreSQL: the server is the suite's own (``postgres_url`` in tests/conftest.py)."""

from __future__ import annotations

from learnedsys.nas import search


def test_postgres_journal_resume(postgres_url, tiny_data):
    pg_url = postgres_url
    first = search(tiny_data, space="mlp", strategy="evolution", max_trials=2, backend="inline", epochs=1,
                   storage=pg_url, study="pg", measure_latency=False)
    second = search(tiny_data, space="mlp", strategy="evolution", max_trials=2, backend="inline", epochs=1,
                    storage=pg_url, study="pg", resume=True, measure_latency=False)
    assert first.trials == 2 and second.resumed_trials == 2 and second.trials == 4
    assert [h["val_acc"] for h in second.history[:2]] == [h["val_acc"] for h in first.history]
