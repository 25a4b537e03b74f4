"""``torch.nn.modules``: the same classes as ``nn``, under PyTorch's submodule paths
(``from torch.nn.modules.rnn import LSTM``). Re-exports only."""
from . import (activation, batchnorm, container, dropout, flatten, linear, loss, module,
               normalization, rnn, sparse, transformer)
from .activation import *  # noqa: F401,F403
from .batchnorm import *  # noqa: F401,F403
from .container import *  # noqa: F401,F403
from .dropout import *  # noqa: F401,F403
from .flatten import *  # noqa: F401,F403
from .linear import *  # noqa: F401,F403
from .loss import *  # noqa: F401,F403
from .module import *  # noqa: F401,F403
from .normalization import *  # noqa: F401,F403
from .rnn import *  # noqa: F401,F403
from .sparse import *  # noqa: F401,F403
from .transformer import *  # noqa: F401,F403
