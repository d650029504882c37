r"""Numbers in model output, read whole and evaluated safely: the reader behind the ``number`` grader.

A model writes a number in many ways: ``1,234,567``, ``1 234 567``, ``2 1/2``, ``1.5e3``,
``1.5\times10^{3}``, ``3\sqrt{2}``, ``2^{10}``, ``\frac{3}{4}``, ``\boxed{-7}``, ``50\%``. This module
turns a piece of text into the list of the *expressions* it contains, each with its value, by a small
recursive-descent parser over a fixed grammar (numbers, ``+ - * / ^``, parentheses, ``\frac``,
``\sqrt``, ``\pi``, implicit multiplication). Nothing is ever passed to ``eval``: model output stays
text. Values are exact :class:`~fractions.Fraction` objects where the expression is rational, floats
otherwise (a square root that is not exact, ``\pi``).

Reading conventions (what a careful human reader assumes):

- thousands separators are dropped: ``1,234``, ``1{,}234``, ``1\,234`` and ``1 234 567`` (groups of
  three digits after a space) are one number;
- a whole number followed by a fraction is a mixed number: ``2 1/2`` and ``2\frac{1}{2}`` are 2.5;
- a number followed by ``\sqrt``, ``\pi`` or a parenthesis is a product: ``3\sqrt{2}``;
- units and words between numbers separate expressions: ``12 cm`` is 12, ``x = 3, y = 5`` holds 3
  and 5; ``=`` separates too, so ``2 + 3 = 5`` holds 5 and 5;
- a percent sign is a unit (``50%`` is 50), like the currency sign in ``$5``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

Value = Fraction | float

#: Relative tolerance of :func:`numbers_equal`: values within one part in a million are equal.
TOLERANCE = 1e-6
_MAX_EXPONENT = 1000  # 2^1000 is exact; a larger exponent is computed in floating point
_MAX_TEXT = 20_000  # characters of an answer region that are read (a runaway output is cut)
_MAX_DEPTH = 60  # nested parentheses, signs and powers an expression may have

_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻", "0123456789-")
_REPLACEMENTS = (
    ("**", " "),  # markdown bold, never a power in an answer (LaTeX writes ^)
    ("__", " "),
    ("−", "-"),
    ("–", " – "),  # an en dash is a range ("12–13"), never a minus
    ("×", "*"),
    ("·", "*"),
    ("÷", "/"),
    ("√", "\\sqrt"),
    ("π", "\\pi"),
    ("{,}", ""),
    ("\\!", ""),
    ("\\left", ""),
    ("\\right", ""),
    ("\\%", "%"),
    ("\\$", " "),
    ("$", " "),
    ("\\dfrac", "\\frac"),
    ("\\tfrac", "\\frac"),
    ("\\times", "*"),
    ("\\cdot", "*"),
    ("\\div", "/"),
)
#: ``\boxed{...}`` (two levels of braces inside) and ``\text{...}``-like commands; the graders use them too.
BOXED = re.compile(r"\\boxed\s*\{((?:[^{}]|\{(?:[^{}]|\{[^{}]*\})*\})*)\}")
TEXT = re.compile(r"\\(?:text|textbf|textrm|mathrm|mathbf|mbox|operatorname)\s*\{([^{}]*)\}")
_SUPERSCRIPT_RUN = re.compile(r"[⁰¹²³⁴⁵⁶⁷⁸⁹⁻]+")
_THIN_SPACE_GROUPS = re.compile(r"(?<=\d)(?:\\[,;: ]|[\u2009\u202f\u00a0])(?=\d{3}(?!\d))")
_COMMA_GROUPS = re.compile(r"(?<![\d.,])\d{1,3}(?:,\d{3})+(?![\d,]|\.\d)|(?<![\d.,])\d{1,3}(?:,\d{3})+\.\d+")
_SPACE_GROUPS = re.compile(r"(?<![\d.,/])\d{1,3}(?: \d{3})+(?![\d/.,]|\s*/)")
_MIXED = re.compile(r"(?<![\d.,/^])(\d+)\s+(\d+)\s*/\s*(\d+)(?![\d.])")
_MIXED_FRAC = re.compile(r"(?<![\d.,/^])(\d+)\s*(\\frac)")
_TIMES_TEN = re.compile(r"(?<=\d)\s*[xX]\s*(?=10\s*\^)")  # 1.5 x 10^3
_LATEX_SPACES = re.compile(r"\\[,;: ]|\\q?quad")
_TOKEN = re.compile(
    r"(?P<num>\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)"
    r"|(?P<cmd>\\frac|\\sqrt|\\pi)"
    r"|(?P<op>[-+*/^])"
    r"|(?P<open>[({\[])"
    r"|(?P<close>[)}\]])"
    r"|(?P<word>[A-Za-z]+|\\[A-Za-z]+)"
    r"|(?P<space>\s+)"
    r"|(?P<other>.)",
    re.DOTALL,
)


@dataclass(frozen=True)
class Expression:
    """One expression found in a text: where it is, what was written, its value."""

    start: int
    end: int
    text: str
    value: Value


def plain_math(text: str) -> str:
    """``text`` with LaTeX markup and typography reduced to the grammar the parser reads."""
    text = text[:_MAX_TEXT]
    text = _SUPERSCRIPT_RUN.sub(lambda m: "^{" + m.group(0).translate(_SUPERSCRIPTS) + "}", text)
    text = _THIN_SPACE_GROUPS.sub("", text)
    for old, new in _REPLACEMENTS:
        text = text.replace(old, new)
    for _ in range(3):  # nested boxes
        text = BOXED.sub(lambda m: f" {m.group(1)} ", text)
    text = TEXT.sub(lambda m: f" {m.group(1)} ", text)
    text = _LATEX_SPACES.sub(" ", text)
    text = _TIMES_TEN.sub("*", text)
    text = _COMMA_GROUPS.sub(lambda m: m.group(0).replace(",", ""), text)
    text = _SPACE_GROUPS.sub(lambda m: m.group(0).replace(" ", ""), text)
    text = _MIXED.sub(lambda m: f"({m.group(1)}+{m.group(2)}/{m.group(3)})", text)
    return _MIXED_FRAC.sub(lambda m: f"{m.group(1)}+{m.group(2)}", text)


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    start: int
    end: int


def _tokens(text: str) -> list[_Token]:
    return [
        _Token(match.lastgroup or "other", match.group(0), match.start(), match.end())
        for match in _TOKEN.finditer(text)
        if match.lastgroup != "space"
    ]


class _ParseError(Exception):
    """Not an expression at this position."""


def _number(text: str) -> Value:
    mantissa, _, exponent = text.lower().partition("e")
    if exponent and abs(int(exponent)) > _MAX_EXPONENT:  # "1e999999999" would be a huge integer
        value = float(text)
        return value if math.isfinite(value) else math.nan
    return Fraction(text)


def _power(base: Value, exponent: Value) -> Value:
    small = isinstance(base, Fraction) and max(base.numerator, base.denominator).bit_length() <= 64
    if small and isinstance(exponent, Fraction) and exponent.denominator == 1 and abs(exponent) <= _MAX_EXPONENT:
        if base == 0 and exponent < 0:
            return math.nan
        return Fraction(base) ** int(exponent)
    try:
        result = float(base) ** float(exponent)
    except (OverflowError, ZeroDivisionError):
        return math.nan
    return math.nan if isinstance(result, complex) or not math.isfinite(result) else result


def _root(value: Value, degree: int = 2) -> Value:
    if math.isnan(value):
        return math.nan
    if value < 0:
        return math.nan if degree % 2 == 0 else -_root(-value, degree)
    if isinstance(value, Fraction):
        num = round(value.numerator ** (1 / degree))
        den = round(value.denominator ** (1 / degree))
        if num**degree == value.numerator and den**degree == value.denominator:
            return Fraction(num, den)
    return float(value) ** (1 / degree)


class _Parser:
    """Recursive descent over tokens: sum := product (('+'|'-') product)*; product := power
    (('*'|'/'|implicit) power)*; power := unary ('^' power)?; unary := ('-'|'+') unary | atom.
    What cannot be a number (1/0, 0^-1, an even root of a negative, an overflow) is NaN.
    """

    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.depth = 0

    def nested(self, parse: Callable[[], Value]) -> Value:
        """``parse()`` one level deeper; too deep is not an expression (no recursion without bound)."""
        if self.depth >= _MAX_DEPTH:
            raise _ParseError("nested too deep")
        self.depth += 1
        try:
            return parse()
        finally:
            self.depth -= 1

    def peek(self, offset: int = 0) -> _Token | None:
        index = self.pos + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.peek()
        if token is None:
            raise _ParseError("end of text")
        self.pos += 1
        return token

    def expect_open(self) -> str:
        token = self.take()
        if token.kind != "open":
            raise _ParseError("expected a brace")
        return {"(": ")", "{": "}", "[": "]"}[token.text]

    def expect_close(self, closing: str) -> None:
        token = self.take()
        if token.text != closing:
            raise _ParseError("unbalanced")

    def group(self) -> Value:
        closing = self.expect_open()
        value = self.nested(self.sum)
        self.expect_close(closing)
        return value

    def attempt(self, parse: Callable[[], Value]) -> Value | None:
        """``parse()``, or ``None`` with the position restored when what follows is not an operand."""
        saved = self.pos
        try:
            return parse()
        except _ParseError:
            self.pos = saved
            return None

    def sum(self) -> Value:
        value = self.product()
        while (token := self.peek()) is not None and token.kind == "op" and token.text in "+-":
            self.pos += 1
            right = self.attempt(self.product)
            if right is None:  # "12 + tax": the expression ends before the operator
                self.pos -= 1
                break
            value = value + right if token.text == "+" else value - right
        return value

    def product(self) -> Value:
        value = self.power()
        while (token := self.peek()) is not None:
            if token.kind == "op" and token.text in ("*", "/"):
                self.pos += 1
                right = self.attempt(self.power)
                if right is None:
                    self.pos -= 1
                    break
                if token.text == "*":
                    value = value * right
                elif right == 0:
                    value = math.nan  # "1/0" is read whole, and equals nothing
                else:
                    value = value / right
            elif token.kind == "cmd" or token.text == "(":
                right = self.attempt(self.power)  # implicit product: 3\sqrt{2}, 2\pi, 2(3+1)
                if right is None:
                    break
                value = value * right
            else:
                break
        return value

    def power(self) -> Value:
        base = self.unary()
        token = self.peek()
        if token is not None and token.kind == "op" and token.text == "^":
            self.pos += 1
            after = self.peek()
            braced = after is not None and after.text == "{"
            exponent = self.attempt(lambda: self.nested(self.group if braced else self.power))
            if exponent is None:  # "2^" at the end: the expression ends before the operator
                self.pos -= 1
                return base
            return _power(base, exponent)
        return base

    def unary(self) -> Value:
        token = self.peek()
        if token is not None and token.kind == "op" and token.text in "+-":
            self.pos += 1
            value = self.nested(self.unary)
            return -value if token.text == "-" else value
        return self.atom()

    def atom(self) -> Value:
        token = self.take()
        if token.kind == "num":
            return _number(token.text)
        if token.kind == "open":
            self.pos -= 1
            return self.group()
        if token.text == "\\pi":
            return math.pi
        if token.text == "\\frac":
            numerator = self.group()
            denominator = self.group()
            return math.nan if denominator == 0 else numerator / denominator
        if token.text == "\\sqrt":
            degree = 2
            after = self.peek()
            if after is not None and after.text == "[":
                index = self.group()
                if not (isinstance(index, Fraction) and index.denominator == 1 and 2 <= index <= 100):
                    raise _ParseError("root degree")
                degree = int(index)
            after = self.peek()
            return _root(self.group() if after is not None and after.kind == "open" else self.atom(), degree)
        raise _ParseError(f"unexpected {token.text!r}")


def _starts_expression(tokens: list[_Token], index: int) -> bool:
    token = tokens[index]
    if token.kind in ("num", "cmd"):
        return True
    following = tokens[index + 1] if index + 1 < len(tokens) else None
    if token.kind == "op" and token.text in "+-":
        return following is not None and (following.kind in ("num", "cmd", "open"))
    if token.kind == "open":
        return any(t.kind in ("num", "cmd") for t in tokens[index + 1 : index + 4])
    return False


def expressions(text: str) -> list[Expression]:
    """Every maximal expression with a value in ``text``, in order (positions refer to :func:`plain_math`'s text)."""
    plain = plain_math(text)
    tokens = _tokens(plain)
    found: list[Expression] = []
    index = 0
    while index < len(tokens):
        if not _starts_expression(tokens, index):
            index += 1
            continue
        parser = _Parser(tokens[index:])
        try:
            value = parser.sum()
        except (_ParseError, ZeroDivisionError, OverflowError, ValueError):
            index += 1
            continue
        if parser.pos == 0:
            index += 1
            continue
        last = tokens[index + parser.pos - 1]
        start = tokens[index].start
        found.append(Expression(start, last.end, plain[start : last.end].strip(), value))
        index += parser.pos
    return found


def parse_value(text: str) -> Value | None:
    """The value of ``text`` when it holds exactly one expression (a reference answer), else ``None``."""
    found = expressions(text)
    return found[0].value if len(found) == 1 else None


def numbers_equal(a: Value, b: Value) -> bool:
    """Equal exactly, or within :data:`TOLERANCE` relative to the larger magnitude (NaN equals nothing)."""
    if math.isnan(a) or math.isnan(b):
        return False
    if a == b:
        return True
    scale = max(abs(float(a)), abs(float(b)))
    return scale > 0 and abs(float(a) - float(b)) / scale <= TOLERANCE
