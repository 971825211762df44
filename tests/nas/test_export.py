from __future__ import annotations

import numpy as np
import pytest

from learnedsys._serialization import FormatError
from learnedsys.nas import fit_final, get_space, load_model


def test_ensemble_roundtrip_and_oracle(tiny_data, tmp_path):
    torch = pytest.importorskip("torch")
    space = get_space("mlp")
    rng = np.random.default_rng(1)
    acts = [space.sample(rng), space.sample(rng)]
    model, test_acc = fit_final(space, acts, tiny_data, epochs=2, seed=0)
    raw = tiny_data.X_test * tiny_data.std + tiny_data.mean
    # oracle: each member's softmax on the standardised inputs, averaged by hand
    with torch.no_grad():
        probs = [torch.softmax(m.eval()(torch.from_numpy(tiny_data.X_test)), 1).numpy() for m in model.modules]
    want = np.mean(probs, axis=0)
    assert np.allclose(model.predict_proba(raw), want, atol=1e-5)
    assert test_acc == pytest.approx(np.mean(want.argmax(1) == tiny_data.y_test))
    model.save(tmp_path / "m")
    again = load_model(tmp_path / "m")
    assert np.allclose(again.predict_proba(raw), want, atol=1e-5)
    assert [m["architecture"] for m in again.members] == [space.decode(a) for a in acts]
    assert np.array_equal(again.predict(raw[:, 0]), model.predict(raw))  # (n, H, W) input accepted
    assert np.array_equal(again.predict(np.moveaxis(raw, 1, -1)), model.predict(raw))  # channel-last accepted
    # a truncated file is an error, never a wrong answer
    blob = (tmp_path / "m" / "model.lsys").read_bytes()
    (tmp_path / "m" / "model.lsys").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(FormatError):
        load_model(tmp_path / "m")
