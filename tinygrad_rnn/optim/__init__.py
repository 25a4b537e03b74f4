"""Optimizers with norm-threshold clipping built in, gradient clipping and learning-rate
schedules, with PyTorch's names and update rules."""
from . import lr_scheduler
from ..clip_grad import clip_grad_norm_, clip_grad_value_, total_grad_norm
from .lbfgs import LBFGS
from .optimizer import SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "LBFGS", "clip_grad_norm_",
           "clip_grad_value_", "total_grad_norm", "lr_scheduler"]
