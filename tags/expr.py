"""A small condition language for tag rules and segment requests, compiled to Spark Columns.

The text comes from configuration and from people asking for segments, so none of it ever
reaches SQL text: it is parsed into frozen dataclasses, type-checked against the names it may
use, and every node becomes Column calls (``F.col``, ``F.lit``, operators, functions). A string
literal stays a value whatever it holds.

Grammar (keywords case-insensitive, loosest binding first)::

    expression := disjunct ("or" disjunct)*
    disjunct   := conjunct ("and" conjunct)*
    conjunct   := "not" conjunct | predicate
    predicate  := sum [ comparison sum
                      | "is" ["not"] "null"
                      | ["not"] "in" "(" literal ("," literal)* ")"
                      | ["not"] "between" sum "and" sum ]
    sum        := product (("+" | "-") product)*
    product    := unary (("*" | "/") unary)*
    unary      := "-" unary | primary
    primary    := literal | name | name "(" [expression ("," expression)*] ")" | "(" expression ")"
    literal    := ["-"] number | string | "true" | "false" | "null" | "date" string
    comparison := "=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">="

Strings take single or double quotes; a quote is escaped by doubling it or with a backslash
(``\\\\`` is a backslash; any other backslash is kept as written). Names are
``[A-Za-z_][A-Za-z0-9_]*``; ``and or not is null in between true false`` are reserved.

Types are number, string, boolean and date. Comparisons, in-lists, between and coalesce take
operands of one type, except that a 'YYYY-MM-DD' string literal beside a date is that date;
and/or/not take booleans; arithmetic takes numbers, and a division by zero or an overflow is
null rather than a failed job. Functions: coalesce(a, b, ...), abs(n), round(n[, digits]),
lower(s), upper(s), length(s), year(d), month(d), days_between(d1, d2) = d2 - d1 in days,
days_since(d) and years_since(d) (to the as-of date), contains(s, part).

Inside, the semantics are SQL's three-valued logic; :func:`compile_condition` turns unknown
into False, because a rule that cannot be evaluated does not hold.
"""

from __future__ import annotations

import calendar
import difflib
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import reduce
from typing import NoReturn

from pyspark.sql import Column
from pyspark.sql import functions as F

NUMBER, STRING, BOOLEAN, DATE = "number", "string", "boolean", "date"
TYPES = (NUMBER, STRING, BOOLEAN, DATE)
# The type of the literal null alone: it fits wherever any type is expected.
_NULL = "null"


class ExpressionError(ValueError):
    """An expression or rule tree that cannot be parsed or compiled; the message starts with its context."""


# --- Syntax tree -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Literal:
    value: Decimal | str | bool | date | None
    value_type: str  # one of TYPES, or "null" for null


@dataclass(frozen=True)
class Name:
    name: str


@dataclass(frozen=True)
class Unary:
    op: str  # "not" or "-"
    operand: Node


@dataclass(frozen=True)
class Binary:
    op: str  # "or", "and", a comparison (= != < <= > >=) or arithmetic (+ - * /)
    left: Node
    right: Node


@dataclass(frozen=True)
class IsNull:
    operand: Node
    negated: bool = False


@dataclass(frozen=True)
class InList:
    operand: Node
    items: tuple[Literal, ...]
    negated: bool = False


@dataclass(frozen=True)
class Between:
    operand: Node
    low: Node
    high: Node
    negated: bool = False


@dataclass(frozen=True)
class Call:
    function: str  # lower case
    args: tuple[Node, ...]


Node = Literal | Name | Unary | Binary | IsNull | InList | Between | Call

_LOGICAL = ("or", "and")
_COMPARISONS = {"=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
                ">": operator.gt, ">=": operator.ge}
# try_* give null where ANSI mode would fail the whole job: division by zero, overflow.
_ARITHMETIC = {"+": F.try_add, "-": F.try_subtract, "*": F.try_multiply, "/": F.try_divide}


# --- Tokens ------------------------------------------------------------------------------------

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"\d+(?:\.\d*)?|\.\d+")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_SYMBOLS = ("==", "!=", "<>", "<=", ">=", "=", "<", ">", "+", "-", "*", "/", "(", ")", ",")
_SPELLINGS = {"==": "=", "<>": "!="}
_RESERVED = frozenset({"and", "or", "not", "is", "null", "in", "between", "true", "false"})
_END, _WORD, _NUMERAL, _TEXT, _SYMBOL = "end", "word", "number", "string", "symbol"


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str  # as written; for strings, the value with its escapes resolved
    offset: int


