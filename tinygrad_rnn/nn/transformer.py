"""Multi-head attention and the Transformer, with PyTorch's names, arguments, parameter shapes and
``state_dict`` keys, built from primitive ops so the graph shows attention as the textbook draws it.

For one head with queries Q (L, d), keys K (S, d) and values V (S, d):

    scores  = (Q / √d) Kᵀ            (L, S)   node "scores q·kᵀ/√d"
    scores  = scores + float mask, masked entries → -∞
    weights = softmax(scores, dim=-1)          node "attention weights"
    output  = weights V               (L, d)   node "attention output"

``MultiheadAttention`` projects the inputs with ``in_proj_weight`` (rows: query, key, value
projections, each (E, E)), splits E into ``num_heads`` heads of E/num_heads, attends in every head
at once (one batched matmul), merges the heads and applies ``out_proj``. The encoder and decoder
layers add the residual connections, layer norms and the feed-forward block, post-norm
(``norm_first=False``: x = norm(x + sublayer(x))) or pre-norm (x = x + sublayer(norm(x))).

Masks follow PyTorch: in ``MultiheadAttention`` and the layers a bool mask is True where a query
may *not* attend; a float mask is added to the scores. ``attn_mask`` is (L, S) or
(N·num_heads, L, S); ``key_padding_mask`` is (N, S) (True: padding).
"""
from __future__ import annotations

import copy
import math

import numpy as np

from ..grad_mode import scope
from ..tensor import Tensor
from . import functional as F
from . import init
from .layers import Dropout, LayerNorm, Linear, ModuleList, NonDynamicallyQuantizableLinear
from .module import Module, Parameter

_CAUSAL_HINT = ("Need attn_mask if specifying the is_causal hint. You may use the Transformer "
                "module method `generate_square_subsequent_mask` to create this mask.")


def _param(*shape):
    return Parameter(np.zeros(shape, dtype=np.float32))


def _to(module, device, dtype):
    if device is not None or dtype is not None:
        module.to(device=device, dtype=dtype)


