"""Watch a training run in the browser while it trains: a local page that updates as it goes.

    from tinygrad_rnn import live
    with live.serve(model, optimizer) as board:      # prints http://127.0.0.1:<port>/
        for step in range(1000):
            loss = ...
            optimizer.zero_grad(); loss.backward(); optimizer.step()
            board.log(loss)                          # the one call per step

``python -m tinygrad_rnn train ... --live`` does the same for the built-in training loop; a
PyTorch program run by ``python -m tinygrad_rnn run`` calls ``live.serve`` as above.

The page shows the loss curve; the global gradient norm with the clipping threshold and every
clipped step; ‖∂L/∂h_t‖ over t at the latest sampled step beside the first one (vanishing and
exploding gradients as they happen; from ``viz.time_step_grad_norms``); each weight's gradient
norm over the run (after clipping, as the optimizer applied it); and the folded graph
(``viz.draw_graph(loss, collapse="time")``) coloured by gradient size.

What it costs: ``log`` appends a few numbers each step, and the weights' norms every ``every``
steps. The rest is sampled: at most every ``every`` steps and once a second (``sample_seconds``;
the page asks once a second) the next backward runs with a hook of
the board's that records each node's ‖dL/d(outputs)‖ (what ``tg.track_grad_norms`` records),
then ``log`` reads the per-step norms from that graph; the graph picture is redrawn at most every
``heat_seconds``. Each of the two is done only while its cost (the picture's; ``log``'s work plus
what a sampled step took beyond the next, plain one), in the training thread's CPU time, stays
under half of ``budget`` (default 3%) of that thread's CPU time since its first ``log``
(``benchmarks/live_overhead.py`` measures the whole cost).

The server is the standard library's ``ThreadingHTTPServer`` on 127.0.0.1 only, on a free port
(or ``port=``), in daemon threads: a client that stalls or a closed tab never holds up training,
any number of tabs can watch, and the page loads nothing from anywhere else. ``close()`` (or the
end of the ``with`` block, also on Ctrl-C) stops it and frees the port.
"""
from __future__ import annotations

import errno
import html
import json
import math
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import numpy as np

from . import pages, viz
from .engine import register_backward_hook
from .tensor import Tensor

HOST = "127.0.0.1"


class PortInUse(OSError):
    """The port asked for is taken (or not ours to take)."""


