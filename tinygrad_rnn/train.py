"""The training loop behind ``python -m tinygrad_rnn train`` and ``demo``.

One function, :func:`train`, runs a :class:`TrainConfig` on one of three tasks:

- ``adding``: the adding problem (many-to-one, MSE; always answering 1 scores 1/6 ≈ 0.167);
- ``copy``: the copy/memory task (many-to-many, cross-entropy; accuracy on the recalled part);
- ``text``: a character model of the standard library's docstrings (cross-entropy, truncated
  BPTT over one long stream with the state carried across windows by ``detach()``).

It logs progress, writes ``metrics.json`` and atomic checkpoints into ``out``, saves a checkpoint
on Ctrl-C, and resumes bit for bit from a checkpoint (the data generator's and the package's
random states are saved with the weights). With ``live=`` a port (0: a free one) it also serves
the live training page (:mod:`tinygrad_rnn.live`) while it trains.
"""
from __future__ import annotations

import dataclasses
import json
import math
import pathlib
import time

import numpy as np

from . import checkpoint, data, optim
from . import random as tg_random
from .models import SequenceModel, detach_state
from .nn import functional as F
from .progress import Progress
from .grad_mode import no_grad
from .tensor import Tensor

TASKS = ("adding", "copy", "text")
OPTIMIZERS = {"sgd": optim.SGD, "adam": optim.Adam, "adamw": optim.AdamW,
              "rmsprop": optim.RMSprop, "adagrad": optim.Adagrad}


@dataclasses.dataclass
class TrainConfig:
    task: str = "adding"
    model: str = "lstm"
    layers: int = 1
    bidirectional: bool = False
    hidden: int = 64
    seq_len: int = 30
    batch: int = 32
    steps: int = 1000
    optimizer: str = "adam"
    lr: float = 1e-2
    clip: float | None = 1.0
    tbptt: int | None = None
    seed: int = 0
    out: str = "out/train"
    log_every: int = 50
    eval_every: int = 0  # 0: evaluate only at the end
    symbols: int = 8  # copy task alphabet
    corpus_chars: int = 200_000  # text task

    def validate(self):
        problems = []
        if self.task not in TASKS:
            problems.append(f"--task must be one of {', '.join(TASKS)}, got {self.task!r}")
        if self.model not in ("rnn", "lstm", "gru"):
            problems.append(f"--model must be rnn, lstm or gru, got {self.model!r}")
        if self.optimizer not in OPTIMIZERS:
            problems.append(f"--optimizer must be one of {', '.join(OPTIMIZERS)}, "
                            f"got {self.optimizer!r}")
        for name in ("layers", "hidden", "seq_len", "batch", "steps", "log_every"):
            if getattr(self, name) <= 0:
                problems.append(f"--{name.replace('_', '-')} must be positive, "
                                f"got {getattr(self, name)}")
        if not self.lr > 0:
            problems.append(f"--lr must be positive, got {self.lr}")
        if self.clip is not None and not self.clip > 0:
            problems.append(f"--clip must be positive, got {self.clip}")
        if self.tbptt is not None and not 0 < self.tbptt:
            problems.append(f"--tbptt must be positive, got {self.tbptt}")
        if self.task in TASK_CLASSES:
            problems += TASK_CLASSES[self.task].problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self


# ---------------------------------------------------------------- tasks

class _Task:
    """What a task provides to the loop: batches, the loss, and an evaluation."""

    def __init__(self, cfg: TrainConfig, rng: np.random.Generator):
        self.cfg, self.rng = cfg, rng

    many_to_one = False  # one target after the last step (vs one per step)
    keep_loss = False  # keep the last loss Tensor (its graph) in ``last_loss``, for the live page
    last_loss = None

    @staticmethod
    def problems(cfg) -> list:
        """What this task cannot do with ``cfg`` (one message each)."""
        return []

    def train_step(self, model, x, y, state):
        """Loss and gradients of one batch (each sequence starts afresh): (loss value, None)."""
        return _forward_backward(self, model, x, y, self.cfg.tbptt), None

    def state_dict(self):
        return {"rng": json.dumps(self.rng.bit_generator.state)}

    def load_state_dict(self, state):
        self.rng.bit_generator.state = json.loads(state["rng"])


class AddingTask(_Task):
    baseline = 1.0 / 6.0
    many_to_one = True

    @staticmethod
    def problems(cfg):
        return ["the adding problem needs --seq-len of at least 2"] if cfg.seq_len < 2 else []

    def model(self):
        c = self.cfg
        return SequenceModel(c.model, c.hidden, 1, input_size=2, num_layers=c.layers,
                             bidirectional=c.bidirectional, many_to_one=True)

    def batches(self):
        while True:
            x, y = data.adding_problem(self.cfg.batch, self.cfg.seq_len, rng=self.rng)
            yield x, y

    def loss(self, model, x, y, state=None):
        pred, state = model(Tensor(x), state)
        return F.mse_loss(pred, Tensor(y)), state

    def evaluate(self, model):
        x, y = data.adding_problem(1000, self.cfg.seq_len, rng=np.random.default_rng(12345))
        with no_grad():
            mse = float(self.loss(model, x, y)[0].item())
        return {"eval_mse": mse, "baseline_mse": self.baseline}


