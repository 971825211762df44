"""The study on PostgreSQL: the server is the suite's own (``postgres_url`` in tests/conftest.py)."""

from __future__ import annotations

from learnedsys.nas import search


def test_postgres_study_resumes(postgres_url, tiny_data):
    import optuna

    from learnedsys._storage import sqlalchemy_url

    first = search(tiny_data, space="mlp", strategy="evolution", max_trials=2, backend="inline", epochs=1,
                   storage=postgres_url, study="pg", measure_latency=False)
    second = search(tiny_data, space="mlp", strategy="evolution", max_trials=2, backend="inline", epochs=1,
                    storage=postgres_url, study="pg", measure_latency=False)  # an existing study resumes
    assert first.trials == 2 and second.resumed_trials == 2 and second.trials == 4
    assert [h["val_acc"] for h in second.history[:2]] == [h["val_acc"] for h in first.history]
    st = optuna.load_study(study_name="pg", storage=sqlalchemy_url(postgres_url))
    assert [t.value for t in st.trials] == [h["val_acc"] for h in second.history]
