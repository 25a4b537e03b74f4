"""Module cases run the same way in PyTorch (fixtures) and here (tests/test_nn.py).

``lib`` is ``torch`` or ``tinygrad_rnn``; ``nn`` and ``F`` its nn package and functional module.
Weights are set from the arrays, so both frameworks compute with the same numbers.
"""
import numpy as np


def make_arrays(name, seed=0):
    rng = np.random.default_rng(seed)
    r = lambda *s: rng.standard_normal(s)  # noqa: E731
    return {
        "x2": r(4, 3), "x3": r(2, 5, 3), "x4": r(2, 2, 2, 3), "w": r(6, 3), "b": r(6),
        "emb": r(7, 4), "ln_w": r(3), "ln_b": r(3), "ln2_w": r(5, 3), "ln2_b": r(5, 3),
        "bn_w": r(3), "bn_b": r(3), "bn_x": r(6, 3), "bn_x3": r(4, 3, 5),
        "logits": r(5, 4), "logits3": r(3, 4, 2), "logit1": r(4), "pred": r(4, 3),
        "class_w": rng.uniform(0.2, 2.0, 4), "y01": rng.uniform(0, 1, (4, 3)).round(1),
        "bce_w": rng.uniform(0.5, 1.5, (4, 3)), "pos_w": rng.uniform(0.5, 3.0, 3),
    }



def linear(lib, nn, F, a):
    layer = nn.Linear(3, 6)
    _use(layer, weight=a["w"], bias=a["b"])
    nobias = _use(nn.Linear(3, 6, bias=False), weight=a["w"])
    return {"y2": layer(a["x2"]), "y3": layer(a["x3"]), "y4": layer(a["x4"]),
            "nobias": nobias(a["x3"]), "f": F.linear(a["x2"], a["w"], a["b"])}


def embedding(lib, nn, F, a):
    emb = nn.Embedding(7, 4, padding_idx=2)
    _use(emb, weight=a["emb"])
    idx = lib.tensor(np.array([[0, 2, 6], [6, 6, 1]]))
    return {"y": emb(idx) * a["emb"][:3, :].sum()}


def layernorm(lib, nn, F, a):
    ln = nn.LayerNorm(3)
    _use(ln, weight=a["ln_w"], bias=a["ln_b"])
    ln2 = _use(nn.LayerNorm((5, 3)), weight=a["ln2_w"], bias=a["ln2_b"])
    plain = nn.LayerNorm(3, elementwise_affine=False)
    return {"y": ln(a["x3"]), "y2": ln2(a["x3"]), "plain": plain(a["x2"])}


def batchnorm(lib, nn, F, a):
    bn = nn.BatchNorm1d(3).double()  # float64 statistics, as the float64 input
    _use(bn, weight=a["bn_w"], bias=a["bn_b"])
    y1 = bn(a["bn_x"])
    y2 = bn(a["bn_x"] * 2.0 + 1.0)
    y3 = bn(a["bn_x3"])
    out = {"y1": y1, "y2": y2, "y3": y3}
    for k in ("running_mean", "running_var", "num_batches_tracked"):
        v = getattr(bn, k)
        out[k] = lib.tensor(np.asarray(v.detach().numpy() if hasattr(v, "detach") else v))
    bn.eval()
    out["eval"] = bn(a["bn_x"])
    return out


def losses(lib, nn, F, a):
    target = lib.tensor(np.array([0, 3, 1, 1, 2]))
    t3 = lib.tensor(np.array([[0, 1], [3, 3], [2, 0]]))
    ignored = lib.tensor(np.array([0, -100, 1, -100, 2]))
    return {
        "ce_mean": F.cross_entropy(a["logits"], target),
        "ce_sum": F.cross_entropy(a["logits"], target, reduction="sum"),
        "ce_none": F.cross_entropy(a["logits"], target, reduction="none"),
        "ce_ignore": F.cross_entropy(a["logits"], ignored, ignore_index=-100),
        "ce_3d": F.cross_entropy(a["logits3"], t3),
        "ce_1d": F.cross_entropy(a["logit1"], lib.tensor(np.array(2))),
        "nll": F.nll_loss(F.log_softmax(a["logits"], 1), target),
        "mse": F.mse_loss(a["pred"], a["x2"]),
        "mse_sum": F.mse_loss(a["pred"], a["x2"], reduction="sum"),
        "softmax": F.softmax(a["logits"], 0),
        "leaky": F.leaky_relu(a["pred"], 0.1),
    }


