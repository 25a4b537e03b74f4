"""``torch.nn.utils.clip_grad``'s import path; the functions live in ``tinygrad_rnn.clip_grad``."""
from ...clip_grad import clip_grad_norm_, clip_grad_value_, total_grad_norm

__all__ = ["clip_grad_norm_", "clip_grad_value_", "total_grad_norm"]
