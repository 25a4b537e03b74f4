# %% [markdown]
# # 8. A character-level language model
#
# Everything together: the docstrings of Python's standard library as a corpus (built at run
# time, so nothing third-party ships with the package), an embedding, an LSTM, truncated BPTT
# over one long stream, gradient clipping and Adam — and samples as it learns.
#
# The stream is cut into B columns; each training step takes the next K characters of every
# column, predicts each next character (cross-entropy), and carries the LSTM state into the next
# window with `detach()`: the forward pass remembers, the backward pass stops at the window edge.

# %%
import math

import numpy as np

import tinygrad_rnn as tg
from tinygrad_rnn import data, optim
from tinygrad_rnn.models import SequenceModel, detach_state, sample
from tinygrad_rnn.nn import functional as F
from common import pick, plt, savefig

text = data.stdlib_corpus(max_chars=pick(200_000, 20_000))
vocab = data.CharVocab(text)
ids = vocab.encode(text)
print(f"{len(text):,} characters, vocabulary of {vocab.size}")
print(repr(text[:160]))

# %%
tg.manual_seed(0)
model = SequenceModel("lstm", hidden_size=pick(128, 16), output_size=vocab.size,
                      vocab_size=vocab.size, embed_size=32)
opt = optim.Adam(model.parameters(), lr=3e-3, max_grad_norm=1.0)
K, B = pick(64, 16), pick(32, 4)
steps = pick(1500, 12)
losses, state, step = [], None, 0
while step < steps:
    for x, y in data.tbptt_windows(ids, K, batch_size=B):
        logits, state = model(x, state)
        loss = F.cross_entropy(logits.reshape(-1, vocab.size), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        state = detach_state(state)  # truncated BPTT
        losses.append(loss.item())
        step += 1
        if step % pick(300, 6) == 0:
            print(f"step {step}: loss {loss.item():.3f} nats = {loss.item() / math.log(2):.2f} "
                  f"bits/char, |g| {opt.last_grad_norm:.2f}")
            print("   sample:", repr(sample(model, vocab, "Return ", pick(120, 30),
                                            temperature=0.8, rng=step)))
        if step >= steps:
            break
    state = None  # a new pass over the stream starts from a fresh state

# %% [markdown]
# The loss in bits per character: a uniform guess costs log₂(vocabulary) bits; every bit below
# that is structure the model found (frequent letters first, then words, then indentation and
# the shape of a docstring).

# %%
fig, ax = plt().subplots(figsize=(6, 4))
k = max(len(losses) // 50, 1)
ax.plot(np.convolve(losses, np.ones(k) / k, mode="valid") / math.log(2))
ax.axhline(math.log2(vocab.size), color="grey", ls="--", label="uniform guess")
ax.set_xlabel("step")
ax.set_ylabel("bits per character")
ax.legend()
savefig(fig, "08_char_lm_loss.png")
assert np.mean(losses[-5:]) < np.mean(losses[:5])
