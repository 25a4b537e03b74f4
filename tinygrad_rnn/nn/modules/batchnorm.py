"""As torch.nn.modules.batchnorm."""
from ..layers import BatchNorm1d

__all__ = ["BatchNorm1d"]
