"""The ONNX embedder's tokenizer (``tokenizers`` alone, no PyTorch import) encodes exactly as the
``transformers`` AutoTokenizer it replaced: same ids, masks and type ids, padding to the longest
text of a call and truncating at the model's max_seq_length."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from service.llm.embedder import bundled_model_path
from service.llm.onnx_embedder import _max_seq_length, _Tokenizer

TEXTS = [
    "Marie Curie was born in Warsaw.",
    "",
    "   spaced   out\ttext\n",
    "Ålesund, Zürich, Kraków — naïve café; 東京 and emoji 🙂",
    "word " * 600,  # far past max_seq_length: truncated
    "Warsaw\nWarsaw is the capital of Poland and lies on the Vistula.",
]
INPUTS = ["input_ids", "attention_mask", "token_type_ids"]


def test_tokens_match_autotokenizer():
    from transformers import AutoTokenizer

    path = Path(bundled_model_path())
    length = _max_seq_length(path)
    assert length == 256  # all-MiniLM-L6-v2's sentence_bert_config
    ours = _Tokenizer(path, length, INPUTS)
    reference = AutoTokenizer.from_pretrained(str(path))
    for batch in (TEXTS, TEXTS[:1], TEXTS[3:5], [TEXTS[1]]):
        got = ours(batch)
        want = reference(batch, padding=True, truncation=True, max_length=length, return_tensors="np")
        for name in INPUTS:
            assert got[name].dtype == np.int64
            np.testing.assert_array_equal(got[name], np.asarray(want[name], dtype=np.int64), err_msg=name)
    assert ours(TEXTS)["input_ids"].shape == (len(TEXTS), length)
