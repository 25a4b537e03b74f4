"""nn.MultiheadAttention and the Transformer family against PyTorch: outputs and every gradient
(inputs and parameters) from the same state_dict, float64 and float32, training mode with dropout 0
and eval mode (PyTorch's fast path); state_dict keys; gradcheck; masks; subclassing."""
from __future__ import annotations

import math
import pathlib

import numpy as np
import pytest

import tinygrad_rnn as tg
from conftest import fixture_script
from tinygrad_rnn import nn
from tinygrad_rnn.nn import functional as F
from transformer_cases import CASES, E, L, N, S, make_arrays

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
# PyTorch's deprecation notes (mixed mask types, size_average, nested tensors) are expected here
pytestmark = pytest.mark.filterwarnings("ignore:.*(deprecated|nested_tensor).*:UserWarning")
mk = fixture_script("make_transformer_fixtures")


def _compare(ours, ref, rtol, atol, what):
    assert set(ours) == set(ref), f"{what}: {sorted(set(ours) ^ set(ref))}"
    for k, v in ref.items():
        np.testing.assert_allclose(ours[k], v, rtol=rtol, atol=atol, err_msg=f"{what}: {k}")


@pytest.mark.parametrize("name", sorted(CASES))
def test_case_matches_pytorch_fixture(name):
    ref = np.load(FIXTURES / "transformer.npz")
    values, grads, keys = mk.run(tg, name, make_arrays(name))

    def part(kind):
        prefix = f"{name}/{kind}/"
        return {k[len(prefix):]: ref[k] for k in ref.files if k.startswith(prefix)}

    assert {p: list(part("keys")[p]) for p in keys} == keys  # PyTorch's keys, in its order
    _compare(values, part("value"), 1e-10, 1e-12, f"{name} value")
    _compare(grads, part("grad"), 1e-9, 1e-11, f"{name} grad")


@pytest.mark.parametrize("name", mk.FLOAT32_CASES)
def test_float32_case_matches_pytorch_fixture(name):
    ref = np.load(FIXTURES / "transformer.npz")
    values, grads, _ = mk.run(tg, name, make_arrays(name), precision="float")
    for kind, ours in (("value", values), ("grad", grads)):
        prefix = f"float32/{name}/{kind}/"
        theirs = {k[len(prefix):]: ref[k] for k in ref.files if k.startswith(prefix)}
        assert all(v.dtype == np.float32 for v in ours.values())
        _compare(ours, theirs, 2e-4, 2e-5 if kind == "value" else 2e-4, f"{name} {kind}")


@pytest.mark.parametrize("precision,rtol,atol", [("double", 1e-10, 1e-12), ("float", 2e-4, 2e-5)])
@pytest.mark.parametrize("name", sorted(CASES))
def test_case_matches_live_pytorch(name, precision, rtol, atol):
    torch = pytest.importorskip("torch")
    arrays = make_arrays(name, seed=11)
    ref_values, ref_grads, ref_keys = mk.run(torch, name, arrays, precision)
    values, grads, keys = mk.run(tg, name, arrays, precision)
    assert keys == ref_keys
    assert all(v.dtype == (np.float64 if precision == "double" else np.float32)
               for v in values.values())
    _compare(values, ref_values, rtol, atol, f"{name} value")
    _compare(grads, ref_grads, rtol, 10 * atol, f"{name} grad")


@pytest.mark.parametrize("name", sorted(CASES))
def test_eval_mode_matches_pytorch_fast_path(name):
    """Eval mode under no_grad: PyTorch takes its fused fast path; the math is the same."""
    torch = pytest.importorskip("torch")
    arrays = make_arrays(name, seed=12)
    ref, _, _ = mk.run(torch, name, arrays, train=False)
    ours, _, _ = mk.run(tg, name, arrays, train=False)
    _compare(ours, ref, 1e-9, 1e-11, f"{name} eval")