class Board:
    """The live page's data and its server. Make one with :func:`serve` (started) or
    ``Board(...).start()``; feed it with :meth:`log` once per training step; :meth:`close` it.

    - ``model``: a Module (or a dict name → parameter) whose weights' gradient norms to plot;
    - ``optimizer``: its ``last_grad_norm`` / ``last_clipped`` / ``max_grad_norm`` give the
      global gradient norm and clipping (without one, the norm is computed from ``model``);
    - ``port``: 0 picks a free one; ``every``: sample at most every this many steps (and record
      the weights' norms every this many); ``sample_seconds``: and at most this often (the page
      asks once a second); ``heat_seconds``: redraw the graph picture at most this often;
      ``budget``: the most of the run's time the sampling may take; ``title``: the page's title.
    """

    def __init__(self, model=None, optimizer=None, port=0, every=10, sample_seconds=1.0,
                 heat_seconds=5.0, budget=0.03, title="tinygrad_rnn: training live",
                 quiet=False):
        if not (isinstance(port, int) and 0 <= port < 65536):
            raise ValueError(f"live: port must be an integer in 0..65535 (0: a free one), "
                             f"got {port!r}")
        if not (isinstance(every, int) and every >= 1):
            raise ValueError(f"live: every must be a positive integer, got {every!r}")
        if not 0 < budget <= 1:
            raise ValueError(f"live: budget is a fraction of the run's time in (0, 1] (1: "
                             f"sample whenever due), got {budget!r}")
        if model is None:
            self.params = {}
        elif isinstance(model, dict):
            self.params = dict(model)
        else:
            self.params = dict(model.named_parameters())
        self.optimizer, self.port, self.every = optimizer, port, every
        self.sample_seconds = sample_seconds
        self.heat_seconds, self.budget, self.title, self.quiet = heat_seconds, budget, title, quiet
        self._lock = threading.Lock()
        self.steps, self.losses, self.grad_norms, self.clipped = [], [], [], []
        self.weights = []  # [step, {name: ‖grad‖}] per sample
        self.time_steps = None  # latest {"step", "layers": {scope: [‖∂L/∂h_t‖]}}
        self.first_time_steps = None
        self.heat = None  # {"step", "version", "svg"}
        self.done = False
        self._server = self._thread = None
        self._armed = None  # the hook handle while the next backward is to be sampled
        self._last_sample = None
        self._last_sample_time = -math.inf
        self._last_weights = -math.inf
        self._last_heat = -math.inf
        # The sampling's cost in the training thread's CPU time (a busy machine's wall clock is
        # mostly waiting; the clock is read only around samples): the per-step norms (log()'s
        # work and what the sampled step took beyond the next, plain one) and the picture; each
        # may take half the budget of the training thread's CPU time since its first log().
        self._spent = 0.0
        self._spent_heat = 0.0
        self._sample_cost = self._heat_cost = 0.0  # the last one's (the next one's estimate)
        self._cpu0 = None  # the training thread's CPU clock at its first log()
        self._armed_cpu = None  # ... when the board armed for the next step
        self._reference = None  # (sampled step's CPU, when its log() ended): vs the next step
        self._started = None
        self._last_poll = -math.inf
        self._polled_done = False
        self._count = 0
        self.samples = 0  # steps sampled so far
        self.polls = 0  # state() answers given

    # ------------------------------------------------------------ server
    @property
    def url(self):
        return f"http://{HOST}:{self.port}/"

    def start(self):
        """Bind 127.0.0.1:port and serve in a daemon thread; returns self."""
        board = self

        class Handler(_Handler):
            pass

        Handler.board = board
        try:
            self._server = _Server((HOST, self.port), Handler)
        except OSError as err:
            if err.errno in (errno.EADDRINUSE, errno.EACCES):
                why = "is in use" if err.errno == errno.EADDRINUSE else "is not open to us"
                raise PortInUse(f"live: port {self.port} on {HOST} {why} (another live page or "
                                f"program?); pick another with --port (port=) or leave it out "
                                f"to take a free one") from None
            raise
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.1},
                                        name="tinygrad_rnn live page", daemon=True)
        self._thread.start()
        self._started = time.perf_counter()
        self._last_heat = self._started  # the first picture after heat_seconds, not at once
        self._arm()  # the first step is sampled
        if not self.quiet:
            print(f"live: {self.url} (the page updates while it trains; Ctrl-C stops)",
                  flush=True)
        return self

    def close(self, linger=1.5):
        """Say the run ended, give a watching page up to ``linger`` s to see it, stop the
        server and free the port. Safe to call twice."""
        self._disarm()
        if self._server is None:
            return
        with self._lock:
            self.done = True
        if time.perf_counter() - self._last_poll < 3.0:  # someone is watching
            end = time.perf_counter() + linger
            while not self._polled_done and time.perf_counter() < end:
                time.sleep(0.05)
            if self._polled_done:
                time.sleep(0.3)  # let what that page asked for with it (the picture) arrive
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self._server = None

    def __enter__(self):
        return self if self._server is not None else self.start()

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------ training side
    def log(self, loss, step=None, graph=None):
        """Record one training step (call it after ``optimizer.step()``). ``loss``: the loss
        Tensor (its graph gives the sampled pictures) or its value (then only the curves, unless
        ``graph`` is the Tensor whose backward this step ran); ``step``: the step number (default:
        one more than the last)."""
        sampled = self._armed is not None
        if self._cpu0 is None:
            self._cpu0 = _cpu()
        if sampled or self._reference is not None:
            t0, heat_before = _cpu(), self._spent_heat
            if self._reference is not None:  # the step after a sampled one: a plain step
                sampled_step, ended = self._reference
                extra = max(0.0, sampled_step - (t0 - ended))
                self._spent += extra
                self._sample_cost += extra
                self._reference = None
        tensor = graph if graph is not None else loss if isinstance(loss, Tensor) else None
        value = float(loss.item() if isinstance(loss, Tensor) else loss)
        self._count = step if step is not None else self._count + 1
        step = self._count
        opt = self.optimizer
        norm = getattr(opt, "last_grad_norm", None) if opt is not None else None
        clipped = bool(getattr(opt, "last_clipped", False)) if opt is not None else False
        self._disarm()
        weights = None
        weigh = step - self._last_weights >= self.every
        if self.params and (weigh or norm is None):
            weights = {n: float(np.linalg.norm(np.asarray(p.grad)))
                       for n, p in self.params.items() if p.grad is not None}
            if norm is None and weights:
                norm = math.sqrt(sum(w * w for w in weights.values()))
            weights = {n: _finite(w) for n, w in weights.items()}
        time_steps = heat = None
        if sampled and tensor is not None:
            time_steps, heat = self._sample(tensor, step)
        with self._lock:
            self.steps.append(step)
            self.losses.append(_finite(value))
            self.grad_norms.append(None if norm is None else _finite(norm))
            if clipped:
                self.clipped.append(step)
            if weigh and weights:
                self.weights.append([step, weights])
                self._last_weights = step
            if time_steps:
                self.time_steps = {"step": step, "layers": time_steps}
                if self.first_time_steps is None:
                    self.first_time_steps = self.time_steps
            if heat is not None:
                version = (self.heat["version"] + 1) if self.heat else 1
                self.heat = {"step": step, "version": version, "svg": heat}
        if sampled:
            self._last_sample, self._last_sample_time = step, time.perf_counter()
            self.samples += 1
            ended = _cpu()
            self._sample_cost = ended - t0 - (self._spent_heat - heat_before)
            self._spent += self._sample_cost
            if self._armed_cpu is not None:
                self._reference = (t0 - self._armed_cpu, ended)
        self._maybe_arm(step)

    def _sample(self, loss, step):
        """‖∂L/∂h_t‖ per layer, and now and then the folded graph's picture, from the graph of
        a backward that ran with per-node gradient norms on."""
        try:
            layers = viz.time_step_grad_norms(loss)
        except Exception as err:  # a picture must never stop the training
            layers = {}
            self._warn(f"live: could not read the per-step gradient norms ({err})")
        svg = None
        now, cpu = time.perf_counter(), _cpu()
        elapsed = cpu - self._cpu0
        if now - self._last_heat >= self.heat_seconds and \
                (self.budget >= 1 or
                 self._spent_heat + self._heat_cost <= self.budget / 2 * elapsed):
            self._last_heat = now
            try:
                graph = viz.draw_graph(loss, params=self.params, collapse="time",
                                       title=f"step {step}")
                svg = graph.pipe(format="svg").decode("utf-8")
            except Exception as err:  # e.g. no Graphviz: the other views still work
                self._warn(f"live: no graph picture ({type(err).__name__}: {err})")
                self.heat_seconds = math.inf
            self._heat_cost = _cpu() - cpu
            self._spent_heat += self._heat_cost
        return {k: [_finite(x) for x in v] for k, v in layers.items()}, svg

    def _warn(self, message):
        if not self.quiet:
            print(message, file=sys.stderr, flush=True)

    def _maybe_arm(self, step):
        """Sample the next step if ``every`` steps have passed and the board is under budget."""
        if self._last_sample is not None and step + 1 - self._last_sample < self.every:
            return
        if time.perf_counter() - self._last_sample_time < self.sample_seconds:
            return
        if self.budget >= 1:
            self._arm()
            return
        cpu = _cpu()
        if self._spent + self._sample_cost <= self.budget / 2 * (cpu - self._cpu0):
            self._arm()
            self._armed_cpu = cpu

    def _arm(self):
        # The board's own hook, not the process-wide switch (tg.track_grad_norms): removing it
        # later restores nothing that someone else may have set in between.
        if self._armed is None:
            self._armed = register_backward_hook(_note_grad_norm)
            self._armed_cpu = None

    def _disarm(self):
        if self._armed is not None:
            self._armed.remove()
            self._armed = None

    # ------------------------------------------------------------ page side
    def state(self, since=0, weights_since=0, heat_version=0):
        """What the page polls: the points after ``since``, the weight samples after
        ``weights_since``, the latest per-step norms, and the picture's version."""
        with self._lock:
            out = {"title": self.title, "done": self.done, "count": len(self.steps),
                   "steps": self.steps[since:], "losses": self.losses[since:],
                   "grad_norms": self.grad_norms[since:], "since": since,
                   "clipped": self.clipped, "clip": getattr(self.optimizer, "max_grad_norm",
                                                             None),
                   "weights": self.weights[weights_since:], "weights_since": weights_since,
                   "weights_count": len(self.weights),
                   "time_steps": self.time_steps, "first_time_steps": self.first_time_steps,
                   "heat": None if self.heat is None else {"step": self.heat["step"],
                                                           "version": self.heat["version"]},
                   "seconds": (time.perf_counter() - self._started) if self._started else 0.0}
            self.polls += 1
            if self.done:
                self._polled_done = True
        self._last_poll = time.perf_counter()
        return out

    def page(self):
        return pages.page("live", title=html.escape(self.title))


