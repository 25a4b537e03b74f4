"""As torch.nn.modules.container."""
from ..layers import ModuleDict, ModuleList, Sequential

__all__ = ["Sequential", "ModuleList", "ModuleDict"]
