"""The torch alias: `import torch` and its submodules resolving to this package, stubs and
refusals that name what to use, and README's table generated from the alias."""
from __future__ import annotations

import importlib
import pathlib
import sys
import types
import warnings

import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import torch_alias
from tinygrad_rnn.devices import DeviceError
from tinygrad_rnn.errors import CUDAUnavailable, MissingTorchAttribute, TorchAPIUnavailable

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _torch_entries():
    return {n: m for n, m in sys.modules.items() if n == "torch" or n.startswith("torch.")}


@pytest.fixture
def torch():
    """The aliased `torch`; a real PyTorch imported by other tests is set aside meanwhile."""
    real = _torch_entries()
    for name in real:
        del sys.modules[name]
    tg.alias_torch()
    try:
        yield importlib.import_module("torch")
    finally:
        tg.unalias_torch()
        assert not _torch_entries()
        sys.modules.update(real)


def test_the_import_forms_of_pytorch_programs_resolve_to_this_package(torch):
    import torch.nn as nn
    import torch.nn.functional as F
    import torch.optim as optim
    from torch.nn.utils.rnn import pad_sequence
    from torch.optim.lr_scheduler import StepLR
    import torch.nn.init

    assert torch.Tensor is tg.Tensor and torch.tensor is tg.tensor
    assert nn.Linear is tg.nn.Linear and nn.LSTM is tg.nn.LSTM
    assert F.log_softmax is tg.nn.functional.log_softmax
    assert optim.SGD is tg.optim.SGD and StepLR is tg.optim.lr_scheduler.StepLR
    assert pad_sequence is tg.nn.utils.rnn.pad_sequence
    assert torch.nn.init.uniform_ is tg.nn.init.uniform_
    assert torch.nn is nn and torch.nn.functional is F  # attributes give the same modules
    assert nn.utils.clip_grad_norm_ is tg.optim.clip_grad_norm_
    assert torch.save is tg.save and torch.load is tg.load
    assert torch.__version__ == tg.__version__
    model = nn.Linear(3, 2)
    assert isinstance(model, tg.nn.Module) and isinstance(model.weight, torch.Tensor)


def test_module_paths_of_pytorch_give_the_same_classes(torch):
    from torch.nn.modules.rnn import LSTM
    from torch.nn.modules.linear import Linear
    from torch.nn.parameter import Parameter

    assert LSTM is tg.nn.LSTM and Linear is tg.nn.Linear and Parameter is tg.nn.Parameter


def test_star_import_takes_the_package_names(torch):
    namespace = {}
    exec("from torch.nn import *", namespace)
    assert namespace["GRU"] is tg.nn.GRU


def test_aliasing_adds_nothing_to_this_package(torch):
    import torch.onnx  # noqa: F401
    import torch.jit  # noqa: F401

    torch.backends.cudnn.deterministic = True
    assert torch.backends.cudnn.deterministic is True
    assert not hasattr(tg, "onnx") and not hasattr(tg, "backends")
    assert not isinstance(tg.jit, types.ModuleType)  # the package's own jit, not the stub
    assert "torch" not in tg.__dict__


def test_onnx_export_is_importable_and_refuses_when_called(torch):
    from torch.onnx import export

    with pytest.raises(NotImplementedError, match=r"torch\.onnx\.export .*state_dict"):
        export(torch.nn.Linear(2, 2), torch.zeros(1, 2), "model.onnx")


def test_a_missing_name_raises_naming_the_nearest_that_exists(torch):
    with pytest.raises(NotImplementedError, match=r"torch\.nn\.Linaer .*torch\.nn\.Linear"):
        torch.nn.Linaer
    with pytest.raises(AttributeError):  # also an AttributeError: hasattr and getattr work
        torch.nn.Linaer
    assert not hasattr(torch, "surely_not_a_torch_function")
    assert getattr(torch.optim, "NoSuchOptimizer", None) is None
    with pytest.raises(MissingTorchAttribute, match=r"torch\.fx\.symbolic_trace .*draw_graph"):
        import torch.fx
        torch.fx.symbolic_trace


def test_cuda_answers_as_pytorch_without_a_gpu_and_refuses_cuda_work(torch):
    assert torch.cuda.is_available() is False
    assert torch.cuda.device_count() == 0
    torch.cuda.manual_seed(0)  # a no-op, as in PyTorch without a GPU
    torch.cuda.manual_seed_all(0)
    with pytest.raises(DeviceError, match="CPU only"):
        torch.cuda.current_device()
    with pytest.raises(CUDAUnavailable, match=r"torch\.cuda\.Stream .*\"cpu\""):
        torch.cuda.Stream()  # a torch.cuda name this engine lacks
    assert torch.backends.mps.is_available() is False
    assert torch.accelerator.is_available() is False


