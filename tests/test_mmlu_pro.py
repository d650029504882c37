"""The mmlu-pro-outputs format and the token cost model, on small fixtures built here, and on the real
published files in a slow test (skipped when they are not on this machine)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from avengers_pro.errors import ConfigError, DataError
from avengers_pro.formats.mmlu_pro import model_from_file_name, question_text, read_mmlu_pro_outputs
from avengers_pro.records import ingest, price_by_tokens, read_source
from avengers_pro.tokens import count_tokens

REPO = Path(__file__).resolve().parents[1]


def record(qid: int, pred: str | None, *, answer: str = "B", category: str = "math", field: str = "generated_text",
           output: str = "The answer is (B).", options: list[str] | None = None) -> dict[str, Any]:  # fmt: skip
    return {
        "question_id": qid,
        "question": f"What is {qid} + 1?",
        "options": options if options is not None else [str(qid), str(qid + 1), str(qid + 2)],
        "answer": answer,
        "answer_index": "ABC".index(answer) if answer in "ABC" else 0,
        "cot_content": "",
        "category": category,
        "src": "ori_mmlu-test",
        "pred": pred,
        field: output,
    }


def write_zip(path: Path, entries: list[Any]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(path.stem + ".json", json.dumps(entries))
    return path


# --------------------------------------------------------------------------- the reader


def test_reads_a_zip_with_either_output_field(tmp_path: Path) -> None:
    entries = [record(1, "B"), record(2, "A", category="law"), record(3, None)]
    for field in ("generated_text", "model_outputs"):
        entries_f = [{**{k: v for k, v in e.items() if k != "generated_text"}, field: "Answer: B"} for e in entries]
        path = write_zip(tmp_path / f"model_outputs_Model-{field}_5shots.zip", entries_f)
        frame, notes = read_mmlu_pro_outputs(path)
        assert frame["model"].unique().tolist() == [f"Model-{field}"]
        assert frame["query_id"].tolist() == ["mmlu-pro/1", "mmlu-pro/2", "mmlu-pro/3"]
        assert frame["dataset"].tolist() == ["mmlu-pro/math", "mmlu-pro/law", "mmlu-pro/math"]
        assert frame["score"].tolist() == [1.0, 0.0, 0.0]
        assert frame["query"].iloc[0] == "What is 1 + 1?\nA. 1\nB. 2\nC. 3"
        assert (frame["query"] == frame["prompt"]).all()
        assert frame["cost"].isna().all()
        assert frame["row"].tolist() == [1, 2, 3]
        # "Answer: B" is two word pieces and a colon.
        assert frame["output_tokens"].tolist() == [3.0, 3.0, 3.0]
        assert notes["null_pred"] == 1 and notes["entries_not_records"] == 0


def test_the_json_inside_reads_like_the_zip(tmp_path: Path) -> None:
    entries = [record(1, "B"), record(2, "C")]
    from_zip, _ = read_mmlu_pro_outputs(write_zip(tmp_path / "model_outputs_M_5shots.zip", entries))
    json_path = tmp_path / "model_outputs_M_5shots.json"
    json_path.write_text(json.dumps(entries))
    from_json, _ = read_mmlu_pro_outputs(json_path)
    pd.testing.assert_frame_equal(from_zip, from_json)


def test_null_pred_random_guess_scores_one_over_the_options(tmp_path: Path) -> None:
    entries = [record(1, None), record(2, None, options=["x", "y", "z", "w", "v"]), record(3, "B")]
    path = write_zip(tmp_path / "model_outputs_M_5shots.zip", entries)
    wrong, _ = read_mmlu_pro_outputs(path)
    guess, _ = read_mmlu_pro_outputs(path, null_pred="random-guess")
    assert wrong["score"].tolist() == [0.0, 0.0, 1.0]
    assert guess["score"].tolist() == pytest.approx([1 / 3, 1 / 5, 1.0])


def test_plain_strings_are_skipped_counted_and_warned_about(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "model_outputs_M_5shots.zip", [record(1, "B"), "other", "math", record(2, "B")])
    frame, notes = read_mmlu_pro_outputs(path)
    assert len(frame) == 2 and frame["row"].tolist() == [1, 4]
    assert notes["entries_not_records"] == 2
    assert "skipped 2 entries" in notes["warnings"][0]
    records, _, report = ingest(
        [{"name": "m", "format": "mmlu-pro-outputs", "path": str(path)}], prices={"M": {"input": 1, "output": 1}}
    )
    assert report["sources"]["m"]["entries_not_records"] == 2
    assert any("skipped 2 entries" in warning for warning in report["warnings"])


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"question_id": "7"}, "entry 2: field 'question_id': expected int"),
        ({"question": None}, "entry 2: field 'question': value is missing"),
        ({"options": "A, B"}, "entry 2: field 'options': expected list"),
        ({"answer": "Z"}, "entry 2: field 'answer': expected one of the 3 option letters"),
        ({"answer": "AB"}, "entry 2: field 'answer': expected one of the 3 option letters"),
        ({"answer": " "}, "entry 2: field 'answer': expected one of the 3 option letters"),
        ({"pred": 3}, "entry 2: field 'pred': expected a letter or null"),
        ({"category": " "}, "entry 2: field 'category': value is empty"),
        ({"generated_text": 5}, "entry 2: field 'generated_text': expected text"),
    ],
)
def test_a_malformed_entry_names_file_entry_and_field(tmp_path: Path, change: dict[str, Any], where: str) -> None:
    path = write_zip(tmp_path / "model_outputs_M_5shots.zip", [record(1, "B"), {**record(2, "B"), **change}])
    with pytest.raises(DataError) as error:
        read_mmlu_pro_outputs(path)
    assert str(error.value) == f"{path}: {where}" or str(error.value).startswith(f"{path}: {where}")


def test_an_entry_without_output_text_is_an_error(tmp_path: Path) -> None:
    entry = {k: v for k, v in record(1, "B").items() if k != "generated_text"}
    with pytest.raises(DataError, match=r"entry 1: field 'generated_text': no output text"):
        read_mmlu_pro_outputs(write_zip(tmp_path / "model_outputs_M_5shots.zip", [entry]))


def test_a_truncated_zip_is_one_clear_error(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "model_outputs_M_5shots.zip", [record(i, "B") for i in range(50)])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"model_outputs_M_5shots.zip: not a readable zip file"):
        read_mmlu_pro_outputs(path)


def test_not_a_list_and_bad_json(tmp_path: Path) -> None:
    path = tmp_path / "model_outputs_M_5shots.json"
    path.write_text('{"question_id": 1}')
    with pytest.raises(DataError, match="expected a JSON list"):
        read_mmlu_pro_outputs(path)
    path.write_text("[{")
    with pytest.raises(DataError, match="malformed JSON"):
        read_mmlu_pro_outputs(path)


def test_model_name_from_the_file_name_or_the_source(tmp_path: Path) -> None:
    assert model_from_file_name(Path("model_outputs_Meta-Llama-3_1-70B-Instruct_5shots.zip")) == (
        "Meta-Llama-3_1-70B-Instruct"
    )
    assert model_from_file_name(Path("outputs.zip")) is None
    path = write_zip(tmp_path / "outputs.zip", [record(1, "B")])
    with pytest.raises(DataError, match="give the source a 'model'"):
        read_mmlu_pro_outputs(path)
    source = {"name": "s", "format": "mmlu-pro-outputs", "path": str(path), "model": "Llama-3.1-70B"}
    assert read_source(source)["model"].unique().tolist() == ["Llama-3.1-70B"]
    with pytest.raises(ConfigError, match="'null_pred' applies only to format mmlu-pro-outputs"):
        read_source({"name": "s", "format": "records", "path": str(path), "null_pred": "wrong"})


def test_question_text_letters_the_options() -> None:
    assert question_text(" Q? ", ["a ", "b", "c"]) == "Q?\nA. a\nB. b\nC. c"


# --------------------------------------------------------------------------- token counts and prices


def test_token_counts_by_hand() -> None:
    # bert-base-uncased WordPiece: lower-cased words and punctuation, no [CLS]/[SEP].
    counts = count_tokens(["The cat sat.", "", "Hello, world!", "hello"])
    assert counts.tolist() == [4, 0, 4, 1]
    memo: dict[str, int] = {}
    assert count_tokens(["The cat sat.", "The cat sat."], memo).tolist() == [4, 4]
    assert memo == {"The cat sat.": 4}


def test_prices_per_million_tokens_by_hand(tmp_path: Path) -> None:
    a = write_zip(tmp_path / "model_outputs_A_5shots.zip", [record(1, "B", output="hello"), record(2, "A")])
    b = write_zip(tmp_path / "model_outputs_B_5shots.zip", [record(1, "C", output="hello world"), record(2, "B")])
    sources = [
        {"name": "a", "format": "mmlu-pro-outputs", "path": str(a)},
        {"name": "b", "format": "mmlu-pro-outputs", "path": str(b)},
    ]
    records, queries, report = ingest(sources, prices={"A": {"input": 2.0, "output": 10.0}, "B": 0.5})
    first = records[records["query_id"] == "mmlu-pro/1"].set_index("model")
    # "What is 1 + 1?\nA. 1\nB. 2\nC. 3": what is 1 + 1 ? a . 1 b . 2 c . 3 = 15 pieces.
    n_in = 15
    assert first.loc["A", "input_tokens"] == n_in and first.loc["B", "input_tokens"] == n_in
    assert first.loc["A", "output_tokens"] == 1
    assert first.loc["A", "cost"] == pytest.approx((n_in * 2.0 + 1 * 10.0) / 1e6)
    assert first.loc["B", "cost"] == 0.5  # a number is USD per query
    assert report["changed"]["records_priced_by_tokens"] == {"A": 2}
    assert report["changed"]["records_price_fallback"] == {"B": 2}
    assert str(records["input_tokens"].dtype) == "Int64"
    # Repricing from the kept counts gives the same costs, without reading the files again.
    repriced = price_by_tokens(records[records["model"] == "A"], {"A": {"input": 2.0, "output": 10.0}})
    np.testing.assert_allclose(repriced, records.loc[records["model"] == "A", "cost"])


def test_token_price_without_token_counts_names_the_record(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    pd.DataFrame(
        {"query_id": ["q1"], "dataset": ["d"], "query": ["x"], "model": ["m"], "score": [1.0], "cost": [None]}
    ).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"r.csv: row 1: field 'input_tokens': model 'm' is priced per token"):
        ingest([{"name": "r", "format": "records", "path": str(path)}], prices={"m": {"input": 1.0, "output": 1.0}})


@pytest.mark.parametrize(
    "price", [{"input": 1.0}, {"input": 1.0, "output": -1}, {"input": 1.0, "output": 1.0, "cached": 0.1}, "1"]
)
def test_bad_prices_are_one_line(tmp_path: Path, price: Any) -> None:
    path = write_zip(tmp_path / "model_outputs_A_5shots.zip", [record(1, "B")])
    with pytest.raises(ConfigError, match=r"^prices\.A"):
        ingest([{"name": "a", "format": "mmlu-pro-outputs", "path": str(path)}], prices={"A": price})


def test_the_overlay_prices_by_the_stated_rule() -> None:
    """USD 0.0125 per 1M tokens per billion total parameters, the count in each line's comment."""
    text = (REPO / "config" / "mmlu-pro.yaml").read_text()
    prices = yaml.safe_load(text)["prices"]
    assert len(prices) == 11
    for line in text.split("\n"):
        model = line.strip().split(":")[0]
        if model in prices and "#" in line:
            billions = float(line.split("#")[1].strip().split("B")[0])
            assert prices[model] == {
                "input": pytest.approx(0.0125 * billions),
                "output": pytest.approx(0.0125 * billions),
            }


