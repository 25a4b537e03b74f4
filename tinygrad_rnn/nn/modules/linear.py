"""As torch.nn.modules.linear."""
from ..layers import Identity, Linear, NonDynamicallyQuantizableLinear  # noqa: F401 (the last:
# torch.nn.modules.linear's name for the attention's out_proj; not in torch.nn itself)

__all__ = ["Identity", "Linear"]
