r"""Graders: extract the answer from a model's output and score it against the ground truth.

Model output is only ever read as text, never executed (code benchmarks are out of scope until a
sandbox exists). Every grader returns a :class:`Grade` with the extracted ``prediction`` (``None``
when no answer can be found, or when the output hedges between several) and a score of 1.0 or 0.0.
An output without a usable answer is a wrong answer (score 0), not a failure: the model did answer.

The rules are those of a careful human grader; ``tests/test_graders.py`` holds the table of outputs
they are checked against. Where the answer is looked for, in this order:

1. the clause after the **last** answer cue, "Answer: ...", "The answer is ...", "Final answer = ..."
   (any case, markdown emphasis allowed), up to the end of its sentence or line (a cue alone on its
   line takes the next line); only when that clause holds nothing usable, the cue before it;
2. the last ``\\boxed{...}``;
3. grader-specific fall-backs, below.

A *hedged* answer, two different answers joined by "or" ("12 or 13", "A or B"), a range ("12–13",
"12 to 13") or ``\\pm``, is wrong: the grader does not pick one for the model.

``choice``
    The ground truth is a letter (A for the first option). The prediction is the first option letter
    of the answer clause that it does not rule out: "C (since A and B are wrong)", "B, not A", "B, as
    A fails" and "not A but C" are C, B, B and C; a list of letters ("A, C", "A and C", "A or B") is
    no answer. A statement that comes after the last cue's clause ("Answer: not A, B or C. So D is
    correct.", "Answer: A. Wait, actually B is correct.") is the model's conclusion and wins. The pronoun "I" ("I think...",
    "I'm") is never an option, and a lower-case letter counts only where no upper-case one does
    ("Answer: b" is B, but "a" in "Answer: a B" is an article). An answer given as an option's text
    ("Answer: Paris") is mapped to that option's letter. Without a cue: "D is correct", "the correct
    option is D", a reply that starts "B) because ..." or "(B) ...", a reply that is nothing but a
    letter or an option's text.
``number``
    Numbers are read whole by :mod:`avengers_pro.collect.mathexpr` (thousands separators, spaces in
    groups of three, mixed fractions, scientific notation, ``\\frac``, ``\\sqrt``, powers, ``\\pi``)
    and compared by value: exactly for rationals, else within a relative tolerance of 1e-6
    (:data:`~avengers_pro.collect.mathexpr.TOLERANCE`). In the answer clause, the first number is the
    answer ("12 cm, which is 120 mm" is 12) unless the clause derives it ("=", "so", "thus",
    "therefore", "hence", "gives"), when the last is ("x = 3, y = 5 so x+y = 8" is 8). Without a cue,
    the last number of the output. Units, currency and percent signs are ignored. A reference that is
    not a number (a symbolic expression with variables) cannot be graded by value: benchmark files are
    checked for that when read.
``exact``
    Case-, space- and markup-insensitive string equality (quotes, ``**``, final punctuation, a
    leading article and ``\\text{}`` are dropped: "The Eiffel Tower" is "Eiffel Tower"). The answer clause is right when it equals an accepted answer, or starts
    with one followed by a comma, a parenthesis or an explanation ("Paris, the capital"). Without a
    cue, the last line counts when it equals an accepted answer, or states it as a whole phrase with
    no negation ("The capital of France is Paris." is right, "It is not Paris." is wrong). The ground
    truth may be a list of accepted answers.
``regex``
    The benchmark's ``pattern`` is searched in the output; the last match (its first group, if it has
    one) is the prediction, compared with the ground truth as ``exact`` compares.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from avengers_pro.collect.mathexpr import BOXED, TEXT, Expression, expressions, numbers_equal, parse_value, plain_math

#: Bumped whenever a grader's rules change: it is part of a collect job's spec, so the job reruns and
#: re-grades its answers from the cache (no request is sent).
GRADERS_VERSION = 2

#: "Answer:", "The answer is", "Final answer =", "**Answer:**", "answer would be" ...
_CUE = re.compile(
    r"\banswer\b[\s*_]*(?:(?:is|would\s+be|should\s+be|must\s+be|will\s+be)\b|[:：=])[\s*_:]*",
    re.IGNORECASE,
)
# The clause a cue introduces ends at a line break, a semicolon, or a period that ends a sentence.
_CLAUSE_END = re.compile(r"\n|;|(?<=\S)[.!?](?=\s|$)")
_LETTER = re.compile(r"(?<![A-Za-z0-9'’\\])([A-Za-z])(?![A-Za-z0-9'’])")
# "I think", "I'm", "I would": the pronoun, never option I.
_PRONOUN = re.compile(
    r"\s*(?:['’]|(?:think|believe|am|was|would|will|guess|choose|chose|pick|select|say|have|had|can|could|"
    r"need|must|should|feel|go|do|don|hope|see|get|got|suspect|reckon|conclude|agree|know|mean|also|"
    r"really|still|just)\b)"
)
# After a letter, another letter joined to it: a list or a hedge ("A, C", "A and C", "A or B", "A/B").
_LIST_NEXT = re.compile(
    r"\s*[)\]]?\s*(?:,|/|&|\band\b|\bor\b)\s*(?:(?:and|or)\s+)?(?:option\s+)?[(\[]?([A-Za-z])(?![A-Za-z0-9'’])"
)
_CORRECT_AFTER = re.compile(
    r"(?<![A-Za-z0-9])\(?([A-Z])\)?\s+(?:is|seems|must\s+be|would\s+be)\s+(?:the\s+)?(?:correct|right|best|true)\b"
)
_CORRECT_BEFORE = re.compile(
    r"\b(?:correct|right|best)\s+(?:option|choice|letter)\s+(?:is|would\s+be)\s*:?\s*\(?([A-Z])(?![A-Za-z0-9])"
    r"|\b(?:option|choice)\s+\(?([A-Z])\)?\s+is\s+(?:the\s+)?(?:correct|right|answer)"
    r"|\bI\s+(?:choose|pick|select|go\s+with)\s+(?:option\s+)?\(?([A-Z])(?![A-Za-z0-9])"
)
_LEADING_LETTER = re.compile(r"^[\s*_]*(?:option\s+|choice\s+)?\(?([A-Za-z])[).:](?:\s|$)", re.IGNORECASE)
# Between two numbers: "or" anywhere ("12 or maybe 13"); a range only as the whole gap ("12 to 13",
# "12–13"), so that "3.2 (to 1 decimal place)" is not a hedge.
# Right before a letter: the letter is ruled out, not chosen ("not A", "rather than A", "except A").
_NEGATED = re.compile(
    r"(?:\bnot|n['’]t|\bexcept|\brather\s+than|\binstead\s+of)\s+(?:option\s+|choice\s+)?[(\[]?$", re.IGNORECASE
)
_HEDGE = re.compile(r"\bor\b|^\s*(?:to|–|and)\s*$", re.IGNORECASE)
_DERIVED = re.compile(
    r"=|\b(?:so|thus|therefore|hence|giving|gives|yields?|makes|total(?:ling)?)\b|→|⇒|\\implies|\\Rightarrow",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"\n|(?<=\S)[.!?](?=\s|$)")
_MARKUP = re.compile(r"[*_`\"'“”‘’]")
_SPACES = re.compile(r"\s+")
_ARTICLE = re.compile(r"^(?:the|a|an) (?=\S)")
_TRAILING_PUNCTUATION = re.compile(r"[\s.!?,;:]+$")
_EXPLANATION = re.compile(r"\s*(?:,|\(|\[|—|–| - |:|\bbecause\b|\bsince\b|\bas\b|\bwhich\b)", re.IGNORECASE)
_NEGATION = re.compile(r"\b(?:not|no|never|neither|nor|isn['’]?t|wasn['’]?t|cannot|can['’]?t)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Grade:
    """What the grader extracted (``None`` = no answer) and its score, 1.0 or 0.0."""

    prediction: str | None
    score: float


def _clause_spans(output: str) -> list[tuple[int, int]]:
    """(start, end) of the text after each answer cue up to the end of its clause, last cue first."""
    spans = []
    for cue in reversed(list(_CUE.finditer(output))):
        start = cue.end() + len(output[cue.end() :]) - len(output[cue.end() :].lstrip())
        end = _CLAUSE_END.search(output, start)
        spans.append((start, end.start() if end else len(output)))
    return spans


def _clauses(output: str) -> list[str]:
    """The text after each answer cue up to the end of its clause, last cue first."""
    return [output[start:end] for start, end in _clause_spans(output)]


def _boxed(output: str) -> str | None:
    found = BOXED.findall(output)
    return found[-1] if found else None


def _regions(output: str) -> list[str]:
    """Where the answer is looked for first: the cue clauses (last first), then the last box."""
    boxed = _boxed(output)
    return [*_clauses(output), *([boxed] if boxed is not None else [])]


# --------------------------------------------------------------------------- choice


def _valid_letters(n_choices: int) -> str:
    return "".join(chr(ord("A") + i) for i in range(max(1, min(n_choices, 26))))


def _option_letter(text: str, choices: Sequence[str] | None, *, whole: bool) -> str | None:
    """The letter of the option whose text ``text`` is (``whole``) or names as a phrase (once)."""
    if not choices:
        return None
    said = normalise_text(re.sub(r"(?i)^\s*(?:option|choice)\s+", "", text))
    if not said:
        return None
    options = [normalise_text(choice) for choice in choices]
    exact = [i for i, option in enumerate(options) if option == said]
    if len(exact) == 1:
        return chr(ord("A") + exact[0])
    if whole:
        return None
    named = [
        i
        for i, option in enumerate(options)
        if len(option) > 1 and re.search(rf"(?<!\w){re.escape(option)}(?!\w)", said)
    ]
    return chr(ord("A") + named[0]) if len(named) == 1 else None


def _first_letter(clause: str, valid: str) -> tuple[str | None, bool]:
    """(the first option letter of a clause, whether the clause names any letter at all).

    The letter is ``None`` when the clause lists or hedges between several letters.
    """
    tokens = [m for m in _LETTER.finditer(clause) if m.group(1).upper() in valid]
    tokens = [m for m in tokens if not (m.group(1) == "I" and _PRONOUN.match(clause, m.end()))]
    tokens = [m for m in tokens if not _NEGATED.search(clause, 0, m.start())]  # "not A but C" is C
    if not tokens:
        return None, False
    upper = [m for m in tokens if m.group(1).isupper()]
    first = (upper or tokens)[0]
    following = _LIST_NEXT.match(clause, first.end())
    if (
        following
        and following.group(1).upper() in valid
        and following.group(1).upper() != first.group(1).upper()
        and (following.group(1).isupper() or not upper)
    ):
        return None, True
    return first.group(1).upper(), True


def extract_choice(output: str, n_choices: int, choices: Sequence[str] | None = None) -> str | None:
    """The single option letter the output commits to, or ``None`` (none, or a hedge)."""
    valid = _valid_letters(len(choices) if choices else n_choices)
    statements = [
        (match.start(), next(g for g in match.groups() if g))
        for pattern in (_CORRECT_AFTER, _CORRECT_BEFORE)
        for match in pattern.finditer(output)
    ]
    statements = [(position, letter) for position, letter in statements if letter in valid]
    spans = _clause_spans(output)
    if statements and (not spans or max(statements)[0] >= spans[0][1]):
        return max(statements)[1]  # "... So D is correct." after the last cue's clause: the conclusion
    for region in _regions(output):
        by_text = _option_letter(region, choices, whole=True)
        if by_text is not None:
            return by_text
        letter, named = _first_letter(region, valid)
        if named:
            return letter
        by_text = _option_letter(region, choices, whole=False)
        if by_text is not None:
            return by_text
    if statements:
        return max(statements)[1]
    leading = _LEADING_LETTER.match(output)
    if leading and leading.group(1).upper() in valid and (leading.group(1) != "I" or n_choices > 8):
        return leading.group(1).upper()
    bare = re.sub(r"[\s*_()\[\].:]", "", re.sub(r"(?i)^\s*(option|choice)\s+", "", output))
    if len(bare) == 1 and bare.upper() in valid:
        return bare.upper()
    return _option_letter(output, choices, whole=True)


# --------------------------------------------------------------------------- number


def parse_number(text: str) -> float | None:
    """The value of a reference answer (one number or expression), or ``None`` when it is not one."""
    value = parse_value(text)
    return None if value is None else float(value)


def _hedged(found: Sequence[Expression], plain: str) -> bool:
    r"""Two different values joined by "or", a range or ``\pm``."""
    for before, after in zip(found, found[1:], strict=False):
        gap = plain[before.end : after.start]
        if _HEDGE.search(gap) and not numbers_equal(before.value, after.value):
            return True
    return "\\pm" in plain or "±" in plain


def _number_in(region: str, *, last: bool) -> tuple[Expression | None, bool]:
    """(the answer's expression in a region, whether the region holds any number)."""
    found = expressions(region)
    if not found:
        return None, False
    plain = plain_math(region)
    if _hedged(found, plain):
        return None, True
    derived = last or _DERIVED.search(plain) is not None
    return (found[-1] if derived else found[0]), True


def _last_number(output: str) -> Expression | None:
    """The last number of the last sentence that holds one (no cue, no box)."""
    sentences = [s for s in _SENTENCE_END.split(output) if s.strip()]
    for sentence in reversed(sentences):
        expression, found = _number_in(sentence, last=True)
        if found:
            return expression
    return None


def _extract_expression(output: str) -> Expression | None:
    for region in _regions(output):
        expression, found = _number_in(region, last=False)
        if found:
            return expression
    return _last_number(output)


def extract_number(output: str) -> str | None:
    """The number the output gives as its answer, as read (separators removed), or ``None``."""
    expression = _extract_expression(output)
    return None if expression is None else expression.text


# --------------------------------------------------------------------------- exact and regex


def normalise_text(text: str) -> str:
    """Case-folded, markup-free, single-spaced, without final punctuation and a leading article."""
    text = TEXT.sub(lambda m: m.group(1), BOXED.sub(lambda m: m.group(1), text)).replace("$", "")
    text = _SPACES.sub(" ", _MARKUP.sub("", text)).strip()
    text = _TRAILING_PUNCTUATION.sub("", text).strip().casefold()
    return _ARTICLE.sub("", text)


def _head(text: str) -> str:
    """``text`` up to the first comma, parenthesis or explanation ("Paris, the capital" -> "Paris")."""
    match = _EXPLANATION.search(text)
    return text[: match.start()] if match and match.start() > 0 else text


def extract_exact(output: str) -> str | None:
    r"""The answer clause of the last cue, else the last ``\\boxed{}``, else the last non-empty line."""
    for region in _regions(output):
        if normalise_text(region):
            return region.strip()
    lines = [line.strip() for line in output.splitlines() if normalise_text(line)]
    return lines[-1] if lines else None


def _exact_right(output: str, prediction: str | None, accepted: set[str]) -> bool:
    if prediction is None:
        return False
    if normalise_text(prediction) in accepted or normalise_text(_head(prediction)) in accepted:
        return True
    if any(normalise_text(region) for region in _regions(output)):
        return False
    # No cue and no box: the last line may state the answer in a sentence, without negating it.
    said = normalise_text(prediction)
    if _NEGATION.search(said):
        return False
    return any(re.search(rf"(?<!\w){re.escape(answer)}(?!\w)", said) for answer in accepted if answer)


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
    choices: Sequence[str] | None = None,
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
        Number of options (choice), when their texts are not given.
    choices
        The option texts (choice): an answer given as an option's text is mapped to its letter.
    pattern
        The compiled ``pattern`` of the benchmark (regex).

    Returns
    -------
    Grade
        The prediction (``None`` when no single answer was found) and the score, 1.0 or 0.0.
    """
    accepted = [answer] if isinstance(answer, str) else list(answer)
    if grader == "choice":
        prediction = extract_choice(output, n_choices, choices)
        right = prediction is not None and prediction == accepted[0].strip().upper()
    elif grader == "number":
        expression = _extract_expression(output)
        prediction = None if expression is None else expression.text
        truths = [parse_value(a) for a in accepted]
        right = expression is not None and any(t is not None and numbers_equal(expression.value, t) for t in truths)
    elif grader == "regex":
        if pattern is None:
            raise ValueError("the regex grader needs a pattern")
        prediction = extract_regex(output, pattern)
        right = prediction is not None and normalise_text(prediction) in {normalise_text(a) for a in accepted}
    elif grader == "exact":
        prediction = extract_exact(output)
        right = _exact_right(output, prediction, {normalise_text(a) for a in accepted})
    else:
        raise ValueError(f"unknown grader {grader!r}")
    return Grade(prediction, 1.0 if right else 0.0)
