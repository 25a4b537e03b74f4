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
#
# The last 10% of the text is held out as a **validation** stream: the model never trains on
# it, so its loss there measures what generalises, not what was memorised.

# %%
import math

import numpy as np

import tinygrad_rnn as tg
from tinygrad_rnn import data, optim
from tinygrad_rnn.models import SequenceModel, detach_state, sample
from tinygrad_rnn.nn import functional as F
from common import FAST, SEED, check_exercise, pick, plt, savefig

text = data.stdlib_corpus(max_chars=pick(200_000, 20_000))
vocab = data.CharVocab(text)
ids = vocab.encode(text)
split = int(0.9 * len(ids))
train_ids, val_ids = ids[:split], ids[split:]
print(f"{len(text):,} characters, vocabulary of {vocab.size}; "
      f"{len(train_ids):,} to train on, {len(val_ids):,} held out")
print(repr(text[:160]))

# %% [markdown]
# ## Two baselines, in bits per character
#
# A **uniform** guess costs log₂ V bits per character. A **unigram** model — each character's
# frequency in the training text, ignoring everything before it — costs its cross-entropy on the
# validation text, −(1/N) Σ log₂ p(c). Everything below the unigram line is structure that needs
# *context*: which letter follows which, words, indentation.

# %%
counts = np.bincount(train_ids, minlength=vocab.size) + 1.0    # +1: no character has p = 0
p_unigram = counts / counts.sum()
unigram_bits = float(-np.log2(p_unigram[val_ids]).mean())
uniform_bits = math.log2(vocab.size)
print(f"uniform guess: {uniform_bits:.2f} bits/char, unigram: {unigram_bits:.2f} bits/char")
assert unigram_bits < uniform_bits

# %% [markdown]
# ### What you should see
#
# The uniform guess costs log₂ V ≈ 6.6 bits for the full corpus' ~96 characters; the unigram
# model about 4.8 bits — letter frequencies alone save almost two bits. English text, for
# comparison, carries roughly 1–1.5 bits per character for a model that knows the language
# well (Shannon 1951), so there is a lot of room below the unigram line.

# %%
def validation_bits(model, K, B):
    """Mean cross-entropy on the held-out stream, in bits per character (state carried)."""
    total, n, state = 0.0, 0, None
    with tg.no_grad():
        for x, y in data.tbptt_windows(val_ids, K, batch_size=B):
            logits, state = model(x, state)
            total += F.cross_entropy(logits.reshape(-1, vocab.size), y.reshape(-1)).item() * y.size
            n += y.size
    return total / n / math.log(2)


tg.manual_seed(SEED)
model = SequenceModel("lstm", hidden_size=pick(64, 16), output_size=vocab.size,
                      vocab_size=vocab.size, embed_size=32)
opt = optim.Adam(model.parameters(), lr=3e-3, max_grad_norm=1.0)
K, B = pick(32, 16), pick(32, 4)
steps, eval_every = pick(500, 12), pick(100, 6)
losses, val_curve, state, step = [], [(0, validation_bits(model, K, B))], None, 0
while step < steps:
    for x, y in data.tbptt_windows(train_ids, K, batch_size=B):
        logits, state = model(x, state)
        loss = F.cross_entropy(logits.reshape(-1, vocab.size), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        state = detach_state(state)  # truncated BPTT
        losses.append(loss.item() / math.log(2))
        step += 1
        if step % eval_every == 0:
            val_curve.append((step, validation_bits(model, K, B)))
            print(f"step {step}: train {losses[-1]:.2f} bits/char, validation "
                  f"{val_curve[-1][1]:.2f} bits/char, |g| {opt.last_grad_norm:.2f}")
            print("   sample:", repr(sample(model, vocab, "Return ", pick(120, 30),
                                            temperature=0.8, rng=step)))
        if step >= steps:
            break
    state = None  # a new pass over the stream starts from a fresh state

# %% [markdown]
# ## The learning curve
#
# The training loss of each step is noisy (each window is different text), so we also draw its
# moving average over k steps. A moving average of steps s-k+1 … s belongs at step s (or at
# the middle of its window): `np.convolve(..., mode="valid")` returns len − k + 1 values, and
# plotting them against 0, 1, 2, … would shift the curve k − 1 steps to the left, making the
# model look better earlier than it was. We plot it at the window's last step.

# %%
losses = np.array(losses)
k = max(len(losses) // 25, 1)
smoothed = np.convolve(losses, np.ones(k) / k, mode="valid")
smoothed_at = np.arange(k, len(losses) + 1)                # step number of each window's end
steps_axis = np.arange(1, len(losses) + 1)
val_steps, val_bits = np.array(val_curve).T
fig, ax = plt().subplots(figsize=(7, 4.5))
ax.plot(steps_axis, losses, color="C0", alpha=0.25, lw=0.8, label="training, each step")
ax.plot(smoothed_at, smoothed, color="C0", label=f"training, moving average of {k}")
ax.plot(val_steps, val_bits, "o-", color="C1", label="validation (held-out 10%)")
ax.axhline(uniform_bits, color="grey", ls="--", label="uniform guess")
ax.axhline(unigram_bits, color="black", ls=":", label="unigram (letter frequencies)")
ax.set(title="Character LSTM on stdlib docstrings: loss in bits per character",
       xlabel="training step", ylabel="bits per character")
ax.legend(fontsize=8)
savefig(fig, "08_char_lm_loss.png")
print(f"final: training (moving average) {smoothed[-1]:.2f}, validation {val_bits[-1]:.2f}, "
      f"unigram {unigram_bits:.2f}, uniform {uniform_bits:.2f} bits/char")
assert len(smoothed_at) == len(smoothed) and smoothed_at[-1] == len(losses)
assert val_bits[-1] < val_bits[0] and smoothed[-1] < smoothed[0]
if not FAST:
    assert val_bits[-1] < unigram_bits - 0.5, (val_bits[-1], unigram_bits)

# %% [markdown]
# ### What you should see
#
# Both curves start near the uniform line (an untrained model spreads its probability evenly)
# and drop fast to the unigram line: the first thing learned is which characters are common.
# In the full run they then go clearly *below* the unigram line (asserted: by more than half a
# bit) — that part needs context, and it is what the samples show: real words, spaces after
# them, then docstring phrases. The validation points sit close to the training average:
# with this much text and this little training the model has not begun to memorise its
# training text (overfitting would show as the validation curve turning up while the training
# curve keeps falling).

# %% [markdown]
# ## Exercises
#
# 1. A model that is certain of nothing but knows the vocabulary has V = `vocab.size`
#    characters to choose from. How many bits per character does its uniform guess cost? Put
#    the number in `answer_1` (compute it, do not copy the printout).
# 2. 1 nat = ? bits. Put the factor that converts a cross-entropy in nats to bits in
#    `answer_2`.
# 3. With `np.convolve(v, np.ones(k) / k, mode="valid")` on 100 losses and k = 10, how many
#    values come out, and at which step (counting from 1) does the *first* one belong, if it is
#    drawn at its window's last step? Put the pair in `answer_3`, e.g. `(91, 10)`.

# %%
answer_1 = None   # a number
answer_2 = None   # a number
answer_3 = None   # (how many values, first step)


check_exercise(1, answer_1, math.log2(vocab.size),
               "a uniform guess gives each of the V characters probability 1/V", rtol=1e-3)
check_exercise(2, answer_2, 1 / math.log(2), "bits = nats / ln 2", rtol=1e-3)
check_exercise(3, answer_3, (91, 10),
               "each value averages k consecutive losses; there are 100 − k + 1 such windows",
               rtol=1e-9)
