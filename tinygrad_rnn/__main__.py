"""Command line: ``python -m tinygrad_rnn demo | train | sample | render | bench | run``.

Bad arguments print a message and exit with code 2; Ctrl-C during training saves a checkpoint
first (exit code 130).
"""
from __future__ import annotations

import argparse
import functools
import json
import pathlib
import runpy
import sys
import time



def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def _port(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value < 65536:
        raise argparse.ArgumentTypeError(f"expected a port in 0..65535, got {value}")
    return value


class _Help(argparse.HelpFormatter):
    """Every option's help line ends with its default (a flag's is "off")."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.default is argparse.SUPPRESS or "default" in text or not action.option_strings:
            return text
        if action.nargs == 0:  # a flag
            return f"{text} (default: off)"
        if action.default is None:
            return f"{text} (default: none)"
        return f"{text} (default: %(default)s)"


def _parser():
    p = argparse.ArgumentParser(prog="python -m tinygrad_rnn", formatter_class=_Help,
                                description="tinygrad_rnn: autograd and recurrent nets on numpy")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser = functools.partial(sub.add_parser, formatter_class=_Help)

    d = sub.add_parser("demo", help="train a tanh RNN, an LSTM and a GRU on the adding problem")
    d.add_argument("--out", default="out/demo", help="output folder")
    d.add_argument("--steps", type=_positive_int, default=1500, help="training steps per model")
    d.add_argument("--seq-len", type=_positive_int, default=30, help="sequence length T")
    d.add_argument("--seed", type=int, default=0, help="random seed (weights and data)")
    d.add_argument("--quiet", action="store_true", help="no progress lines")

    t = sub.add_parser("train", help="train a model on a task, with checkpoints and metrics")
    t.add_argument("--task", choices=["adding", "copy", "text"], default="adding",
                   help="adding problem, copy task or character language model")
    t.add_argument("--model", choices=["rnn", "lstm", "gru"], default="lstm",
                   help="the recurrent layer")
    t.add_argument("--layers", type=_positive_int, default=1, help="stacked recurrent layers")
    t.add_argument("--bidirectional", action="store_true", help="run each layer both ways")
    t.add_argument("--hidden", type=_positive_int, default=64, help="hidden size H")
    t.add_argument("--seq-len", type=_positive_int, default=30, help="sequence length T")
    t.add_argument("--batch", type=_positive_int, default=32, help="batch size B")
    t.add_argument("--steps", type=_positive_int, default=None,
                   help="total training steps (default 1000; with --resume: the checkpoint's)")
    t.add_argument("--optimizer", choices=["sgd", "adam", "adamw", "rmsprop", "adagrad"],
                   default="adam", help="the update rule")
    t.add_argument("--lr", type=_positive_float, default=1e-2, help="learning rate")
    t.add_argument("--clip", type=_positive_float, default=1.0,
                   help="max global gradient norm")
    t.add_argument("--no-clip", action="store_true", help="disable gradient clipping")
    t.add_argument("--tbptt", type=_positive_int, default=None,
                   help="truncated BPTT window (steps); default: full BPTT")
    t.add_argument("--seed", type=int, default=0, help="random seed (weights and data)")
    t.add_argument("--out", default="out/train", help="folder for the checkpoint and metrics")
    t.add_argument("--resume", default=None, metavar="CKPT",
                   help="continue from a checkpoint (its configuration is used; --steps may "
                        "extend the run)")
    t.add_argument("--log-every", type=_positive_int, default=50,
                   help="print a progress line every this many steps")
    t.add_argument("--live", action="store_true",
                   help="serve a page on 127.0.0.1 that shows the run while it trains (loss, "
                        "gradient norms and clipping, dL/dh_t over t, the graph's gradient heat)")
    t.add_argument("--port", type=_port, default=0,
                   help="port for --live (default 0: a free one, printed)")

    s = sub.add_parser("sample", help="generate text from a character-model checkpoint")
    s.add_argument("--checkpoint", required=True,
                   help="a checkpoint.npz written by `train --task text` (required)")
    s.add_argument("--prompt", default="", help="text to start from (default: empty)")
    s.add_argument("--length", type=_positive_int, default=300, help="characters to generate")
    s.add_argument("--temperature", type=_positive_float, default=0.8,
                   help="sampling temperature (lower: more conservative)")
    s.add_argument("--seed", type=int, default=0, help="random seed of the sampling")

    r = sub.add_parser("render", help="render the unrolled graph of a recurrent cell")
    r.add_argument("--cell", choices=["rnn", "lstm", "gru"], default="lstm",
                   help="the recurrent layer")
    r.add_argument("--steps", type=_positive_int, default=4, help="time steps T")
    r.add_argument("--layers", type=_positive_int, default=1, help="stacked recurrent layers")
    r.add_argument("--hidden", type=_positive_int, default=8, help="hidden size H")
    r.add_argument("--collapse", choices=["none", "time"], default="none",
                   help="'time': one node per layer and time step (the textbook grid)")
    r.add_argument("--format", choices=["svg", "png", "pdf", "dot", "html"], default="svg",
                   help="'dot': the Graphviz source; 'html': the interactive explorer")
    r.add_argument("--out", default=None,
                   help="output path without suffix (default: out/render/<cell>_T<steps>_"
                        "L<layers>_H<hidden>[_time], named from the options so that renders "
                        "do not overwrite each other)")

    u = sub.add_parser("run", help="run a PyTorch program with `import torch` resolving to "
                                   "this package", description="Runs SCRIPT as `python SCRIPT "
                                   "ARGS` would, with `import torch` resolving to tinygrad_rnn. "
                                   "A torch API this engine lacks, a CUDA tensor or an unsafe "
                                   "torch.load ends it with a message and status 2.")
    u.add_argument("--graph", metavar="FILE", default=None,
                   help="draw the first backward() the program makes (.svg, .png, .pdf, .dot)")
    u.add_argument("--explore", metavar="FILE", default=None,
                   help="write the HTML explorer of the first backward() the program makes")
    u.add_argument("script", help="the PyTorch program (a .py file)")
    u.add_argument("args", nargs=argparse.REMAINDER, help="its arguments")

    b = sub.add_parser("bench", help="run benchmarks/bench.py (needs a source checkout)")
    b.add_argument("args", nargs=argparse.REMAINDER, help="options for bench.py (see its --help)")
    return p


# ---------------------------------------------------------------- commands

def cmd_train(args):
    from .train import TrainConfig, load_config, train

    if args.resume:
        cfg = load_config(args.resume)
        if args.steps is not None:  # extend (or shorten) the run to this many steps in all
            cfg.steps = args.steps
        cfg.out = args.out if args.out != "out/train" else cfg.out
    else:
        cfg = TrainConfig(task=args.task, model=args.model, layers=args.layers,
                          bidirectional=args.bidirectional, hidden=args.hidden,
                          seq_len=args.seq_len, batch=args.batch, steps=args.steps or 1000,
                          optimizer=args.optimizer, lr=args.lr,
                          clip=None if args.no_clip else args.clip, tbptt=args.tbptt,
                          seed=args.seed, out=args.out, log_every=args.log_every)
    if args.port and not args.live:
        raise ValueError("--port is the live page's port: add --live")
    from .live import PortInUse

    try:
        metrics = train(cfg, resume=args.resume, **({"live": args.port} if args.live else {}))
    except PortInUse as err:
        raise ValueError(str(err)) from None
    summary = {k: v for k, v in metrics.items() if k not in ("log", "config")}
    print(json.dumps(summary, indent=1))
    print(f"checkpoint and metrics in {cfg.out}")
    return 0


def cmd_sample(args):
    from . import checkpoint, data
    from .models import SequenceModel, sample
    from .train import TrainConfig

    saved = checkpoint.load(args.checkpoint)
    try:
        cfg = TrainConfig(**json.loads(saved["config"]))
        saved["model"], saved["task"]
    except (KeyError, TypeError, json.JSONDecodeError):
        raise ValueError(f"sample: {args.checkpoint} is a checkpoint, but not one written by "
                         f"`python -m tinygrad_rnn train` (no training config in it)") from None
    if cfg.task != "text":
        raise ValueError(f"sample: {args.checkpoint} is a {cfg.task!r} model; sampling needs a "
                         f"character model (train --task text)")
    vocab = data.CharVocab(saved["task"]["vocab"])
    model = SequenceModel(cfg.model, cfg.hidden, vocab.size, vocab_size=vocab.size,
                          num_layers=cfg.layers)
    model.load_state_dict(saved["model"])
    print(sample(model, vocab, args.prompt, args.length, args.temperature, rng=args.seed))
    return 0


def render_name(args) -> pathlib.Path:
    """The default output of ``render``: named from the options that change the picture."""
    name = f"{args.cell}_T{args.steps}_L{args.layers}_H{args.hidden}"
    return pathlib.Path("out/render") / (name + ("_time" if args.collapse == "time" else ""))


def cmd_render(args):
    from . import viz
    from .demo import explore_unrolled, render_unrolled

    if args.out is None:
        args.out = str(render_name(args))
    if args.format == "html":  # the interactive explorer (tinygrad_rnn/explorer.py)
        print("wrote", explore_unrolled(args.out, args.cell, args.steps, args.layers, args.hidden,
                                        None if args.collapse == "none" else args.collapse))
        return 0

    graph = render_unrolled(args.cell, args.steps, args.layers, args.hidden,
                            collapse=None if args.collapse == "none" else args.collapse)
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.format == "dot":
        path = out.with_suffix(".dot")
        path.write_text(graph.source)
    else:
        path = viz.render(graph, out, format=args.format)
    print(f"wrote {path}")
    return 0


def cmd_bench(args):
    script = pathlib.Path.cwd() / "benchmarks" / "bench.py"
    if not script.exists():
        raise ValueError("bench: benchmarks/bench.py not found; run from a source checkout")
    sys.argv = [str(script), *args.args]
    runpy.run_path(str(script), run_name="__main__")
    return 0


def cmd_run(args):
    from .script import run_script

    return run_script(args.script, args.args, graph=args.graph, explore=args.explore)


def cmd_demo(args):
    from .demo import run_demo

    run_demo(out=args.out, steps=args.steps, seq_len=args.seq_len, seed=args.seed,
             quiet=args.quiet)
    return 0


COMMANDS = {"demo": cmd_demo, "train": cmd_train, "sample": cmd_sample,
            "render": cmd_render, "bench": cmd_bench, "run": cmd_run}


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    start = time.perf_counter()
    try:
        code = COMMANDS[args.command](args)
    except KeyboardInterrupt:
        return 130
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.command == "demo":
        print(f"done in {time.perf_counter() - start:.1f} s")
    return code


if __name__ == "__main__":
    sys.exit(main())
