"""The tag expression language: parsing, rendering and references as pure functions; compiled
conditions and values evaluated on one small frame with nulls, money, Chinese text and SQL-like
strings; years_since against dateutil as an oracle; every error message in full.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from dateutil.relativedelta import relativedelta
from pyspark.sql import DataFrame, SparkSession
from pyspark.testing import assertDataFrameEqual

from tags.expr import (
    BOOLEAN,
    DATE,
    NUMBER,
    STRING,
    Between,
    Binary,
    Call,
    ExpressionError,
    InList,
    IsNull,
    Literal,
    Name,
    Unary,
    compile_condition,
    compile_expression,
    parse,
    references,
    render,
)

CONTEXT = "tag t"
AS_OF = date(2026, 3, 1)
D = Decimal
TYPES = {
    "spend": NUMBER, "freq": NUMBER, "qty": NUMBER, "ratio": NUMBER, "category": STRING, "city": STRING,
    "is_vip": BOOLEAN, "birthday": DATE, "last_order_date": DATE,
}
FRAME_DDL = (
    "id string, spend decimal(18,2), freq long, qty int, ratio double, category string, city string, "
    "is_vip boolean, birthday date, last_order_date date"
)
INJECTED = "x'; drop table t --"
ROWS = [
    ("r1", D("1000.50"), 2, 3, 0.5, "女装", "上海", True, date(1990, 6, 15), date(2026, 1, 31)),
    ("r2", D("1000.49"), 4, 0, 2.0, "men's", "Beijing", False, date(2004, 2, 29), date(2025, 12, 31)),
    ("r3", None, 5, None, None, None, None, None, None, None),
    ("r4", D("-20.00"), 1, -7, 1000.5, "童装", "广州", True, date(2000, 3, 1), date(2026, 2, 1)),
    ("r5", D("0.00"), None, 10, 0.0, INJECTED, "shanghai", False, date(2000, 2, 28), date(2024, 2, 29)),
]
IDS = [row[0] for row in ROWS]


def n(text: str) -> Literal:
    return Literal(D(text), NUMBER)


def s(text: str) -> Literal:
    return Literal(text, STRING)


# --- Parsing (pure) ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("a > 1 AND NOT b Or c", Binary("or", Binary("and", Binary(">", Name("a"), n("1")), Unary("not", Name("b"))),
                                        Name("c"))),
        ("a or b and c", Binary("or", Name("a"), Binary("and", Name("b"), Name("c")))),
        ("not a = 1", Unary("not", Binary("=", Name("a"), n("1")))),
        ("a == 1", Binary("=", Name("a"), n("1"))),
        ("a <> 1", Binary("!=", Name("a"), n("1"))),
        ("a<=b", Binary("<=", Name("a"), Name("b"))),
        ("1 + 2 * -x", Binary("+", n("1"), Binary("*", n("2"), Unary("-", Name("x"))))),
        ("a - b - c", Binary("-", Binary("-", Name("a"), Name("b")), Name("c"))),
        ("a / (b + c)", Binary("/", Name("a"), Binary("+", Name("b"), Name("c")))),
        ("-1.50 < .5", Binary("<", n("-1.50"), n(".5"))),
        ("x IS NOT NULL", IsNull(Name("x"), negated=True)),
        ("x is null", IsNull(Name("x"))),
        ("x not in (1, -2, 'a', null, TRUE, date'2026-01-31')",
         InList(Name("x"), (n("1"), n("-2"), s("a"), Literal(None, "null"), Literal(True, BOOLEAN),
                            Literal(date(2026, 1, 31), DATE)), negated=True)),
        ("x between 1 and y + 1 and z", Binary("and", Between(Name("x"), n("1"), Binary("+", Name("y"), n("1"))),
                                               Name("z"))),
        ("x NOT BETWEEN 1 AND 2", Between(Name("x"), n("1"), n("2"), negated=True)),
        ("Coalesce(a, b) >= 0", Binary(">=", Call("coalesce", (Name("a"), Name("b"))), n("0"))),
        ("f()", Call("f", ())),
        ("DATE '2026-01-31'", Literal(date(2026, 1, 31), DATE)),
        ("date = 1", Binary("=", Name("date"), n("1"))),  # date is a name unless a string follows
        ("((a))", Name("a")),
        ("'女装'", s("女装")),
        ("'it''s'", s("it's")),
        ('"it\'s"', s("it's")),
        ("'it\\'s'", s("it's")),
        ('"say ""hi"""', s('say "hi"')),
        ("'C:\\path'", s("C:\\path")),  # a backslash that escapes nothing is kept
        ("'a\\\\b'", s("a\\b")),
        ("\u3000a\t=\n1 ", Binary("=", Name("a"), n("1"))),
    ],
)
def test_parse_builds_the_tree(text, tree):
    assert parse(text, CONTEXT) == tree


