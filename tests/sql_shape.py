"""What Athena's planner will make of a query's text, read with two parsers.

Trino (and so Athena) plans a join whose ON condition has no equality
between its two sides as a cross join plus a filter: rows x rows
comparisons. These helpers parse a query with sqlglot and with Trino's own
ANTLR grammar (the ``trino-query-parser`` package) and list every join that
would be planned that way. A CROSS JOIN is accepted only of the one-row
``params`` CTE or of an UNNEST.
"""

from __future__ import annotations

import functools

import sqlglot
from antlr4 import CommonTokenStream, InputStream
from antlr4.error.ErrorListener import ConsoleErrorListener
from sqlglot import exp
from trino_query_parser.error import TrinoErrorListener
from trino_query_parser.SqlBaseLexer import SqlBaseLexer
from trino_query_parser.SqlBaseParser import SqlBaseParser

ONE_ROW_RELATIONS = {"params"}


@functools.cache
def parse_trino(sql: str) -> SqlBaseParser.SingleStatementContext:
    """Parse one statement with Trino's grammar; :class:`TrinoSyntaxError` on a syntax error.

    The grammar's keywords are upper-case tokens (the package upper-cases its
    input the same way), so identifiers come back upper-cased. A text is parsed
    once a process (ANTLR's Python runtime takes about 0.4 s a query); the tree
    is only read.
    """
    lexer = SqlBaseLexer(InputStream(sql.upper()))
    parser = SqlBaseParser(CommonTokenStream(lexer))
    parser.removeErrorListener(ConsoleErrorListener.INSTANCE)
    parser.addErrorListener(TrinoErrorListener())
    return parser.singleStatement()


def parse_sqlglot(sql: str) -> exp.Expression:
    """Parse one statement with sqlglot's Athena dialect."""
    [statement] = sqlglot.parse(sql, read="athena")
    return statement


def _walk(node):
    yield node
    for child in getattr(node, "children", None) or ():
        yield from _walk(child)


def _text(node) -> str:
    """The statement's own text of a node (upper-cased, as parsed), spaces kept."""
    return node.start.getInputStream().getText(node.start.start, node.stop.stop)


def _aliases(relation) -> set[str]:
    """The names a relation's columns are qualified with: aliases, else table names."""
    names = set()
    for node in _walk(relation):
        if isinstance(node, SqlBaseParser.AliasedRelationContext):
            if node.identifier() is not None:
                names.add(node.identifier().getText())
            elif isinstance(node.relationPrimary(), SqlBaseParser.TableNameContext):
                names.add(node.relationPrimary().getText())
    return names


def _qualifiers(expression) -> set[str]:
    return {
        node.base.getText()
        for node in _walk(expression)
        if isinstance(node, SqlBaseParser.DereferenceContext)
        and isinstance(node.base, SqlBaseParser.ColumnReferenceContext)
    }


def _conjuncts(condition):
    if isinstance(condition, SqlBaseParser.AndContext):
        for side in condition.booleanExpression():
            yield from _conjuncts(side)
    else:
        yield condition


def _is_cross_equality(condition, left: set[str], right: set[str]) -> bool:
    """An ``a = b`` where one side reads only the left relation and the other only the right."""
    if not isinstance(condition, SqlBaseParser.PredicatedContext):
        return False
    predicate = condition.predicate()
    if not isinstance(predicate, SqlBaseParser.ComparisonContext) or predicate.comparisonOperator().getText() != "=":
        return False
    one, other = _qualifiers(condition.valueExpression()), _qualifiers(predicate.right)
    return bool(one and other) and ((one <= left and other <= right) or (one <= right and other <= left))


def _allowed_cross(relation) -> bool:
    primaries = [node for node in _walk(relation) if isinstance(node, SqlBaseParser.RelationPrimaryContext)]
    if len(primaries) != 1:
        return False
    [primary] = primaries
    return isinstance(primary, SqlBaseParser.UnnestContext) or (
        isinstance(primary, SqlBaseParser.TableNameContext) and primary.getText().lower() in ONE_ROW_RELATIONS
    )


def trino_joins_without_equality(tree) -> list[str]:
    """Every join in a Trino parse tree that the planner would run as a cross join plus filter."""
    bad = []
    for node in _walk(tree):
        if isinstance(node, SqlBaseParser.QuerySpecificationContext) and len(node.relation()) > 1:
            bad.extend(_text(relation) for relation in node.relation()[1:])  # FROM a, b
        if not isinstance(node, SqlBaseParser.JoinRelationContext):
            continue
        if node.CROSS() is not None:
            if not _allowed_cross(node.right):
                bad.append(_text(node))
        elif node.NATURAL() is not None:
            bad.append(_text(node))
        elif node.joinCriteria().USING() is None:
            left, right = _aliases(node.left), _aliases(node.rightRelation)
            if not any(_is_cross_equality(c, left, right) for c in _conjuncts(node.joinCriteria().booleanExpression())):
                bad.append(_text(node))
    return bad


def _sqlglot_sources(node: exp.Expression) -> set[str]:
    if isinstance(node, exp.Join):
        node = node.this
    return {node.alias_or_name}


def sqlglot_joins_without_equality(statement: exp.Expression) -> list[str]:
    """Every join in a sqlglot tree that the planner would run as a cross join plus filter."""
    bad = []
    for select in statement.find_all(exp.Select):
        joins = select.args.get("joins") or []
        source = select.args.get("from_") or select.args.get("from")
        seen = _sqlglot_sources(source.this) if source is not None else set()
        for join in joins:
            right = _sqlglot_sources(join)
            condition, using = join.args.get("on"), join.args.get("using")
            if using:
                pass
            elif condition is None:
                target = join.this
                one_row = isinstance(target, exp.Table) and target.name.lower() in ONE_ROW_RELATIONS
                if not (isinstance(target, exp.Unnest) or one_row):
                    bad.append(join.sql(dialect="athena"))
            elif not _sqlglot_cross_equality(condition, seen, right):
                bad.append(join.sql(dialect="athena"))
            seen |= right
    return bad


def _sqlglot_cross_equality(condition: exp.Expression, left: set[str], right: set[str]) -> bool:
    if isinstance(condition, exp.And):
        return any(_sqlglot_cross_equality(part, left, right) for part in (condition.this, condition.expression))
    if not isinstance(condition, exp.EQ):
        return False
    one = {column.table for column in condition.this.find_all(exp.Column)}
    other = {column.table for column in condition.expression.find_all(exp.Column)}
    return bool(one and other) and ((one <= left and other <= right) or (one <= right and other <= left))