# --------------------------------------------------------------------------- the real published files

SHARED = REPO.parent / "shared" / "data" / "mmlu-pro"
LOCAL = REPO / "data" / "mmlu-pro"


def _real_sources() -> list[dict[str, Any]] | None:
    config = yaml.safe_load((REPO / "config" / "mmlu-pro.yaml").read_text())
    for folder in (LOCAL, SHARED):
        sources = [{**s, "path": str(folder / Path(s["path"]).name)} for s in config["sources"]]
        if all(Path(s["path"]).is_file() for s in sources):
            return sources
    return None


@pytest.mark.slow
@pytest.mark.skipif(_real_sources() is None, reason="the 11 MMLU-Pro zips are not on this machine")
def test_the_real_files() -> None:
    config = yaml.safe_load((REPO / "config" / "mmlu-pro.yaml").read_text())
    sources = _real_sources()
    assert sources is not None
    records, queries, report = ingest(sources, prices=config["prices"])
    rows = {name: source["rows"] for name, source in report["sources"].items()}
    assert rows["DeepSeek-Coder-V2"] == 10351
    assert all(n == 12032 for name, n in rows.items() if name != "DeepSeek-Coder-V2")
    assert report["sources"]["DeepSeek-Coder-V2"]["entries_not_records"] == 43
    assert len(report["models"]) == 11 and len(report["datasets"]) == 14
    # Question texts repeated under another id are kept once (ingest's policy): 10,181 queries are
    # left of the 10,351 every model answered.
    assert report["queries"] == 10181
    accuracy = records.groupby("model")["score"].mean()
    # The data's published accuracies (null pred wrong) on the 10,351 questions, within 0.005 after
    # the policy above: Llama-3.1-70B 0.645, DeepSeek-Coder-V2 0.636, Qwen1.5-7B 0.281.
    assert accuracy["Llama-3.1-70B-Instruct"] == pytest.approx(0.645, abs=0.005)
    assert accuracy["DeepSeek-Coder-V2"] == pytest.approx(0.636, abs=0.005)
    assert accuracy["Qwen1.5-7B-Chat"] == pytest.approx(0.281, abs=0.005)
    assert accuracy.idxmax() == "Llama-3.1-70B-Instruct"
    assert records["cost"].gt(0).all()
    assert records.groupby("model")["cost"].sum().idxmax() == "DeepSeek-Coder-V2"