def test_compile_and_jit_script_return_their_argument_with_a_warning(torch):
    # no `import torch.jit` first: the attribute alone must give the torch module, although
    # this package has a function named jit
    assert isinstance(torch.jit, types.ModuleType)
    model = torch.nn.Linear(2, 2)
    with pytest.warns(UserWarning, match="torch.compile: returns its argument unchanged"):
        assert torch.compile(model) is model
    fn = lambda x: x  # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert torch.jit.script(fn) is fn
        assert torch.compile(mode="reduce-overhead")(fn) is fn  # the decorator-with-options form
    with pytest.raises(TorchAPIUnavailable, match=r"torch\.jit\.trace .*control flow"):
        torch.jit.trace(model, torch.zeros(1, 2))


def test_a_refused_class_can_be_subclassed_at_import_but_not_made(torch):
    class Parallel(torch.nn.DataParallel):  # a module that only defines it still imports
        pass
    with pytest.raises(TorchAPIUnavailable, match=r"torch\.nn\.DataParallel .*one process"):
        Parallel(torch.nn.Linear(2, 2))


def test_every_refused_api_raises_naming_itself(torch):
    for api in torch_alias.REFUSED:
        module_name, _, name = api.rpartition(".")
        module = importlib.import_module(module_name)
        with pytest.raises(NotImplementedError, match=api.replace(".", r"\.").replace("*", "")):
            getattr(module, name if name != "*" else "anything")()


def test_alias_refuses_to_mix_with_a_real_torch_already_imported():
    saved = _torch_entries()
    for name in saved:
        del sys.modules[name]
    sys.modules["torch"] = types.ModuleType("torch")  # stands for PyTorch imported earlier
    try:
        with pytest.raises(RuntimeError, match="before the first `import torch`"):
            tg.alias_torch()
        assert not torch_alias.is_aliased()
    finally:
        del sys.modules["torch"]
        sys.modules.update(saved)


def test_unalias_forgets_the_torch_modules(torch):
    import torch.nn  # noqa: F401

    tg.unalias_torch()
    assert not torch_alias.is_aliased() and not _torch_entries()
    tg.alias_torch()  # the fixture removes it again


def test_import_tinygrad_rnn_as_torch_gives_the_subpackages_as_attributes():
    import tinygrad_rnn as torch  # no alias: the package itself

    assert torch.nn.Linear is tg.nn.Linear
    assert torch.optim.SGD is tg.optim.SGD
    assert torch.nn.functional.relu is tg.nn.functional.relu
    assert torch.utils.data.DataLoader is importlib.import_module(
        "tinygrad_rnn.utils.data").DataLoader


# ---------------------------------------------------------------- the table in README

def test_readme_table_is_the_one_the_alias_generates():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert torch_alias.readme_table(text) == torch_alias.surface_markdown(), (
        "README's torch table is out of date: run `python -c \"import tinygrad_rnn.torch_alias as a; "
        "a.update_readme('README.md')\"`")


def test_the_table_lists_what_the_alias_resolves(torch):
    rows = torch_alias.surface()
    assert {row[0] for row in rows} >= {"torch", "torch.nn", "torch.optim", "torch.onnx",
                                        "torch.cuda", "torch.jit"}
    for torch_name, target, same, differs, refused in rows:
        module = importlib.import_module(torch_name)
        assert isinstance(module, torch_alias.TorchModule)
        for name in same:  # "runs unchanged": the alias gives this package's object
            value = getattr(module, name)
            if target is not None and hasattr(importlib.import_module(target), name):
                assert value is getattr(importlib.import_module(target), name)


def test_what_the_table_says_runs_unchanged_exists_in_pytorch():
    pytest.importorskip("torch")
    saved = _torch_entries()
    missing = []
    try:
        for torch_name, target, same, differs, refused in torch_alias.surface():
            if not same:
                continue
            real = importlib.import_module(torch_name)
            missing += [f"{torch_name}.{n}" for n in same if not hasattr(real, n)]
    finally:
        sys.modules.update(saved)
    assert not missing, f"listed as PyTorch's but PyTorch has no {missing}"


def test_legacy_constructors_and_variable_of_old_programs(torch):
    from torch.autograd import Variable

    ids = torch.LongTensor([3, 1])
    assert ids.dtype == tg.int64 and ids.numpy().tolist() == [3, 1]
    assert torch.LongTensor(2, 3).shape == (2, 3) and torch.FloatTensor(2).dtype == tg.float32
    assert isinstance(ids, torch.LongTensor) and not isinstance(ids, torch.FloatTensor)
    x = tg.ones(2)
    v = Variable(x, requires_grad=True)
    assert v.requires_grad and not x.requires_grad
    assert not Variable(x).requires_grad