def _note_grad_norm(node, grad_outputs, grad_inputs):
    """What ``tg.track_grad_norms`` records on a node (‖dL/d(outputs)‖), for one sampled
    backward; ``viz.time_step_grad_norms`` and the graph's heat read it."""
    node.grad_norm = math.sqrt(sum(float(np.vdot(g, g).real) for g in grad_outputs
                                   if g is not None))


def _cpu():
    """The calling thread's CPU time (a few microseconds a call; process_time, which sums every
    thread, can take milliseconds on a busy virtual machine)."""
    return time.thread_time()


def _finite(x):
    """A float for JSON: NaN and ±Inf become None (the page draws a gap)."""
    x = float(x)
    return x if math.isfinite(x) else None


def serve(model=None, optimizer=None, port=0, every=10, sample_seconds=1.0, heat_seconds=5.0,
          budget=0.03, title="tinygrad_rnn: training live", quiet=False) -> Board:
    """A started :class:`Board` (use it as ``with live.serve(model, opt) as board:``); prints
    its address unless ``quiet``. Raises :class:`PortInUse` if ``port`` is taken."""
    return Board(model, optimizer, port=port, every=every, sample_seconds=sample_seconds,
                 heat_seconds=heat_seconds, budget=budget, title=title, quiet=quiet).start()


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a stalled client never keeps the process (or close()) waiting

    def handle_error(self, request, client_address):
        kind = sys.exc_info()[0]
        if kind is not None and issubclass(kind, (ConnectionError, TimeoutError)):
            return  # a tab closed mid-answer
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    board = None  # set per server
    timeout = 10  # seconds a client may take to send its request
    server_version = "tinygrad_rnn-live"

    def log_message(self, format, *args):  # no line per poll on the training's terminal
        pass

    def do_GET(self):
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0]
        if host not in (HOST, "localhost"):  # a page elsewhere reaching in by DNS rebinding
            return self._send(403, "text/plain", b"live: only 127.0.0.1 may ask\n")
        url = urlparse(self.path)
        if url.path in ("/", "/index.html"):
            return self._send(200, "text/html; charset=utf-8", self.board.page().encode())
        if url.path == "/state.json":
            q = parse_qs(url.query)

            def arg(name):
                try:
                    return max(int(q.get(name, ["0"])[0]), 0)
                except ValueError:
                    return 0
            state = self.board.state(arg("since"), arg("wsince"))
            body = json.dumps(state, separators=(",", ":"), allow_nan=False).encode()
            return self._send(200, "application/json", body)
        if url.path == "/favicon.ico":  # asked for by every browser; we have none
            return self._send(204, "text/plain", b"")
        if url.path == "/heat.svg":
            heat = self.board.heat
            if heat is None:
                return self._send(404, "text/plain", b"no picture yet\n")
            return self._send(200, "image/svg+xml", heat["svg"].encode())
        return self._send(404, "text/plain", b"not found\n")

    def _send(self, code, kind, body):
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)