@pytest.mark.parametrize(
    "text",
    [
        "a > 1 and not b or c", "(a or b) and not (c or d)", "not not a", "a - (b - c)", "a - -5 * (b + c) / 2",
        "-(a + b)", "-(-a)", "x not in (1, -2.50, null)", "d between date'2026-01-01' and '2026-02-01'",
        "coalesce(a, 0) >= 1000.5", "s = 'it''s \\\\ 女装' or s = \"q\"", "(x is null) = false", "f(g(a), -b)",
    ],
)
def test_rendered_text_parses_back_to_the_same_tree(text):
    tree = parse(text, CONTEXT)
    assert parse(render(tree), CONTEXT) == tree


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "tag t: empty expression"),
        ("  \t", "tag t: empty expression"),
        ("a = ", "tag t: syntax error at column 5: expected a value, a name or '(', found the end in `a = `"),
        ("a b", "tag t: syntax error at column 3: expected an operator or the end, found 'b' in `a b`"),
        ("a < b < c", "tag t: syntax error at column 7: expected an operator or the end, found '<' in `a < b < c`"),
        ("(a", "tag t: syntax error at column 3: expected ')', found the end in `(a`"),
        ("f(a,", "tag t: syntax error at column 5: expected a value, a name or '(', found the end in `f(a,`"),
        ("f(a b)", "tag t: syntax error at column 5: expected ',' or ')', found 'b' in `f(a b)`"),
        ("and", "tag t: syntax error at column 1: expected a value, a name or '(', found 'and' in `and`"),
        ("a not like 'x'",
         "tag t: syntax error at column 7: expected 'in' or 'between' after 'not', found 'like' in `a not like 'x'`"),
        ("a is 1", "tag t: syntax error at column 6: expected 'null', found '1' in `a is 1`"),
        ("a in ()", "tag t: syntax error at column 7: expected a literal value, found ')' in `a in ()`"),
        ("a in (b)", "tag t: syntax error at column 7: expected a literal value, found 'b' in `a in (b)`"),
        ("a in 1", "tag t: syntax error at column 6: expected '(', found '1' in `a in 1`"),
        ("a in (-'x')", "tag t: syntax error at column 8: expected a number, found a string in `a in (-'x')`"),
        ("a between 1 or 2", "tag t: syntax error at column 13: expected 'and', found 'or' in `a between 1 or 2`"),
        ("'abc", "tag t: syntax error at column 1: unterminated string in `'abc`"),
        ("a = 'it\\'", "tag t: syntax error at column 5: unterminated string in `a = 'it\\'`"),
        ("d = date'2026-02-30'",
         "tag t: syntax error at column 9: '2026-02-30' is not a date (expected date'YYYY-MM-DD') in "
         "`d = date'2026-02-30'`"),
        ("d = date'20260131'",
         "tag t: syntax error at column 9: '20260131' is not a date (expected date'YYYY-MM-DD') in "
         "`d = date'20260131'`"),
        ("a.b = 1", "tag t: syntax error at column 2: unexpected character '.' in `a.b = 1`"),
        ("名字 = 1", "tag t: syntax error at column 1: unexpected character '名' in `名字 = 1`"),
        ("a = 1 = 1", "tag t: syntax error at column 7: expected an operator or the end, found '=' in `a = 1 = 1`"),
        ("(" * 400 + "a" + ")" * 400, "tag t: expression nested too deeply"),
    ],
)
def test_syntax_errors_give_the_column_and_what_was_expected(text, message):
    with pytest.raises(ExpressionError) as error:
        parse(text, CONTEXT)
    assert str(error.value) == message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("category = 'x'; drop table t",
         "tag t: syntax error at column 15: unexpected character ';' in `category = 'x'; drop table t`"),
        ("x = 1 or 1=1 --", "tag t: syntax error at column 16: expected a value, a name or '(', found the end in "
                            "`x = 1 or 1=1 --`"),
        ("x = 1 /* c */", "tag t: syntax error at column 8: expected a value, a name or '(', found '*' in "
                          "`x = 1 /* c */`"),
        ("`spend` > 1", "tag t: syntax error at column 1: unexpected character '`' in ``spend` > 1`"),
        ("x = 1) or (1 = 1", "tag t: syntax error at column 6: expected an operator or the end, found ')' in "
                             "`x = 1) or (1 = 1`"),
    ],
)
def test_injection_attempts_do_not_parse(text, message):
    with pytest.raises(ExpressionError) as error:
        parse(text, CONTEXT)
    assert str(error.value) == message


