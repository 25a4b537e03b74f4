"""Turn percent-format tutorials into executed notebooks (outputs and inline figures).

    python tutorials/make_notebooks.py [tutorials/01_*.py ...]   # default: every tutorial

Writes tutorials/notebooks/<name>.ipynb (git-ignored). Needs the ``docs`` extra
(jupytext, nbclient, ipykernel): ``make notebooks`` installs it.
"""
import pathlib
import sys

import jupytext
import nbclient
import nbformat

HERE = pathlib.Path(__file__).resolve().parent


def build(path, out_dir=HERE / "notebooks"):
    nb = jupytext.read(path)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    # The kernel runs in tutorials/, like the scripts, so `from common import ...` works.
    nbclient.NotebookClient(nb, timeout=1200, kernel_name="python3",
                            resources={"metadata": {"path": str(HERE)}}).execute()
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / (pathlib.Path(path).stem + ".ipynb")
    nbformat.write(nb, out)
    return out


if __name__ == "__main__":
    paths = sys.argv[1:] or sorted(str(p) for p in HERE.glob("[0-9]*.py"))
    for p in paths:
        print("notebook:", build(p))
