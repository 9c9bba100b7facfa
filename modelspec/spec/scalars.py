"""The scalar expression language of ``${...}``: numbers, names, arithmetic,
and the static shape of a node.

A value that is exactly ``"${expr}"`` becomes the expression's value, keeping
its type; ``${...}`` inside a longer string is interpolated. Expressions are
parsed with Python's :mod:`ast` and evaluated by the small interpreter below,
never by ``eval``: numbers, names, ``+ - * / // % **``, unary ``-``/``+``,
parentheses, ``min``, ``max``, ``abs``, ``round``, ``int``, ``float``, and
``shape(node)[k]`` / ``node.shape[k]``: dimension ``k`` of a node's output
(batch dimension included, as in Keras), known only while building. Such a
value is left as a smaller ``${...}`` (its names substituted) for the builder.

Example:
    >>> evaluate("max(2, dim // 3) ** 2", {"dim": 32})
    100
    >>> substitute("${dim * x.shape[-1]}", {"dim": 2})
    '${2 * x.shape[-1]}'
    >>> evaluate("2 * x.shape[-1]", {}, shapes={"x": (None, 16)}.__getitem__)
    32
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import clipped, did_you_mean, shown

#: ``${...}`` in a string (no braces inside).
PATTERN = re.compile(r"\$\{([^{}]*)\}")
#: Longest expression read, in characters.
MAX_LENGTH = 1_000
#: Largest magnitude of an integer an expression may compute (a shape, a count).
MAX_INT = 2**63

_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "min": min,
    "max": max,
    "abs": abs,
    "round": round,
    "int": int,
    "float": float,
}
_ALLOWED = (
    "numbers, vars, + - * / // % **, parentheses, min, max, abs, round, int, float "
    "and node.shape[k]"
)
#: Looks up a node's static output shape while building (``None`` for an unknown size).
Shapes = Callable[[str], tuple[int | None, ...]]


class ExpressionError(Exception):
    """An expression that cannot be evaluated; the message says why."""


class _NeedsShapes(Exception):
    """The expression reads a node's shape, known only while building."""


def parse(text: str) -> ast.expr:
    """The syntax tree of an expression.

    Raises:
        ExpressionError: It is too long or cannot be parsed.
    """
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"expected an expression of at most {MAX_LENGTH:,} characters")
    try:
        return ast.parse(text.strip(), mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError) as err:
        detail = getattr(err, "msg", None) or type(err).__name__
        raise ExpressionError(f"cannot parse the expression ({detail})") from None


def evaluate(text: str, names: Mapping[str, Any], *, shapes: Shapes | None = None) -> Any:
    """The value of the expression ``text`` with ``names`` in scope.

    Args:
        text: The expression (what is inside ``${...}``).
        names: The vars, block params and copy index in scope.
        shapes: A node's static output shape, while building.

    Raises:
        ExpressionError: It cannot be parsed, names something unknown, uses
            something expressions do not have, or computes something too large.

    Example:
        >>> evaluate("max(2, dim // 3) ** 2", {"dim": 32})
        100
    """
    return _value(parse(text), names, shapes)