class CopyTask(_Task):
    def model(self):
        c = self.cfg
        v = c.symbols + 2
        return SequenceModel(c.model, c.hidden, v, vocab_size=v, num_layers=c.layers,
                             bidirectional=c.bidirectional)

    def batches(self):
        while True:
            yield data.copy_task(self.cfg.batch, self.cfg.seq_len, n_symbols=self.cfg.symbols,
                                 rng=self.rng)

    def loss(self, model, x, y, state=None):
        logits, state = model(x, state)
        v = logits.shape[-1]
        return F.cross_entropy(logits.reshape(-1, v), y.reshape(-1)), state

    def evaluate(self, model):
        x, y = data.copy_task(200, self.cfg.seq_len, n_symbols=self.cfg.symbols,
                              rng=np.random.default_rng(12345))
        with no_grad():
            logits, _ = model(x)
        recall = slice(y.shape[0] - self.cfg.seq_len, None)
        acc = float((logits.array.argmax(-1)[recall] == y[recall]).mean())
        return {"eval_recall_accuracy": acc, "chance_accuracy": 1.0 / self.cfg.symbols}


class TextTask(_Task):
    @staticmethod
    def problems(cfg):
        if cfg.bidirectional:
            return ["--bidirectional does not fit --task text: a character language model "
                    "predicts the next character, and a reverse direction would read it "
                    "(and every later one) from the input"]
        return []

    def __init__(self, cfg, rng):
        super().__init__(cfg, rng)
        text = data.stdlib_corpus(max_chars=cfg.corpus_chars)
        self.vocab = data.CharVocab(text)
        ids = self.vocab.encode(text)
        split = int(len(ids) * 0.9)
        self.train_ids, self.val_ids = ids[:split], ids[split:]
        self.position = 0  # window index into the epoch, saved in checkpoints

    def model(self):
        c = self.cfg
        return SequenceModel(c.model, c.hidden, self.vocab.size, vocab_size=self.vocab.size,
                             num_layers=c.layers)

    def batches(self):
        window = self.cfg.tbptt or self.cfg.seq_len
        while True:
            windows = list(data.tbptt_windows(self.train_ids, window, batch_size=self.cfg.batch))
            while self.position < len(windows):
                x, y = windows[self.position]
                self.position += 1
                yield x, y
            self.position = 0
            yield None, None  # end of an epoch: the loop resets the carried state

    def loss(self, model, x, y, state=None):
        logits, state = model(x, state)
        return F.cross_entropy(logits.reshape(-1, self.vocab.size), y.reshape(-1)), state

    def train_step(self, model, x, y, state):
        """A window of the text stream, starting from the state the previous window left."""
        loss, state = self.loss(model, x, y, state)
        loss.backward()
        if self.keep_loss:
            self.last_loss = loss
        return loss.item(), detach_state(state)  # truncated BPTT: the gradient stops here

    def evaluate(self, model):
        window = self.cfg.tbptt or self.cfg.seq_len
        total, count, state = 0.0, 0, None
        with no_grad():
            for x, y in data.tbptt_windows(self.val_ids[:20_000], window, batch_size=8):
                loss, state = self.loss(model, x, y, state)
                total += loss.item() * y.size
                count += y.size
        nats = total / max(count, 1)
        return {"eval_loss": nats, "eval_bits_per_char": nats / math.log(2)}

    def state_dict(self):
        return {**super().state_dict(), "position": self.position,
                "vocab": "".join(self.vocab.chars)}

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self.position = int(state["position"])


TASK_CLASSES = {"adding": AddingTask, "copy": CopyTask, "text": TextTask}


# ---------------------------------------------------------------- the loop

def build(cfg: TrainConfig):
    """(task, model, optimizer) for a config, initialised from ``cfg.seed``."""
    cfg.validate()
    tg_random.manual_seed(cfg.seed)
    task = TASK_CLASSES[cfg.task](cfg, np.random.default_rng(cfg.seed + 1))
    model = task.model()
    kw = {"momentum": 0.9} if cfg.optimizer in ("sgd",) else {}
    opt = OPTIMIZERS[cfg.optimizer](model.parameters(), lr=cfg.lr, max_grad_norm=cfg.clip, **kw)
    return task, model, opt


