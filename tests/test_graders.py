"""Graders against the outputs models really write: cues, case, several letters, LaTeX, units."""

from __future__ import annotations

import re

import pytest

from avengers_pro.collect.graders import (
    extract_choice,
    extract_exact,
    extract_number,
    grade,
)


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("Answer: b", "B"),  # lower case after the cue
        ("The answer is (C).", "C"),
        ("**Answer:** D", "D"),  # markdown
        ("Reasoning... Option B is tempting.\nAnswer: A. B fails because of X.", "A"),  # the clause ends at '.'
        ("To answer this, compare A and B.\nFinal answer: D", "D"),  # the last cue decides
        ("The answer is a B", "B"),  # 'a' is an article when an upper-case letter is there
        ("Answer: I think it's b", "B"),  # 'I' is not an option of four
        ("C", "C"),
        ("(c).", "C"),
        ("\\boxed{C}", "C"),
        ("Answer: A, C", None),  # several letters: no single answer
        ("The answer is A or B.", None),
        ("I am not sure.", None),  # none
        ("Answer: E", None),  # not an option of four
        ("", None),
    ],
)
def test_choice_extraction(output: str, expected: str | None) -> None:
    assert extract_choice(output, 4) == expected


def test_choice_letters_beyond_d_count_when_there_are_enough_options() -> None:
    assert extract_choice("Answer: I", 10) == "I"
    assert extract_choice("Answer: I", 4) is None


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("Answer: $\\frac{3}{4}$", "\\frac{3}{4}"),  # as written, LaTeX reduced
        ("\\boxed{\\dfrac{1}{2}}", "\\frac{1}{2}"),
        ("The answer is 1,234.5 km.", "1234.5"),  # thousands separator and a trailing unit
        ("Answer: 1{,}000", "1000"),  # LaTeX thousands separator
        ("Answer: -3", "-3"),
        ("Answer: −3", "-3"),  # typographic minus
        ("It costs $5.", "5"),  # currency
        ("Answer: 50\\%", "50"),
        ("Answer: 3.5 m. Next we check.", "3.5"),
        ("Answer: 2.5e3 J", "2.5e3"),
        ("We get 4, then 7, so 12 apples", "12"),  # no cue: the last number
        ("nothing numeric here", None),
    ],
)
def test_number_extraction(output: str, expected: str | None) -> None:
    assert extract_number(output) == expected


@pytest.mark.parametrize(
    ("output", "answer", "score"),
    [
        ("Answer: $\\frac{3}{4}$", "0.75", 1.0),
        ("Answer: 0.75", "\\frac{3}{4}", 1.0),
        ("Answer: 1,000,000 dollars", "1000000", 1.0),
        ("Answer: 0.3333333", "1/3", 1.0),  # within the relative tolerance
        ("Answer: 0.33", "1/3", 0.0),
        ("Answer: 12 cm", "12", 1.0),
        ("Answer: 13", "12", 0.0),
        ("no number", "12", 0.0),
    ],
)
def test_number_scores(output: str, answer: str, score: float) -> None:
    assert grade("number", output, answer).score == score


@pytest.mark.parametrize(
    ("output", "answer", "score"),
    [
        ("Answer: Paris.", "Paris", 1.0),
        ('The answer is "paris"', "Paris", 1.0),
        ("Let me see\n**Paris**", "Paris", 1.0),  # no cue: the last line
        ("\\boxed{\\text{Paris}}", "Paris", 1.0),
        ("Answer: Lyon", "Paris", 0.0),
        ("Answer: New   York", ["NYC", "new york"], 1.0),  # a list of accepted answers
    ],
)
def test_exact_scores(output: str, answer: str | list[str], score: float) -> None:
    assert grade("exact", output, answer).score == score


def test_exact_prefers_the_cue_over_the_last_line() -> None:
    assert extract_exact("Answer: Rome\nHope this helps!") == "Rome"


def test_regex_takes_the_last_match_and_its_group() -> None:
    pattern = re.compile(r"#### (\S+)")
    result = grade("regex", "first #### 1 then #### 42", "42", pattern=pattern)
    assert result.prediction == "42" and result.score == 1.0
    assert grade("regex", "no marker", "42", pattern=pattern) == grade("regex", "", "42", pattern=pattern)
    assert grade("regex", "no marker", "42", pattern=pattern).prediction is None


def test_choice_grade_compares_with_the_letter() -> None:
    assert grade("choice", "Answer: b", "B", n_choices=4).score == 1.0
    assert grade("choice", "Answer: A, B", "A", n_choices=4).score == 0.0  # several letters are not right


def test_output_is_never_executed() -> None:
    # A Python expression that would have a side effect if evaluated is only text to the graders.
    evil = "Answer: __import__('os').system('false')"
    assert grade("exact", evil, "x").score == 0.0
    assert grade("number", evil, "0").score == 0.0


def test_unknown_grader_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown grader"):
        grade("code", "print(1)", "1")