def test_sql_inside_a_string_literal_stays_one_literal():
    assert parse("category = 'x''; drop table t --'", CONTEXT) == Binary("=", Name("category"), s(INJECTED))
    assert parse('category = "x\'; drop table t --"', CONTEXT) == Binary("=", Name("category"), s(INJECTED))


# --- References (pure) -------------------------------------------------------------------------


def test_references_of_expressions_name_the_columns_not_functions_or_literals():
    assert references(parse("coalesce(spend_180d, 0) > x and y in (1, 2) or city = 'spend'", CONTEXT)) == {
        "spend_180d", "x", "y", "city"}
    assert references("days_since(last_order_date) between 1 and z") == {"last_order_date", "z"}
    assert references("1 = 1") == frozenset()


def test_references_of_trees_walk_groups_leaves_strings_and_parsed_nodes():
    tree = {
        "all": [
            "spend > 1 and not is_vip",
            {"any": [{"field": "city", "op": "in", "value": ["上海", "北京"]},
                     {"not": {"field": "birthday", "op": "is_null"}},
                     parse("year(last_order_date) = 2026", CONTEXT)]},
        ]
    }
    assert references(tree) == {"spend", "is_vip", "city", "birthday", "last_order_date"}
    assert references([{"field": "freq", "op": "between", "value": [1, 2]}, "qty > 0"]) == {"freq", "qty"}


@pytest.mark.parametrize(
    ("tree", "message"),
    [
        (42, "tag t: rule: a rule is an expression, a mapping or a list, got int"),
        ([], "tag t: rule: all takes a non-empty list of rules"),
        ({"all": []}, "tag t: rule: all takes a non-empty list of rules"),
        ({"any": "a > 1"}, "tag t: rule: any takes a non-empty list of rules"),
        ({"all": ["a > 1"], "any": ["b > 1"]}, "tag t: rule: a group has exactly one key, got 'all', 'any'"),
        ({"not": "a", "field": "a"}, "tag t: rule: a group has exactly one key, got 'field', 'not'"),
        ({"all": ["a > 1", {"feild": "a", "op": "=", "value": 1}]},
         "tag t: rule.all[1]: unknown key 'feild' (a group has one of all, any, not; a leaf has field, op and value)"),
        ({"any": [{"field": "a", "op": "like", "value": "x"}]},
         "tag t: rule.any[0]: unknown operator 'like' (expected one of =, !=, <, <=, >, >=, in, not_in, between, "
         "is_null, is_not_null)"),
        ({"not": {"field": "a; drop table t", "op": "=", "value": 1}},
         "tag t: rule.not: field must be a name, got 'a; drop table t'"),
        ({"op": "=", "value": 1}, "tag t: rule: field must be a name, got None"),
        ([{"field": "a", "op": "in", "value": "x"}], "tag t: rule[0]: in takes a non-empty list of values, got 'x'"),
        ({"field": "a", "op": "not_in", "value": []}, "tag t: rule: not_in takes a non-empty list of values, got []"),
        ({"field": "a", "op": "between", "value": [1]}, "tag t: rule: between takes a list of two values, got [1]"),
        ({"field": "a", "op": "is_null", "value": 1}, "tag t: rule: is_null takes no value"),
        ({"field": "a", "op": "="}, "tag t: rule: = needs a value"),
        ({"field": "a", "op": "=", "value": None}, "tag t: rule: a value cannot be null (use is_null or is_not_null)"),
        ({"field": "a", "op": "in", "value": [1, None]},
         "tag t: rule: a value cannot be null (use is_null or is_not_null)"),
        ({"field": "a", "op": "=", "value": {"x": 1}},
         "tag t: rule: a value is a number, string, boolean or date, got {'x': 1}"),
        ({"field": "a", "op": "=", "value": float("nan")},
         "tag t: rule: a value is a number, string, boolean or date, got nan"),
        ({"any": ["a >"]}, "tag t: syntax error at column 4: expected a value, a name or '(', found the end in `a >`"),
    ],
)
def test_malformed_trees_name_the_place_and_the_problem(tree, message):
    with pytest.raises(ExpressionError) as error:
        references(tree, CONTEXT)
    assert str(error.value) == message


