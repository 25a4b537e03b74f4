# %% [markdown]
# # 9. An encoder–decoder: read a sequence, write another
#
# Tutorials 2–8 used three shapes of recurrent model: many-to-one (read a sequence, answer once:
# the adding problem), many-to-many (answer at every step: the character model) and one-to-many
# (sampling text: feed each output back in). The fourth, **sequence-to-sequence**, is two RNNs
# (Sutskever, Vinyals & Le 2014; Cho et al. 2014):
#
# - the **encoder** reads the whole input x_1 … x_T; its final state h_T is all the decoder gets;
# - the **decoder** starts from h_T and writes y_1 … y_S one symbol at a time, each step reading
#   the previous output symbol (a start symbol `<s>` at the first step).
#
# **Teacher forcing** (training): the decoder reads the *true* previous symbol, so all S steps
# run as one sequence and one cross-entropy trains them together. **Greedy decoding** (test):
# nobody gives the true symbols any more, so the decoder reads its own argmax from the step
# before — one step at a time, and a mistake early on is fed back in.
#
# The task: reverse a sequence of L symbols. Its answer needs all of the input (the first
# output symbol is the *last* input, the last output the *first*), so the encoder's final state
# must hold the whole sequence.

# %%
import numpy as np

import tinygrad_rnn as tg
from tinygrad_rnn import nn, optim
from tinygrad_rnn.nn import functional as F
from common import FAST, SEED, check_exercise, pick, plt, savefig

V, L = 8, 5                 # symbols 1..V, sequence length; 0 is the start symbol <s>
START = 0


def reverse_batch(batch_size, rng):
    """Inputs (L, B) of symbols 1..V and targets (L, B): the same symbols reversed."""
    x = rng.integers(1, V + 1, (L, batch_size))
    return x, x[::-1].copy()


class Seq2Seq(nn.Module):
    """Encoder GRU → its final state → decoder GRU → a linear layer to V + 1 logits."""

    def __init__(self, hidden=64, embed=16):
        super().__init__()
        self.embed = nn.Embedding(V + 1, embed)         # shared by encoder and decoder inputs
        self.encoder = nn.GRU(embed, hidden)
        self.decoder = nn.GRU(embed, hidden)
        self.head = nn.Linear(hidden, V + 1)

    def encode(self, x):
        _, h = self.encoder(self.embed(x))              # h: (1, B, hidden), the summary
        return h

    def forward(self, x, y):
        """Teacher forcing: the decoder reads <s>, y_1 … y_{S-1}; logits (S, B, V + 1)."""
        previous = np.concatenate([np.full((1, y.shape[1]), START), y[:-1]])
        out, _ = self.decoder(self.embed(previous), self.encode(x))
        return self.head(out)

    def greedy(self, x, length):
        """Test time: feed each argmax back in. Returns the predicted symbols (length, B)."""
        with tg.no_grad():
            h = self.encode(x)
            symbol = np.full((1, x.shape[1]), START)
            outputs = []
            for _ in range(length):
                out, h = self.decoder(self.embed(symbol), h)
                symbol = self.head(out).numpy().argmax(-1)   # (1, B)
                outputs.append(symbol[0])
            return np.stack(outputs)


def accuracy(model, n=500, seed=SEED + 123):
    x, y = reverse_batch(n, np.random.default_rng(seed))
    pred = model.greedy(x, L)
    return float((pred == y).mean()), float((pred == y).all(0).mean())


# %% [markdown]
# ## Training with teacher forcing
#
# Every few steps we measure greedy-decoding accuracy on 500 held-out sequences: per symbol,
# and per whole sequence (all L symbols right). Guessing gives 1/V = 0.125 per symbol.

# %%
tg.manual_seed(SEED)
model = Seq2Seq()
opt = optim.Adam(model.parameters(), lr=1e-2, max_grad_norm=1.0)
rng = np.random.default_rng(SEED)
steps, every = pick(500, 30), pick(50, 10)
losses, checkpoints = [], []
for step in range(1, steps + 1):
    x, y = reverse_batch(64, rng)
    logits = model(x, y)
    loss = F.cross_entropy(logits.reshape(-1, V + 1), y.reshape(-1))
    opt.zero_grad()
    loss.backward()
    opt.step()
    losses.append(loss.item())
    if step % every == 0:
        checkpoints.append((step, *accuracy(model)))
        print(f"step {step}: loss {loss.item():.3f}, greedy accuracy per symbol "
              f"{checkpoints[-1][1]:.3f}, per sequence {checkpoints[-1][2]:.3f}")

