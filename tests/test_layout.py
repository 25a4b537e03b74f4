"""The package's shape: import layers without cycles, and an engine a learner reads in one sitting."""
import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "tinygrad_rnn"

# The core, in reading order from the bottom up: each module may import only modules on earlier
# lines (ARCHITECTURE.md, "Layers of the code"). Everything else must simply not form a cycle.
CORE_LAYERS = [
    ["versions", "seeding", "products"],
    ["engine"],
    ["ops", "dtypes", "grad_mode"],
    ["tensor"],
    ["random"],
    ["creation"],
]


def _module_name(path):
    rel = path.relative_to(PACKAGE).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"]
    return ".".join(parts)


def _imports(path, name):
    """Package modules that ``path`` imports anywhere in it (functions included: a lazy import is
    still a dependency)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_pkg = path.name == "__init__.py"
    base = name.split(".") if is_pkg else name.split(".")[:-1]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            parent = base[:len(base) - (node.level - 1)] if node.level > 1 else base
            target = parent + (node.module.split(".") if node.module else [])
            if node.module:
                found.add(".".join(target))
            for alias in node.names:  # `from . import viz` imports the module viz
                found.add(".".join(target + [alias.name]))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tinygrad_rnn"):
            found.add(node.module.split(".", 1)[1] if "." in node.module else "")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("tinygrad_rnn."):
                    found.add(alias.name.split(".", 1)[1])
    return found


def _graph():
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        graph[name] = sorted(m for m in _imports(path, name) if m in modules and m != name)
    return graph


def _find_cycle(graph):
    """A list of modules forming a cycle, or None (iterative depth-first search)."""
    state = {}
    for start in sorted(graph):
        if start in state:
            continue
        stack = [(start, iter(graph[start]))]
        path = [start]
        state[start] = "open"
        while stack:
            node, children = stack[-1]
            for child in children:
                if state.get(child) == "open":
                    return path[path.index(child):] + [child]
                if child not in state:
                    state[child] = "open"
                    stack.append((child, iter(graph.get(child, ()))))
                    path.append(child)
                    break
            else:
                stack.pop()
                path.pop()
                state[node] = "done"
    return None


def test_the_package_import_graph_has_no_cycle():
    cycle = _find_cycle(_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_a_cycle_is_found_when_there_is_one():
    assert _find_cycle({"a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": ["b"], "b": [], "c": ["a", "b"]}) is None


def test_no_core_module_imports_a_layer_above_it():
    rank = {m: i for i, layer in enumerate(CORE_LAYERS) for m in layer}
    graph = _graph()
    bad = [f"{m} (layer {rank[m]}) imports {d} (layer {rank[d]})"
           for m in rank for d in graph.get(m, ()) if d in rank and rank[d] >= rank[m] and d != m]
    assert not bad, bad


def test_the_engine_never_imports_the_tensor_and_reads_in_one_sitting():
    graph = _graph()
    assert "tensor" not in graph["engine"] and "creation" not in graph["engine"]
    lines = (PACKAGE / "engine.py").read_text(encoding="utf-8").count("\n")
    assert lines <= 450, f"engine.py has {lines} lines; the budget is 450"


def test_the_imports_found_include_relative_and_lazy_ones(tmp_path):
    src = tmp_path / "m.py"
    src.write_text("from . import viz\nfrom .engine import Node\n"
                   "def f():\n    from ..nn import functional\n")
    assert _imports(src, "pkg.m") >= {"pkg.viz", "pkg.engine"}
    assert "a.nn.functional" in _imports(src, "a.b.m")


def test_star_import_keeps_the_builtins():
    namespace = {}
    exec("from tinygrad_rnn import *", namespace)
    for builtin in ("bool", "float", "int", "type", "min", "max", "sum", "abs", "all", "any"):
        assert builtin not in namespace, f"`from tinygrad_rnn import *` rebinds {builtin}"
    import tinygrad_rnn
    assert tinygrad_rnn.bool is not bool  # torch.bool is still there as an attribute


# ---------------------------------------------------------------- the traps issue 21 removed

def test_an_error_inside_a_forward_names_the_op_and_keeps_its_cause():
    import numpy as np

    import tinygrad_rnn as tg
    from tinygrad_rnn import ops
    from tinygrad_rnn.engine import apply

    class Broken(ops.Function):
        name = "broken"

        @staticmethod
        def forward(ctx, a):
            return np.reshape(a, (7,))  # a bug in a new op: numpy raises deep inside

    with pytest.raises(ValueError, match=r"broken: failed on inputs of shapes \(2, 3\)") as info:
        apply(Broken, tg.ones(2, 3))
    assert isinstance(info.value.__cause__, ValueError)  # the op's own traceback is kept
    assert info.value.__cause__.__traceback__ is not None


def test_a_decorated_setting_can_be_reentered_and_restores():
    import tinygrad_rnn as tg

    @tg.scope("outer")
    def nest(k):
        return tg.current_scope() if k == 0 else nest(k - 1)

    assert nest(2) == ("outer",)  # the value is fixed when decorating; each call enters afresh
    assert tg.current_scope() == ()

    @tg.detect_anomaly()
    def f():
        from tinygrad_rnn.engine import mode
        return mode.anomaly

    assert f() is True
    from tinygrad_rnn.engine import mode
    assert mode.anomaly is False


def test_a_name_survives_an_in_place_op_on_a_non_leaf():
    import numpy as np

    import tinygrad_rnn as tg
    x = tg.tensor(np.ones(3), requires_grad=True)
    y = (x * 2).named("h_t")
    y += 1
    assert y.name == "h_t" and y.node.label == "h_t" and y.node.name == "add"
