"""Cases for the newer ``nn.functional`` forms and the loss/activation modules, run the same way
in PyTorch (tests/fixtures/make_functional_fixtures.py) and here
(tests/test_nn_modules_torch_forms.py). ``case(lib, nn, F, a) -> {name: tensor}``; inputs whose
name starts with ``x`` require grad. Every case uses some input more than once."""
import numpy as np


def make_arrays(seed=0):
    rng = np.random.default_rng(seed)
    r = lambda *s: rng.standard_normal(s)  # noqa: E731
    return {
        "x0": r(), "x1": r(1), "x23": r(2, 3), "x234": r(2, 3, 4), "x_wide": 12 * r(3, 5),
        "x_w": r(3), "x_w4": r(4), "x_b": r(3), "x_emb": r(6, 3), "x_q": r(2, 4, 3), "x_k": r(2, 5, 3),
        "x_v": r(2, 5, 2), "x_mask": 0.5 * r(4, 5), "x_logits": r(5, 4), "x_prob": rng.uniform(
            0.05, 0.95, (4, 3)), "y01": rng.uniform(0, 1, (4, 3)).round(1),
        "idx": np.array([[0, 5, 2], [2, 2, 1]]), "cls": np.array([1, 0, 3, 3, 2]),
        "cls_w": rng.uniform(0.5, 2.0, 4), "keep": rng.uniform(size=(4, 5)) < 0.7,
        "zero_row": np.zeros((2, 3)), "x_soft": rng.dirichlet(np.ones(4), 5),
        "x_soft3": rng.dirichlet(np.ones(3), (2, 4)).transpose(0, 2, 1),
    }


def gelu(lib, nn, F, a):
    x, w = a["x23"], a["x_wide"]
    return {"exact": F.gelu(x) * x, "tanh": F.gelu(x, approximate="tanh") + x,
            "wide": F.gelu(w), "wide_tanh": F.gelu(w, approximate="tanh"),
            "d0": F.gelu(a["x0"] * a["x0"]), "d1": F.gelu(a["x1"], approximate="tanh") * a["x1"]}


def softplus_leaky(lib, nn, F, a):
    w = a["x_wide"]
    return {"sp": F.softplus(w), "sp_beta": F.softplus(w, beta=2.0, threshold=5.0) * w,
            "sp_small_threshold": F.softplus(a["x23"], 0.5, 0.3),
            "leaky": F.leaky_relu(w, 0.2) + F.leaky_relu(w), "d0": F.softplus(a["x0"])}


def layer_norm(lib, nn, F, a):
    x = a["x234"]
    return {"affine": F.layer_norm(x, (4,), a["x_w4"] * 2, None, 1e-3),
            "two_dims": F.layer_norm(x, (3, 4)) * x,
            "wb": F.layer_norm(a["x23"], [3], a["x_w"], a["x_b"]),
            "row1": F.layer_norm(a["x1"], (1,), eps=1e-5) + a["x1"]}


def embedding(lib, nn, F, a):
    idx = a["idx"]
    e = a["x_emb"]
    return {"plain": F.embedding(idx, e) * 2, "pad": F.embedding(idx, e, padding_idx=2) * e[0],
            "neg_pad": F.embedding(idx, e * e, padding_idx=-1)}


def pad(lib, nn, F, a):
    x = a["x234"]
    return {"last": F.pad(x, (1, 2)), "two": F.pad(x, (0, 1, 2, 0), value=-1.5) * 2,
            "crop": F.pad(x, (-1, 1, 1, -2)) + F.pad(x, (-1, 1, 1, -2)),
            "three": F.pad(x, (1, 1, 0, 0, 1, 0)), "1d": F.pad(a["x1"], (2, 0), value=3.0)}


def normalize(lib, nn, F, a):
    x = a["x23"]
    z = a["zero_row"]
    return {"dim1": F.normalize(x) * x, "dim0": F.normalize(x, dim=0),
            "p1": F.normalize(x, p=1.0, dim=-1), "eps": F.normalize(x * 1e-14, eps=1e-12),
            "zero": F.normalize(z + a["x1"] * 0.0), "d1": F.normalize(a["x1"], dim=0)}


def sdpa(lib, nn, F, a):
    q, k, v = a["x_q"], a["x_k"], a["x_v"]
    return {"plain": F.scaled_dot_product_attention(q, k, v),
            "float_mask": F.scaled_dot_product_attention(q, k, v, attn_mask=a["x_mask"]),
            "bool_mask": F.scaled_dot_product_attention(q, k, v, attn_mask=a["keep"]),
            "causal": F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=0.3),
            "self": F.scaled_dot_product_attention(q, q, q * 2)}


def loss_modules(lib, nn, F, a):
    lg, cls, cw = a["x_logits"], a["cls"], a["cls_w"]
    p, y = a["x_prob"], a["y01"]
    return {
        "nll": nn.NLLLoss(weight=cw, ignore_index=3)(lg.log_softmax(1), cls),
        "ce": nn.CrossEntropyLoss(label_smoothing=0.1, reduction="sum")(lg, cls),
        "ce_none": nn.CrossEntropyLoss(weight=cw)(lg, cls) * nn.CrossEntropyLoss(
            reduction="none")(lg, cls),
        "mse": nn.MSELoss()(p, y), "l1": nn.L1Loss(reduction="none")(p, y * 0.5),
        "bce": nn.BCELoss(weight=y + 0.5)(p, y),
        "bcel": nn.BCEWithLogitsLoss(pos_weight=a["x_b"].abs().detach() + 1, reduction="sum")(
            lg[:4, :3], y),
        "legacy": nn.MSELoss(size_average=False)(p, y),
    }


def soft_targets(lib, nn, F, a):
    lg, y = a["x_logits"], a["x_soft"]
    lg3, y3 = a["x234"], a["x_soft3"]
    return {"plain": F.cross_entropy(lg, y), "weighted_smooth": F.cross_entropy(
                lg, y * 1.0, weight=a["cls_w"], label_smoothing=0.2, reduction="sum"),
            "none3": F.cross_entropy(lg3, y3, reduction="none") * lg3.sum(1),
            "mean3_weighted": nn.CrossEntropyLoss(weight=a["cls_w"][:3])(lg3, y3),
            "one_sample": F.cross_entropy(lg[0], y[0], label_smoothing=0.1)}


def activation_modules(lib, nn, F, a):
    x, w = a["x234"], a["x_wide"]
    return {"softmax": nn.Softmax(dim=1)(x), "log_softmax": nn.LogSoftmax(-1)(x) * x,
            "softplus": nn.Softplus(beta=0.5, threshold=3.0)(w),
            "leaky": nn.LeakyReLU(0.3)(w), "gelu": nn.GELU()(w), "gelu_tanh": nn.GELU("tanh")(x),
            "flatten": nn.Flatten()(x) * 2, "flatten_all": nn.Flatten(0, -1)(x),
            "identity": nn.Identity(3, foo=1)(x) * x, "relu": nn.ReLU(inplace=True)(w * 1.0)}


CASES = {f.__name__: f for f in [gelu, softplus_leaky, layer_norm, embedding, pad, normalize,
                                 sdpa, loss_modules, soft_targets, activation_modules]}
