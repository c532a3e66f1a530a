"""The safe parser: what it accepts (checked against SymPy trees built directly) and what it rejects."""

import builtins
import string

import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from jacx import ExpressionSyntaxError, JacxUsageError, UnsafeExpressionError
from jacx.symbolic import parse_expressions, parse_variables
from jacx.symbolic._functions import relu, sigmoid, softplus

x, y, z = sympy.symbols("x y z", real=True)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("x**2 + y, x*y", [x**2 + y, x * y]),
        ("[x^2 + y, x*y]", [x**2 + y, x * y]),
        ("(x^2 + y, x*y)", [x**2 + y, x * y]),
        ("(x + y)", [x + y]),
        ("(x + y)*(x - y), (x)", [(x + y) * (x - y), x]),
        ("-x**2", [-(x**2)]),
        ("-x^2 + 1", [1 - x**2]),
        ("2**3**2", [sympy.Integer(512)]),
        ("x^y^z", [x ** (y**z)]),
        ("x/y/z", [x / (y * z)]),
        ("x - y - z", [x - y - z]),
        ("2*-x", [-2 * x]),
        ("+x - -y", [x + y]),
        ("x**-2", [x**-2]),
        ("1e-3*x + .5*y + 3.*z", [sympy.Float("0.001") * x + sympy.Float("0.5") * y + sympy.Float(3) * z]),
        ("2.5E2", [sympy.Float(250)]),
        ("e^(x + z)", [sympy.exp(x + z)]),
        ("pi*x", [sympy.pi * x]),
        ("sin(x*y), cos(x), tan(y)", [sympy.sin(x * y), sympy.cos(x), sympy.tan(y)]),
        ("asin(x)+acos(x)+atan(x)", [sympy.asin(x) + sympy.acos(x) + sympy.atan(x)]),
        ("sinh(x)+cosh(x)+tanh(x)", [sympy.sinh(x) + sympy.cosh(x) + sympy.tanh(x)]),
        ("exp(x) + log(y) + ln(z)", [sympy.exp(x) + sympy.log(y) + sympy.log(z)]),
        ("log(x, 2)", [sympy.log(x) / sympy.log(2)]),
        ("sqrt(x) + abs(y)", [sympy.sqrt(x) + sympy.Abs(y)]),
        ("erf(x) + atan2(y, x)", [sympy.erf(x) + sympy.atan2(y, x)]),
        ("sigmoid(x) + softplus(y) + relu(z)", [sigmoid(x) + softplus(y) + relu(z)]),
        ("x_1 + theta2", [sympy.Symbol("x_1", real=True) + sympy.Symbol("theta2", real=True)]),
        ("  x\t*\ny ", [x * y]),
        ("exec + eval", [sympy.Symbol("exec", real=True) + sympy.Symbol("eval", real=True)]),
    ],
)
def test_parses_to_the_sympy_tree(text, expected):
    assert parse_expressions(text) == expected


def test_symbols_are_real():
    (expr,) = parse_expressions("abs(x)")
    assert all(s.is_real for s in expr.free_symbols)
    assert sympy.diff(expr, x) == sympy.sign(x)