def _syntax_error(text: str, context: str, offset: int, message: str) -> ExpressionError:
    return ExpressionError(f"{context}: syntax error at column {offset + 1}: {message} in `{text}`")


def _tokenize(text: str, context: str) -> list[_Token]:
    tokens, offset = [], 0
    while offset < len(text):
        char = text[offset]
        if char.isspace():
            offset += 1
        elif char in "'\"":
            value, offset_after = _string(text, offset, context)
            tokens.append(_Token(_TEXT, value, offset))
            offset = offset_after
        elif match := _NUMBER.match(text, offset):
            tokens.append(_Token(_NUMERAL, match.group(), offset))
            offset = match.end()
        elif match := _NAME.match(text, offset):
            tokens.append(_Token(_WORD, match.group(), offset))
            offset = match.end()
        else:
            symbol = next((s for s in _SYMBOLS if text.startswith(s, offset)), None)
            if symbol is None:
                raise _syntax_error(text, context, offset, f"unexpected character {char!r}")
            tokens.append(_Token(_SYMBOL, _SPELLINGS.get(symbol, symbol), offset))
            offset += len(symbol)
    tokens.append(_Token(_END, "", len(text)))
    return tokens


def _string(text: str, start: int, context: str) -> tuple[str, int]:
    """The value of the string literal opening at ``start``, and the offset after it."""
    quote, chars, offset = text[start], [], start + 1
    while offset < len(text):
        char = text[offset]
        following = text[offset + 1] if offset + 1 < len(text) else ""
        if char == "\\" and following in (quote, "\\"):
            chars.append(following)
            offset += 2
        elif char == quote and following == quote:
            chars.append(quote)
            offset += 2
        elif char == quote:
            return "".join(chars), offset + 1
        else:
            chars.append(char)
            offset += 1
    raise _syntax_error(text, context, start, "unterminated string")


