r"""Graders: extract the answer from a model's output and score it against the ground truth.

Model output is only ever read as text, never executed (code benchmarks are out of scope until a
sandbox exists). Every grader returns a :class:`Grade` with the extracted ``prediction`` (``None``
when no answer can be found, or when the output commits to several) and a score of 1.0 or 0.0. An
output without a usable answer is a wrong answer (score 0), not a failure: the model did answer.

Where the answer is looked for, in this order:

1. the last *answer cue*, "Answer: ...", "The answer is ...", "Final answer = ..." (any case,
   markdown emphasis allowed), up to the end of its sentence or line; when that clause holds no
   answer, the cue before it;
2. the last ``\\boxed{...}``;
3. grader-specific: ``choice`` takes an output that is nothing but a letter ("C", "(c).", "**C**");
   ``number`` takes the last number of the output; ``exact`` takes the last non-empty line.

``choice``
    The ground truth is a letter (A for the first option). Letters outside the options are ignored,
    and a lower-case letter counts only where no upper-case one does ("Answer: b" is B, but "a" in
    "Answer: a B" is an article). A clause naming several letters ("Answer: A, C") gives no prediction.
``number``
    LaTeX is read (``\\frac{3}{4}``, ``\\dfrac``, ``\\,`` and ``{,}`` separators, ``$...$``, ``\\%``,
    ``\\text{...}``), thousands separators are dropped ("1,234"), and trailing units are ignored
    ("12 cm", "$5", "50%"). Values are compared exactly as fractions, with a relative tolerance of
    1e-6 for decimals that are not exact.
``exact``
    Case-, space- and markup-insensitive string equality (surrounding quotes, ``**``, a final period
    and ``\\text{}`` are dropped). The ground truth may be a list of accepted answers.
``regex``
    The benchmark's ``pattern`` is searched in the output; the last match (its first group, if it has
    one) is the prediction, compared with the ground truth as ``exact`` compares.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

#: "Answer:", "The answer is", "Final answer =", "**Answer:**", "answer would be" ...
_CUE = re.compile(
    r"\banswer\b[\s*_]*(?:(?:is|would\s+be|should\s+be|must\s+be)\b|[:：=])[\s*_:]*",
    re.IGNORECASE,
)
# The clause a cue introduces ends at a line break, a semicolon, or a period that ends a sentence.
_CLAUSE_END = re.compile(r"\n|;|(?<=\S)\.(?=\s|$)")
_BOXED = re.compile(r"\\boxed\s*\{((?:[^{}]|\{[^{}]*\})*)\}")
_LETTER = re.compile(r"(?<![A-Za-z0-9])([A-Za-z])(?![A-Za-z0-9])")
_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?(?:\s*/\s*[-+]?\d+(?:\.\d+)?)?")
_THOUSANDS = re.compile(r"(?<![\d.])\d{1,3}(?:,\d{3})+(?![\d])")
_FRAC = re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
_TEXT = re.compile(r"\\(?:text|textbf|mathrm|mbox)\s*\{([^{}]*)\}")
_MARKUP = re.compile(r"[*_`\"'“”‘’]")
_SPACES = re.compile(r"\s+")
TOLERANCE = 1e-6


@dataclass(frozen=True)
class Grade:
    """What the grader extracted (``None`` = no answer) and its score, 1.0 or 0.0."""

    prediction: str | None
    score: float


def _clauses(output: str) -> list[str]:
    """The text after each answer cue up to the end of its clause, last cue first."""
    clauses = []
    for cue in reversed(list(_CUE.finditer(output))):
        tail = output[cue.end() :]
        end = _CLAUSE_END.search(tail)
        clauses.append(tail[: end.start()] if end else tail)
    return clauses


def _boxed(output: str) -> str | None:
    found = _BOXED.findall(output)
    return found[-1] if found else None


# --------------------------------------------------------------------------- choice


def _letters_in(text: str, valid: str) -> list[str]:
    """The distinct option letters in ``text``: upper-case ones if any, else lower-case ones."""
    tokens = [t for t in _LETTER.findall(text) if t.upper() in valid]
    upper = [t for t in tokens if t.isupper()]
    return list(dict.fromkeys(t.upper() for t in (upper or tokens)))


def extract_choice(output: str, n_choices: int) -> str | None:
    """The single option letter the output commits to, or ``None`` (none, or several)."""
    valid = "".join(chr(ord("A") + i) for i in range(max(1, min(n_choices, 26))))
    for clause in [*_clauses(output), _boxed(output)]:
        if clause is None:
            continue
        letters = _letters_in(clause, valid)
        if len(letters) == 1:
            return letters[0]
        if len(letters) > 1:
            return None
    bare = re.sub(r"[\s*_()\[\].:]", "", re.sub(r"(?i)^\s*(option|choice)\s+", "", output))
    if len(bare) == 1 and bare.upper() in valid:
        return bare.upper()
    return None


# --------------------------------------------------------------------------- number


def _plain_math(text: str) -> str:
    """LaTeX and typography reduced to plain text numbers can be read from."""
    text = text.replace("−", "-").replace("{,}", "").replace("\\!", "").replace("\\,", "").replace("\\;", "")
    text = text.replace("\\left", "").replace("\\right", "").replace("\\%", "%").replace("$", " ")
    boxed = _BOXED.sub(lambda m: m.group(1), text)
    for _ in range(3):  # nested fractions, innermost first
        boxed = _FRAC.sub(lambda m: f"({m.group(1)})/({m.group(2)})", boxed)
    boxed = _TEXT.sub(lambda m: f" {m.group(1)} ", boxed)
    boxed = re.sub(r"\(\s*([-+]?[\d.]+)\s*\)", r"\1", boxed)  # (3)/(4) -> 3/4
    return _THOUSANDS.sub(lambda m: m.group(0).replace(",", ""), boxed)


def parse_number(text: str) -> Fraction | None:
    """The first number in ``text`` (after :func:`_plain_math`) as an exact fraction, or ``None``."""
    match = _NUMBER.search(_plain_math(text))
    return _to_fraction(match.group(0)) if match else None


def _to_fraction(token: str) -> Fraction | None:
    try:
        return Fraction(token.replace(" ", ""))
    except (ValueError, ZeroDivisionError):
        return None


def extract_number(output: str) -> str | None:
    """The number the output gives as its answer, as written (separators removed), or ``None``."""
    for clause in [*_clauses(output), _boxed(output)]:
        if clause is None:
            continue
        match = _NUMBER.search(_plain_math(clause))
        if match:
            return match.group(0).replace(" ", "")
    numbers = _NUMBER.findall(_plain_math(output))
    return numbers[-1].replace(" ", "") if numbers else None


def numbers_equal(a: Fraction, b: Fraction) -> bool:
    """Exactly equal, or within :data:`TOLERANCE` relative difference."""
    if a == b:
        return True
    scale = max(abs(a), abs(b))
    return bool(scale) and abs(a - b) / scale <= TOLERANCE


# --------------------------------------------------------------------------- exact and regex


def normalise_text(text: str) -> str:
    """Case-folded, markup-free, single-spaced, without a final period."""
    text = _TEXT.sub(lambda m: m.group(1), _BOXED.sub(lambda m: m.group(1), text)).replace("$", "")
    text = _SPACES.sub(" ", _MARKUP.sub("", text)).strip().rstrip(".").strip()
    return text.casefold()


def extract_exact(output: str) -> str | None:
    r"""The text after the last answer cue (its line), else the last ``\\boxed{}``, else the last line."""
    for cue in reversed(list(_CUE.finditer(output))):
        line = output[cue.end() :].split("\n", 1)[0].strip()
        if normalise_text(line):
            return line
    boxed = _boxed(output)
    if boxed is not None:
        return boxed
    lines = [line.strip() for line in output.splitlines() if normalise_text(line)]
    return lines[-1] if lines else None


def extract_regex(output: str, pattern: re.Pattern[str]) -> str | None:
    """The last match of ``pattern`` (its first group when it has groups), or ``None``."""
    matches = list(pattern.finditer(output))
    if not matches:
        return None
    last = matches[-1]
    return last.group(1) if pattern.groups else last.group(0)


# --------------------------------------------------------------------------- entry point


def grade(
    grader: str,
    output: str,
    answer: str | Sequence[str],
    *,
    n_choices: int = 0,
    pattern: re.Pattern[str] | None = None,
) -> Grade:
    """Extract the answer from ``output`` and score it against ``answer``.

    Parameters
    ----------
    grader
        ``choice``, ``exact``, ``number`` or ``regex``.
    output
        The model's reply, as text.
    answer
        The ground truth: a letter (choice), a number as text (number), a string or a list of
        accepted strings (exact, regex).
    n_choices
        Number of options (choice).
    pattern
        The compiled ``pattern`` of the benchmark (regex).

    Returns
    -------
    Grade
        The prediction (``None`` when no single answer was found) and the score, 1.0 or 0.0.
    """
    accepted = [answer] if isinstance(answer, str) else list(answer)
    if grader == "choice":
        prediction = extract_choice(output, n_choices)
        right = prediction is not None and prediction == accepted[0].strip().upper()
    elif grader == "number":
        prediction = extract_number(output)
        value = _to_fraction(prediction) if prediction is not None else None
        truths = [parse_number(a) for a in accepted]
        right = value is not None and any(t is not None and numbers_equal(value, t) for t in truths)
    elif grader in ("exact", "regex"):
        if grader == "regex":
            if pattern is None:
                raise ValueError("the regex grader needs a pattern")
            prediction = extract_regex(output, pattern)
        else:
            prediction = extract_exact(output)
        right = prediction is not None and normalise_text(prediction) in {normalise_text(a) for a in accepted}
    else:
        raise ValueError(f"unknown grader {grader!r}")
    return Grade(prediction, 1.0 if right else 0.0)
