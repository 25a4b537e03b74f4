"""A time-series predictor in the style of PyTorch's time_sequence_prediction example, written
for this project's tests: two LSTMCells unrolled by hand in float64, nn.MSELoss, optim.LBFGS
with a closure, and the training data saved with torch.save to an open file first.

    python time_series.py [--init weights.npz] [--save-init weights.npz] [--steps 3]

prints ``step <n> loss <value>`` at every closure evaluation and ``test loss <value>`` after
every LBFGS step. Runs under real PyTorch and under ``python -m tinygrad_rnn run``.
"""
import argparse

import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim

HIDDEN = 12


class Sequence(nn.Module):
    def __init__(self):
        super(Sequence, self).__init__()
        self.lstm1 = nn.LSTMCell(1, HIDDEN)
        self.lstm2 = nn.LSTMCell(HIDDEN, HIDDEN)
        self.linear = nn.Linear(HIDDEN, 1)

    def forward(self, input, future=0):
        outputs = []
        h_t = torch.zeros(input.size(0), HIDDEN, dtype=torch.double)
        c_t = torch.zeros(input.size(0), HIDDEN, dtype=torch.double)
        h_t2 = torch.zeros(input.size(0), HIDDEN, dtype=torch.double)
        c_t2 = torch.zeros(input.size(0), HIDDEN, dtype=torch.double)
        for input_t in input.split(1, dim=1):
            h_t, c_t = self.lstm1(input_t, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        for i in range(future):  # feed the prediction back in
            h_t, c_t = self.lstm1(output, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        return torch.cat(outputs, dim=1)


def make_data(path):
    """Noisy-phase sine waves, as the example's generator writes them."""
    np.random.seed(2)
    T, L, N = 20, 40, 8
    x = np.empty((N, L), "int64")
    x[:] = np.array(range(L)) + np.random.randint(-4 * T, 4 * T, N).reshape(N, 1)
    data = np.sin(x / 1.0 / T).astype("float64")
    torch.save(data, open(path, "wb"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=3, help="LBFGS steps")
    parser.add_argument("--init", default="")
    parser.add_argument("--save-init", default="")
    parser.add_argument("--data", default="traindata.pt")
    parser.add_argument("--strong-wolfe", action="store_true")
    opt = parser.parse_args()
    np.random.seed(0)
    torch.manual_seed(0)
    make_data(opt.data)
    data = torch.load(opt.data, weights_only=False)  # a numpy array
    input = torch.from_numpy(data[3:, :-1])
    target = torch.from_numpy(data[3:, 1:])
    test_input = torch.from_numpy(data[:3, :-1])
    test_target = torch.from_numpy(data[:3, 1:])
    seq = Sequence()
    seq.double()
    if opt.save_init:
        np.savez(opt.save_init, **{k: v.numpy() for k, v in seq.state_dict().items()})
        raise SystemExit(0)
    if opt.init:
        seq.load_state_dict({k: torch.from_numpy(v) for k, v in np.load(opt.init).items()})
    criterion = nn.MSELoss()
    optimizer = optim.LBFGS(seq.parameters(), lr=0.8, max_iter=8,
                            line_search_fn="strong_wolfe" if opt.strong_wolfe else None)
    evaluations = 0
    for i in range(opt.steps):
        def closure():
            global evaluations
            optimizer.zero_grad()
            out = seq(input)
            loss = criterion(out, target)
            print(f"step {evaluations} loss {loss.item()!r}")
            evaluations += 1
            loss.backward()
            return loss
        optimizer.step(closure)
        with torch.no_grad():
            future = 10
            pred = seq(test_input, future=future)
            loss = criterion(pred[:, :-future], test_target)
            print(f"test loss {loss.item()!r}")
            y = pred.detach().numpy()
    print("prediction shape", y.shape)
