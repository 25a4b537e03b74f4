"""A word-level language model in the style of PyTorch's word_language_model example, written
for this project's tests: Embedding → 2-layer LSTM → tied decoder, a hand-written SGD loop on
``p.data``, gradient clipping, and the whole model saved and loaded with torch.save/torch.load.

    python word_lm.py [--init weights.npz] [--save-init weights.npz] [--epochs 2]

prints ``step <n> loss <value>`` for every training batch, ``valid loss <value>`` after each
epoch and ``test loss <value>`` for the reloaded model. Runs under real PyTorch and under
``python -m tinygrad_rnn run``.
"""
import argparse
import math
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.onnx  # noqa: F401 - as the real example; export is optional there and here

parser = argparse.ArgumentParser(description="word-level LSTM language model")
parser.add_argument("--init", default="", help="initial weights (.npz of the state_dict)")
parser.add_argument("--save-init", default="", help="write the initial weights (.npz) and stop")
parser.add_argument("--emsize", type=int, default=16)
parser.add_argument("--nlayers", type=int, default=2)
parser.add_argument("--lr", type=float, default=20.0)
parser.add_argument("--clip", type=float, default=0.25)
parser.add_argument("--epochs", type=int, default=2)
parser.add_argument("--batch_size", type=int, default=4)
parser.add_argument("--bptt", type=int, default=6)
parser.add_argument("--save", default="model.pt")
parser.add_argument("--onnx-export", default="")
args = parser.parse_args()

torch.manual_seed(1111)
device = torch.device("cpu")

# ------------------------------------------------------------------ a small corpus
TEXT = """the cat sat on the mat . the dog sat on the log . a cat saw a dog .
the dog saw the cat on the mat . a bird sat on the dog . the cat ran to the log .
a dog ran to a cat . the bird saw the log on the mat . the mat was on the log ."""


class Dictionary:
    def __init__(self):
        self.word2idx, self.idx2word = {}, []

    def add_word(self, word):
        if word not in self.word2idx:
            self.idx2word.append(word)
            self.word2idx[word] = len(self.idx2word) - 1
        return self.word2idx[word]

    def __len__(self):
        return len(self.idx2word)


dictionary = Dictionary()


def tokenize(lines):
    ids = []
    for line in lines:
        for word in line.split() + ["<eos>"]:
            ids.append(dictionary.add_word(word))
    return torch.tensor(ids, dtype=torch.long)


lines = TEXT.splitlines()
train_ids = tokenize(lines * 3)
valid_ids = tokenize(lines[1:])
test_ids = tokenize(lines[:2])


def batchify(data, bsz):
    nbatch = data.size(0) // bsz
    data = data.narrow(0, 0, nbatch * bsz)
    return data.view(bsz, -1).t().contiguous().to(device)


train_data = batchify(train_ids, args.batch_size)
val_data = batchify(valid_ids, 2)
test_data = batchify(test_ids, 2)


# ------------------------------------------------------------------ the model
class RNNModel(nn.Module):
    """Encoder, recurrent layers and a decoder that shares the encoder's weight."""

    def __init__(self, ntoken, ninp, nhid, nlayers, dropout=0.0):
        super(RNNModel, self).__init__()
        self.ntoken = ntoken
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid, nlayers, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)
        self.decoder.weight = self.encoder.weight  # tied: nhid == ninp
        self.init_weights()
        self.nhid, self.nlayers = nhid, nlayers

    def init_weights(self):
        nn.init.uniform_(self.encoder.weight, -0.1, 0.1)
        nn.init.zeros_(self.decoder.bias)

    def forward(self, input, hidden):
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        output = self.drop(output)
        decoded = self.decoder(output).view(-1, self.ntoken)
        return F.log_softmax(decoded, dim=1), hidden

    def init_hidden(self, bsz):
        weight = next(self.parameters())
        return (weight.new_zeros(self.nlayers, bsz, self.nhid),
                weight.new_zeros(self.nlayers, bsz, self.nhid))


ntokens = len(dictionary)
model = RNNModel(ntokens, args.emsize, args.emsize, args.nlayers).to(device)
if args.save_init:
    np.savez(args.save_init, **{k: v.numpy() for k, v in model.state_dict().items()})
    raise SystemExit(0)
if args.init:
    model.load_state_dict({k: torch.from_numpy(v) for k, v in np.load(args.init).items()})
criterion = nn.NLLLoss()


def repackage_hidden(h):
    if isinstance(h, torch.Tensor):
        return h.detach()
    return tuple(repackage_hidden(v) for v in h)


def get_batch(source, i):
    seq_len = min(args.bptt, len(source) - 1 - i)
    return source[i:i + seq_len], source[i + 1:i + 1 + seq_len].view(-1)


def evaluate(data_source):
    model.eval()
    total_loss = 0.
    hidden = model.init_hidden(data_source.size(1))
    with torch.no_grad():
        for i in range(0, data_source.size(0) - 1, args.bptt):
            data, targets = get_batch(data_source, i)
            output, hidden = model(data, hidden)
            hidden = repackage_hidden(hidden)
            total_loss += len(data) * criterion(output, targets).item()
    return total_loss / (len(data_source) - 1)


step = 0


def train(lr):
    global step
    model.train()
    hidden = model.init_hidden(args.batch_size)
    for batch, i in enumerate(range(0, train_data.size(0) - 1, args.bptt)):
        data, targets = get_batch(train_data, i)
        hidden = repackage_hidden(hidden)
        model.zero_grad()
        output, hidden = model(data, hidden)
        loss = criterion(output, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        for p in model.parameters():
            p.data.add_(p.grad, alpha=-lr)
        print(f"step {step} loss {loss.item()!r}")
        step += 1


lr = args.lr
best_val_loss = None
for epoch in range(1, args.epochs + 1):
    train(lr)
    val_loss = evaluate(val_data)
    print(f"valid loss {val_loss!r} ppl {math.exp(val_loss):.2f}")
    if not best_val_loss or val_loss < best_val_loss:
        with open(args.save, "wb") as f:
            torch.save(model, f)
        best_val_loss = val_loss
    else:
        lr /= 4.0

with open(args.save, "rb") as f:
    with torch.serialization.safe_globals([RNNModel, nn.Dropout, nn.Embedding, nn.LSTM,
                                            nn.Linear]):
        model = torch.load(f)
    model.rnn.flatten_parameters()

test_loss = evaluate(test_data)
print(f"test loss {test_loss!r}")
os.remove(args.save)
if args.onnx_export:
    model.eval()
    dummy = torch.LongTensor(args.bptt).zero_().view(-1, 1)
    torch.onnx.export(model, (dummy, model.init_hidden(1)), args.onnx_export)
