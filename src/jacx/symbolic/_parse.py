"""A small, safe parser from text to SymPy expressions.

The text is never handed to Python (no ``eval``, ``exec``, ``sympify`` or ``parse_expr``).  A tokenizer accepts only
numbers, ASCII names, ``+ - * / ** ^``, parentheses and commas; a recursive-descent parser turns the tokens into
SymPy objects with SymPy's constructors (``Symbol``, ``Integer``, ``Add``, ``Mul``, ``Pow`` and the whitelisted
functions).  Sizes are bounded (text length, nesting depth, exponents, digits of numbers) so that no input can make
the parser or SymPy run for long.

Grammar (``**`` and ``^`` are the same operator; it binds tighter than unary minus and groups to the right)::

    list    := '[' exprs ']' | '(' sum ',' exprs ')' | exprs
    exprs   := sum (',' sum)*
    sum     := term (('+' | '-') term)*
    term    := unary (('*' | '/') unary)*
    unary   := ('+' | '-') unary | power
    power   := primary (('**' | '^') unary)?
    primary := NUMBER | NAME | NAME '(' exprs ')' | '(' sum ')'
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import NoReturn, final

import sympy

from .._errors import ExpressionSyntaxError, UnsafeExpressionError
from ._domain import OutsideDomainError, check_constant
from ._functions import CONSTANTS, FUNCTIONS
from ._tokens import (
    _NAME,
    MAX_DEPTH,
    MAX_EXPONENT,
    MAX_LENGTH,
    MAX_NUMBER_BITS,
    _check_name,
    _fail,
    _number,
    _Token,
    _tokenize,
    _too_big,
)

__all__ = ["parse_expressions", "parse_variables", "make_symbol", "MAX_LENGTH", "MAX_DEPTH", "MAX_EXPONENT"]

_FUNCTION_LIST = ", ".join(sorted(FUNCTIONS))


def make_symbol(name: str) -> sympy.Symbol:
    """The SymPy symbol jacx uses for a variable name (real-valued, so ``abs`` and ``sqrt`` differentiate simply).

    >>> make_symbol("x").is_real
    True
    """
    return sympy.Symbol(name, real=True)


@final
class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.pos = 0
        self.depth = 0

    # -- token helpers -------------------------------------------------------------------------------------------
    @property
    def tok(self) -> _Token:
        return self.tokens[self.pos]

    def advance(self) -> _Token:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def expect(self, kind: str, context: str) -> _Token:
        if self.tok.kind != kind:
            found = "the end of the text" if self.tok.kind == "end" else repr(self.tok.text)
            _fail(ExpressionSyntaxError, f"expected {kind!r} {context} but found {found}", self.text, self.tok.col,
                  "check that parentheses and brackets are balanced.")
        return self.advance()

    def enter(self, tok: _Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            _fail(UnsafeExpressionError, f"expression nested more than {MAX_DEPTH} levels deep", self.text, tok.col,
                  "simplify the expression or build it in SymPy directly.")

    def leave(self) -> None:
        self.depth -= 1

    def checked(self, value: sympy.Expr, tok: _Token) -> sympy.Expr:
        if _too_big(value):
            _fail(UnsafeExpressionError, f"a number larger than {MAX_NUMBER_BITS} bits", self.text, tok.col,
                  "use smaller constants (floating point ones such as 1e300 are fine).")
        return value

    # -- grammar -------------------------------------------------------------------------------------------------
    def parse_list(self) -> list[sympy.Expr]:
        first = self.tok
        if first.kind == "end":
            raise ExpressionSyntaxError("the expression text is empty; expected something like 'x**2 + y, x*y'.")
        if first.kind == "[":
            self.advance()
            exprs = self.parse_exprs()
            self.expect("]", "to close the '[' at column %d" % first.col)
        elif first.kind == "(" and self._is_tuple():
            self.advance()
            exprs = self.parse_exprs()
            self.expect(")", "to close the '(' at column %d" % first.col)
        else:
            exprs = self.parse_exprs()
        if self.tok.kind != "end":
            self._unexpected()
        return exprs

    def _is_tuple(self) -> bool:
        """Whether the opening '(' closes at the last token and holds a comma at its own level: ``(f1, f2)``."""
        level, comma = 0, False
        for k, tok in enumerate(self.tokens):
            if tok.kind in ("(", "["):
                level += 1
            elif tok.kind in (")", "]"):
                level -= 1
                if level == 0:
                    return comma and self.tokens[k + 1].kind == "end"
            elif tok.kind == "," and level == 1:
                comma = True
        return False

    def parse_exprs(self) -> list[sympy.Expr]:
        exprs = [self.parse_sum()]
        while self.tok.kind == ",":
            self.advance()
            exprs.append(self.parse_sum())
        return exprs

    def parse_sum(self) -> sympy.Expr:
        value = self.parse_term()
        while self.tok.kind in ("+", "-"):
            op = self.advance()
            rhs = self.parse_term()
            value = self.checked(sympy.Add(value, rhs if op.kind == "+" else sympy.Mul(-1, rhs)), op)
        return value

    def parse_term(self) -> sympy.Expr:
        value = self.parse_unary()
        while self.tok.kind in ("*", "/"):
            op = self.advance()
            rhs = self.parse_unary()
            if op.kind == "/":
                if rhs.is_zero:
                    _fail(ExpressionSyntaxError, "division by zero", self.text, op.col,
                          "the expression is undefined everywhere; check the denominator.")
                rhs = sympy.Pow(rhs, -1)
            value = self.checked(sympy.Mul(value, rhs), op)
        return value

    def parse_unary(self) -> sympy.Expr:
        if self.tok.kind in ("+", "-"):
            op = self.advance()
            self.enter(op)
            operand = self.parse_unary()
            self.leave()
            return operand if op.kind == "+" else sympy.Mul(-1, operand)
        return self.parse_power()

    def parse_power(self) -> sympy.Expr:
        base = self.parse_primary()
        if self.tok.kind != "**":
            return base
        op = self.advance()
        self.enter(op)
        exponent = self.parse_unary()
        self.leave()
        return self.power(base, exponent, op)

    def power(self, base: sympy.Expr, exponent: sympy.Expr, op: _Token) -> sympy.Expr:
        if exponent.is_Number:
            if abs(float(exponent)) > MAX_EXPONENT:
                _fail(UnsafeExpressionError, f"exponent {exponent} is larger than {MAX_EXPONENT}", self.text,
                      op.col, "use a smaller exponent, or exp(k*log(x)) for a symbolic power.")
            if base.is_zero and exponent.is_negative:
                _fail(ExpressionSyntaxError, "zero raised to a negative power (division by zero)", self.text,
                      op.col, "check the base of the power.")
            if isinstance(base, sympy.Rational) and not base.is_zero:
                bits = math.log2(max(abs(base.p), base.q))
                if bits * abs(float(exponent)) > MAX_NUMBER_BITS:
                    _fail(UnsafeExpressionError, f"the power gives a number larger than {MAX_NUMBER_BITS} bits",
                          self.text, op.col, "use smaller constants or floating point numbers (e.g. 9.0**99).")
        if not exponent.is_Integer:
            self.real_constant(sympy.Pow, [base, exponent], op)
        return self.checked(sympy.Pow(base, exponent), op)

    def parse_primary(self) -> sympy.Expr:
        tok = self.tok
        if tok.kind == "num":
            self.advance()
            value = _number(tok, self.text)
        elif tok.kind == "name":
            self.advance()
            value = self.parse_name(tok)
        elif tok.kind == "(":
            self.advance()
            self.enter(tok)
            value = self.parse_sum()
            if self.tok.kind == ",":
                _fail(ExpressionSyntaxError, "a comma inside parentheses", self.text, self.tok.col,
                      "separate the outputs at the top level: 'f1, f2' or '[f1, f2]'.")
            self.expect(")", f"to close the '(' at column {tok.col}")
            self.leave()
        elif tok.kind == "[":
            _fail(UnsafeExpressionError, "brackets are only allowed around the whole list of outputs (indexing "
                  "is not allowed)", self.text, tok.col, "write the list as '[f1, f2]' or 'f1, f2'.")
        elif tok.kind == "end":
            prev = self.tokens[self.pos - 1] if self.pos else tok
            after = f"after {prev.text!r}" if self.pos else "at the start"
            _fail(ExpressionSyntaxError, f"the text ends where an expression was expected ({after})", self.text,
                  tok.col, "complete the expression.")
        else:
            _fail(ExpressionSyntaxError, f"expected a number, a variable or '(' but found {tok.text!r}",
                  self.text, tok.col, "check for a missing operand or a doubled operator.")
        self._no_juxtaposition()
        return value

    def parse_name(self, tok: _Token) -> sympy.Expr:
        name = tok.text
        called = self.tok.kind == "("
        if name in FUNCTIONS:
            if not called:
                _fail(ExpressionSyntaxError, f"{name!r} is a function name and cannot be used as a variable",
                      self.text, tok.col, f"call it as {name}(...) or rename the variable.")
            return self.parse_call(tok)
        if name in CONSTANTS:
            if called:
                _fail(ExpressionSyntaxError, f"{name!r} is a constant, not a function", self.text, tok.col,
                      f"write {name}*(...) for a product.")
            return CONSTANTS[name]
        if called:
            _fail(UnsafeExpressionError, f"unknown function {name!r}", self.text, tok.col,
                  f"the allowed functions are {_FUNCTION_LIST}; for a product write {name}*(...).")
        return make_symbol(name)

    def parse_call(self, tok: _Token) -> sympy.Expr:
        spec = FUNCTIONS[tok.text]
        open_tok = self.advance()
        self.enter(open_tok)
        args: list[sympy.Expr] = []
        if self.tok.kind != ")":
            args = self.parse_exprs()
        self.expect(")", f"to close the call {tok.text}( at column {open_tok.col}")
        self.leave()
        if not spec.min_args <= len(args) <= spec.max_args:
            want = (str(spec.min_args) if spec.min_args == spec.max_args
                    else f"{spec.min_args} to {spec.max_args}")
            plural = "" if want == "1" else "s"
            _fail(ExpressionSyntaxError, f"{tok.text}() takes {want} argument{plural} but got {len(args)}",
                  self.text, tok.col, "fix the number of arguments.")
        for arg in args:
            self.checked(arg, tok)
        self.real_constant(spec.build, args, tok)
        return self.checked(spec.build(*args), tok)

    def real_constant(self, func: type, args: Sequence[sympy.Expr], tok: _Token) -> None:
        """Refuse ``log(-1)``, ``asin(2)``, ``(-8)**(1/3)``: constant parts that are not real numbers."""
        if func is sympy.sqrt:
            func, args = sympy.Pow, [args[0], sympy.Rational(1, 2)]
        if all(not a.free_symbols for a in args):
            reason = check_constant(func, args)
            if reason is not None:
                _fail(OutsideDomainError, f"{reason} (so the expression is not a real number)", self.text,
                      tok.col, "jacx works with real numbers; change the constant.")

    def _no_juxtaposition(self) -> None:
        tok = self.tok
        if tok.kind in ("num", "name", "("):
            prev = self.tokens[self.pos - 1]
            _fail(ExpressionSyntaxError, f"missing operator between {prev.text!r} and {tok.text!r}", self.text,
                  tok.col, "write products explicitly with '*', e.g. 2*x or x*y.")
        if tok.kind == "[":
            _fail(UnsafeExpressionError, "indexing with '[' is not allowed", self.text, tok.col,
                  "use separate variables (x1, x2) instead of x[1], x[2].")

    def _unexpected(self) -> NoReturn:
        tok = self.tok
        if tok.kind == "[":
            _fail(UnsafeExpressionError, "indexing with '[' is not allowed", self.text, tok.col,
                  "brackets may only enclose the whole list of outputs, as in '[f1, f2]'.")
        if tok.kind in (")", "]"):
            _fail(ExpressionSyntaxError, f"unmatched {tok.text!r}", self.text, tok.col,
                  "check that parentheses and brackets are balanced.")
        _fail(ExpressionSyntaxError, f"unexpected {tok.text!r}", self.text, tok.col, "check the expression.")


def parse_expressions(text: str) -> list[sympy.Expr]:
    """Parse ``"f1, f2, ..."`` (optionally in ``[...]`` or ``(...)``) into SymPy expressions, safely.

    Nothing in the text is executed.  Raises :class:`~jacx.UnsafeExpressionError` for anything outside the
    whitelist and :class:`~jacx.ExpressionSyntaxError` for malformed input; both name the offending column.

    >>> parse_expressions("x^2 + y, x*y")
    [x**2 + y, x*y]
    >>> parse_expressions("[sin(x*y), e^(x + z)]")
    [sin(x*y), exp(x + z)]
    """
    if not isinstance(text, str):
        raise ExpressionSyntaxError(
            f"expected the expressions as a string such as 'x**2 + y, x*y', got {type(text).__name__}."
        )
    exprs = _Parser(text).parse_list()
    for expr in exprs:
        if expr.has(sympy.I):
            raise OutsideDomainError(
                f"the expression {text!r} is not a real number ({expr}); jacx works with real numbers only."
            )
        if expr.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
            raise ExpressionSyntaxError(
                f"the expression {text!r} evaluates to an undefined value ({expr}); check for a division by zero."
            )
    return exprs


def parse_variables(spec: str | Sequence[str | sympy.Symbol]) -> list[sympy.Symbol]:
    """Parse a variable list ``"x y"``, ``"x, y"`` or ``["x", "y"]`` (SymPy symbols pass through).

    >>> parse_variables("x, y z")
    [x, y, z]
    """
    items: list[str | sympy.Symbol]
    if isinstance(spec, str):
        items = [part for part in re.split(r"[\s,]+", spec.strip()) if part]
    elif isinstance(spec, sympy.Symbol):
        items = [spec]
    elif isinstance(spec, Sequence):
        items = list(spec)
    else:
        raise ExpressionSyntaxError(
            f"variables must be a string such as 'x y' or a list of names/sympy.Symbols; got {spec!r} of type "
            f"{type(spec).__name__}."
        )
    if not items:
        raise ExpressionSyntaxError(f"no variables given (got {spec!r}); expected names such as 'x y' or ['x', 'y'].")
    out: list[sympy.Symbol] = []
    for item in items:
        if isinstance(item, sympy.Symbol):
            out.append(item)
            continue
        if not isinstance(item, str):
            raise ExpressionSyntaxError(
                f"a variable must be a name or a sympy.Symbol, got {item!r} of type {type(item).__name__}."
            )
        if not _NAME.fullmatch(item):
            raise UnsafeExpressionError(
                f"{item!r} is not a valid variable name; use letters, digits and '_' (not first: a digit), "
                "e.g. x, theta, x_1."
            )
        _check_name(item, item, 1)
        if item in FUNCTIONS or item in CONSTANTS:
            kind = "function" if item in FUNCTIONS else "constant"
            raise ExpressionSyntaxError(f"{item!r} is a {kind} name and cannot be a variable; rename the variable.")
        out.append(make_symbol(item))
    names = [str(s) for s in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ExpressionSyntaxError(f"variable(s) {', '.join(dupes)} listed more than once in {spec!r}.")
    return out