def _shape_of(node: ast.AST) -> str | None:
    """The node name in ``shape(name)`` or ``name.shape``, else ``None``."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "shape"
        and len(node.args) == 1
        and not node.keywords
        and isinstance(node.args[0], ast.Name)
    ):
        return node.args[0].id
    if (
        isinstance(node, ast.Attribute)
        and node.attr == "shape"
        and isinstance(node.value, ast.Name)
    ):
        return node.value.id
    return None


def shape_refs(text: str) -> list[str]:
    """The nodes whose shapes a (deferred) expression reads, in order.

    Example:
        >>> shape_refs("${2 * x.shape[-1] + shape(y)[1]}")
        ['x', 'y']
    """
    whole = PATTERN.fullmatch(text)
    try:
        tree = parse(whole.group(1) if whole else text)
    except ExpressionError:
        return []
    found = sorted(
        ((n.col_offset, _shape_of(n)) for n in ast.walk(tree) if isinstance(n, ast.expr)),
        key=lambda item: item[0],
    )
    return list(dict.fromkeys(name for _, name in found if name is not None))


def _value(node: ast.AST, names: Mapping[str, Any], shapes: Shapes | None) -> Any:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return _bounded(node.value)
    shaped = _shape_of(node)
    if shaped is not None:
        if shapes is None:
            raise _NeedsShapes
        try:
            return tuple(shapes(shaped))
        except KeyError:
            raise ExpressionError(f"unknown node '{clipped(shaped)}' in {shaped}.shape") from None
    if isinstance(node, ast.Subscript) and _shape_of(node.value) is not None:
        shape = _value(node.value, names, shapes)
        index = _value(node.slice, names, shapes)
        if type(index) is not int:
            raise ExpressionError(
                f"expected an integer index into a shape. Received: {shown(index)}"
            )
        if not -len(shape) <= index < len(shape):
            raise ExpressionError(
                f"the shape {shown(shape)} has no dimension {index} (it has {len(shape)}, "
                "the batch dimension first)"
            )
        if shape[index] is None:
            raise ExpressionError(
                f"dimension {index} of the shape {shown(shape)} is not known before the "
                "model runs (None)"
            )
        return shape[index]
    if isinstance(node, ast.Name):
        if node.id in names:
            return names[node.id]
        hint = did_you_mean(node.id, names) or (
            f" Known: {', '.join(names)}." if names else " Declare it under `vars:`."
        )
        if node.id == "i":
            hint = (
                " `i` is the copy index, known in the values of a node with `repeat:` (a "
                "block's layers see an instance's index only as a param: index: \"${i}\")"
            )
        raise ExpressionError(f"unknown name '{clipped(node.id)}'.{hint}")
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        operand = _number(_value(node.operand, names, shapes))
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left = _number(_value(node.left, names, shapes))
        right = _number(_value(node.right, names, shapes))
        return arithmetic(_BINARY[type(node.op)], left, right)
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _FUNCTIONS
        and not node.keywords
    ):
        args = [_number(_value(arg, names, shapes)) for arg in node.args]
        try:
            return _bounded(_FUNCTIONS[node.func.id](*args))
        except (TypeError, ValueError, OverflowError) as err:
            raise ExpressionError(f"{node.func.id}() refused its arguments ({err})") from None
    raise ExpressionError(
        f"'{clipped(ast.unparse(node))}' is not something expressions have: {_ALLOWED}"
    )


def arithmetic(function: Callable[[Any, Any], Any], left: Any, right: Any) -> Any:
    """``function(left, right)`` on two numbers (an operator's function), refused when
    the result would be too large, not finite, or a division by zero.

    Example:
        >>> arithmetic(operator.pow, 2, 10)
        1024
    """
    if function is operator.pow and abs(left) > 1 and _too_big_power(left, right):
        raise ExpressionError(f"{shown(left)} ** {shown(right)} is too large")
    try:
        return _bounded(function(left, right))
    except ZeroDivisionError:
        raise ExpressionError("division by zero") from None
    except (OverflowError, ValueError) as err:
        raise ExpressionError(f"cannot compute it ({err})") from None


def bounded(value: Any) -> Any:
    """``value``, refused when it is a number too large or not finite."""
    return _bounded(value)


def _number(value: Any) -> int | float:
    if type(value) not in (int, float):
        raise ExpressionError(f"expected a number. Received: {shown(value)}")
    return value


def _too_big_power(base: float, exponent: float) -> bool:
    return exponent > 0 and exponent * math.log2(abs(base)) > 63


def _bounded(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= MAX_INT:
        raise ExpressionError(f"the value is too large (over 2**63): {shown(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ExpressionError(f"the value is not finite: {value}")
    if isinstance(value, complex):
        raise ExpressionError("the value is a complex number")
    return value


def substitute(text: str, names: Mapping[str, Any], *, shapes: Shapes | None = None) -> Any:
    """A string with its ``${...}``: the value itself when the string is exactly
    one ``${expr}``, else the string with each interpolated.

    Without ``shapes``, a value that reads a node's shape is deferred: it stays
    ``${...}`` with its names substituted, for the builder.

    Raises:
        ExpressionError: As :func:`evaluate`, or for a ``${`` never closed.
    """
    whole = PATTERN.fullmatch(text)
    if whole:
        try:
            return evaluate(whole.group(1), names, shapes=shapes)
        except _NeedsShapes:
            return "${" + _partial(parse(whole.group(1)), names) + "}"

    def one(match: re.Match[str]) -> str:
        try:
            return str(evaluate(match.group(1), names, shapes=shapes))
        except _NeedsShapes:
            raise ExpressionError(
                "a node's shape is known only while building, so it can be a whole "
                'value ("${x.shape[-1]}") but not part of a longer string'
            ) from None

    result = PATTERN.sub(one, text)
    if "${" in result:
        raise ExpressionError("expected ${expression} with its closing }")
    return result


def is_deferred(value: Any) -> bool:
    """Whether ``value`` is a ``${...}`` left for the builder (it reads a shape)."""
    return isinstance(value, str) and PATTERN.fullmatch(value) is not None


class _Substitute(ast.NodeTransformer):
    def __init__(self, names: Mapping[str, Any]) -> None:
        self.names = names

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id not in self.names:
            hint = did_you_mean(node.id, self.names) or " Declare it under `vars:`."
            raise ExpressionError(f"unknown name '{clipped(node.id)}'.{hint}")
        return ast.Constant(self.names[node.id])

    def generic_visit(self, node: ast.AST) -> ast.AST:
        if _shape_of(node) is not None:
            return node  # the node's name: resolved while building
        return super().generic_visit(node)


def _partial(tree: ast.expr, names: Mapping[str, Any]) -> str:
    """The expression with its names (not the nodes whose shape it reads) substituted."""
    return ast.unparse(_Substitute(names).visit(tree))