@pytest.mark.parametrize(
    "text, cls, fragment, column",
    [
        ("x.__class__", UnsafeExpressionError, "attribute access", 2),
        ("__import__('os')", UnsafeExpressionError, "'__import__'", 1),
        ("os(1)", UnsafeExpressionError, "unknown function 'os'", 1),
        ("x + system(1)", UnsafeExpressionError, "unknown function 'system'", 5),
        ("x[0]", UnsafeExpressionError, "indexing", 2),
        ("[x][0]", UnsafeExpressionError, "indexing", 4),
        ("x + [y]", UnsafeExpressionError, "brackets", 5),
        ("lambda: 1", UnsafeExpressionError, "keyword 'lambda'", 1),
        ("x; y", UnsafeExpressionError, "';'", 2),
        ("'a'", UnsafeExpressionError, "string", 1),
        ('x + "a"', UnsafeExpressionError, "string", 5),
        ("a = 1", UnsafeExpressionError, "'='", 3),
        ("x if y else z", UnsafeExpressionError, "keyword 'if'", 3),
        ("1.real", UnsafeExpressionError, "attribute access", 2),
        ("x @ y", UnsafeExpressionError, "'@'", 3),
        ("{x}", UnsafeExpressionError, "brace", 1),
        ("x\u00b2", UnsafeExpressionError, "'\u00b2'", 2),
        ("9**9**9", UnsafeExpressionError, "exponent", 2),
        ("(9**300)**4", UnsafeExpressionError, "1024 bits", 9),
        ("x**5000", UnsafeExpressionError, "exponent", 2),
        ("1e999", UnsafeExpressionError, "decimal exponent", 1),
        ("1" * 150, UnsafeExpressionError, "digits", 1),
        ("2x", ExpressionSyntaxError, "missing operator", 2),
        ("x y", ExpressionSyntaxError, "missing operator", 3),
        ("(x)(y)", ExpressionSyntaxError, "missing operator", 4),
        ("sin + x", ExpressionSyntaxError, "'sin' is a function", 1),
        ("pi(x)", ExpressionSyntaxError, "constant", 1),
        ("sin(x, y)", ExpressionSyntaxError, "takes 1 argument but got 2", 1),
        ("atan2(x)", ExpressionSyntaxError, "takes 2 arguments but got 1", 1),
        ("log()", ExpressionSyntaxError, "takes 1 to 2 arguments but got 0", 1),
        ("x +", ExpressionSyntaxError, "ends where an expression was expected", 4),
        ("x, ", ExpressionSyntaxError, "ends where an expression was expected", 4),
        ("* x", ExpressionSyntaxError, "found '*'", 1),
        ("x + * y", ExpressionSyntaxError, "found '*'", 5),
        ("(x", ExpressionSyntaxError, "expected ')'", 3),
        ("x)", ExpressionSyntaxError, "unmatched ')'", 2),
        ("[x, y", ExpressionSyntaxError, "expected ']'", 6),
        ("(x, y)*2", ExpressionSyntaxError, "comma inside parentheses", 3),
        ("1/0", ExpressionSyntaxError, "division by zero", 2),
        ("x/(y - y)", ExpressionSyntaxError, "division by zero", 2),
        ("0**-1", ExpressionSyntaxError, "division by zero", 2),
    ],
)
def test_rejections_name_the_part_and_column(text, cls, fragment, column):
    with pytest.raises(cls) as info:
        parse_expressions(text)
    message = str(info.value)
    assert fragment in message
    assert f"at column {column} " in message
    assert "\n" not in message
    assert isinstance(info.value, JacxUsageError)


def test_empty_and_non_string():
    with pytest.raises(ExpressionSyntaxError, match="empty"):
        parse_expressions("   ")
    with pytest.raises(ExpressionSyntaxError, match="got int"):
        parse_expressions(3)  # type: ignore[arg-type]


def test_size_limits():
    with pytest.raises(UnsafeExpressionError, match="characters long"):
        parse_expressions("x + " * 2000 + "x")
    with pytest.raises(UnsafeExpressionError, match="nested"):
        parse_expressions("(" * 200 + "x" + ")" * 200)
    with pytest.raises(UnsafeExpressionError, match="nested"):
        parse_expressions("-" * 500 + "x")
    with pytest.raises(UnsafeExpressionError, match="nested"):
        parse_expressions("sin(" * 100 + "x" + ")" * 100)
    # moderate nesting and long sums are fine
    assert parse_expressions("(" * 20 + "x" + ")" * 20) == [x]
    assert parse_expressions(" + ".join(["x"] * 500)) == [500 * x]


