"""Checkpoints: round trip with types, atomic writes, clear errors, bit-for-bit resume."""
from __future__ import annotations

import os
import zipfile

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import checkpoint, nn, optim
from tinygrad_rnn.nn import functional as F


def test_round_trip_keeps_structure_and_types(tmp_path):
    obj = {"model": {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "b": tg.Tensor([1.0])},
           "step": 12, "lr": 0.5, "name": "lstm", "flag": True, "none": None,
           "betas": (0.9, 0.999), "history": [1.0, 2.5], "state": {0: {"exp_avg": np.ones(2)}}}
    path = tg.save(obj, tmp_path / "ck.npz")
    back = tg.load(path)
    assert back["step"] == 12 and isinstance(back["step"], int)
    assert back["lr"] == 0.5 and back["name"] == "lstm" and back["flag"] is True
    assert back["none"] is None and back["betas"] == (0.9, 0.999) and back["history"] == [1.0, 2.5]
    assert back["model"]["w"].dtype == np.float32
    np.testing.assert_array_equal(back["model"]["w"], obj["model"]["w"])
    np.testing.assert_array_equal(back["model"]["b"], [1.0])
    assert list(back["state"]) == [0]
    np.testing.assert_array_equal(back["state"][0]["exp_avg"], [1.0, 1.0])


def test_path_is_used_exactly_and_no_temp_file_is_left(tmp_path):
    tg.save({"a": 1}, tmp_path / "model.ckpt")
    assert sorted(os.listdir(tmp_path)) == ["model.ckpt"]


def test_a_crash_while_writing_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "ck.npz"
    tg.save({"version": 1}, path)

    def broken_savez(f, **arrays):
        f.write(b"PK\x03\x04 half a file")
        raise OSError("disk full")
    monkeypatch.setattr(checkpoint.np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        tg.save({"version": 2}, path)
    monkeypatch.undo()
    assert tg.load(path) == {"version": 1}
    assert os.listdir(tmp_path) == ["ck.npz"]


def test_foreign_npz_and_corrupt_files_give_clear_errors(tmp_path):
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, x=np.ones(2))
    with pytest.raises(ValueError, match="not a tinygrad_rnn checkpoint"):
        tg.load(foreign)
    corrupt = tmp_path / "corrupt.npz"
    tg.save({"w": np.ones(100)}, corrupt)
    corrupt.write_bytes(corrupt.read_bytes()[:50])
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        tg.load(corrupt)
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        tg.load(tmp_path / "missing.npz")


def test_objects_that_would_need_pickle_are_refused_at_save(tmp_path):
    with pytest.raises(TypeError, match="only numeric arrays can be stored without pickle"):
        tg.save({"bad": np.array([object()], dtype=object)}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match="cannot store .* of type function"):
        tg.save({"f": lambda: 0}, tmp_path / "x.npz")
    assert not (tmp_path / "x.npz").exists()


def test_loading_uses_allow_pickle_false(tmp_path, monkeypatch):
    seen = {}
    original = np.load

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return original(*args, **kwargs)
    monkeypatch.setattr(checkpoint.np, "load", spy)
    tg.save({"a": np.ones(1)}, tmp_path / "c.npz")
    tg.load(tmp_path / "c.npz")
    assert seen["allow_pickle"] is False
    with zipfile.ZipFile(tmp_path / "c.npz") as z:
        assert all(n.endswith(".npy") for n in z.namelist())


def _train(model, opt, rng, steps):
    for _ in range(steps):
        x = tg.Tensor(rng.standard_normal((4, 3)).astype(np.float32))
        y = tg.Tensor(rng.standard_normal((4, 2)).astype(np.float32))
        loss = F.mse_loss(model(x).tanh(), y)
        opt.zero_grad()
        loss.backward()
        opt.step()


def _fresh():
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 8), nn.Linear(8, 2))
    return model, optim.Adam(model.parameters(), lr=0.05, max_grad_norm=0.5)


def test_resume_from_checkpoint_continues_bit_for_bit(tmp_path):
    model, opt = _fresh()
    _train(model, opt, np.random.default_rng(1), 20)
    straight = model.state_dict()

    model, opt = _fresh()
    rng = np.random.default_rng(1)
    _train(model, opt, rng, 10)
    import json
    tg.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
             "rng": json.dumps(rng.bit_generator.state)}, tmp_path / "half.npz")
    del model, opt, rng
    saved = tg.load(tmp_path / "half.npz")
    model, opt = _fresh()
    model.load_state_dict(saved["model"])
    opt.load_state_dict(saved["optimizer"])
    rng = np.random.default_rng()
    rng.bit_generator.state = json.loads(saved["rng"])
    _train(model, opt, rng, 10)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, straight[k], err_msg=k)


def test_checkpoints_get_ordinary_file_permissions(tmp_path):
    import os
    old = os.umask(0o022)
    try:
        path = tg.save({"w": np.ones(2)}, tmp_path / "ckpt.npz")
        assert os.stat(path).st_mode & 0o777 == 0o644
        os.umask(0o077)
        path = tg.save({"w": np.ones(2)}, tmp_path / "private.npz")
        assert os.stat(path).st_mode & 0o777 == 0o600
    finally:
        os.umask(old)


def test_loading_a_non_zip_or_a_pytorch_file_says_what_it_is(tmp_path):
    junk = tmp_path / "notes.txt"
    junk.write_text("not a checkpoint at all")
    with pytest.raises(ValueError, match=r"notes.txt is not a tinygrad_rnn checkpoint: it is not "
                                         r"a zip \(.npz\) file"):
        tg.load(junk)
    fake_pt = tmp_path / "model.pt"  # the layout torch.save writes: a zip with a data.pkl
    import zipfile
    with zipfile.ZipFile(fake_pt, "w") as z:
        z.writestr("model/data.pkl", b"\x80\x02}q\x00.")
    with pytest.raises(ValueError, match=r"model.pt looks like a PyTorch file \(torch.save\)"):
        tg.load(fake_pt)


def test_loading_a_real_pytorch_file_says_so(tmp_path):
    torch = pytest.importorskip("torch")
    path = tmp_path / "weights.pt"
    torch.save({"w": torch.ones(2)}, path)
    with pytest.raises(ValueError, match="looks like a PyTorch file"):
        tg.load(path)
