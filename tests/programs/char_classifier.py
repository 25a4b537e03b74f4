"""A character-level classifier in the style of the PyTorch tutorial "classifying names with a
character-level RNN", written for this project's tests: words made of letters are classified
by which of a few made-up languages they come from. Dataset/DataLoader/random_split with a
torch.Generator, one-hot letters, nn.RNN, nn.LogSoftmax, nn.NLLLoss, topk.

    python char_classifier.py [--init weights.npz] [--save-init weights.npz] [--epochs 2]

prints ``step <n> loss <value>`` for every mini-batch and ``test loss <value>`` at the end.
Runs under real PyTorch and under ``python -m tinygrad_rnn run``.
"""
import argparse
import string

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Dataset, random_split

device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
torch.set_default_device(device)

parser = argparse.ArgumentParser()
parser.add_argument("--init", default="")
parser.add_argument("--save-init", default="")
parser.add_argument("--epochs", type=int, default=2)
parser.add_argument("--batch-size", type=int, default=8)
parser.add_argument("--hidden", type=int, default=24)
args = parser.parse_args()

ALL_LETTERS = string.ascii_lowercase
N_LETTERS = len(ALL_LETTERS)
LANGUAGES = {"vowelish": "aeiouy", "hardish": "kgtpdbx", "softish": "lmnrsvwz"}


def make_words(rng, n_per_language):
    """Words mostly made of each language's favourite letters."""
    pairs = []
    for label, favourite in LANGUAGES.items():
        for _ in range(n_per_language):
            length = rng.integers(3, 8)
            letters = [rng.choice(list(favourite)) if rng.random() < 0.7
                       else rng.choice(list(ALL_LETTERS)) for _ in range(length)]
            pairs.append(("".join(letters), label))
    return pairs


def line_to_tensor(line):
    tensor = torch.zeros(len(line), 1, N_LETTERS)
    for li, letter in enumerate(line):
        tensor[li][0][ALL_LETTERS.find(letter)] = 1
    return tensor


class NamesDataset(Dataset):
    def __init__(self, pairs):
        self.labels_uniq = sorted(set(label for _, label in pairs))
        self.data = [line for line, _ in pairs]
        self.data_tensors = [line_to_tensor(line) for line in self.data]
        self.labels = [label for _, label in pairs]
        self.labels_tensors = [torch.tensor([self.labels_uniq.index(label)], dtype=torch.long)
                               for label in self.labels]

    def __len__(self):
        return len(self.data)

    def __getitem__(self, idx):
        return (self.labels_tensors[idx], self.data_tensors[idx], self.labels[idx],
                self.data[idx])


class CharRNN(nn.Module):
    def __init__(self, input_size, hidden_size, output_size):
        super(CharRNN, self).__init__()
        self.rnn = nn.RNN(input_size, hidden_size)
        self.h2o = nn.Linear(hidden_size, output_size)
        self.softmax = nn.LogSoftmax(dim=1)

    def forward(self, line_tensor):
        rnn_out, hidden = self.rnn(line_tensor)
        output = self.h2o(hidden[0])
        return self.softmax(output)


def label_from_output(output, output_labels):
    top_n, top_i = output.topk(1)
    label_i = top_i[0].item()
    return output_labels[label_i], label_i


def collate(batch):
    return batch  # words have different lengths: the loop takes them one by one


dataset = NamesDataset(make_words(np.random.default_rng(0), 20))
train_set, test_set = random_split(dataset, [0.8, 0.2],
                                   generator=torch.Generator(device=device).manual_seed(2024))
rnn = CharRNN(N_LETTERS, args.hidden, len(dataset.labels_uniq))
if args.save_init:
    np.savez(args.save_init, **{k: v.numpy() for k, v in rnn.state_dict().items()})
    raise SystemExit(0)
if args.init:
    rnn.load_state_dict({k: torch.from_numpy(v) for k, v in np.load(args.init).items()})

criterion = nn.NLLLoss()
optimizer = torch.optim.SGD(rnn.parameters(), lr=0.15)
loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True, collate_fn=collate,
                    generator=torch.Generator().manual_seed(7))
step = 0
rnn.train()
for epoch in range(args.epochs):
    for batch in loader:
        rnn.zero_grad()
        batch_loss = 0
        for label_tensor, text_tensor, label, text in batch:
            output = rnn(text_tensor)
            batch_loss = batch_loss + criterion(output, label_tensor)
        batch_loss = batch_loss / len(batch)
        batch_loss.backward()
        nn.utils.clip_grad_norm_(rnn.parameters(), 3)
        optimizer.step()
        print(f"step {step} loss {batch_loss.item()!r}")
        step += 1

rnn.eval()
correct, total_loss = 0, 0.0
with torch.no_grad():
    for label_tensor, text_tensor, label, text in test_set:
        output = rnn(text_tensor)
        total_loss += criterion(output, label_tensor).item()
        guess, guess_i = label_from_output(output, dataset.labels_uniq)
        correct += int(guess == label)
print(f"test loss {total_loss / len(test_set)!r}")
print(f"accuracy {correct}/{len(test_set)}")
