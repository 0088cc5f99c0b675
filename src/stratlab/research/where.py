"""``--where "sharpe > 1.5 and max_drawdown_pct < 20"``: a filter on KPI columns people type, turned into a
SQLAlchemy expression, never into SQL text.

The text is parsed as a Python expression (``ast``) and only these are accepted: KPI column names, numbers,
``True``/``False``/``None``, the comparisons ``< <= > >= == !=`` (chains too: ``0 < sharpe < 3``), ``and``, ``or``,
``not`` and parentheses. Anything else (a call, an attribute, a string, an unknown column) is a one-line
``ConfigError`` naming it, with the closest column names for a typo. Nothing the user types reaches the database as
SQL, so a filter cannot change or read anything but what it names.
"""

from __future__ import annotations

import ast
import difflib
import operator
from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa

from stratlab.errors import ConfigError

_COMPARISONS: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}


def parse_where(text: str, columns: Mapping[str, sa.ColumnElement[Any]]) -> sa.ColumnElement[bool]:
    """The SQLAlchemy condition of ``text`` over ``columns`` (name -> column); see the module."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ConfigError(f"--where: not a filter ({exc.msg} at column {exc.offset}): {text!r}") from None
    return _condition(tree.body, columns, text)


def _fail(what: str, text: str) -> ConfigError:
    return ConfigError(f"--where: {what} in {text!r} (use KPI names, numbers, < <= > >= == !=, and, or, not)")


def _condition(node: ast.AST, columns: Mapping[str, sa.ColumnElement[Any]], text: str) -> sa.ColumnElement[bool]:
    if isinstance(node, ast.BoolOp):
        parts = [_condition(value, columns, text) for value in node.values]
        return sa.and_(*parts) if isinstance(node.op, ast.And) else sa.or_(*parts)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return sa.not_(_condition(node.operand, columns, text))
    if isinstance(node, ast.Compare):
        return _comparison(node, columns, text)
    if isinstance(node, ast.Name):  # a boolean column on its own: is_valid
        flag: sa.ColumnElement[bool] = _operand(node, columns, text) == sa.true()
        return flag
    raise _fail(f"'{ast.unparse(node)}' is not a comparison", text)


def _comparison(node: ast.Compare, columns: Mapping[str, sa.ColumnElement[Any]], text: str) -> sa.ColumnElement[bool]:
    operands = [node.left, *node.comparators]
    links = []
    for left, op, right in zip(operands, node.ops, operands[1:], strict=False):
        rule = _COMPARISONS.get(type(op))
        if rule is None:
            raise _fail(f"the operator in '{ast.unparse(node)}' is not one of < <= > >= == !=", text)
        links.append(rule(_operand(left, columns, text), _operand(right, columns, text)))
    return sa.and_(*links)


def _operand(node: ast.AST, columns: Mapping[str, sa.ColumnElement[Any]], text: str) -> Any:
    if isinstance(node, ast.Name):
        if node.id in columns:
            return columns[node.id]
        hints = difflib.get_close_matches(node.id, list(columns), n=3)
        hint = f"; did you mean {', '.join(hints)}?" if hints else ""
        raise ConfigError(f"--where: unknown KPI {node.id!r}{hint}")
    if isinstance(node, ast.Constant) and (node.value is None or isinstance(node.value, bool | int | float)):
        return sa.literal(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant):
        value = node.operand.value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return sa.literal(-value)
    raise _fail(f"'{ast.unparse(node)}' is not a KPI name or a number", text)


__all__ = ["parse_where"]
