"""As torch.nn.modules.linear."""
from ..layers import Identity, Linear

__all__ = ["Identity", "Linear"]