def test_parameter_shapes_and_pytorch_initialisation():
    tg.manual_seed(0)
    m = nn.MultiheadAttention(16, 4, kdim=6, vdim=10)
    shapes = {n: p.shape for n, p in m.named_parameters()}
    assert shapes == {"q_proj_weight": (16, 16), "k_proj_weight": (16, 6),
                      "v_proj_weight": (16, 10), "in_proj_bias": (48,),
                      "out_proj.weight": (16, 16), "out_proj.bias": (16,)}
    m = nn.MultiheadAttention(64, 4)
    w = m.in_proj_weight.numpy()
    bound = math.sqrt(6.0 / (64 + 3 * 64))  # xavier_uniform_ of the (3E, E) stack
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    assert abs(w.var() - bound ** 2 / 3) < 0.1 * bound ** 2 / 3
    assert not m.in_proj_bias.numpy().any() and not m.out_proj.bias.numpy().any()
    assert np.abs(m.out_proj.weight.numpy()).max() <= 1 / 8  # Linear's U(-1/√E, 1/√E)
    t = nn.Transformer(d_model=16, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
                       dim_feedforward=32)
    lin1 = t.encoder.layers[0].linear1.weight.numpy()  # every matrix Xavier, as PyTorch
    assert np.abs(lin1).max() <= math.sqrt(6.0 / 48) and np.abs(lin1).max() > 0.5 / math.sqrt(16)
    assert (t.decoder.norm.weight.numpy() == 1).all()
    layer = nn.TransformerDecoderLayer(8, 2, 16, dtype=tg.float64, device="cpu")
    assert {p.dtype for p in layer.parameters()} == {np.dtype(np.float64)}


def test_state_dict_loads_into_pytorch_and_back():
    torch = pytest.importorskip("torch")
    ours = nn.Transformer(d_model=8, nhead=2, num_encoder_layers=2, num_decoder_layers=1,
                          dim_feedforward=16, norm_first=True, bias=False)
    theirs = torch.nn.Transformer(d_model=8, nhead=2, num_encoder_layers=2, num_decoder_layers=1,
                                  dim_feedforward=16, norm_first=True, bias=False)
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    ours.load_state_dict(theirs.state_dict())
    assert list(ours.state_dict()) == list(theirs.state_dict())


def test_multihead_attention_gradcheck():
    rng = np.random.default_rng(0)
    m = nn.MultiheadAttention(4, 2, kdim=3, vdim=2).double()
    m.load_state_dict({k: rng.standard_normal(v.shape) * 0.5  # nonzero biases too
                       for k, v in m.state_dict().items()})
    q = tg.Tensor(rng.standard_normal((3, 2, 4)), requires_grad=True)
    k = tg.Tensor(rng.standard_normal((2, 2, 3)), requires_grad=True)
    v = tg.Tensor(rng.standard_normal((2, 2, 2)), requires_grad=True)
    bias = tg.Tensor(rng.standard_normal((3, 2)), requires_grad=True)
    pad = np.array([[False, True], [False, False]])
    params = list(m.parameters())

    def fn(q, k, v, bias, *ps):
        out, w = m(q, k, v, attn_mask=bias, key_padding_mask=pad, average_attn_weights=False)
        return out, w

    assert tg.gradcheck(fn, [q, k, v, bias, *params])
    sa = nn.MultiheadAttention(4, 1, bias=True).double()
    assert tg.gradcheck(lambda x: sa(x, x, x)[0], [q])


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
def test_fully_masked_row_gives_nan_as_pytorch():
    torch = pytest.importorskip("torch")
    pad = np.array([[True, True]])
    x = np.random.default_rng(0).standard_normal((2, 1, 4))
    ours = nn.MultiheadAttention(4, 2)
    theirs = torch.nn.MultiheadAttention(4, 2)
    ours.load_state_dict(theirs.state_dict())
    out = ours(tg.tensor(x), tg.tensor(x), tg.tensor(x), key_padding_mask=pad)[0].numpy()
    ref = theirs(torch.tensor(x).float(), torch.tensor(x).float(), torch.tensor(x).float(),
                 key_padding_mask=torch.tensor(pad))[0].detach().numpy()
    assert np.isnan(ref).all() and np.isnan(out).all()


def test_dropout_in_training_and_none_in_eval():
    tg.manual_seed(0)
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.5)
    x = tg.randn(4, 2, 8)
    a, b = layer(x), layer(x)
    assert not np.allclose(a.numpy(), b.numpy())  # a new mask each call
    layer.eval()
    np.testing.assert_array_equal(layer(x).numpy(), layer(x).numpy())
    clean = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0)
    clean.load_state_dict(layer.state_dict())
    np.testing.assert_allclose(layer(x).numpy(), clean(x).numpy(), rtol=1e-6)


