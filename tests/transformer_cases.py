"""Attention and Transformer cases run the same way in PyTorch (fixtures) and here
(tests/test_transformer.py).

``lib`` is ``torch`` or ``tinygrad_rnn``; ``nn`` and ``F`` its nn package and functional module.
Each case builds its modules with the same arguments in both frameworks, then gives every entry of
the module's ``state_dict`` numbers drawn in key order from one seeded generator — so the two
frameworks compute with the same weights only if their keys and shapes agree. A case returns
({output name: tensor}, {prefix: module}); the runner differentiates Σ output·u with respect to
every input and every parameter.

Input names: ``x…`` are float inputs that require grad; ``m…`` are masks (bool, or float not
requiring grad); ``g…`` are float masks that require grad.
"""
import numpy as np

L, S, N, E = 4, 5, 3, 8  # target length, source length, batch, model size
PRECISION = {"module": "double", "train": True}  # the runner sets "float" and eval mode


def make_arrays(name, seed=0):
    rng = np.random.default_rng(seed)
    r = lambda *s: rng.standard_normal(s)  # noqa: E731
    pad = np.zeros((N, S), bool)
    pad[1, 3:] = True
    pad[2, 4] = True  # rows with 0, 2 and 1 padded keys; never a whole row
    causal = np.triu(np.full((L, L), -np.inf), 1)
    return {
        "x_tgt": r(L, N, E), "x_src": r(S, N, E), "x_tgt_bf": r(N, L, E), "x_src_bf": r(N, S, E),
        "x_k3": r(N, S, 3), "x_v5": r(N, S, 5), "x_q1": r(L, E), "x_k1": r(S, E),
        "m_pad": pad, "m_pad_float": np.where(pad, -1e9, 0.0) + 0.1 * r(N, S),
        "m_causal": causal, "m_causal_bool": np.isinf(causal),
        "m_heads": rng.uniform(size=(N * 2, L, S)) < 0.3, "m_heads_float": r(N * 2, L, S),
        "m_pad1": np.array([False, False, True, False, True]),
        "g_bias": 0.5 * r(L, S), "m_memory": rng.uniform(size=(L, S)) < 0.25,
    }


def load_numbers(lib, module, seed):
    """Give every state_dict entry numbers drawn in key order (norm weights around 1)."""
    rng = np.random.default_rng(seed)
    state = {}
    for key, value in module.state_dict().items():
        numbers = 0.4 * rng.standard_normal(tuple(value.shape))
        if ".norm" in "." + key and key.endswith("weight"):
            numbers += 1.0
        state[key] = lib.tensor(numbers.astype(np.asarray(value).dtype))
    module.load_state_dict(state)
    return module


def _build(lib, module, seed=3):
    module = load_numbers(lib, getattr(module, PRECISION["module"])(), seed)
    return module.train(PRECISION["train"])


def mha_self(lib, nn, F, a):
    m = _build(lib, nn.MultiheadAttention(E, 2))
    out, w = m(a["x_tgt"], a["x_tgt"], a["x_tgt"], key_padding_mask=a["m_pad"][:, :L])
    return {"out": out, "weights": w}, {"mha": m}


def mha_cross_kdim_batch_first(lib, nn, F, a):
    m = _build(lib, nn.MultiheadAttention(E, 2, kdim=3, vdim=5, batch_first=True))
    out, w = m(a["x_tgt_bf"], a["x_k3"], a["x_v5"], attn_mask=a["m_heads"],
               key_padding_mask=a["m_pad"], average_attn_weights=False)
    return {"out": out, "weights": w}, {"mha": m}


def mha_float_masks_no_bias(lib, nn, F, a):
    m = _build(lib, nn.MultiheadAttention(E, 4, bias=False))
    out, w = m(a["x_tgt"], a["x_src"], a["x_src"], attn_mask=a["g_bias"],
               key_padding_mask=a["m_pad_float"])
    return {"out": out, "weights": w}, {"mha": m}


def mha_key_is_value(lib, nn, F, a):
    m = _build(lib, nn.MultiheadAttention(E, 2))
    out, _ = m(a["x_tgt"], a["x_src"], a["x_src"], attn_mask=a["m_memory"], need_weights=False)
    out3, _ = m(a["x_tgt"], a["x_src"], a["x_src"], attn_mask=a["m_heads_float"],
                need_weights=False)
    return {"out": out, "out3": out3}, {"mha": m}


