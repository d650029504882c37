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
        ("Answer: $\\frac{3}{4}$", "3/4"),
        ("\\boxed{\\dfrac{1}{2}}", "1/2"),
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