class MultiheadAttention(Module):
    """Attention from ``query`` (L, N, E) to ``key`` (S, N, kdim) / ``value`` (S, N, vdim) in
    ``num_heads`` heads ((N, L, E) … with ``batch_first``; (L, E) … unbatched).

    ``forward`` returns (output (L, N, E), weights): the weights are (N, L, S) averaged over the
    heads, (N, num_heads, L, S) with ``average_attn_weights=False``, None with
    ``need_weights=False``. ``dropout`` applies to the weights in training mode.
    """

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False,
                 add_zero_attn=False, kdim=None, vdim=None, batch_first=False, device=None,
                 dtype=None):
        super().__init__()
        for name, flag in (("add_bias_kv", add_bias_kv), ("add_zero_attn", add_zero_attn)):
            if flag:
                raise NotImplementedError(f"MultiheadAttention: {name}=True is not implemented "
                                          f"here; only {name}=False")
        if embed_dim <= 0 or num_heads <= 0 or embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim ({embed_dim}) must be a positive "
                             f"multiple of num_heads ({num_heads})")
        self.embed_dim, self.num_heads, self.dropout = embed_dim, num_heads, dropout
        self.batch_first, self.head_dim = batch_first, embed_dim // num_heads
        self.kdim = embed_dim if kdim is None else kdim
        self.vdim = embed_dim if vdim is None else vdim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        if self._qkv_same_embed_dim:
            self.in_proj_weight = _param(3 * embed_dim, embed_dim)
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        else:
            self.q_proj_weight = _param(embed_dim, embed_dim)
            self.k_proj_weight = _param(embed_dim, self.kdim)
            self.v_proj_weight = _param(embed_dim, self.vdim)
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = _param(3 * embed_dim)
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias=bias)
        self.bias_k = self.bias_v = None
        self.add_zero_attn = False
        self._reset_parameters()
        _to(self, device, dtype)

    def _reset_parameters(self):
        """Xavier-uniform projections and zero biases (``out_proj.weight`` keeps Linear's)."""
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            for w in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                init.xavier_uniform_(w)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        batched = query.ndim == 3
        if query.ndim not in (2, 3) or key.ndim != query.ndim or value.ndim != query.ndim:
            raise ValueError(f"MultiheadAttention: query, key and value must all be 3-D (batched) "
                             f"or all 2-D (unbatched), got {query.shape}, {key.shape}, "
                             f"{value.shape}")
        if is_causal and attn_mask is None:
            raise RuntimeError(_CAUSAL_HINT)
        b = 0 if self.batch_first else 1  # the batch axis
        if not batched:
            query, key, value = query.unsqueeze(b), key.unsqueeze(b), value.unsqueeze(b)
            if key_padding_mask is not None:
                key_padding_mask = _reshape(key_padding_mask, (1, -1))
        self._check_shapes(query, key, value, b)
        n, length, src_len = query.shape[b], query.shape[1 - b], key.shape[1 - b]
        q, k, v = self._project(query, key, value)
        # (L, N, E) or (N, L, E) → (N, heads, L, head_dim)
        to_heads = (0, 2, 1, 3) if self.batch_first else (1, 2, 0, 3)
        q, k, v = [t.reshape(*t.shape[:2], self.num_heads, self.head_dim).permute(to_heads)
                   for t in (q, k, v)]
        q.named("queries"), k.named("keys"), v.named("values")
        masked, bias = self._masks(attn_mask, key_padding_mask, n, length, src_len)
        out, weights = F._attention(q, k, v, masked, bias,
                                    self.dropout if self.training else 0.0)
        from_heads = (0, 2, 1, 3) if self.batch_first else (2, 0, 1, 3)
        out = out.permute(from_heads).reshape(*query.shape[:2], self.embed_dim)
        out = self.out_proj(out)
        if not batched:
            out = out.squeeze(b)
        if not need_weights:
            return out, None
        if average_attn_weights:
            weights = weights.mean(1)
        return out, (weights if batched else weights.squeeze(0))

    def _check_shapes(self, query, key, value, b):
        e, problems = self.embed_dim, []
        if query.shape[-1] != e:
            problems.append(f"query has {query.shape[-1]} features, embed_dim is {e}")
        if key.shape[-1] != self.kdim:
            problems.append(f"key has {key.shape[-1]} features, kdim is {self.kdim}")
        if value.shape[-1] != self.vdim:
            problems.append(f"value has {value.shape[-1]} features, vdim is {self.vdim}")
        if key.shape[:2] != value.shape[:2]:
            problems.append("key and value differ in batch or length")
        if key.shape[b] != query.shape[b]:
            problems.append("query and key differ in batch size")
        if problems:
            layout = "(N, L, E)" if self.batch_first else "(L, N, E)"
            raise ValueError(f"MultiheadAttention: query {query.shape}, key {key.shape}, value "
                             f"{value.shape} (layout {layout}): " + "; ".join(problems))

    def _project(self, query, key, value):
        """q, k, v = query W_qᵀ + b_q, key W_kᵀ + b_k, value W_vᵀ + b_v; self-attention (one
        tensor for all three) as one product with the stacked weight, as PyTorch."""
        biases = (None,) * 3 if self.in_proj_bias is None else self.in_proj_bias.chunk(3)
        if not self._qkv_same_embed_dim:
            weights = (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight)
        elif query is key and key is value:
            qkv = F.linear(query, self.in_proj_weight, self.in_proj_bias).named("in-projection")
            return qkv.chunk(3, -1)
        else:
            weights = self.in_proj_weight.chunk(3)
        return [F.linear(x, w, bb) for x, w, bb in zip((query, key, value), weights, biases)]

    def _masks(self, attn_mask, key_padding_mask, n, length, src_len):
        """(masked, bias): the bool masks joined into one array broadcasting to
        (N, heads, L, S) (True: may not attend), the float masks summed into one."""
        masked = bias = None
        parts = []
        if attn_mask is not None:
            shape = _shape(attn_mask)
            if shape == (length, src_len):
                parts.append(attn_mask)
            elif shape == (n * self.num_heads, length, src_len):
                parts.append(_reshape(attn_mask, (n, self.num_heads, length, src_len)))
            else:
                raise ValueError(f"MultiheadAttention: attn_mask has shape {shape}; it must be "
                                 f"({length}, {src_len}) or ({n * self.num_heads}, {length}, "
                                 f"{src_len}) = (L, S) or (N·num_heads, L, S)")
        if key_padding_mask is not None:
            shape = _shape(key_padding_mask)
            if shape != (n, src_len):
                raise ValueError(f"MultiheadAttention: key_padding_mask has shape {shape}, "
                                 f"expected ({n}, {src_len}) = (N, S)")
            parts.append(_reshape(key_padding_mask, (n, 1, 1, src_len)))
        for m in parts:
            if F._mask_dtype(m, "MultiheadAttention").kind == "b":
                m = np.asarray(m)
                masked = m if masked is None else masked | m
            else:
                bias = m if bias is None else bias + m
        return masked, bias

    def extra_repr(self):
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}"


