"""A sequence-to-sequence GRU with attention in the style of the PyTorch tutorial "translation
with a sequence to sequence network and attention", written for this project's tests: the
"translation" is reversing a short sentence of made-up words. The encoder runs one token at a
time and writes each output into a preallocated ``encoder_outputs``; the decoder attends over
it with ``bmm`` and feeds back its ``topk`` guess when not teacher-forced.

    python seq2seq_attention.py [--init weights.npz] [--save-init weights.npz] [--iters 12]

prints ``step <n> loss <value>`` for every training pair. Runs under real PyTorch and under
``python -m tinygrad_rnn run``.
"""
import argparse

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import optim

device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

SOS_token, EOS_token = 0, 1
MAX_LENGTH = 7
WORDS = ["ka", "lo", "mi", "nu", "pe", "ri", "so", "tu"]


class Lang:
    def __init__(self):
        self.word2index = {}
        self.index2word = {0: "SOS", 1: "EOS"}
        self.n_words = 2

    def add_sentence(self, sentence):
        for word in sentence.split(" "):
            if word not in self.word2index:
                self.word2index[word] = self.n_words
                self.index2word[self.n_words] = word
                self.n_words += 1


def make_pairs(rng, n):
    pairs = []
    for _ in range(n):
        words = [WORDS[i] for i in rng.integers(0, len(WORDS), rng.integers(2, MAX_LENGTH - 1))]
        pairs.append((" ".join(words), " ".join(reversed(words))))
    return pairs


def tensor_from_sentence(lang, sentence):
    indexes = [lang.word2index[word] for word in sentence.split(" ")]
    indexes.append(EOS_token)
    return torch.tensor(indexes, dtype=torch.long, device=device).view(-1, 1)


class EncoderRNN(nn.Module):
    def __init__(self, input_size, hidden_size):
        super(EncoderRNN, self).__init__()
        self.hidden_size = hidden_size
        self.embedding = nn.Embedding(input_size, hidden_size)
        self.gru = nn.GRU(hidden_size, hidden_size)

    def forward(self, input, hidden):
        embedded = self.embedding(input).view(1, 1, -1)
        output, hidden = self.gru(embedded, hidden)
        return output, hidden

    def init_hidden(self):
        return torch.zeros(1, 1, self.hidden_size, device=device)


class AttnDecoderRNN(nn.Module):
    def __init__(self, hidden_size, output_size, max_length=MAX_LENGTH):
        super(AttnDecoderRNN, self).__init__()
        self.hidden_size = hidden_size
        self.embedding = nn.Embedding(output_size, hidden_size)
        self.attn = nn.Linear(hidden_size * 2, max_length)
        self.attn_combine = nn.Linear(hidden_size * 2, hidden_size)
        self.gru = nn.GRU(hidden_size, hidden_size)
        self.out = nn.Linear(hidden_size, output_size)

    def forward(self, input, hidden, encoder_outputs):
        embedded = self.embedding(input).view(1, 1, -1)
        attn_weights = F.softmax(self.attn(torch.cat((embedded[0], hidden[0]), 1)), dim=1)
        attn_applied = torch.bmm(attn_weights.unsqueeze(0), encoder_outputs.unsqueeze(0))
        output = torch.cat((embedded[0], attn_applied[0]), 1)
        output = F.relu(self.attn_combine(output).unsqueeze(0))
        output, hidden = self.gru(output, hidden)
        output = F.log_softmax(self.out(output[0]), dim=1)
        return output, hidden, attn_weights


def train(input_tensor, target_tensor, encoder, decoder, encoder_optimizer, decoder_optimizer,
          criterion, teacher_forcing):
    encoder_hidden = encoder.init_hidden()
    encoder_optimizer.zero_grad()
    decoder_optimizer.zero_grad()
    input_length, target_length = input_tensor.size(0), target_tensor.size(0)
    encoder_outputs = torch.zeros(MAX_LENGTH, encoder.hidden_size, device=device)
    loss = 0
    for ei in range(input_length):
        encoder_output, encoder_hidden = encoder(input_tensor[ei], encoder_hidden)
        encoder_outputs[ei] = encoder_output[0, 0]
    decoder_input = torch.tensor([[SOS_token]], device=device)
    decoder_hidden = encoder_hidden
    for di in range(target_length):
        decoder_output, decoder_hidden, decoder_attention = decoder(
            decoder_input, decoder_hidden, encoder_outputs)
        loss += criterion(decoder_output, target_tensor[di])
        if teacher_forcing:
            decoder_input = target_tensor[di]
        else:
            topv, topi = decoder_output.topk(1)
            decoder_input = topi.squeeze().detach()
            if decoder_input.item() == EOS_token:
                break
    loss.backward()
    encoder_optimizer.step()
    decoder_optimizer.step()
    return loss.item() / target_length


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--init", default="")
    parser.add_argument("--save-init", default="")
    parser.add_argument("--iters", type=int, default=12)
    parser.add_argument("--hidden", type=int, default=16)
    args = parser.parse_args()
    torch.manual_seed(0)
    pairs = make_pairs(np.random.default_rng(1), args.iters)
    input_lang, output_lang = Lang(), Lang()
    for src, tgt in pairs:
        input_lang.add_sentence(src)
        output_lang.add_sentence(tgt)
    encoder = EncoderRNN(input_lang.n_words, args.hidden).to(device)
    decoder = AttnDecoderRNN(args.hidden, output_lang.n_words).to(device)
    if args.save_init:
        np.savez(args.save_init,
                 **{f"encoder.{k}": v.numpy() for k, v in encoder.state_dict().items()},
                 **{f"decoder.{k}": v.numpy() for k, v in decoder.state_dict().items()})
        raise SystemExit(0)
    if args.init:
        saved = np.load(args.init)
        for prefix, module in (("encoder.", encoder), ("decoder.", decoder)):
            module.load_state_dict({k[len(prefix):]: torch.from_numpy(saved[k])
                                    for k in saved.files if k.startswith(prefix)})
    encoder_optimizer = optim.SGD(encoder.parameters(), lr=0.05)
    decoder_optimizer = optim.SGD(decoder.parameters(), lr=0.05)
    criterion = nn.NLLLoss()
    for it, (src, tgt) in enumerate(pairs):
        loss = train(tensor_from_sentence(input_lang, src), tensor_from_sentence(output_lang, tgt),
                     encoder, decoder, encoder_optimizer, decoder_optimizer, criterion,
                     teacher_forcing=it % 2 == 0)
        print(f"step {it} loss {loss!r}")