def test_large_but_allowed_numbers():
    assert parse_expressions("2**1000")[0] == sympy.Integer(2) ** 1000
    assert parse_expressions("2.0**1000")[0] == sympy.Float(2.0) ** 1000


def test_nothing_is_evaluated_by_python(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("the parser must not call eval/exec/parse_expr/sympify on text")

    import sympy.parsing.sympy_parser as sp_parser

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    monkeypatch.setattr(sp_parser, "parse_expr", forbidden)
    monkeypatch.setattr(sympy, "parse_expr", forbidden)
    assert parse_expressions("x^2 + sin(y), sigmoid(x*y) - e^z") == [
        x**2 + sympy.sin(y),
        sigmoid(x * y) - sympy.exp(z),
    ]
    with pytest.raises(UnsafeExpressionError):
        parse_expressions("__import__('os').system('echo hacked')")


# --- property tests ----------------------------------------------------------------------------------------------

_leaves = st.one_of(
    st.sampled_from([("x", x), ("y", y), ("z", z), ("pi", sympy.pi)]),
    st.integers(0, 50).map(lambda k: (str(k), sympy.Integer(k))),
)


def _combine(children):
    unary = st.tuples(st.sampled_from(["sin", "cos", "exp", "tanh", "sigmoid", "-"]), children).map(
        lambda p: (f"(-{p[1][0]})", -p[1][1])
        if p[0] == "-"
        else (f"{p[0]}({p[1][0]})", {"sin": sympy.sin, "cos": sympy.cos, "exp": sympy.exp, "tanh": sympy.tanh,
                                     "sigmoid": sigmoid}[p[0]](p[1][1]))
    )
    binary = st.tuples(st.sampled_from(["+", "-", "*", "**2"]), children, children).map(
        lambda p: {
            "+": (f"({p[1][0]} + {p[2][0]})", p[1][1] + p[2][1]),
            "-": (f"({p[1][0]} - {p[2][0]})", p[1][1] - p[2][1]),
            "*": (f"({p[1][0]} * {p[2][0]})", p[1][1] * p[2][1]),
            "**2": (f"({p[1][0]})^2", p[1][1] ** 2),
        }[p[0]]
    )
    return st.one_of(unary, binary)


expressions = st.recursive(_leaves, _combine, max_leaves=12)


@settings(max_examples=150, deadline=None)
@given(st.lists(expressions, min_size=1, max_size=3))
def test_parse_matches_directly_built_trees(items):
    text = ", ".join(t for t, _ in items)
    assert parse_expressions(text) == [e for _, e in items]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=string.ascii_letters[:8] + string.digits + "+-*/^()[],._'\"; =@!#e ", max_size=40))
def test_arbitrary_text_parses_or_fails_cleanly(text):
    try:
        result = parse_expressions(text)
    except (UnsafeExpressionError, ExpressionSyntaxError) as exc:
        assert "\n" not in str(exc)
    else:
        assert result and all(isinstance(e, sympy.Expr) for e in result)


# --- variables ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", ["x y", "x, y", "x,y", ["x", "y"], [x, "y"]])
def test_parse_variables(spec):
    assert parse_variables(spec) == [x, y]


@pytest.mark.parametrize(
    "spec, cls",
    [
        ("x.y", UnsafeExpressionError),
        ("__x", UnsafeExpressionError),
        ("lambda", UnsafeExpressionError),
        ("1x", UnsafeExpressionError),
        ("sin", ExpressionSyntaxError),
        ("pi", ExpressionSyntaxError),
        ("x x", ExpressionSyntaxError),
        ("", ExpressionSyntaxError),
        ([3], ExpressionSyntaxError),
    ],
)
def test_bad_variables(spec, cls):
    with pytest.raises(cls):
        parse_variables(spec)


def test_variables_of_the_wrong_type_are_usage_errors():
    with pytest.raises(ExpressionSyntaxError, match="variables must be a string.*got 3 of type int"):
        parse_variables(3)