# --------------------------------------------------------------------------- the table
# Each row: grader, model output, ground truth, options (choice), the grade a careful human gives.
# The first rows are the misgradings reported in issue 23; the rest are cases of our own.
CAPITALS = ("London", "Paris", "Rome", "Berlin")
NINE = tuple(f"option {i}" for i in range(10))  # ten options: A-J, so "I" is a letter
TABLE: list[tuple[str, str, str | list[str], tuple[str, ...] | None, float]] = [
    # number: the cases
    ("number", "Answer: 12 or 13", "12", None, 0.0),  # hedged
    ("number", "Answer: 12 or 13", "13", None, 0.0),
    ("number", "Answer: $3\\sqrt{2}$", "3\\sqrt{2}", None, 1.0),
    ("number", "Answer: $3\\sqrt{2}$", "3", None, 0.0),
    ("number", "Answer: $3\\sqrt{2}$", "4.242640687", None, 1.0),  # by value, within 1e-6
    ("number", "Answer: $2^{10}$", "1024", None, 1.0),
    ("number", "Answer: $2^{10}$", "2", None, 0.0),
    ("number", "Answer: 1 234 567", "1234567", None, 1.0),
    ("number", "Answer: 2 1/2 cups", "2.5", None, 1.0),
    ("number", "Answer: 2 1/2 cups", "2", None, 0.0),
    ("number", "Answer: two dozen, so 24", "24", None, 1.0),
    ("number", "Answer: $1.5\\times10^{3}$", "1500", None, 1.0),
    ("number", "Answer: x = 3, y = 5 so x+y = 8", "8", None, 1.0),
    ("number", "Answer: x = 3, y = 5 so x+y = 8", "3", None, 0.0),
    # number: our own
    ("number", "The answer is $\\boxed{\\frac{7}{2}}$.", "3.5", None, 1.0),
    ("number", "\\boxed{2\\frac{1}{2}}", "5/2", None, 1.0),  # a LaTeX mixed number
    ("number", "Answer: 1,234,567.5", "1234567.5", None, 1.0),
    ("number", "Answer: 1.5e3", "1500", None, 1.0),
    ("number", "Answer: 1.5 x 10^3 joules", "1500", None, 1.0),
    ("number", "Answer: 10⁶", "1000000", None, 1.0),
    ("number", "Answer: $\\sqrt[3]{27}$", "3", None, 1.0),
    ("number", "Answer: $2\\pi$", "6.283185", None, 1.0),
    ("number", "Answer: 12 cm, which is 120 mm", "12", None, 1.0),
    ("number", "Answer: 12 (because 3 × 4)", "12", None, 1.0),
    ("number", "Answer: 12–13", "12", None, 0.0),  # a range is a hedge
    ("number", "Answer: $\\pm 3$", "3", None, 0.0),
    ("number", "First I thought the answer is 7. Final answer: 9", "9", None, 1.0),  # the last cue
    ("number", "Answer:\n42", "42", None, 1.0),  # the cue alone on its line
    ("number", "We get 4, then 7, so 12 apples.", "12", None, 1.0),  # no cue: the last number
    ("number", "Answer: -2 1/2", "-2.5", None, 1.0),
    ("number", "Answer: 0.5", "1/2", None, 1.0),
    ("number", "Answer: 0.3333", "1/3", None, 0.0),  # outside the tolerance
    ("number", "Answer: 1/0", "0", None, 0.0),
    ("number", "Answer: unknown", "0", None, 0.0),
    # choice: the cases
    ("choice", "Answer: C (since A and B are wrong)", "C", CAPITALS, 1.0),
    ("choice", "The correct answer is B, not A.", "B", CAPITALS, 1.0),
    ("choice", "Checking each: the answer is B, as A fails the test", "B", CAPITALS, 1.0),
    ("choice", "A is wrong and B is wrong. C fails too. So D is correct.", "D", CAPITALS, 1.0),
    ("choice", "Answer: I think it's B", "B", NINE, 1.0),  # the pronoun with ten options
    ("choice", "Answer: I'm fairly sure it is C", "C", NINE, 1.0),
    ("choice", "Answer: I", "I", NINE, 1.0),  # the letter I, when there is one
    ("choice", "B) because the capital of France is Paris", "B", CAPITALS, 1.0),
    ("choice", "Answer: Paris", "B", CAPITALS, 1.0),  # the option's text
    ("choice", "The answer is paris.", "B", CAPITALS, 1.0),
    ("choice", "Answer: A or B", "A", CAPITALS, 0.0),  # hedged
    ("choice", "Answer: A or B", "B", CAPITALS, 0.0),
    # choice: our own
    ("choice", "Answer: A, C", "A", CAPITALS, 0.0),  # a list is no answer
    ("choice", "Answer: A and C", "C", CAPITALS, 0.0),
    ("choice", "Answer: (D)", "D", CAPITALS, 1.0),
    ("choice", "**Answer:** b", "B", CAPITALS, 1.0),
    ("choice", "Answer: Option C, Rome", "C", CAPITALS, 1.0),
    ("choice", "The capital is Paris (B).\nAnswer: B", "B", CAPITALS, 1.0),
    ("choice", "Answer: E", "A", CAPITALS, 0.0),  # not an option of four
    ("choice", "(C) Rome", "C", CAPITALS, 1.0),
    ("choice", "Rome", "C", CAPITALS, 1.0),  # a bare option text
    ("choice", "I choose option A.", "A", CAPITALS, 1.0),
    ("choice", "The best choice is D", "D", CAPITALS, 1.0),  # 'choice is' is no cue: the statement
    ("choice", "I am not sure.", "A", CAPITALS, 0.0),
    ("choice", "Answer: the capital of Italy, Rome", "C", CAPITALS, 1.0),  # names one option
    # exact: the cases
    ("exact", "Answer: Paris!", "Paris", None, 1.0),
    ("exact", "The capital of France is Paris.", "Paris", None, 1.0),  # no cue: a sentence stating it
    ("exact", "It is certainly not Paris.", "Paris", None, 0.0),  # negated
    # exact: our own
    ("exact", "Answer: Paris, the capital of France", "Paris", None, 1.0),
    ("exact", "Answer: Lyon", "Paris", None, 0.0),
    ("exact", "Answer: paris (France)", ["Paris", "Paris, France"], None, 1.0),
    ("exact", "Final answer: **New York City**", ["NYC", "New York City"], None, 1.0),
    ("exact", "Answer: Parisian", "Paris", None, 0.0),
    ("exact", "\\boxed{\\text{Paris}}", "Paris", None, 1.0),
    ("exact", "Answer: The Eiffel Tower", "Eiffel Tower", None, 1.0),  # a leading article
    ("exact", "Answer: Paris.\nThat is because it is the capital.", "Paris", None, 1.0),
    ("number", "**Answer: 15**", "15", None, 1.0),  # markdown bold, not a power
    ("number", "Final Answer: The final answer is $\\boxed{42}$. I hope it is correct.", "42", None, 1.0),
    ("number", "The total is 5 + 7 = 12.", "12", None, 1.0),
    ("number", "Answer: 4 or 4.0", "4", None, 1.0),  # the same value twice is no hedge
    ("number", "Answer: 3.2 (to 1 decimal place)", "3.2", None, 1.0),
    ("number", "Answer: 12, or maybe 13", "12", None, 0.0),
    ("number", "Answer: between 12 and 13", "12", None, 0.0),
    ("choice", "The answer is (B) Paris, not (A) London.", "B", CAPITALS, 1.0),
    ("choice", "Both A and C are correct", "A", CAPITALS, 0.0),
    ("choice", "Answer: not A, B or C. So D is correct.", "D", CAPITALS, 1.0),  # the conclusion after the cue
    ("choice", "Answer: A\nWait, let me reconsider. Actually B is correct.", "B", CAPITALS, 1.0),
    ("choice", "Answer: not A but C", "C", CAPITALS, 1.0),  # a letter ruled out is not chosen
]


