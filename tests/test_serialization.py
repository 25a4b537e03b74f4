"""torch.save / torch.load (tg.save / tg.load): round trips, the allow-list unpickler, PyTorch's
own files, atomic writes."""
from __future__ import annotations

import io
import os
import pickle
import sys

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import nn, optim, serialization
from tinygrad_rnn.errors import CUDAUnavailable, TorchFileError, UnsafeLoadError


def _round_trip(obj, tmp_path, how):
    if how == "path":
        tg.save(obj, tmp_path / "obj.pt")
        return tg.load(tmp_path / "obj.pt")
    if how == "file":
        with open(tmp_path / "obj.pt", "wb") as f:
            tg.save(obj, f)
        with open(tmp_path / "obj.pt", "rb") as f:
            return tg.load(f)
    buffer = io.BytesIO()
    tg.save(obj, buffer)
    buffer.seek(0)
    return tg.load(buffer)


@pytest.mark.parametrize("how", ["path", "file", "bytesio"])
def test_round_trip_of_tensors_containers_numbers_and_strings(tmp_path, how):
    w = tg.tensor(np.arange(6.0).reshape(2, 3), dtype=tg.float64, requires_grad=True)
    obj = {"w": w, "ids": tg.tensor([3, 1, 2]), "array": np.eye(2, dtype=np.float32),
           "list": [1, 2.5, "three", None, True], "tuple": (1, (2, 3)), "name": "lstm",
           "nested": {0: {"step": 7}}, "scalar": np.float64(0.25), "set": {1, 2}}
    back = _round_trip(obj, tmp_path, how)
    assert type(back["w"]) is tg.Tensor and back["w"].dtype == np.float64
    assert back["w"].requires_grad and back["w"].is_leaf and back["w"].grad is None
    np.testing.assert_array_equal(back["w"].numpy(), w.numpy())
    assert back["ids"].dtype == np.int64 and not back["ids"].requires_grad
    np.testing.assert_array_equal(back["ids"].numpy(), [3, 1, 2])
    assert back["array"].dtype == np.float32 and isinstance(back["array"], np.ndarray)
    assert back["list"] == obj["list"] and back["tuple"] == (1, (2, 3))
    assert back["name"] == "lstm" and back["nested"] == {0: {"step": 7}}
    assert back["scalar"] == 0.25 and back["set"] == {1, 2}


def test_a_loaded_tensor_does_not_share_memory_with_the_saved_one(tmp_path):
    t = tg.tensor([1.0, 2.0])
    back = _round_trip(t, tmp_path, "bytesio")
    t.numpy()[0] = 5.0
    assert back.numpy()[0] == 1.0


class _Tied(nn.Module):  # a module class of this test module: not __main__
    def __init__(self):
        super().__init__()
        self.encoder = nn.Embedding(5, 4)
        self.rnn = nn.LSTM(4, 4, num_layers=2)
        self.decoder = nn.Linear(4, 5)
        self.decoder.weight = self.encoder.weight

    def forward(self, x):
        out, _ = self.rnn(self.encoder(x))
        return self.decoder(out)


def test_a_whole_model_round_trips_with_its_class_and_tied_weights(tmp_path):
    tg.manual_seed(0)
    model = _Tied()
    tg.save(model, tmp_path / "model.pt")
    with serialization.safe_globals([_Tied]):  # a class of a module the program imported
        back = tg.load(tmp_path / "model.pt")
    assert type(back) is _Tied
    assert back.decoder.weight is back.encoder.weight  # still one parameter
    assert isinstance(back.rnn.weight_ih_l0, nn.Parameter)
    x = tg.tensor([[1], [3], [0]])
    np.testing.assert_array_equal(back(x).numpy(), model(x).numpy())
    assert [n for n, _ in back.named_parameters()] == [n for n, _ in model.named_parameters()]
    loss = back(x).sum()
    loss.backward()  # it trains
    assert back.encoder.weight.grad is not None


def test_a_model_of_this_package_loads_without_being_allowed_first(tmp_path):
    model = nn.GRU(3, 4)
    tg.save(model, tmp_path / "gru.pt")
    back = tg.load(tmp_path / "gru.pt")
    assert type(back) is nn.GRU
    np.testing.assert_array_equal(back.weight_hh_l0.numpy(), model.weight_hh_l0.numpy())


