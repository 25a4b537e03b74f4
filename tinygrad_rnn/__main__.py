"""Command line: ``python -m tinygrad_rnn demo``."""
from __future__ import annotations

import sys


def demo() -> int:
    import numpy as np

    import tinygrad_rnn as tg

    tg.manual_seed(0)
    w = tg.randn(3, 4, requires_grad=True)
    x = tg.Tensor(np.linspace(-1, 1, 8).reshape(2, 4))
    h = (x @ w.T).tanh()
    loss = (h * h).mean()
    loss.backward()
    print("loss", loss.item())
    print("dloss/dw", w.grad)
    return 0


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] != "demo":
        print("usage: python -m tinygrad_rnn demo", file=sys.stderr)
        return 2
    return demo()


if __name__ == "__main__":
    sys.exit(main())
