"""Data for recurrent nets: synthetic tasks with known answers, a character corpus made from the
standard library's docstrings, and batching for truncated BPTT. All numpy arrays."""
from .batching import batchify, num_windows, tbptt_windows
from .tasks import adding_problem, copy_task, fill_in_blank_task
from .text import DEFAULT_MODULES, CharVocab, stdlib_corpus

__all__ = ["adding_problem", "copy_task", "fill_in_blank_task", "stdlib_corpus", "CharVocab",
           "DEFAULT_MODULES", "batchify", "tbptt_windows", "num_windows"]