def _shape(mask):
    return tuple(mask.shape) if hasattr(mask, "shape") else np.shape(mask)


def _reshape(mask, shape):
    return mask.reshape(shape) if isinstance(mask, Tensor) else np.asarray(mask).reshape(shape)


def _residual(x, sublayer_out):
    return (x + sublayer_out).named("residual +")


def _get_activation(activation):
    if activation == "relu":
        return F.relu
    if activation == "gelu":
        return F.gelu
    if callable(activation):
        return activation
    raise ValueError(f"activation should be 'relu', 'gelu' or a callable, got {activation!r}")


class _TransformerLayer(Module):
    """What the encoder and decoder layers share (PyTorch's attribute names, so state_dict keys
    match): self-attention, the feed-forward block, and a LayerNorm and a dropout after each of
    the layer's ``n`` sub-blocks (``norm1``…, ``dropout1``…; the feed-forward's own is
    ``dropout``)."""

    def _add_blocks(self, n, d_model, dim_feedforward, dropout, activation, layer_norm_eps,
                    norm_first, bias):
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias)
        self.norm_first = norm_first
        for k in range(1, n + 1):
            setattr(self, f"norm{k}", LayerNorm(d_model, eps=layer_norm_eps, bias=bias))
        for k in range(1, n + 1):
            setattr(self, f"dropout{k}", Dropout(dropout))
        self.activation = _get_activation(activation)
        self._ff_dropout = f"dropout{n}"  # the dropout after the feed-forward block

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           need_weights=False, is_causal=is_causal)[0]
        return self.dropout1(x)

    def _ff_block(self, x):
        with scope("feed-forward"):
            x = self.linear2(self.dropout(self.activation(self.linear1(x))))
            return getattr(self, self._ff_dropout)(x)


class TransformerEncoderLayer(_TransformerLayer):
    """Self-attention then a feed-forward block (linear1 → activation → linear2), each with a
    residual connection and a LayerNorm. src (S, N, E), or (N, S, E) with ``batch_first``."""

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu",
                 layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True,
                 device=None, dtype=None):
        super().__init__()
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first)
        self._add_blocks(2, d_model, dim_feedforward, dropout, activation, layer_norm_eps,
                         norm_first, bias)
        _to(self, device, dtype)

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal=False):
        x = src
        if self.norm_first:
            x = _residual(x, self._sa_block(self.norm1(x), src_mask, src_key_padding_mask,
                                            is_causal))
            return _residual(x, self._ff_block(self.norm2(x)))
        x = self.norm1(_residual(x, self._sa_block(x, src_mask, src_key_padding_mask, is_causal)))
        return self.norm2(_residual(x, self._ff_block(x)))



class TransformerDecoderLayer(_TransformerLayer):
    """Self-attention on tgt, attention from tgt to the encoder's ``memory``, then a feed-forward
    block; each with a residual connection and a LayerNorm."""

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu",
                 layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True,
                 device=None, dtype=None):
        super().__init__()
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                                 batch_first=batch_first)
        self._add_blocks(3, d_model, dim_feedforward, dropout, activation, layer_norm_eps,
                         norm_first, bias)
        _to(self, device, dtype)

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False):
        x = tgt
        if self.norm_first:
            x = _residual(x, self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask,
                                            tgt_is_causal))
            x = _residual(x, self._mha_block(self.norm2(x), memory, memory_mask,
                                             memory_key_padding_mask, memory_is_causal))
            return _residual(x, self._ff_block(self.norm3(x)))
        x = self.norm1(_residual(x, self._sa_block(x, tgt_mask, tgt_key_padding_mask,
                                                   tgt_is_causal)))
        x = self.norm2(_residual(x, self._mha_block(x, memory, memory_mask,
                                                    memory_key_padding_mask, memory_is_causal)))
        return self.norm3(_residual(x, self._ff_block(x)))

    def _mha_block(self, x, mem, attn_mask, key_padding_mask, is_causal):
        x = self.multihead_attn(x, mem, mem, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                                need_weights=False, is_causal=is_causal)[0]
        return self.dropout2(x)


