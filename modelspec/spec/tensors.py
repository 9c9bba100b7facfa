"""Tensor expressions: ``inputs: "x + drop1"``, ``expr:`` nodes, ``add_loss: {expr: ...}``.

Identifiers are node names (a name with ``.`` or ``-`` cannot appear in an
expression); numbers, ``True``, ``False`` and ``None`` are constants, and a
var or block param goes in as ``${name}``, substituted first. Operators are
``keras.ops`` functions: ``+`` add, ``-`` subtract, ``*`` multiply, ``/``
divide, ``//`` floor_divide, ``%`` mod, ``**`` power, ``@`` matmul, unary
``-`` negative, ``<`` less, ``<=`` less_equal, ``>`` greater, ``>=``
greater_equal, ``==`` equal, ``!=`` not_equal. A call names any ``keras.ops``
function, with positional and keyword arguments (``mean(x, axis=1)``);
``x[:, :-1]`` slices; ``(1, 2)`` and ``[a, b]`` are tuples and lists. The
expression is parsed with :mod:`ast`, never evaluated by Python:
:func:`interpret` walks it with an :class:`Algebra` (the validator's checks
names and arguments; the builder's calls ``keras.ops`` on symbolic tensors).

Example:
    >>> refs("z_mean + exp(0.5 * z_log_var) * eps")
    ['z_mean', 'z_log_var', 'eps']
    >>> rename("x + mean(x, axis=1)", {"x": "enc_0"})
    'enc_0 + mean(enc_0, axis=1)'
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

from ..errors import clipped
from .scalars import ExpressionError, arithmetic, bounded, parse

#: ``keras.ops`` functions the operators stand for.
BINARY: dict[type, str] = {
    ast.Add: "add",
    ast.Sub: "subtract",
    ast.Mult: "multiply",
    ast.Div: "divide",
    ast.FloorDiv: "floor_divide",
    ast.Mod: "mod",
    ast.Pow: "power",
    ast.MatMult: "matmul",
}
COMPARE: dict[type, str] = {
    ast.Lt: "less",
    ast.LtE: "less_equal",
    ast.Gt: "greater",
    ast.GtE: "greater_equal",
    ast.Eq: "equal",
    ast.NotEq: "not_equal",
}
_ALLOWED = (
    "node names, numbers, operators (+ - * / // % ** @ and comparisons), "
    "keras.ops calls, slices x[:, :-1], tuples and lists"
)

T = TypeVar("T")


class Algebra(Protocol[T]):
    """What an expression's parts mean: checks for the validator, tensors for the builder."""

    def node(self, name: str) -> T:
        """A node's output."""

    def constant(self, value: Any) -> T:
        """A number, ``True``, ``False``, ``None`` or ``...``."""

    def call(self, fn: str, args: list[T], kwargs: dict[str, T]) -> T:
        """A ``keras.ops`` function applied (operators too: ``x + y`` is ``add``)."""

    def item(self, value: T, index: T) -> T:
        """``value[index]``."""

    def span(self, lower: T, upper: T, step: T) -> T:
        """A slice ``lower:upper:step`` (a missing part is ``constant(None)``)."""

    def sequence(self, items: list[T], is_tuple: bool) -> T:
        """A tuple or list."""


def interpret(text: str, algebra: Algebra[T]) -> T:
    """Walk the expression ``text`` with ``algebra``.

    Raises:
        ExpressionError: It cannot be parsed or uses something expressions do
            not have (or the algebra refuses a part).
    """
    tree = parse(text)
    try:
        return _walk(tree, algebra)
    except RecursionError:
        raise ExpressionError("the expression is nested too deeply") from None


def _walk(node: ast.AST, algebra: Algebra[T]) -> T:
    if isinstance(node, ast.Name):
        return algebra.node(node.id)
    if isinstance(node, ast.Constant) and (
        type(node.value) in (int, float, bool) or node.value is None or node.value is Ellipsis
    ):
        return algebra.constant(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in BINARY:
        left, right = _walk(node.left, algebra), _walk(node.right, algebra)
        return algebra.call(BINARY[type(node.op)], [left, right], {})
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return algebra.call("negative", [_walk(node.operand, algebra)], {})
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd):
        return _walk(node.operand, algebra)
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in COMPARE:
        left, right = _walk(node.left, algebra), _walk(node.comparators[0], algebra)
        return algebra.call(COMPARE[type(node.ops[0])], [left, right], {})
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        if any(isinstance(a, ast.Starred) for a in node.args) or any(
            k.arg is None for k in node.keywords
        ):
            raise ExpressionError("expected plain arguments: * and ** unpacking is not supported")
        args = [_walk(a, algebra) for a in node.args]
        kwargs = {str(k.arg): _walk(k.value, algebra) for k in node.keywords}
        return algebra.call(node.func.id, args, kwargs)
    if isinstance(node, ast.Subscript):
        return algebra.item(_walk(node.value, algebra), _walk(node.slice, algebra))
    if isinstance(node, ast.Slice):
        parts = [node.lower, node.upper, node.step]
        lower, upper, step = (
            algebra.constant(None) if p is None else _walk(p, algebra) for p in parts
        )
        return algebra.span(lower, upper, step)
    if isinstance(node, ast.Tuple | ast.List):
        items = [_walk(e, algebra) for e in node.elts]
        return algebra.sequence(items, isinstance(node, ast.Tuple))
    raise ExpressionError(
        f"'{clipped(ast.unparse(node))}' is not something expressions have: {_ALLOWED}"
    )


def _names(tree: ast.AST) -> list[ast.Name]:
    """The identifiers that name nodes (not the functions called), in source order."""
    functions = {
        id(n.func)
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
    }
    found = [n for n in ast.walk(tree) if isinstance(n, ast.Name) and id(n) not in functions]
    return sorted(found, key=lambda n: (n.lineno, n.col_offset))


def refs(text: str) -> list[str]:
    """The nodes an expression reads, in order, each once (``[]`` when it cannot be parsed)."""
    try:
        tree = parse(text)
    except ExpressionError:
        return []
    return list(dict.fromkeys(n.id for n in _names(tree)))


def rename(text: str, names: Mapping[str, str]) -> str:
    """The expression with node names replaced (a repeat's copies chain this way)."""
    tree = parse(text)
    hits = [n for n in _names(tree) if n.id in names]
    if not hits:
        return text
    for name in hits:
        name.id = names[name.id]
    return ast.unparse(tree)


#: The operators' functions on plain numbers.
_NUMBERS: dict[str, Callable[..., Any]] = {
    "add": operator.add,
    "subtract": operator.sub,
    "multiply": operator.mul,
    "divide": operator.truediv,
    "floor_divide": operator.floordiv,
    "mod": operator.mod,
    "power": operator.pow,
    "negative": operator.neg,
}


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def constant_call(fn: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
    """An operator on plain numbers, computed as the ``${...}`` language does (bounded);
    ``None`` when it is not one.

    Raises:
        ExpressionError: Too large, not finite, or a division by zero.
    """
    if fn not in _NUMBERS or kwargs or not args or not all(_number(a) for a in args):
        return None
    if fn == "negative":
        return bounded(-args[0])
    return arithmetic(_NUMBERS[fn], *args)