def test_optimizer_state_dict_round_trip_continues_the_same_trajectory(tmp_path):
    def make():
        tg.manual_seed(1)
        lin = nn.Linear(3, 2)
        return lin, optim.Adam(lin.parameters(), lr=0.1)

    def step(lin, opt):
        opt.zero_grad()
        (lin(tg.ones(4, 3)) ** 2).sum().backward()
        opt.step()

    lin, opt = make()
    step(lin, opt)
    tg.save({"model": lin.state_dict(), "optimizer": opt.state_dict()}, tmp_path / "ck.pt")
    step(lin, opt)
    lin2, opt2 = make()
    saved = tg.load(tmp_path / "ck.pt")
    lin2.load_state_dict(saved["model"])
    opt2.load_state_dict(saved["optimizer"])
    step(lin2, opt2)
    np.testing.assert_array_equal(lin2.weight.numpy(), lin.weight.numpy())


# ---------------------------------------------------------------- the allow-list

class _System:
    """Pickles as a call to os.system: the classic malicious pickle."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_pickle_that_calls_os_system_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps({"weights": np.ones(2), "x": _System(marker)}))
    with pytest.raises(UnsafeLoadError, match=r"(posix|os|nt)\.system.*Nothing was run"):
        tg.load(path)
    assert not marker.exists()
    with open(path, "wb") as f:  # as a file written by save (its first line), too
        f.write(serialization.MAGIC + pickle.dumps(_System(marker)))
    with pytest.raises(UnsafeLoadError):
        tg.load(path)
    assert not marker.exists()


def _text(s):
    b = s.encode()
    return b"\x8c" + bytes([len(b)]) + b  # SHORT_BINUNICODE


def _global_pickle(module, name, args=b")"):
    """A protocol-4 pickle calling module.name(*args) (args: pickle opcodes of a tuple)."""
    return b"\x80\x04" + _text(module) + _text(name) + b"\x93" + args + b"R."


@pytest.mark.parametrize("module, name", [
    ("builtins", "eval"), ("builtins", "getattr"), ("builtins", "exec"),
    ("os", "system"), ("subprocess", "Popen"),
    ("tinygrad_rnn.serialization", "os.system"),   # an attribute path through our module
    ("tinygrad_rnn.serialization", "os"),          # a module object, not a class
    ("tinygrad_rnn.__main__", "main"),             # a function of this package
    ("tinygrad_rnn.checkpoint", "save"),
    ("tinygrad_rnn.train", "TrainConfig"),         # a class of ours that is not a Module
    ("never_imported_module_xyz", "Thing"),        # nothing gets imported to look
])
def test_globals_outside_the_allow_list_are_refused(module, name):
    with pytest.raises(UnsafeLoadError, match=f"{module}.{name}".replace(".", r"\.")):
        tg.load(io.BytesIO(_global_pickle(module, name)))
    assert "never_imported_module_xyz" not in sys.modules


def test_main_classes_are_allowed_only_when_they_subclass_module_and_are_defined_there():
    main = sys.modules["__main__"]
    saved = dict(vars(main))
    try:
        class Net(nn.Module):
            pass
        Net.__module__, Net.__qualname__ = "__main__", "Net"

        class Plain:
            pass
        Plain.__module__, Plain.__qualname__ = "__main__", "Plain"
        main.Net, main.Plain, main.system = Net, Plain, os.system
        assert tg.load(io.BytesIO(pickle.dumps(Net()))).__class__ is Net
        with pytest.raises(UnsafeLoadError, match=r"__main__\.Plain"):
            tg.load(io.BytesIO(_global_pickle("__main__", "Plain")))
        with pytest.raises(UnsafeLoadError, match=r"__main__\.system"):  # imported, not defined
            tg.load(io.BytesIO(_global_pickle("__main__", "system", b"\x8c\x04true\x85")))
        with pytest.raises(UnsafeLoadError, match="weights_only=True"):
            tg.load(io.BytesIO(pickle.dumps(Net())), weights_only=True)
    finally:
        for name in ("Net", "Plain", "system"):
            if name not in saved and hasattr(main, name):
                delattr(main, name)


def test_module_classes_of_imported_modules_need_safe_globals_or_weights_only_false(tmp_path):
    tg.save(_Tied(), tmp_path / "m.pt")
    with pytest.raises(UnsafeLoadError, match=r"add_safe_globals\(\[_Tied\]\)"):
        tg.load(tmp_path / "m.pt")
    assert type(tg.load(tmp_path / "m.pt", weights_only=False)) is _Tied
    serialization.add_safe_globals([_Tied])
    try:
        assert type(tg.load(tmp_path / "m.pt")) is _Tied
    finally:
        serialization.clear_safe_globals()
    with pytest.raises(UnsafeLoadError):
        tg.load(tmp_path / "m.pt")


def test_weights_only_true_loads_tensors_but_not_modules(tmp_path):
    tg.save({"w": nn.Parameter(tg.ones(2))}, tmp_path / "sd.pt")
    assert isinstance(tg.load(tmp_path / "sd.pt", weights_only=True)["w"], nn.Parameter)
    tg.save(nn.Linear(2, 2), tmp_path / "lin.pt")
    with pytest.raises(UnsafeLoadError, match=r"weights_only=True.*nn\.layers\.Linear"):
        tg.load(tmp_path / "lin.pt", weights_only=True)


def test_a_tensor_rebuilt_from_a_crafted_file_is_checked():
    # _rebuild_tensor is on the allow-list, so a file may call it with anything: it checks
    rebuild = _text("tinygrad_rnn.serialization") + _text("_rebuild_tensor") + b"\x93"
    tensor = _text("tinygrad_rnn.tensor") + _text("Tensor") + b"\x93"
    a_set = _text("builtins") + _text("set") + b"\x93"
    with pytest.raises(UnsafeLoadError, match="must be a Tensor class"):
        tg.load(io.BytesIO(b"\x80\x04" + rebuild + a_set + _text("x") + b"\x89\x87R."))
    with pytest.raises(UnsafeLoadError, match="numeric numpy array"):
        tg.load(io.BytesIO(b"\x80\x04" + rebuild + tensor + _text("x") + b"\x89\x87R."))


def test_map_location_and_weights_only_are_accepted_cuda_is_refused(tmp_path):
    tg.save(tg.ones(2), tmp_path / "t.pt")
    for where in (None, "cpu", {"cuda:0": "cpu"}, lambda storage, loc: storage):
        assert tg.load(tmp_path / "t.pt", map_location=where, weights_only=True).shape == (2,)
    with pytest.raises(CUDAUnavailable, match="map_location='cuda:0'"):
        tg.load(tmp_path / "t.pt", map_location="cuda:0")


# ---------------------------------------------------------------- other files

def test_a_file_written_by_pytorch_says_what_to_do(tmp_path):
    torch = pytest.importorskip("torch")
    path = tmp_path / "torch_model.pt"
    torch.save({"weight": torch.ones(2, 2)}, path)
    with pytest.raises(TorchFileError, match=r"PyTorch.*np\.savez.*load_state_dict"):
        tg.load(path)
    legacy = tmp_path / "legacy.pt"
    torch.save({"weight": torch.ones(2)}, legacy, _use_new_zipfile_serialization=False)
    with pytest.raises(TorchFileError, match="legacy format"):
        tg.load(legacy)


def test_a_npz_path_keeps_the_pickle_free_checkpoint_format(tmp_path):
    tg.save({"w": tg.ones(2), "step": 3}, tmp_path / "ck.npz")
    with np.load(tmp_path / "ck.npz", allow_pickle=False) as f:
        assert "__manifest__" in f.files  # readable with pickle off
    back = tg.load(tmp_path / "ck.npz")
    assert back["step"] == 3
    np.testing.assert_array_equal(back["w"], [1.0, 1.0])
    renamed = tmp_path / "ck.pt"  # the content decides, not the name
    os.rename(tmp_path / "ck.npz", renamed)
    assert tg.load(renamed)["step"] == 3


def test_junk_and_truncated_files_give_clear_errors(tmp_path):
    path = tmp_path / "x.pt"
    path.write_text("hello")
    with pytest.raises(ValueError, match="not a tinygrad_rnn checkpoint"):
        tg.load(path)
    tg.save({"w": np.ones(1000)}, path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match="corrupt or truncated"):
        tg.load(path)
    with pytest.raises(FileNotFoundError):
        tg.load(tmp_path / "missing.pt")


# ---------------------------------------------------------------- atomic writes

def test_an_unpicklable_object_writes_nothing(tmp_path):
    path = tmp_path / "m.pt"
    tg.save({"version": 1}, path)
    with pytest.raises(TypeError, match="cannot store"):
        tg.save({"version": 2, "fn": lambda: 0}, path)
    assert tg.load(path) == {"version": 1}
    buffer = io.BytesIO()
    with pytest.raises(TypeError):
        tg.save([1, lambda: 0], buffer)
    assert buffer.getvalue() == b""  # an open file gets one write, or none
    assert os.listdir(tmp_path) == ["m.pt"]


def test_an_interrupted_save_leaves_the_old_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "m.pt"
    tg.save({"version": 1}, path)

    def crash(fd):
        raise KeyboardInterrupt  # e.g. Ctrl-C while the data is being flushed to disk
    monkeypatch.setattr(serialization.os, "fsync", crash)
    with pytest.raises(KeyboardInterrupt):
        tg.save({"version": 2, "big": np.zeros(10000)}, path)
    monkeypatch.undo()
    assert tg.load(path) == {"version": 1}
    assert os.listdir(tmp_path) == ["m.pt"]  # and no temporary file left behind