def test_attention_weights_are_named_nodes_in_module_scopes():
    m = nn.MultiheadAttention(4, 2)
    m._scope_name = "self_attn"
    x = tg.randn(3, 1, 4, requires_grad=True)
    out, w = m(x, x, x, attn_mask=nn.Transformer.generate_square_subsequent_mask(3))
    labels = {n.label: n.scope for n in tg.graph_nodes(out)}
    for name in ("scores q·kᵀ/√d", "scores + mask", "attention weights", "attention output",
                 "queries", "keys", "values"):
        assert name in labels, name
    assert labels["attention weights"] == ("self_attn", "attention")
    np.testing.assert_allclose(w.numpy()[0], np.tril(w.numpy()[0]))  # causal: no weight ahead
    np.testing.assert_allclose(w.numpy().sum(-1), 1.0, rtol=1e-6)


def test_generate_square_subsequent_mask():
    mask = nn.Transformer.generate_square_subsequent_mask(3)
    assert mask.dtype == np.float32
    np.testing.assert_array_equal(mask.numpy(), [[0, -np.inf, -np.inf], [0, 0, -np.inf],
                                                 [0, 0, 0]])
    assert nn.Transformer.generate_square_subsequent_mask(2, dtype=tg.float64).dtype == np.float64


@pytest.mark.parametrize("call, err, match", [
    (lambda: nn.MultiheadAttention(8, 3), ValueError, "embed_dim \\(8\\) must be a positive "
                                                      "multiple of num_heads \\(3\\)"),
    (lambda: nn.MultiheadAttention(8, 2, add_bias_kv=True), NotImplementedError, "add_bias_kv"),
    (lambda: nn.MultiheadAttention(8, 2, add_zero_attn=True), NotImplementedError,
     "add_zero_attn"),
    (lambda: nn.MultiheadAttention(8, 2)(tg.zeros(3, 2, 8), tg.zeros(4, 2, 8), tg.zeros(4, 2, 8),
                                         is_causal=True), RuntimeError, "Need attn_mask"),
    (lambda: nn.MultiheadAttention(8, 2)(tg.zeros(3, 2, 8), tg.zeros(4, 2, 8), tg.zeros(4, 2, 8),
                                         attn_mask=np.zeros((3, 3), bool)),
     ValueError, r"attn_mask has shape \(3, 3\); it must be \(3, 4\) or \(4, 3, 4\)"),
    (lambda: nn.MultiheadAttention(8, 2)(tg.zeros(3, 2, 8), tg.zeros(4, 2, 8), tg.zeros(4, 2, 8),
                                         key_padding_mask=np.zeros((4, 2), bool)),
     ValueError, r"key_padding_mask has shape \(4, 2\), expected \(2, 4\)"),
    (lambda: nn.MultiheadAttention(8, 2)(tg.zeros(3, 2, 8), tg.zeros(4, 2, 8), tg.zeros(4, 2, 8),
                                         attn_mask=np.zeros((3, 4), np.int64)),
     TypeError, "only bool and floating point masks"),
    (lambda: nn.MultiheadAttention(8, 2)(tg.zeros(3, 2, 6), tg.zeros(4, 2, 8), tg.zeros(4, 2, 8)),
     ValueError, "query has 6 features, embed_dim is 8"),
    (lambda: nn.MultiheadAttention(8, 2)(tg.zeros(3, 2, 8), tg.zeros(4, 3, 8), tg.zeros(4, 3, 8)),
     ValueError, "query and key differ in batch size"),
    (lambda: nn.TransformerEncoderLayer(8, 2, activation="swish"), ValueError, "activation"),
    (lambda: nn.Transformer(8, 2, 1, 1, 16)(tg.zeros(3, 2, 8), tg.zeros(3, 4, 8)), RuntimeError,
     "batch number of src"),
    (lambda: nn.Transformer(8, 2, 1, 1, 16)(tg.zeros(3, 2, 8), tg.zeros(3, 2, 4)), RuntimeError,
     "feature number"),
])
def test_bad_input_errors(call, err, match):
    with pytest.raises(err, match=match):
        call()


class WordModel(nn.Transformer):
    """The shape of PyTorch's word_language_model TransformerModel: subclass, then replace the
    decoder by a Linear and add modules after super().__init__()."""

    def __init__(self, ntoken, ninp, nhead, nhid, nlayers):
        super().__init__(d_model=ninp, nhead=nhead, dim_feedforward=nhid,
                         num_encoder_layers=nlayers)
        self.src_mask = None
        self.input_emb = nn.Embedding(ntoken, ninp)
        self.ninp = ninp
        self.decoder = nn.Linear(ninp, ntoken)

    def forward(self, src):
        mask = nn.Transformer.generate_square_subsequent_mask(src.shape[0])
        out = self.encoder(self.input_emb(src) * math.sqrt(self.ninp), mask=mask)
        return F.log_softmax(self.decoder(out), dim=-1)