def _iso_date(value: str) -> date | None:
    # date.fromisoformat also takes 20260131 and week dates; only YYYY-MM-DD is meant.
    if not _ISO_DATE.fullmatch(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


# --- Parser ------------------------------------------------------------------------------------


class _Parser:
    """Recursive descent over the grammar of the module docstring, one method per rule."""

    def __init__(self, text: str, context: str):
        self.text, self.context = text, context
        self.tokens = _tokenize(text, context)
        self.index = 0

    def parse(self) -> Node:
        node = self.expression()
        if self.peek().kind != _END:
            self.fail("an operator or the end")
        return node

    def peek(self, ahead: int = 0) -> _Token:
        return self.tokens[min(self.index + ahead, len(self.tokens) - 1)]

    def advance(self) -> _Token:
        token = self.peek()
        self.index += 1
        return token

    def accept_word(self, word: str) -> bool:
        token = self.peek()
        if token.kind == _WORD and token.text.lower() == word:
            self.index += 1
            return True
        return False

    def accept_symbol(self, symbol: str) -> bool:
        token = self.peek()
        if token.kind == _SYMBOL and token.text == symbol:
            self.index += 1
            return True
        return False

    def expect_word(self, word: str) -> None:
        if not self.accept_word(word):
            self.fail(f"'{word}'")

    def expect_symbol(self, symbol: str, expected: str | None = None) -> None:
        if not self.accept_symbol(symbol):
            self.fail(expected or f"'{symbol}'")

    def fail(self, expected: str) -> NoReturn:
        token = self.peek()
        found = {_END: "the end", _TEXT: "a string"}.get(token.kind, f"'{token.text}'")
        raise _syntax_error(self.text, self.context, token.offset, f"expected {expected}, found {found}")

    def expression(self) -> Node:
        node = self.disjunct()
        while self.accept_word("or"):
            node = Binary("or", node, self.disjunct())
        return node

    def disjunct(self) -> Node:
        node = self.conjunct()
        while self.accept_word("and"):
            node = Binary("and", node, self.conjunct())
        return node

    def conjunct(self) -> Node:
        if self.accept_word("not"):
            return Unary("not", self.conjunct())
        return self.predicate()

    def predicate(self) -> Node:
        left = self.sum()
        token = self.peek()
        if token.kind == _SYMBOL and token.text in _COMPARISONS:
            self.advance()
            return Binary(token.text, left, self.sum())
        if self.accept_word("is"):
            negated = self.accept_word("not")
            self.expect_word("null")
            return IsNull(left, negated)
        negated = self.accept_word("not")
        if self.accept_word("in"):
            return InList(left, self.in_items(), negated)
        if self.accept_word("between"):
            low = self.sum()
            self.expect_word("and")
            return Between(left, low, self.sum(), negated)
        if negated:
            self.fail("'in' or 'between' after 'not'")
        return left

    def in_items(self) -> tuple[Literal, ...]:
        self.expect_symbol("(")
        items = [self.in_item()]
        while self.accept_symbol(","):
            items.append(self.in_item())
        self.expect_symbol(")", "',' or ')'")
        return tuple(items)

    def in_item(self) -> Literal:
        if self.accept_symbol("-"):
            if self.peek().kind != _NUMERAL:
                self.fail("a number")
            return Literal(-self.literal().value, NUMBER)
        literal = self.literal()
        if literal is None:
            self.fail("a literal value")
        return literal

    def sum(self) -> Node:
        node = self.product()
        while (token := self.peek()).kind == _SYMBOL and token.text in ("+", "-"):
            self.advance()
            node = Binary(token.text, node, self.product())
        return node

    def product(self) -> Node:
        node = self.unary()
        while (token := self.peek()).kind == _SYMBOL and token.text in ("*", "/"):
            self.advance()
            node = Binary(token.text, node, self.unary())
        return node

    def unary(self) -> Node:
        if self.accept_symbol("-"):
            operand = self.unary()
            if isinstance(operand, Literal) and operand.value_type == NUMBER:
                return Literal(-operand.value, NUMBER)
            return Unary("-", operand)
        return self.primary()

    def primary(self) -> Node:
        literal = self.literal()
        if literal is not None:
            return literal
        if self.accept_symbol("("):
            node = self.expression()
            self.expect_symbol(")", "')'")
            return node
        token = self.peek()
        if token.kind != _WORD or token.text.lower() in _RESERVED:
            self.fail("a value, a name or '('")
        self.advance()
        if self.accept_symbol("("):
            return Call(token.text.lower(), self.arguments())
        return Name(token.text)

    def arguments(self) -> tuple[Node, ...]:
        if self.accept_symbol(")"):
            return ()
        args = [self.expression()]
        while self.accept_symbol(","):
            args.append(self.expression())
        self.expect_symbol(")", "',' or ')'")
        return tuple(args)

    def literal(self) -> Literal | None:
        """The literal at the current token, consumed; None (nothing consumed) if there is none."""
        token = self.peek()
        if token.kind == _NUMERAL:
            self.advance()
            return Literal(Decimal(token.text), NUMBER)
        if token.kind == _TEXT:
            self.advance()
            return Literal(token.text, STRING)
        if token.kind != _WORD:
            return None
        word = token.text.lower()
        if word in ("true", "false"):
            self.advance()
            return Literal(word == "true", BOOLEAN)
        if word == "null":
            self.advance()
            return Literal(None, _NULL)
        if word == "date" and self.peek(1).kind == _TEXT:
            self.advance()
            text = self.advance()
            value = _iso_date(text.text)
            if value is None:
                raise _syntax_error(self.text, self.context, text.offset,
                                    f"{text.text!r} is not a date (expected date'YYYY-MM-DD')")
            return Literal(value, DATE)
        return None


def parse(text: str, context: str) -> Node:
    """The syntax tree of an expression.

    Args:
        text: the expression, in the grammar of this module's docstring.
        context: what the expression belongs to (``tag vip_flag``); every error message starts with it.

    Raises:
        ExpressionError: an empty text or a syntax error, with its column and what was expected.
    """
    if not isinstance(text, str):
        raise ExpressionError(f"{context}: an expression must be text, got {type(text).__name__}")
    if not text.strip():
        raise ExpressionError(f"{context}: empty expression")
    try:
        return _Parser(text, context).parse()
    except RecursionError:
        raise ExpressionError(f"{context}: expression nested too deeply") from None


# --- Rendering ---------------------------------------------------------------------------------

_PRECEDENCE = {"or": 1, "and": 2, "not": 3, **dict.fromkeys(_COMPARISONS, 4), "+": 5, "-": 5, "*": 6, "/": 6}
_OPERAND = 5  # predicates take sums
_UNARY, _ATOM = 7, 8


def render(node: Node) -> str:
    """The node as canonical text that parses back to the same node; error messages quote it."""
    match node:
        case Literal():
            return _render_literal(node)
        case Name(name=name):
            return name
        case Unary(op="not", operand=operand):
            return f"not {_wrapped(operand, _PRECEDENCE['not'])}"
        case Unary(op=op, operand=operand):
            # Parenthesized below an atom so two minus signs never meet: -(-x), not --x.
            return f"{op}{_wrapped(operand, _ATOM)}"
        case Binary(op=op, left=left, right=right) if op in _COMPARISONS:
            return f"{_wrapped(left, _OPERAND)} {op} {_wrapped(right, _OPERAND)}"
        case Binary(op=op, left=left, right=right):
            # Left-associative: an equal-precedence operation on the right needs parentheses.
            return f"{_wrapped(left, _PRECEDENCE[op])} {op} {_wrapped(right, _PRECEDENCE[op] + 1)}"
        case IsNull(operand=operand, negated=negated):
            return f"{_wrapped(operand, _OPERAND)} is {'not ' * negated}null"
        case InList(operand=operand, items=items, negated=negated):
            listed = ", ".join(_render_literal(item) for item in items)
            return f"{_wrapped(operand, _OPERAND)} {'not ' * negated}in ({listed})"
        case Between(operand=operand, low=low, high=high, negated=negated):
            return (f"{_wrapped(operand, _OPERAND)} {'not ' * negated}between "
                    f"{_wrapped(low, _OPERAND)} and {_wrapped(high, _OPERAND)}")
        case Call(function=function, args=args):
            return f"{function}({', '.join(render(arg) for arg in args)})"
    raise TypeError(f"not an expression node: {node!r}")


def _precedence(node: Node) -> int:
    match node:
        case Binary(op=op) | Unary(op="not" as op):
            return _PRECEDENCE[op]
        case IsNull() | InList() | Between():
            return _PRECEDENCE["="]
        case Unary():
            return _UNARY
        case Literal(value=Decimal() as value) if value.is_signed():
            return _UNARY
    return _ATOM


def _wrapped(node: Node, least: int) -> str:
    text = render(node)
    return text if _precedence(node) >= least else f"({text})"


def _render_literal(literal: Literal) -> str:
    value = literal.value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return f"date'{value.isoformat()}'"
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"
    return format(value if isinstance(value, Decimal) else Decimal(str(value)), "f")


# --- Rule trees --------------------------------------------------------------------------------

_GROUPS = ("all", "any", "not")
_LEAF_KEYS = ("field", "op", "value")
_LEAF_OPS = (*_COMPARISONS, "in", "not_in", "between", "is_null", "is_not_null")
_ROOT = "rule"


def _rule_node(tree: object, context: str, path: str) -> Node:
    """The syntax tree of a rule tree; structural errors name the place, like ``rule.all[1]``."""
    if isinstance(tree, Node):
        return tree
    if isinstance(tree, str):
        return parse(tree, context)
    if isinstance(tree, (list, tuple)):
        return _group("and", tree, context, path, lambda index: f"{path}[{index}]")
    if isinstance(tree, Mapping):
        keys = set(tree)
        groups = [key for key in _GROUPS if key in keys]
        if groups and len(keys) > 1:
            raise _tree_error(context, path, f"a group has exactly one key, got {_listed(keys)}")
        if groups == ["not"]:
            return Unary("not", _rule_node(tree["not"], context, f"{path}.not"))
        if groups:
            key = groups[0]
            return _group("and" if key == "all" else "or", tree[key], context, path,
                          lambda index: f"{path}.{key}[{index}]")
        return _leaf(tree, context, path)
    raise _tree_error(context, path, f"a rule is an expression, a mapping or a list, got {type(tree).__name__}")


def _group(op: str, items: object, context: str, path: str, item_path: Callable[[int], str]) -> Node:
    if not isinstance(items, (list, tuple)) or not items:
        raise _tree_error(context, path, f"{'all' if op == 'and' else 'any'} takes a non-empty list of rules")
    nodes = [_rule_node(item, context, item_path(index)) for index, item in enumerate(items)]
    return reduce(lambda left, right: Binary(op, left, right), nodes)


def _leaf(tree: Mapping, context: str, path: str) -> Node:
    unknown = set(tree) - set(_LEAF_KEYS)
    if unknown:
        raise _tree_error(context, path, f"unknown key {_listed(unknown)} (a group has one of all, any, not; "
                                         f"a leaf has field, op and value)")
    field, op = tree.get("field"), tree.get("op")
    if not isinstance(field, str) or not _NAME.fullmatch(field):
        raise _tree_error(context, path, f"field must be a name, got {field!r}")
    if op not in _LEAF_OPS:
        raise _tree_error(context, path, f"unknown operator {op!r} (expected one of {', '.join(_LEAF_OPS)})")
    name = Name(field)
    if op in ("is_null", "is_not_null"):
        if "value" in tree:
            raise _tree_error(context, path, f"{op} takes no value")
        return IsNull(name, op == "is_not_null")
    if "value" not in tree:
        raise _tree_error(context, path, f"{op} needs a value")
    value = tree["value"]
    if op in ("in", "not_in"):
        if not isinstance(value, (list, tuple)) or not value:
            raise _tree_error(context, path, f"{op} takes a non-empty list of values, got {value!r}")
        return InList(name, tuple(_leaf_literal(item, context, path) for item in value), op == "not_in")
    if op == "between":
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise _tree_error(context, path, f"between takes a list of two values, got {value!r}")
        low, high = (_leaf_literal(item, context, path) for item in value)
        return Between(name, low, high)
    return Binary(op, name, _leaf_literal(value, context, path))


def _leaf_literal(value: object, context: str, path: str) -> Literal:
    """A leaf's value as a literal; a date field compares with a 'YYYY-MM-DD' string as in expressions."""
    if isinstance(value, bool):
        return Literal(value, BOOLEAN)
    if isinstance(value, (int, Decimal, float)) and Decimal(value).is_finite():
        # repr keeps the decimal a configuration wrote (1000.5), not the binary float's expansion.
        return Literal(Decimal(repr(value)) if isinstance(value, float) else Decimal(value), NUMBER)
    if isinstance(value, str):
        return Literal(value, STRING)
    if isinstance(value, date) and not isinstance(value, datetime):
        return Literal(value, DATE)
    if value is None:
        raise _tree_error(context, path, "a value cannot be null (use is_null or is_not_null)")
    raise _tree_error(context, path, f"a value is a number, string, boolean or date, got {value!r}")


def _tree_error(context: str, path: str, message: str) -> ExpressionError:
    return ExpressionError(f"{context}: {path}: {message}")


def _listed(keys: object) -> str:
    return ", ".join(repr(key) for key in sorted(keys, key=str))


# --- References --------------------------------------------------------------------------------


def references(node_or_tree: Node | str | Mapping | list, context: str = "expression") -> frozenset[str]:
    """The names an expression or rule tree uses (tag codes or source columns), for ordering.

    Raises:
        ExpressionError: a text or tree that does not parse; the message starts with ``context``.
    """
    node = _rule_node(node_or_tree, context, _ROOT)
    return frozenset(_names(node))


def reads_as_of(node_or_tree: Node | str | Mapping | list, context: str = "expression") -> bool:
    """Whether an expression reads the run's date (``days_since``, ``years_since``), so its
    value can change on a day when none of the rows it reads did.

    Raises:
        ExpressionError: a text or tree that does not parse; the message starts with ``context``.
    """
    return _reads_as_of(_rule_node(node_or_tree, context, _ROOT))


def _reads_as_of(node: Node) -> bool:
    if isinstance(node, Call) and node.function in _FUNCTIONS and _FUNCTIONS[node.function].needs_as_of:
        return True
    return any(_reads_as_of(child) for child in _children(node))


def _names(node: Node) -> set[str]:
    if isinstance(node, Name):
        return {node.name}
    return set().union(*(_names(child) for child in _children(node)))


def _children(node: Node) -> tuple[Node, ...]:
    match node:
        case Unary(operand=operand) | IsNull(operand=operand):
            return (operand,)
        case Binary(left=left, right=right):
            return left, right
        case InList(operand=operand, items=items):
            return operand, *items
        case Between(operand=operand, low=low, high=high):
            return operand, low, high
        case Call(args=args):
            return args
    return ()


# --- Functions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Function:
    params: tuple[str, ...]
    required: int  # the trailing parameters after these may be left out
    result: str
    build: Callable[..., Column]  # (as_of, *argument columns) -> Column
    needs_as_of: bool = False

    def signature(self, name: str) -> str:
        optional = "".join(f"[, {param}]" for param in self.params[self.required:])
        return f"{name}({', '.join(self.params[:self.required])}{optional})"


def _years_since(as_of: date, born: Column) -> Column:
    """Whole years completed from ``born`` to ``as_of``.

    A 29 February birthday's anniversary in a common year is 28 February, the month's last day,
    as dateutil's relativedelta and Spark's add_months and months_between have it. A birth after
    ``as_of`` gives a negative count.
    """
    # Days of the year as month * 100 + day; the last day of February reaches 29 February too.
    today = as_of.month * 100 + as_of.day
    if (as_of.month, as_of.day) == (2, 28) and not calendar.isleap(as_of.year):
        today = 229
    before_anniversary = F.month(born) * 100 + F.dayofmonth(born) > F.lit(today)
    return F.lit(as_of.year) - F.year(born) - F.when(before_anniversary, 1).otherwise(0)


_FUNCTIONS = {
    "abs": _Function((NUMBER,), 1, NUMBER, lambda _, n: F.abs(n)),
    "round": _Function((NUMBER, NUMBER), 1, NUMBER, lambda _, n: F.round(n)),
    "lower": _Function((STRING,), 1, STRING, lambda _, s: F.lower(s)),
    "upper": _Function((STRING,), 1, STRING, lambda _, s: F.upper(s)),
    "length": _Function((STRING,), 1, NUMBER, lambda _, s: F.length(s)),
    "year": _Function((DATE,), 1, NUMBER, lambda _, d: F.year(d)),
    "month": _Function((DATE,), 1, NUMBER, lambda _, d: F.month(d)),
    "days_between": _Function((DATE, DATE), 2, NUMBER, lambda _, start, end: F.datediff(end, start)),
    "days_since": _Function((DATE,), 1, NUMBER, lambda as_of, d: F.datediff(F.lit(as_of), d), True),
    "years_since": _Function((DATE,), 1, NUMBER, _years_since, True),
    "contains": _Function((STRING, STRING), 2, BOOLEAN, lambda _, s, part: s.contains(part)),
}
_COALESCE = "coalesce"
FUNCTIONS = tuple(sorted((*_FUNCTIONS, _COALESCE)))


# --- Compiler ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Compiled:
    """A compiled expression: its Column (nulls kept, three-valued) and its type, one of TYPES."""

    column: Column
    value_type: str


@dataclass(frozen=True)
class _Compiler:
    types: Mapping[str, str]
    context: str
    as_of: date | None

    def fail(self, message: str, piece: Node) -> NoReturn:
        raise ExpressionError(f"{self.context}: {message} in `{render(piece)}`")

    def compile(self, node: Node, parent: Node) -> Compiled:
        """``parent`` is the piece an unknown name is shown in."""
        match node:
            case Literal():
                return self.literal(node)
            case Name():
                return self.name(node, parent)
            case Unary(op="not", operand=operand):
                (value,) = self.operands(node, operand, want=BOOLEAN, message="'not' needs a boolean")
                return Compiled(~value, BOOLEAN)
            case Unary(op="-", operand=operand):
                (value,) = self.operands(node, operand, want=NUMBER, message="'-' needs a number")
                return Compiled(-value, NUMBER)
            case Binary(op=op, left=left, right=right) if op in _LOGICAL:
                a, b = self.operands(node, left, right, want=BOOLEAN, message=f"'{op}' needs booleans")
                return Compiled(a | b if op == "or" else a & b, BOOLEAN)
            case Binary(op=op, left=left, right=right) if op in _COMPARISONS:
                a, b = self.alike(node, (left, right))
                return Compiled(_COMPARISONS[op](a.column, b.column), BOOLEAN)
            case Binary(op=op, left=left, right=right) if op in _ARITHMETIC:
                a, b = self.operands(node, left, right, want=NUMBER, message=f"'{op}' needs numbers")
                return Compiled(_ARITHMETIC[op](a, b), NUMBER)
            case IsNull(operand=operand, negated=negated):
                value = self.compile(operand, node).column
                return Compiled(value.isNotNull() if negated else value.isNull(), BOOLEAN)
            case InList(operand=operand, items=items, negated=negated):
                if not all(isinstance(item, Literal) for item in items):
                    self.fail("the items of an in-list must be literals", node)
                value, *listed = self.alike(node, (operand, *items))
                found = value.column.isin(*(item.column for item in listed))
                return Compiled(~found if negated else found, BOOLEAN)
            case Between(operand=operand, low=low, high=high, negated=negated):
                value, lowest, highest = self.alike(node, (operand, low, high))
                kind = _known_type([value, lowest, highest])
                if kind not in (NUMBER, DATE, _NULL):
                    self.fail(f"between needs numbers or dates, got {kind}", node)
                inside = value.column.between(lowest.column, highest.column)
                return Compiled(~inside if negated else inside, BOOLEAN)
            case Call():
                return self.call(node)
        raise ExpressionError(f"{self.context}: not an expression node: {node!r}")

    def literal(self, literal: Literal) -> Compiled:
        if literal.value_type not in (*TYPES, _NULL):
            self.fail(f"unknown literal type {literal.value_type!r}", literal)
        if literal.value_type != NUMBER:
            return Compiled(F.lit(literal.value), literal.value_type)
        value = literal.value if isinstance(literal.value, Decimal) else Decimal(str(literal.value))
        digits, exponent = value.as_tuple()[1:]
        within_long = -(2**63) <= value < 2**63
        if within_long and exponent >= 0:
            # A whole number stays an int or a long: exact against long columns.
            return Compiled(F.lit(int(value)), NUMBER)
        if within_long and max(len(digits), -exponent) <= 38:
            # A fraction becomes a decimal of its own scale, exact against decimal(18,2) money and
            # widened by Spark to double against a double column.
            return Compiled(F.lit(value), NUMBER)
        # Beyond a long or a decimal(38), a double. A decimal would be wrong too: Spark's analyzer
        # turns `long_column < decimal beyond the long range` into plain true, null rows included.
        return Compiled(F.lit(float(value)), NUMBER)

    def name(self, name: Name, parent: Node) -> Compiled:
        if name.name not in self.types:
            close = _close(name.name, self.types)
            hint = f" (did you mean {close}?)" if close else ""
            raise ExpressionError(f"{self.context}: unknown name {name.name!r} in `{render(parent)}`{hint}")
        value_type = self.types[name.name]
        if value_type not in TYPES:
            self.fail(f"name {name.name!r} has unknown type {value_type!r} (expected one of {', '.join(TYPES)})",
                      parent)
        return Compiled(F.col(name.name), value_type)

    def operands(self, node: Node, *operands: Node, want: str, message: str) -> list[Column]:
        compiled = [self.compile(operand, node) for operand in operands]
        if any(value.value_type not in (want, _NULL) for value in compiled):
            self.fail(f"{message}, got {' and '.join(value.value_type for value in compiled)}", node)
        return [value.column for value in compiled]

    def alike(self, node: Node, operands: Sequence[Node]) -> list[Compiled]:
        """Operands compared with each other: of one type, once string literals beside dates are dates."""
        compiled = self.dated(node, operands)
        kinds = _distinct(compiled)
        if len(kinds) > 1:
            self.fail(f"cannot compare {kinds[0]} with {kinds[1]}", node)
        return compiled

    def dated(self, node: Node, operands: Sequence[Node]) -> list[Compiled]:
        """Compiled operands; when one is a date, string literals are read as dates too."""
        compiled = [self.compile(operand, node) for operand in operands]
        if all(value.value_type != DATE for value in compiled):
            return compiled
        return [self.as_date(operand, node) if _is_text(operand) else value
                for operand, value in zip(operands, compiled)]

    def as_date(self, text: Literal, node: Node) -> Compiled:
        value = _iso_date(text.value)
        if value is None:
            self.fail(f"{text.value!r} is not a date (expected 'YYYY-MM-DD')", node)
        return Compiled(F.lit(value), DATE)

    def call(self, node: Call) -> Compiled:
        name, args = node.function, node.args
        if name == _COALESCE:
            return self.coalesce(node)
        function = _FUNCTIONS.get(name)
        if function is None:
            close = _close(name, FUNCTIONS)
            hint = f"did you mean {close}?" if close else f"known: {', '.join(FUNCTIONS)}"
            self.fail(f"unknown function {name!r} ({hint})", node)
        values = [
            self.as_date(arg, node) if param == DATE and _is_text(arg) else self.compile(arg, node)
            for arg, param in zip(args, (*function.params, *[None] * len(args)))
        ]
        given = tuple(value.value_type for value in values)
        if not function.required <= len(args) <= len(function.params) or any(
            kind not in (param, _NULL) for kind, param in zip(given, function.params)
        ):
            self.fail(f"{function.signature(name)} cannot take ({', '.join(given)})", node)
        if function.needs_as_of and self.as_of is None:
            self.fail(f"{name} needs the as-of date, and none was given", node)
        columns = [value.column for value in values]
        if name == "round" and len(args) == 2:
            return Compiled(F.round(columns[0], self.whole_literal(args[1], node)), NUMBER)
        return Compiled(function.build(self.as_of, *columns), function.result)

    def coalesce(self, node: Call) -> Compiled:
        if len(node.args) < 2:
            self.fail("coalesce takes at least two arguments", node)
        values = self.dated(node, node.args)
        kinds = _distinct(values)
        if len(kinds) > 1:
            self.fail(f"coalesce needs arguments of one type, got {' and '.join(kinds)}", node)
        return Compiled(F.coalesce(*(value.column for value in values)), kinds[0] if kinds else _NULL)

    def whole_literal(self, digits: Node, node: Node) -> int:
        if not (isinstance(digits, Literal) and digits.value_type == NUMBER
                and Decimal(digits.value) == Decimal(digits.value).to_integral_value()):
            self.fail("round's digits must be a whole number written as a literal", node)
        return int(digits.value)


def _close(name: str, known: Sequence[str] | Mapping[str, str]) -> str:
    """Up to three known names like ``name``, quoted, ignoring case (``SPEND`` suggests 'spend')."""
    by_lower = {candidate.lower(): candidate for candidate in known}
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=3)
    return ", ".join(repr(by_lower[candidate]) for candidate in close)


