"""Optimizer and scheduler cases shared by the fixture script and tests/test_optim.py."""
import numpy as np

OPTIMIZERS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.1, amsgrad=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, momentum=0.9, centered=True, weight_decay=0.1)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.1)),
]
MAX_NORM = 3.0  # clipping is applied before every step in the trajectories
STEPS = 25

SCHEDULERS = [
    ("StepLR", dict(step_size=4, gamma=0.5)),
    ("ExponentialLR", dict(gamma=0.9)),
    ("CosineAnnealingLR", dict(T_max=10, eta_min=0.001)),
    ("LambdaLR", dict(lr_lambda="warmup")),
    ("MultiStepLR", dict(milestones=[3, 7, 7, 20], gamma=0.5)),
]

# ReduceLROnPlateau: options, and the metric passed to each of its step() calls
PLATEAU = [
    dict(mode="min", factor=0.5, patience=2, threshold=0.01, cooldown=1, min_lr=0.004),
    dict(mode="max", factor=0.3, patience=1, threshold=0.5, threshold_mode="abs"),
    dict(mode="min", factor=0.1, patience=0, threshold=0.0, eps=1e-3),
]
PLATEAU_METRICS = [1.0, 0.9, 0.895, 0.899, 0.9, 0.7, 0.71, 0.72, 0.72, 0.73, 0.5, 0.5, 0.5, 0.49,
                   0.6, 0.6, 0.6, 0.6, 2.0, 2.1, 2.2, 0.1, 0.1, 0.1, 0.1]


def warmup(epoch):
    return min(1.0, (epoch + 1) / 5) * 0.95 ** epoch


def case_name(i, name, dtype):
    return f"{i}_{name}_{dtype}"


def make_problem(dtype, seed=0):
    """Initial parameters and a fixed sequence of gradients (large enough to clip sometimes)."""
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal((3, 4)).astype(dtype), rng.standard_normal(5).astype(dtype)]
    grads = [[(rng.standard_normal(p.shape) * rng.choice([0.3, 3.0])).astype(dtype)
              for p in params] for _ in range(STEPS)]
    return params, grads
