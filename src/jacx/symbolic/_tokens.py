"""The tokenizer of the safe expression parser, and the size limits it enforces.

Only numbers, ASCII names, ``+ - * / ** ^``, parentheses, brackets and commas become tokens; any other character
is rejected with a message that names it and its column.  Nothing here evaluates the text.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from typing import NoReturn, final

import sympy

from .._errors import ExpressionSyntaxError, UnsafeExpressionError

__all__ = ["MAX_LENGTH", "MAX_DEPTH", "MAX_EXPONENT", "MAX_NUMBER_BITS", "MAX_DIGITS", "MAX_DECIMAL_EXPONENT"]

MAX_LENGTH = 5000
"""Longest accepted text, in characters."""
MAX_DEPTH = 60
"""Deepest accepted nesting of parentheses, function calls, signs and powers."""
MAX_EXPONENT = 1000
"""Largest accepted absolute value of a numeric exponent."""
MAX_NUMBER_BITS = 1024
"""Largest accepted size of an exact number (numerator or denominator), in bits (about 308 decimal digits)."""
MAX_DIGITS = 100
"""Most digits accepted in one number literal."""
MAX_DECIMAL_EXPONENT = 400
"""Largest accepted ``e`` exponent of a number literal in scientific notation."""

_NUMBER = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SINGLE = {"+": "+", "-": "-", "*": "*", "/": "/", "^": "**", "(": "(", ")": ")", ",": ",", "[": "[", "]": "]"}
_FORBIDDEN_CHARS = {
    ".": "attribute access ('.')",
    "'": "a string quote",
    '"': "a string quote",
    ";": "a statement separator (';')",
    "=": "an assignment or comparison ('=')",
    ":": "a colon (slices, lambdas and annotations are not expressions)",
    "{": "a brace",
    "}": "a brace",
    "@": "the '@' operator",
    "%": "the '%' operator",
    "\\": "a backslash",
    "#": "a comment ('#')",
    "!": "the '!' character",
    "&": "the '&' operator",
    "|": "the '|' operator",
    "~": "the '~' operator",
    "<": "a comparison ('<')",
    ">": "a comparison ('>')",
    "$": "the '$' character",
    "`": "a backtick",
}

@final
@dataclass(frozen=True)
class _Token:
    kind: str  # "num", "name", an operator/punctuation string, or "end"
    text: str
    col: int  # 1-based column in the original text


def _fail(cls: type[Exception], what: str, text: str, col: int, fix: str) -> NoReturn:
    shown = text if len(text) <= 80 else text[:77] + "..."
    shown = " ".join(shown.split())
    raise cls(f"{what} at column {col} of {shown!r}; {fix}")


def _check_name(name: str, text: str, col: int) -> None:
    if "__" in name:
        _fail(UnsafeExpressionError, f"double-underscore name {name!r} is not allowed", text, col,
              "use plain variable names such as x, y, theta or x_1.")
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        _fail(UnsafeExpressionError, f"Python keyword {name!r} is not allowed", text, col,
              "expressions may only contain numbers, variables, + - * / ** ^, parentheses and known functions.")


def _tokenize(text: str) -> list[_Token]:
    if len(text) > MAX_LENGTH:
        raise UnsafeExpressionError(
            f"expression text is {len(text)} characters long; the limit is {MAX_LENGTH}. Split it into smaller "
            "expressions or build the SymPy expressions yourself and pass them instead of text."
        )
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        col = i + 1
        if ch in " \t\r\n":
            i += 1
        elif ch.isascii() and (ch.isdigit() or (ch == "." and i + 1 < n and text[i + 1].isdigit())):
            m = _NUMBER.match(text, i)
            assert m is not None
            end = m.end()
            if end < n and (text[end] == "." or text[end] == "_" or text[end].isalpha()):
                if m.group().endswith(".") or text[end] == ".":
                    where = end + 1 if text[end] == "." else end
                    _fail(UnsafeExpressionError, "attribute access on a number is not allowed", text, where,
                          "write numbers as 2, 2.5 or 1e-3.")
                _fail(ExpressionSyntaxError, f"missing operator between {m.group()!r} and {text[end]!r}", text,
                      end + 1, f"write the product explicitly, e.g. {m.group()}*{text[end]}.")
            tokens.append(_Token("num", m.group(), col))
            i = end
        elif ch.isascii() and (ch.isalpha() or ch == "_"):
            m = _NAME.match(text, i)
            assert m is not None
            _check_name(m.group(), text, col)
            tokens.append(_Token("name", m.group(), col))
            i = m.end()
        elif text.startswith("**", i):
            tokens.append(_Token("**", "**", col))
            i += 2
        elif ch in _SINGLE:
            tokens.append(_Token(_SINGLE[ch], ch, col))
            i += 1
        elif ch in _FORBIDDEN_CHARS:
            _fail(UnsafeExpressionError, f"{_FORBIDDEN_CHARS[ch]} is not allowed", text, col,
                  "expressions may only contain numbers, variables, + - * / ** ^, parentheses, commas and known "
                  "functions.")
        else:
            _fail(UnsafeExpressionError, f"character {ch!r} is not allowed", text, col,
                  "use ASCII numbers, variable names, + - * / ** ^, parentheses and commas only.")
    tokens.append(_Token("end", "", n + 1))
    return tokens


def _number(tok: _Token, text: str) -> sympy.Expr:
    mantissa, _, exponent = tok.text.lower().partition("e")
    if sum(c.isdigit() for c in mantissa) > MAX_DIGITS:
        _fail(UnsafeExpressionError, f"number with more than {MAX_DIGITS} digits", text, tok.col,
              "use scientific notation such as 1.5e30.")
    if exponent and abs(int(exponent)) > MAX_DECIMAL_EXPONENT:
        _fail(UnsafeExpressionError, f"decimal exponent {exponent} is too large", text, tok.col,
              f"keep it within +-{MAX_DECIMAL_EXPONENT}.")
    if "." in mantissa or exponent:
        return sympy.Float(tok.text)
    return sympy.Integer(int(mantissa))


def _too_big(value: sympy.Expr) -> bool:
    if isinstance(value, sympy.Rational):
        return max(abs(value.p).bit_length(), abs(value.q).bit_length()) > MAX_NUMBER_BITS
    return False