def test_subclassing_transformer_and_replacing_its_decoder():
    tg.manual_seed(0)
    model = WordModel(ntoken=11, ninp=8, nhead=2, nhid=16, nlayers=2)
    assert isinstance(model.decoder, nn.Linear)
    keys = list(model.state_dict())
    assert not any(k.startswith("decoder.layers") for k in keys)
    assert "decoder.weight" in keys and "encoder.layers.1.linear2.bias" in keys
    src = tg.tensor(np.random.default_rng(0).integers(0, 11, (5, 3)))
    out = model(src)
    assert out.shape == (5, 3, 11)
    F.nll_loss(out.reshape(-1, 11), src.reshape(-1)).backward()
    assert all(p.grad is not None for n, p in model.named_parameters()
               if not n.startswith("encoder.norm"))  # the subclass skips encoder.norm
    del model.decoder
    assert "decoder.weight" not in model.state_dict()


def test_subclass_matches_pytorch():
    torch = pytest.importorskip("torch")

    class TorchWordModel(torch.nn.Transformer):
        def __init__(self, ntoken, ninp, nhead, nhid, nlayers):
            super().__init__(d_model=ninp, nhead=nhead, dim_feedforward=nhid,
                             num_encoder_layers=nlayers, dropout=0.0)
            self.input_emb = torch.nn.Embedding(ntoken, ninp)
            self.ninp = ninp
            self.decoder = torch.nn.Linear(ninp, ntoken)

        def forward(self, src):
            mask = torch.nn.Transformer.generate_square_subsequent_mask(src.shape[0])
            out = self.encoder(self.input_emb(src) * math.sqrt(self.ninp), mask=mask.double())
            return torch.nn.functional.log_softmax(self.decoder(out), dim=-1)

    class Ours(WordModel):
        def forward(self, src):
            mask = nn.Transformer.generate_square_subsequent_mask(src.shape[0]).double()
            out = self.encoder(self.input_emb(src) * math.sqrt(self.ninp), mask=mask)
            return F.log_softmax(self.decoder(out), dim=-1)

    theirs = TorchWordModel(11, 8, 2, 16, 2).double()
    ours = Ours(11, 8, 2, 16, 2).double()
    for layer in ours.encoder.layers:
        layer.dropout.p = layer.dropout1.p = layer.dropout2.p = layer.self_attn.dropout = 0.0
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict(theirs.state_dict())
    src = np.random.default_rng(0).integers(0, 11, (5, 3))
    a, b = ours(tg.tensor(src)), theirs(torch.tensor(src))
    np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-10)
    F.nll_loss(a.reshape(-1, 11), tg.tensor(src).reshape(-1)).backward()
    torch.nn.functional.nll_loss(b.reshape(-1, 11), torch.tensor(src).reshape(-1)).backward()
    ref = dict(theirs.named_parameters())
    for n, p in ours.named_parameters():
        if ref[n].grad is None:
            assert p.grad is None, n
        else:
            np.testing.assert_allclose(np.asarray(p.grad), ref[n].grad.numpy(), rtol=1e-8,
                                       atol=1e-12, err_msg=n)


def test_sizes_used_by_the_cases_are_distinct():
    # the cases would not catch a swapped axis if lengths, batch and width coincided
    assert len({L, S, N, E}) == 4


@pytest.mark.parametrize("name", ["MultiheadAttention", "TransformerEncoderLayer",
                                  "TransformerEncoder", "TransformerDecoderLayer",
                                  "TransformerDecoder", "Transformer"])
def test_signatures_are_pytorchs(name):
    """Constructor and forward take PyTorch's arguments, in its order, with its defaults (so
    positional calls mean the same)."""
    torch = pytest.importorskip("torch")
    import inspect
    for method in ("__init__", "forward"):
        ours = inspect.signature(getattr(getattr(nn, name), method)).parameters
        theirs = inspect.signature(getattr(getattr(torch.nn, name), method)).parameters
        assert list(ours) == list(theirs), (name, method)
        for arg, p in ours.items():
            default = theirs[arg].default
            if isinstance(default, (int, float, str, bool, type(None))):
                assert p.default == default, f"{name}.{method}({arg}=)"