def _is_text(node: Node) -> bool:
    return isinstance(node, Literal) and node.value_type == STRING


def _distinct(compiled: Sequence[Compiled]) -> list[str]:
    """The types of the operands in order of appearance, each once, null left out."""
    return list(dict.fromkeys(value.value_type for value in compiled if value.value_type != _NULL))


def _known_type(compiled: Sequence[Compiled]) -> str:
    kinds = _distinct(compiled)
    return kinds[0] if kinds else _NULL


def compile_expression(
    source: str | Node, types: Mapping[str, str], context: str, as_of: date | None = None
) -> Compiled:
    """An expression as a Column with its type; nulls stay null (three-valued logic).

    Args:
        source: the expression text, or a node from :func:`parse`.
        types: every name the expression may use, with its type (one of ``TYPES``).
        context: what the expression belongs to; every error message starts with it.
        as_of: the run's date, needed by ``days_since`` and ``years_since``.

    Raises:
        ExpressionError: a syntax error, an unknown name or function, or a type mismatch.
    """
    node = parse(source, context) if isinstance(source, str) else source
    if not isinstance(node, Node):
        raise ExpressionError(f"{context}: an expression is text or a parsed node, got {type(node).__name__}")
    compiled = _Compiler(types, context, as_of).compile(node, node)
    if compiled.value_type == _NULL:
        raise ExpressionError(f"{context}: `{render(node)}` is always null, so it has no type")
    return compiled


def compile_condition(
    tree: str | Mapping | list | Node, types: Mapping[str, str], context: str, as_of: date | None = None
) -> Column:
    """A condition or rule tree as a boolean Column that is never null: unknown does not hold.

    Args:
        tree: an expression, a node from :func:`parse`, a list (all of its rules), or a mapping:
            ``{all: [...]}``, ``{any: [...]}``, ``{not: rule}`` or a leaf
            ``{field: name, op: = != < <= > >= in not_in between is_null is_not_null, value: ...}``
            (a list for in and not_in, two values for between, none for is_null and is_not_null).
        types, context, as_of: as for :func:`compile_expression`.

    Raises:
        ExpressionError: a malformed tree, or an expression that does not compile to a boolean.
    """
    node = _rule_node(tree, context, _ROOT)
    compiled = _Compiler(types, context, as_of).compile(node, node)
    if compiled.value_type not in (BOOLEAN, _NULL):
        raise ExpressionError(f"{context}: a condition must be boolean, and `{render(node)}` is {compiled.value_type}")
    return F.coalesce(compiled.column, F.lit(False))