class TransformerEncoder(Module):
    """``num_layers`` copies of ``encoder_layer`` (``layers.0``, …) and an optional final
    ``norm``. ``enable_nested_tensor`` is accepted and changes nothing: padded positions are
    computed like the others (PyTorch's inference fast path returns zeros there)."""

    def __init__(self, encoder_layer, num_layers, norm=None, enable_nested_tensor=True,
                 mask_check=True):
        super().__init__()
        self.layers = ModuleList(copy.deepcopy(encoder_layer) for _ in range(num_layers))
        self.num_layers, self.norm = num_layers, norm

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=None):
        out = src
        for layer in self.layers:
            out = layer(out, src_mask=mask, src_key_padding_mask=src_key_padding_mask,
                        is_causal=bool(is_causal))
        return out if self.norm is None else self.norm(out)


class TransformerDecoder(Module):
    """``num_layers`` copies of ``decoder_layer`` and an optional final ``norm``."""

    def __init__(self, decoder_layer, num_layers, norm=None):
        super().__init__()
        self.layers = ModuleList(copy.deepcopy(decoder_layer) for _ in range(num_layers))
        self.num_layers, self.norm = num_layers, norm

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False):
        out = tgt
        for layer in self.layers:
            out = layer(out, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                        tgt_key_padding_mask=tgt_key_padding_mask,
                        memory_key_padding_mask=memory_key_padding_mask,
                        tgt_is_causal=bool(tgt_is_causal), memory_is_causal=memory_is_causal)
        return out if self.norm is None else self.norm(out)


class Transformer(Module):
    """The encoder–decoder of "Attention Is All You Need": ``encoder`` (a TransformerEncoder with a
    final LayerNorm ``encoder.norm``) and ``decoder`` (``decoder.norm``). Every weight matrix
    starts Xavier-uniform, as PyTorch. src (S, N, E), tgt (T, N, E) → (T, N, E)."""

    def __init__(self, d_model=512, nhead=8, num_encoder_layers=6, num_decoder_layers=6,
                 dim_feedforward=2048, dropout=0.1, activation="relu", custom_encoder=None,
                 custom_decoder=None, layer_norm_eps=1e-5, batch_first=False, norm_first=False,
                 bias=True, device=None, dtype=None):
        super().__init__()
        layer_args = dict(dim_feedforward=dim_feedforward, dropout=dropout, activation=activation,
                          layer_norm_eps=layer_norm_eps, batch_first=batch_first,
                          norm_first=norm_first, bias=bias)
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            self.encoder = TransformerEncoder(
                TransformerEncoderLayer(d_model, nhead, **layer_args), num_encoder_layers,
                LayerNorm(d_model, eps=layer_norm_eps, bias=bias))
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            self.decoder = TransformerDecoder(
                TransformerDecoderLayer(d_model, nhead, **layer_args), num_decoder_layers,
                LayerNorm(d_model, eps=layer_norm_eps, bias=bias))
        self._reset_parameters()
        self.d_model, self.nhead, self.batch_first = d_model, nhead, batch_first
        _to(self, device, dtype)

    def _reset_parameters(self):
        for p in self.parameters():
            if p.ndim > 1:
                init.xavier_uniform_(p)

    def forward(self, src, tgt, src_mask=None, tgt_mask=None, memory_mask=None,
                src_key_padding_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, src_is_causal=None, tgt_is_causal=None,
                memory_is_causal=False):
        b = 0 if self.batch_first else 1
        if src.ndim == 3 and src.shape[b] != tgt.shape[b]:
            raise RuntimeError(f"Transformer: the batch number of src {src.shape} and tgt "
                               f"{tgt.shape} must be equal (batch_first={self.batch_first})")
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise RuntimeError(f"Transformer: the feature number of src {src.shape} and tgt "
                               f"{tgt.shape} must be equal to d_model={self.d_model}")
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask,
                              is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask,
                            tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)

    @staticmethod
    def generate_square_subsequent_mask(sz, device=None, dtype=None) -> Tensor:
        """(sz, sz) float mask: 0 on and below the diagonal, -inf above — position i may attend
        to positions ≤ i."""
        mask = np.triu(np.full((sz, sz), -math.inf, dtype=np.dtype(dtype or np.float32)), 1)
        return Tensor(mask)