def _checkpoint(path, cfg, step, task, model, opt, metrics_log, state=None):
    carried = [] if state is None else [s.array for s in (state if isinstance(state, tuple)
                                                         else (state,))]
    checkpoint.save({
        "carried_state": carried,
        "config": json.dumps(dataclasses.asdict(cfg)),
        "step": step,
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "task": task.state_dict(),
        "package_rng": json.dumps(tg_random.get_rng().bit_generator.state),
        "log": json.dumps(metrics_log),
    }, path)


def load_config(path) -> TrainConfig:
    saved = checkpoint.load(path)
    return TrainConfig(**json.loads(saved["config"]))


def train(cfg: TrainConfig, resume=None, quiet=False, progress_prefix="", live=None):
    """Train; returns the metrics dict (also written to ``out/metrics.json``). ``live``: a port
    (0: a free one) to serve the live training page on while it trains (None: no page)."""
    task, model, opt = build(cfg)
    out = pathlib.Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    start, log, state = 0, [], None
    if resume is not None:
        saved = checkpoint.load(resume)
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        task.load_state_dict(saved["task"])
        tg_random.get_rng().bit_generator.state = json.loads(saved["package_rng"])
        start, log = int(saved["step"]), json.loads(saved["log"])
        carried = [Tensor(a) for a in saved.get("carried_state", [])]
        state = None if not carried else carried[0] if len(carried) == 1 else tuple(carried)
    progress = Progress(total=cfg.steps, every=cfg.log_every, prefix=progress_prefix, quiet=quiet)
    progress.step = start
    batches = task.batches()
    t0 = time.perf_counter()
    step = start
    board = None
    try:
        if live is not None:
            from . import live as live_page

            task.keep_loss = True
            board = live_page.serve(model, opt, port=live, quiet=quiet,
                                    title=f"tinygrad_rnn: {cfg.model} on {cfg.task}, live")
        while step < cfg.steps:
            x, y = next(batches)
            if x is None:
                state = None
                continue
            opt.zero_grad()
            loss, state = task.train_step(model, x, y, state)
            opt.step()
            step += 1
            log.append({"step": step, "loss": loss, "grad_norm": opt.last_grad_norm,
                        "clipped": bool(opt.last_clipped)})
            progress.update(loss, opt.last_grad_norm, opt.last_clipped)
            if board is not None:
                board.log(loss, step=step, graph=task.last_loss)
                task.last_loss = None
            if cfg.eval_every and step % cfg.eval_every == 0:
                log[-1].update(task.evaluate(model))
    except KeyboardInterrupt:
        path = out / "interrupted.npz"
        _checkpoint(path, cfg, step, task, model, opt, log, state)
        print(f"\ninterrupted at step {step}: checkpoint saved to {path}; resume with "
              f"--resume {path}", flush=True)
        raise
    finally:
        if board is not None:
            board.close()
    seconds = time.perf_counter() - t0
    _checkpoint(out / "checkpoint.npz", cfg, step, task, model, opt, log, state)
    metrics = {"config": dataclasses.asdict(cfg), "steps": step, "seconds": seconds,
               "final_loss": log[-1]["loss"] if log else None,
               "clip_rate": float(np.mean([r["clipped"] for r in log])) if log else 0.0,
               **task.evaluate(model), "log": log}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    return metrics


def _forward_backward(task, model, x, y, tbptt):
    """Loss and gradients of one synthetic-task batch; returns the loss value.

    With ``tbptt`` = K the sequence runs in windows of K steps, the carried state detached
    between them, so no gradient crosses a window edge. Each window's loss is backpropagated
    as soon as it is computed (the gradients add up in ``.grad``). A many-to-one task has a loss
    only after its last step, so there only the last window learns anything — which is exactly
    why the adding problem needs full BPTT.
    """
    T = x.shape[0]
    if not tbptt or tbptt >= T:
        loss = task.loss(model, x, y)[0]
        loss.backward()
        if task.keep_loss:
            task.last_loss = loss
        return loss.item()
    state, total = None, 0.0
    for start in range(0, T, tbptt):
        xs = x[start:start + tbptt]
        if task.many_to_one:
            if start + tbptt < T:
                with no_grad():
                    _, state = model.rnn(_embed(model, xs), state)
            else:
                loss, state = task.loss(model, xs, y, state)
                loss.backward()
                total = loss.item()
        else:
            loss, state = task.loss(model, xs, y[start:start + tbptt], state)
            (loss * (xs.shape[0] / T)).backward()
            total += loss.item() * xs.shape[0] / T
        state = detach_state(state)
    if task.keep_loss:  # the last window's graph (the picture shows one window)
        task.last_loss = loss
    return total


def _embed(model, x):
    if model.embedding is not None:
        return model.embedding(x)
    return Tensor(np.asarray(x, dtype=model.head.weight.dtype))