def more_losses(lib, nn, F, a):
    """Losses with class weights, label smoothing, ignored targets, binary targets and logits
    (including a logit of exactly 0 and probabilities of exactly 0 and 1)."""
    target = lib.tensor(np.array([0, 3, 1, 1, 2]))
    ignored = lib.tensor(np.array([0, -100, 1, -100, 2]))
    t3 = lib.tensor(np.array([[0, 1], [3, 3], [2, 0]]))
    w = a["class_w"].detach()  # PyTorch: class weights take no gradient
    probs = a["pred"].sigmoid()
    edge = lib.tensor(np.array([0.0, 1.0, 0.5]))
    y = a["y01"]
    logits = a["pred"] * lib.tensor(np.array([[1.0, 0.0, 1.0]] * 4))  # some logits exactly 0
    return {
        "ce_weight": F.cross_entropy(a["logits"], target, weight=w),
        "ce_weight_ignore": F.cross_entropy(a["logits"], ignored, weight=w),
        "ce_smooth": F.cross_entropy(a["logits"], target, label_smoothing=0.2),
        "ce_smooth_weight": F.cross_entropy(a["logits"], ignored, weight=w, label_smoothing=0.1),
        "ce_smooth_sum": F.cross_entropy(a["logits"], target, reduction="sum", weight=w,
                                         label_smoothing=0.3),
        "ce_smooth_none": F.cross_entropy(a["logits"], ignored, reduction="none",
                                          label_smoothing=0.3),
        "ce_smooth_3d": F.cross_entropy(a["logits3"], t3, weight=w, label_smoothing=0.25),
        "nll_weight_sum": F.nll_loss(F.log_softmax(a["logits"], 1), target, weight=w,
                                     reduction="sum"),
        "bce": F.binary_cross_entropy(probs, y),
        "bce_weight_sum": F.binary_cross_entropy(probs, y, weight=a["bce_w"].detach(), reduction="sum"),
        "bce_edges": F.binary_cross_entropy(edge, lib.tensor(np.array([1.0, 0.0, 0.5])),
                                            reduction="none"),
        "bcel": F.binary_cross_entropy_with_logits(logits, y),
        "bcel_pos": F.binary_cross_entropy_with_logits(logits, y, pos_weight=a["pos_w"].detach(),
                                                       reduction="none"),
        "bcel_big": F.binary_cross_entropy_with_logits(a["pred"] * 100, y, reduction="sum"),
        "l1": F.l1_loss(a["pred"], a["x2"]),
        "l1_tie_none": F.l1_loss(a["pred"], a["pred"].detach() * lib.tensor(
            np.array([[1.0, 2.0, 1.0]] * 4)), reduction="none"),
    }


def sequential(lib, nn, F, a):
    model = nn.Sequential(nn.Linear(3, 6), nn.Linear(6, 6))
    _use(model[0], weight=a["w"], bias=a["b"])
    _use(model[1], weight=a["w"] @ a["w"].T, bias=a["b"])
    return {"y": model(a["x2"]).tanh()}


def _use(module, **tensors):
    """Replace parameters by the given input tensors, so gradients reach the inputs."""
    for name, t in tensors.items():
        delattr(module, name)
        setattr(module, name, t)
    return module


CASES = {"linear": linear, "embedding": embedding, "layernorm": layernorm,
         "batchnorm": batchnorm, "losses": losses, "more_losses": more_losses,
         "sequential": sequential}
