"""Variables and expressions: ``vars:`` and ``${...}``, substituted before validation.

A value that is exactly ``"${expr}"`` becomes the expression's value, keeping
its type (``"${dim * 2}"`` is the integer 64); ``${...}`` inside a longer
string is interpolated (``"dense_${dim}"``). ``vars:`` names values, read in
order, so a var may use the ones before it. Expressions are parsed with
Python's :mod:`ast` and evaluated by the small interpreter below, never by
``eval``: numbers, var names, ``+ - * / // % **``, unary ``-``/``+``,
parentheses, and ``min``, ``max``, ``abs``, ``round``, ``int``, ``float``.
Every problem is located at its value's line, an unknown name with
did-you-mean. ``--set vars.dim=64`` changes a var for one run.

Example:
    >>> from modelspec.spec.loader import load_document
    >>> doc = load_document('vars: {dim: 32}\\nunits: "${dim * 2}"\\nname: "d_${dim}"\\n')
    >>> expanded, problems = expand(doc)
    >>> expanded.data["units"], expanded.data["name"], problems
    (64, 'd_32', [])
"""

from __future__ import annotations

import ast
import dataclasses
import math
import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import Diagnostic, clipped, did_you_mean, shown
from .loader import Document, PathT

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
_ALLOWED = "numbers, vars, + - * / // % **, parentheses and min, max, abs, round, int, float"


class ExpressionError(Exception):
    """An expression that cannot be evaluated; the message says why."""


def evaluate(text: str, names: Mapping[str, Any]) -> Any:
    """The value of the expression ``text`` with ``names`` in scope.

    Raises:
        ExpressionError: It cannot be parsed, names something unknown, uses
            something expressions do not have, or computes something too large.

    Example:
        >>> evaluate("max(2, dim // 3) ** 2", {"dim": 32})
        100
    """
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"expected an expression of at most {MAX_LENGTH:,} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as err:
        detail = getattr(err, "msg", None) or type(err).__name__
        raise ExpressionError(f"cannot parse the expression ({detail})") from None
    return _value(tree.body, names)


def _value(node: ast.AST, names: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return _bounded(node.value)
    if isinstance(node, ast.Name):
        if node.id in names:
            return names[node.id]
        hint = did_you_mean(node.id, names) or (
            f" Known: {', '.join(names)}." if names else " Declare it under `vars:`."
        )
        raise ExpressionError(f"unknown name '{clipped(node.id)}'.{hint}")
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        operand = _number(_value(node.operand, names))
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left = _number(_value(node.left, names))
        right = _number(_value(node.right, names))
        if isinstance(node.op, ast.Pow) and abs(left) > 1 and _too_big_power(left, right):
            raise ExpressionError(f"{shown(left)} ** {shown(right)} is too large")
        try:
            return _bounded(_BINARY[type(node.op)](left, right))
        except ZeroDivisionError:
            raise ExpressionError("division by zero") from None
        except (OverflowError, ValueError) as err:
            raise ExpressionError(f"cannot compute it ({err})") from None
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _FUNCTIONS
        and not node.keywords
    ):
        args = [_number(_value(arg, names)) for arg in node.args]
        try:
            return _bounded(_FUNCTIONS[node.func.id](*args))
        except (TypeError, ValueError, OverflowError) as err:
            raise ExpressionError(f"{node.func.id}() refused its arguments ({err})") from None
    raise ExpressionError(
        f"'{clipped(ast.unparse(node))}' is not something expressions have: {_ALLOWED}"
    )


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


def substitute(text: str, names: Mapping[str, Any]) -> Any:
    """A string with its ``${...}``: the value itself when the string is exactly
    one ``${expr}``, else the string with each interpolated.

    Raises:
        ExpressionError: As :func:`evaluate`, or for a ``${`` never closed.
    """
    whole = PATTERN.fullmatch(text)
    if whole:
        return evaluate(whole.group(1), names)
    result = PATTERN.sub(lambda m: str(evaluate(m.group(1), names)), text)
    if "${" in result:
        raise ExpressionError("expected ${expression} with its closing }")
    return result


def expand(doc: Document) -> tuple[Document, list[Diagnostic]]:
    """``doc`` with ``vars:`` resolved and every ``${...}`` substituted.

    Returns:
        The expanded document (same positions) and the problems found, each
        located; a value whose expression fails is left as it was written.
    """
    data = doc.data
    if not isinstance(data, dict) or not _mentions(data):
        return doc, []
    problems: list[Diagnostic] = []

    def fail(path: PathT, err: ExpressionError, text: str) -> None:
        node = None
        if len(path) >= 2 and path[0] in ("inputs", "layers") and isinstance(path[1], int):
            item = data[path[0]][path[1]] if isinstance(data[path[0]], list) else None
            name = item.get("name") if isinstance(item, dict) else None
            node = name if isinstance(name, str) else None
        problems.append(doc.diagnostic(path, f"{err} (in {shown(text)})", node=node))

    names: dict[str, Any] = {}
    raw_vars = data.get("vars")
    resolved_vars: dict[Any, Any] = {}
    if isinstance(raw_vars, dict):
        pending = [k for k in raw_vars if isinstance(k, str)]
        for name, value in raw_vars.items():
            if isinstance(value, str) and "${" in value:
                later = {k: None for k in pending if k not in names and k != name}
                try:
                    value = substitute(value, names)
                except ExpressionError as err:
                    hint = _later_hint(err, later)
                    fail(("vars", name), ExpressionError(f"{err}{hint}"), value)
            resolved_vars[name] = value
            if isinstance(name, str):
                names[name] = value
    expanded = _walk(data, (), names, fail)
    if isinstance(raw_vars, dict):
        expanded["vars"] = resolved_vars
    return dataclasses.replace(doc, data=expanded), problems


def _later_hint(err: ExpressionError, later: Mapping[str, Any]) -> str:
    """`` 'b' is defined later in vars: vars are read in order.`` when that is why."""
    found = re.match(r"unknown name '([^']*)'", str(err))
    if found and found.group(1) in later:
        return f" ('{found.group(1)}' comes later in vars: vars are read in order)"
    return ""


def _walk(
    value: Any,
    path: PathT,
    names: Mapping[str, Any],
    fail: Callable[[PathT, ExpressionError, str], None],
) -> Any:
    if path == ("vars",):
        return value  # resolved in order by `expand`
    if isinstance(value, dict):
        return {k: _walk(v, (*path, k), names, fail) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, (*path, i), names, fail) for i, v in enumerate(value)]
    if isinstance(value, str) and "${" in value:
        try:
            return substitute(value, names)
        except ExpressionError as err:
            fail(path, err, value)
    return value


def _mentions(data: Any) -> bool:
    """Whether any string in ``data`` holds ``${`` (most specs have none)."""
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, str) and "${" in value:
            return True
    return False