# --- Compiling and evaluating ------------------------------------------------------------------


@pytest.fixture(scope="module")
def frame(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame(ROWS, FRAME_DDL)


# Each condition with whether it holds on r1..r5 (T or F: a condition is never null).
CONDITIONS = [
    # Numeric literals against decimal(18,2), long, int and double columns under ANSI mode.
    ("decimal_ge_fraction", "spend >= 1000.5", "TFFFF"),
    ("decimal_lt_long_literal", "spend < 12345678901234567890.5", "TTFTT"),
    ("long_between", "freq between 2 and 4", "TTFFF"),
    ("long_not_between", "freq NOT BETWEEN 2 AND 4", "FFTTF"),
    ("long_lt_beyond_int", "freq < 10000000000", "TTTTF"),
    ("long_lt_beyond_long", "freq < 100000000000000000000", "TTTTF"),
    ("long_lt_fraction_beyond_long", "freq < 12345678901234567890.5", "TTTTF"),
    ("long_between_beyond_long", "freq between -100000000000000000000 and 100000000000000000000", "TTTTF"),
    ("long_in", "freq in (2, 5)", "TFTFF"),
    ("int_gt", "qty > 1", "TFFFT"),
    ("double_eq_fraction", "ratio = 1000.5", "FFFTF"),
    ("double_lt_whole", "ratio < 1", "TFFFT"),
    ("arithmetic", "qty * 2 + 1 = 7", "TFFFF"),
    ("unary_minus", "-qty > 5", "FFFTF"),
    ("division_by_zero_is_null", "spend / qty > 100", "TFFFF"),
    # Three-valued logic: unknown is False at the end, not inside.
    ("not_of_unknown", "not (qty > 1)", "FTFTF"),
    ("unknown_or_true", "spend > 0 or freq > 3", "TTTFF"),
    ("not_of_false_and_unknown", "not (spend > 0 and freq > 3)", "TFFTT"),
    ("equals_null", "spend = null", "FFFFF"),
    ("not_in_with_null", "category not in ('女装', null)", "FFFFF"),
    ("is_null", "spend is null", "FFTFF"),
    ("is_not_null", "birthday IS NOT NULL", "TTFTT"),
    # Text: Chinese, quotes, functions, SQL that stays a literal.
    ("in_chinese", "category in ('女装', '童装')", "TFFTF"),
    ("not_in_chinese", "category not in ('女装', '童装')", "FTFFT"),
    ("eq_chinese", "city = '上海'", "TFFFF"),
    ("ne_chinese", "city <> '上海'", "FTFTT"),
    ("quote_doubled", "category = 'men''s'", "FTFFF"),
    ("quote_double_quoted", "category == \"men's\"", "FTFFF"),
    ("quote_backslash", "category = 'men\\'s'", "FTFFF"),
    ("injection_literal", "category = 'x''; drop table t --'", "FFFFT"),
    ("contains", "contains(category, '装')", "TFFTF"),
    ("length_counts_characters", "length(category) = 2", "TFFTF"),
    ("lower_upper", "lower(city) = 'shanghai' or upper(city) = 'BEIJING'", "FTFFT"),
    # Dates: literals, strings read as dates beside a date, functions.
    ("date_literal", "last_order_date >= date'2026-01-01'", "TFFTF"),
    ("date_vs_string", "last_order_date < '2026-01-01'", "FTFFT"),
    ("date_between_strings", "last_order_date between '2025-12-31' and '2026-01-31'", "TTFFF"),
    ("date_in_strings", "last_order_date in ('2024-02-29', '2026-02-01')", "FFFTT"),
    ("year_month", "year(birthday) = 2000 and month(birthday) = 3", "FFFTF"),
    ("days_between", "days_between(last_order_date, date'2026-03-01') <= 30", "TFFTF"),
    ("days_since", "days_since(last_order_date) > 365", "FFFFT"),
    ("years_since", "years_since(birthday) >= 26", "TFFTT"),
    # Booleans and other functions.
    ("bool_name", "is_vip", "TFFTF"),
    ("bool_eq", "is_vip = TRUE", "TFFTF"),
    ("bool_not", "NOT is_vip", "FTFFT"),
    ("coalesce", "coalesce(spend, 0) = 0", "FFTFT"),
    ("round_abs", "round(abs(spend)) = 1001", "TFFFF"),
    ("round_digits", "round(ratio * 3, 1) = 1.5", "TFFFF"),
    # Rule trees.
    ("tree_nested", {"all": [{"field": "is_vip", "op": "=", "value": True},
                             {"any": [{"field": "spend", "op": ">=", "value": 1000.5},
                                      {"not": {"field": "qty", "op": ">", "value": 0}}]}]}, "TFFTF"),
    ("tree_list_is_all", ["is_vip", "qty < 0"], "FFFTF"),
    ("tree_any_of_strings_and_leaves", {"any": ["spend is null", {"field": "freq", "op": ">", "value": 4}]}, "FFTFF"),
    ("tree_not_of_unknown", {"not": {"field": "qty", "op": ">", "value": 1}}, "FTFTF"),
    ("leaf_in", {"field": "category", "op": "in", "value": ["女装", "童装"]}, "TFFTF"),
    ("leaf_not_in", {"field": "category", "op": "not_in", "value": ["女装", "童装"]}, "FTFFT"),
    ("leaf_between", {"field": "freq", "op": "between", "value": [2, 4]}, "TTFFF"),
    ("leaf_is_null", {"field": "spend", "op": "is_null"}, "FFTFF"),
    ("leaf_is_not_null", {"field": "spend", "op": "is_not_null"}, "TTFTT"),
    ("leaf_ne", {"field": "city", "op": "!=", "value": "上海"}, "FTFTT"),
    ("leaf_le_date_string", {"field": "last_order_date", "op": "<=", "value": "2025-12-31"}, "FTFFT"),
    ("leaf_gt_date", {"field": "last_order_date", "op": ">", "value": date(2026, 1, 31)}, "FFFTF"),
    ("leaf_lt_int", {"field": "spend", "op": "<", "value": 0}, "FFFTF"),
    ("leaf_ge_float", {"field": "ratio", "op": ">=", "value": 1000.5}, "FFFTF"),
    ("leaf_eq_decimal", {"field": "spend", "op": "=", "value": D("1000.49")}, "FTFFF"),
    ("leaf_ne_bool", {"field": "is_vip", "op": "!=", "value": True}, "FTFFT"),
    ("leaf_injection_literal", {"field": "category", "op": "=", "value": INJECTED}, "FFFFT"),
    ("tree_date_between_and_string", {"all": [{"field": "birthday", "op": "between",
                                               "value": ["2000-01-01", "2004-12-31"]},
                                              "years_since(birthday) >= 22"]}, "FTFTT"),
]


def test_conditions_hold_or_not_and_are_never_null(spark, frame):
    actual = frame.select(
        "id", *[compile_condition(rule, TYPES, CONTEXT, as_of=AS_OF).alias(label) for label, rule, _ in CONDITIONS]
    )
    expected = spark.createDataFrame(
        [(row_id, *[holds[index] == "T" for _, _, holds in CONDITIONS]) for index, row_id in enumerate(IDS)],
        "id string, " + ", ".join(f"{label} boolean not null" for label, _, _ in CONDITIONS),
    )
    assertDataFrameEqual(actual, expected, ignoreNullable=False)


# Each expression with its type and its values on r1..r5: nulls stay null.
VALUES = [
    ("unknown_kept", "qty > 1", BOOLEAN, [True, False, None, False, True]),
    ("or_three_valued", "is_vip or spend > 1000", BOOLEAN, [True, True, None, True, False]),
    ("money", "spend * 2 - 1", NUMBER, [D("2000.00"), D("1999.98"), None, D("-41.00"), D("-1.00")]),
    ("ratio_per_qty", "ratio / qty", NUMBER, [0.5 / 3, None, None, 1000.5 / -7, 0.0]),
    ("freq_plus_one", "freq + 1", NUMBER, [3, 5, 6, 2, None]),
    ("negated_money", "-spend", NUMBER, [D("-1000.50"), D("-1000.49"), None, D("20.00"), D("0.00")]),
    ("round_tens", "round(spend, -1)", NUMBER, [D("1000"), D("1000"), None, D("-20"), D("0")]),
    ("category_or_unknown", "coalesce(category, '未知')", STRING, ["女装", "men's", "未知", "童装", INJECTED]),
    ("upper_city", "upper(city)", STRING, ["上海", "BEIJING", None, "广州", "SHANGHAI"]),
    ("city_length", "length(city)", NUMBER, [2, 7, None, 2, 8]),
    ("days_since_order", "days_since(last_order_date)", NUMBER, [29, 60, None, 28, 731]),
    ("age", "years_since(birthday)", NUMBER, [35, 22, None, 26, 26]),
    ("order_or_birth", "coalesce(last_order_date, '2000-01-01')", DATE,
     [date(2026, 1, 31), date(2025, 12, 31), date(2000, 1, 1), date(2026, 2, 1), date(2024, 2, 29)]),
    ("a_date", "date'2026-01-31'", DATE, [date(2026, 1, 31)] * 5),
]
VALUES_DDL = (
    "id string, unknown_kept boolean, or_three_valued boolean, money decimal(21,2), ratio_per_qty double, "
    "freq_plus_one bigint, negated_money decimal(18,2), round_tens decimal(17,0), category_or_unknown string, "
    "upper_city string, city_length int, days_since_order int, age int, order_or_birth date, a_date date"
)


def test_expressions_compile_to_typed_values_that_keep_nulls(spark, frame):
    compiled = [(label, compile_expression(text, TYPES, CONTEXT, as_of=AS_OF)) for label, text, _, _ in VALUES]
    assert [result.value_type for _, result in compiled] == [value_type for _, _, value_type, _ in VALUES]
    actual = frame.select("id", *[result.column.alias(label) for label, result in compiled])
    expected = spark.createDataFrame(
        [(row_id, *[values[index] for *_, values in VALUES]) for index, row_id in enumerate(IDS)], VALUES_DDL
    )
    assertDataFrameEqual(actual, expected)


def test_a_parsed_node_compiles_to_the_same_column_as_its_text(spark):
    text = "spend >= 1000.5 and city in ('上海', null)"
    node = parse(text, CONTEXT)
    assert str(compile_expression(node, TYPES, CONTEXT).column) == str(compile_expression(text, TYPES, CONTEXT).column)
    assert str(compile_condition(node, TYPES, CONTEXT)) == str(compile_condition(text, TYPES, CONTEXT))
    assert str(compile_condition([node], TYPES, CONTEXT)) == str(compile_condition(text, TYPES, CONTEXT))


BIRTHS = [
    date(2004, 2, 29), date(1996, 2, 29), date(2024, 2, 29), date(2000, 2, 28), date(2000, 3, 1),
    date(1990, 12, 31), date(1991, 1, 1), date(2025, 2, 28), None,
]
RUN_DATES = [
    date(2025, 2, 28), date(2025, 3, 1), date(2026, 2, 28), date(2025, 12, 31), date(2026, 1, 1),
    date(2028, 2, 28), date(2028, 2, 29), date(2028, 3, 1),
]


def test_years_since_counts_whole_years_as_dateutil_does_across_birthdays_and_leap_days(spark):
    births = spark.createDataFrame([(born,) for born in BIRTHS], "born date")
    types = {"born": DATE}
    actual = births.select(
        "born",
        *[compile_expression("years_since(born)", types, CONTEXT, as_of=as_of).column.alias(f"at_{index}")
          for index, as_of in enumerate(RUN_DATES)],
    )
    expected = spark.createDataFrame(
        [(born, *[None if born is None else relativedelta(as_of, born).years for as_of in RUN_DATES])
         for born in BIRTHS],
        "born date, " + ", ".join(f"at_{index} int" for index in range(len(RUN_DATES))),
    )
    assertDataFrameEqual(actual, expected)
    # The oracle's leap-day rule, spelled out: 28 February is the anniversary in a common year.
    assert relativedelta(date(2025, 2, 28), date(2004, 2, 29)).years == 21
    assert relativedelta(date(2028, 2, 28), date(2004, 2, 29)).years == 23


# --- Compile errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("spnd > 1", "tag t: unknown name 'spnd' in `spnd > 1` (did you mean 'spend'?)"),
        ("zzz = 1", "tag t: unknown name 'zzz' in `zzz = 1`"),
        ("SPEND > 1", "tag t: unknown name 'SPEND' in `SPEND > 1` (did you mean 'spend'?)"),
        ("coalesce(qtty, 0) > 1", "tag t: unknown name 'qtty' in `coalesce(qtty, 0)` (did you mean 'qty'?)"),
        ({"field": "spnd", "op": "=", "value": 1}, "tag t: unknown name 'spnd' in `spnd = 1` (did you mean 'spend'?)"),
        ("spend > 'abc'", "tag t: cannot compare number with string in `spend > 'abc'`"),
        ("category = 1", "tag t: cannot compare string with number in `category = 1`"),
        ("is_vip = 1", "tag t: cannot compare boolean with number in `is_vip = 1`"),
        ("last_order_date < 20260101", "tag t: cannot compare date with number in `last_order_date < 20260101`"),
        ("last_order_date = city", "tag t: cannot compare date with string in `last_order_date = city`"),
        ("last_order_date > '2026-13-01'",
         "tag t: '2026-13-01' is not a date (expected 'YYYY-MM-DD') in `last_order_date > '2026-13-01'`"),
        ({"field": "last_order_date", "op": "=", "value": "2026/01/31"},
         "tag t: '2026/01/31' is not a date (expected 'YYYY-MM-DD') in `last_order_date = '2026/01/31'`"),
        ({"field": "spend", "op": ">", "value": "abc"}, "tag t: cannot compare number with string in `spend > 'abc'`"),
        ({"field": "is_vip", "op": "=", "value": "true"},
         "tag t: cannot compare boolean with string in `is_vip = 'true'`"),
        ("spend + category > 1", "tag t: '+' needs numbers, got number and string in `spend + category`"),
        ("-category = 'a'", "tag t: '-' needs a number, got string in `-category`"),
        ("spend and is_vip", "tag t: 'and' needs booleans, got number and boolean in `spend and is_vip`"),
        ("is_vip or city", "tag t: 'or' needs booleans, got boolean and string in `is_vip or city`"),
        ("not spend", "tag t: 'not' needs a boolean, got number in `not spend`"),
        ({"all": ["is_vip", "spend"]}, "tag t: 'and' needs booleans, got boolean and number in `is_vip and spend`"),
        ("spend in (1, 'a')", "tag t: cannot compare number with string in `spend in (1, 'a')`"),
        ("last_order_date in ('2026-01-01', 'soon')",
         "tag t: 'soon' is not a date (expected 'YYYY-MM-DD') in `last_order_date in ('2026-01-01', 'soon')`"),
        ("category between 'a' and 'b'",
         "tag t: between needs numbers or dates, got string in `category between 'a' and 'b'`"),
        ("spend between 1 and '2'", "tag t: cannot compare number with string in `spend between 1 and '2'`"),
        ("last_order_date between '2026-01-01' and 5",
         "tag t: cannot compare date with number in `last_order_date between '2026-01-01' and 5`"),
        ("foo(spend) > 1",
         "tag t: unknown function 'foo' (known: abs, coalesce, contains, days_between, days_since, length, lower, "
         "month, round, upper, year, years_since) in `foo(spend)`"),
        ("coalesc(spend, 0) > 1",
         "tag t: unknown function 'coalesc' (did you mean 'coalesce'?) in `coalesc(spend, 0)`"),
        ("abs(category) > 1", "tag t: abs(number) cannot take (string) in `abs(category)`"),
        ("round(spend, 1, 2) > 1",
         "tag t: round(number[, number]) cannot take (number, number, number) in `round(spend, 1, 2)`"),
        ("round(spend, qty) > 1",
         "tag t: round's digits must be a whole number written as a literal in `round(spend, qty)`"),
        ("round(spend, 1.5) > 1",
         "tag t: round's digits must be a whole number written as a literal in `round(spend, 1.5)`"),
        ("lower(spend) = 'a'", "tag t: lower(string) cannot take (number) in `lower(spend)`"),
        ("upper() = 'a'", "tag t: upper(string) cannot take () in `upper()`"),
        ("length(birthday) > 1", "tag t: length(string) cannot take (date) in `length(birthday)`"),
        ("year(spend) = 1", "tag t: year(date) cannot take (number) in `year(spend)`"),
        ("month(category) = 1", "tag t: month(date) cannot take (string) in `month(category)`"),
        ("days_between(birthday) > 1",
         "tag t: days_between(date, date) cannot take (date) in `days_between(birthday)`"),
        ("days_between(birthday, 'x') > 1",
         "tag t: 'x' is not a date (expected 'YYYY-MM-DD') in `days_between(birthday, 'x')`"),
        ("contains(category, 1)", "tag t: contains(string, string) cannot take (string, number) in "
                                  "`contains(category, 1)`"),
        ("coalesce(spend) > 1", "tag t: coalesce takes at least two arguments in `coalesce(spend)`"),
        ("coalesce(spend, 'a') > 1",
         "tag t: coalesce needs arguments of one type, got number and string in `coalesce(spend, 'a')`"),
        ("spend + 1", "tag t: a condition must be boolean, and `spend + 1` is number"),
        ("category", "tag t: a condition must be boolean, and `category` is string"),
    ],
)
def test_compile_errors_name_the_context_the_piece_and_the_types(spark, source, message):
    with pytest.raises(ExpressionError) as error:
        compile_condition(source, TYPES, CONTEXT, as_of=AS_OF)
    assert str(error.value) == message


@pytest.mark.parametrize(
    ("source", "types", "message"),
    [
        ("days_since(birthday) > 1", TYPES,
         "tag t: days_since needs the as-of date, and none was given in `days_since(birthday)`"),
        ("years_since(birthday)", TYPES,
         "tag t: years_since needs the as-of date, and none was given in `years_since(birthday)`"),
        ("null", TYPES, "tag t: `null` is always null, so it has no type"),
        ("x > 1", {"x": "int"},
         "tag t: name 'x' has unknown type 'int' (expected one of number, string, boolean, date) in `x > 1`"),
        ("spend > 1 or", TYPES,
         "tag t: syntax error at column 13: expected a value, a name or '(', found the end in `spend > 1 or`"),
    ],
)
def test_compile_expression_errors_without_as_of_with_a_bad_type_or_syntax(spark, source, types, message):
    with pytest.raises(ExpressionError) as error:
        compile_expression(source, types, CONTEXT)
    assert str(error.value) == message