def mha_unbatched(lib, nn, F, a):
    m = _build(lib, nn.MultiheadAttention(E, 2))
    out, w = m(a["x_q1"], a["x_k1"], a["x_k1"] * 0.5, key_padding_mask=a["m_pad1"])
    out2, w2 = m(a["x_q1"], a["x_q1"], a["x_q1"], attn_mask=a["m_causal_bool"],
                 average_attn_weights=False, is_causal=True)
    return {"out": out, "weights": w, "out2": out2, "weights2": w2}, {"mha": m}


def encoder_layer_post_norm_relu(lib, nn, F, a):
    layer = _build(lib, nn.TransformerEncoderLayer(E, 2, dim_feedforward=16, dropout=0.0))
    y = layer(a["x_tgt"], src_mask=a["m_causal"], src_key_padding_mask=a["m_pad"][:, :L])
    return {"y": y}, {"layer": layer}


def encoder_layer_pre_norm_gelu_batch_first(lib, nn, F, a):
    layer = _build(lib, nn.TransformerEncoderLayer(E, 4, dim_feedforward=16, dropout=0.0,
                                              activation="gelu", batch_first=True,
                                              norm_first=True, layer_norm_eps=1e-3))
    y = layer(a["x_src_bf"], src_key_padding_mask=a["m_pad"])
    return {"y": y}, {"layer": layer}


def decoder_layer_post_norm(lib, nn, F, a):
    layer = _build(lib, nn.TransformerDecoderLayer(E, 2, dim_feedforward=16, dropout=0.0))
    y = layer(a["x_tgt"], a["x_src"], tgt_mask=a["m_causal"], memory_mask=a["m_memory"],
              memory_key_padding_mask=a["m_pad"], tgt_is_causal=True)
    return {"y": y}, {"layer": layer}


def decoder_layer_pre_norm_gelu_batch_first(lib, nn, F, a):
    layer = _build(lib, nn.TransformerDecoderLayer(E, 2, dim_feedforward=16, dropout=0.0,
                                              activation="gelu", batch_first=True,
                                              norm_first=True))
    y = layer(a["x_tgt_bf"], a["x_src_bf"], tgt_mask=a["m_causal_bool"],
              tgt_key_padding_mask=a["m_pad"][:, :L], memory_key_padding_mask=a["m_pad"])
    return {"y": y}, {"layer": layer}


def encoder_stack_with_norm(lib, nn, F, a):
    layer = nn.TransformerEncoderLayer(E, 2, dim_feedforward=16, dropout=0.0)
    enc = _build(lib, nn.TransformerEncoder(layer, 3, norm=nn.LayerNorm(E), enable_nested_tensor=False))
    y = enc(a["x_src"], src_key_padding_mask=a["m_pad"])
    return {"y": y}, {"encoder": enc}


def transformer_post_norm_relu(lib, nn, F, a):
    t = _build(lib, nn.Transformer(d_model=E, nhead=2, num_encoder_layers=2, num_decoder_layers=2,
                              dim_feedforward=16, dropout=0.0))
    mask = nn.Transformer.generate_square_subsequent_mask(L).to(a["x_src"].dtype)
    y = t(a["x_src"], a["x_tgt"], tgt_mask=mask, src_key_padding_mask=a["m_pad"],
          memory_key_padding_mask=a["m_pad"])
    return {"y": y}, {"t": t}


def transformer_pre_norm_gelu_batch_first(lib, nn, F, a):
    t = _build(lib, nn.Transformer(d_model=E, nhead=4, num_encoder_layers=1, num_decoder_layers=2,
                              dim_feedforward=12, dropout=0.0, activation="gelu",
                              batch_first=True, norm_first=True))
    y = t(a["x_src_bf"], a["x_tgt_bf"], tgt_mask=a["m_causal"], memory_mask=a["m_memory"],
          tgt_key_padding_mask=a["m_pad"][:, :L], tgt_is_causal=True)
    return {"y": y}, {"t": t}


def transformer_no_bias_callable_activation(lib, nn, F, a):
    t = _build(lib, nn.Transformer(d_model=E, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
                              dim_feedforward=16, dropout=0.0, bias=False,
                              activation=lambda x: F.gelu(x, approximate="tanh")))
    return {"y": t(a["x_src"], a["x_tgt"]), "unbatched": t(a["x_k1"], a["x_q1"])}, {"t": t}


CASES = {f.__name__: f for f in [
    mha_self, mha_cross_kdim_batch_first, mha_float_masks_no_bias, mha_key_is_value,
    mha_unbatched, encoder_layer_post_norm_relu, encoder_layer_pre_norm_gelu_batch_first,
    decoder_layer_post_norm, decoder_layer_pre_norm_gelu_batch_first, encoder_stack_with_norm,
    transformer_post_norm_relu, transformer_pre_norm_gelu_batch_first,
    transformer_no_bias_callable_activation]}