@pytest.mark.parametrize(("grader", "output", "answer", "choices", "score"), TABLE)
def test_graded_like_a_careful_human(
    grader: str, output: str, answer: str | list[str], choices: tuple[str, ...] | None, score: float
) -> None:
    graded = grade(grader, output, answer, n_choices=len(choices or ()), choices=choices)
    assert graded.score == score, graded


def test_the_table_is_large_and_covers_every_grader() -> None:
    assert len(TABLE) >= 60
    assert {row[0] for row in TABLE} == {"number", "choice", "exact"}
    assert {row[4] for row in TABLE} == {0.0, 1.0}


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("Answer: 12 or 13", None),
        ("Answer: $2^{10}$", "2^{10}"),
        ("Answer: 1 234 567", "1234567"),
        ("Answer: x = 3, y = 5 so x+y = 8", "8"),
    ],
)
def test_number_prediction_is_the_whole_number(output: str, expected: str | None) -> None:
    assert grade("number", output, "0").prediction == expected


def test_option_text_is_mapped_to_its_letter() -> None:
    assert extract_choice("Answer: Berlin", 4, CAPITALS) == "D"
    assert extract_choice("Answer: Berlin", 4) is None  # without the texts there is nothing to map


@pytest.mark.parametrize(
    "output",
    [
        "Answer: " + "(" * 5000 + "1",  # nesting without end
        "Answer: " + "-" * 5000 + "1",
        "Answer: " + "2^" * 3000 + "2",
        "Answer: " + "1e999999999",  # a huge exponent is not a huge integer
        "Answer: " + "9" * 5000,
        "Answer: " + "1/" * 3000 + "0",
        "\\boxed{" * 200 + "1" + "}" * 200,
        "Answer: " + "A or " * 2000 + "B",
    ],
)
def test_hostile_outputs_are_graded_without_error(output: str) -> None:
    for grader in ("number", "choice", "exact"):
        graded = grade(grader, output, "1" if grader != "choice" else "A", n_choices=4)
        assert graded.score in (0.0, 1.0)