x, y = reverse_batch(4, np.random.default_rng(SEED + 7))
pred = model.greedy(x, L)
for b in range(4):
    print("input", x[:, b], "→ decoded", pred[:, b], "(target", y[:, b], ")")

fig, (a1, a2) = plt().subplots(1, 2, figsize=(10, 3.8))
a1.plot(np.arange(1, steps + 1), losses)
a1.axhline(np.log(V), color="grey", ls="--", label=f"uniform guess, log {V}")
a1.set(title="Teacher-forced training loss", xlabel="step", ylabel="cross-entropy (nats)")
a1.legend()
s, per_symbol, per_sequence = np.array(checkpoints).T
a2.plot(s, per_symbol, "o-", label="per symbol")
a2.plot(s, per_sequence, "s-", label=f"whole sequence (all {L})")
a2.axhline(1 / V, color="grey", ls="--", label="chance per symbol")
a2.set(title="Greedy decoding on held-out sequences", xlabel="step", ylabel="accuracy",
       ylim=(0, 1.02))
a2.legend()
savefig(fig, "09_reverse_training.png")
final_symbol, final_sequence = checkpoints[-1][1], checkpoints[-1][2]
if FAST:
    assert np.isfinite(losses).all() and np.mean(losses[-5:]) < np.mean(losses[:5])
else:
    assert final_symbol > 0.95 and final_sequence > 0.8, (final_symbol, final_sequence)

# %% [markdown]
# ### What you should see
#
# The loss starts at log 9 ≈ 2.2 nats (nine outputs, nothing known yet), just above the line of
# a uniform guess over the eight symbols (log 8 ≈ 2.08), and falls far below it. The greedy
# accuracy climbs from chance (0.125) to above 0.95 per symbol in the full run; per whole
# sequence it lags behind — it needs all five right at once, and at test time one early mistake
# is fed back into the decoder. The printed examples show the decoder writing the input
# backwards from nothing but the encoder's final state.

# %% [markdown]
# ## Which positions are hard?
#
# Per output position: the first output is the *last* input (the encoder just read it), the
# last output is the *first* input (read L steps before the summary was taken, then kept).

# %%
x, y = reverse_batch(2000, np.random.default_rng(SEED + 5))
pred = model.greedy(x, L)
per_position = (pred == y).mean(1)
for k, acc in enumerate(per_position):
    print(f"output {k + 1} (= input {L - k}): accuracy {acc:.3f}")
fig, ax = plt().subplots(figsize=(5, 3.5))
ax.bar(np.arange(1, L + 1), per_position)
ax.axhline(1 / V, color="grey", ls="--", label="chance")
ax.set(title="Greedy accuracy per output position", xlabel="output position",
       ylabel="accuracy", ylim=(0, 1.18))
ax.legend(loc="upper right", fontsize=8)
savefig(fig, "09_reverse_per_position.png")
if not FAST:
    assert per_position.min() > 0.85, per_position

# %% [markdown]
# ### What you should see
#
# After the full run every position is far above chance. Where accuracy is lower it is usually
# at the late outputs: they depend on the earliest inputs, and on every earlier decoded symbol.

# %% [markdown]
# ## Exercises
#
# 1. Greedy decoding of a trained model feeds its own argmax back in. With per-symbol accuracy
#    p and independent errors, what fraction of 5-symbol sequences would be all right? Put
#    your formula's value for p = 0.9 into `answer_1` (a number).
# 2. Change `L` to 10 and retrain (full mode). Does the per-sequence accuracy after the same
#    number of steps go up or down? Answer `"up"` or `"down"` in `answer_2`.
# 3. Teacher forcing hides the decoder's own mistakes during training. In `forward`, which
#    array would you replace by the model's own predictions to train on them instead
#    ("scheduled sampling")? Answer with the variable's name as a string in `answer_3`.

# %%
answer_1 = None   # e.g. 0.5
answer_2 = None   # "up" or "down"
answer_3 = None   # a variable name in Seq2Seq.forward


check_exercise(1, answer_1, 0.9 ** 5, "all five must be right: multiply the probabilities",
               rtol=0.02)
check_exercise(2, answer_2, "down", "the summary must hold twice as many symbols, and there are "
               "twice as many chances to err")
check_exercise(3, answer_3, "previous",
               "the decoder's inputs are built from the targets shifted by one")
