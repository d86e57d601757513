"""Reading HippoRAG-format evaluation datasets: ``questions.json`` + ``corpus.json`` in a folder.

Two question styles are understood, chosen per question:

- MuSiQue / HippoRAG style: ``paragraphs`` = ``[{title, paragraph_text | text, is_supporting}]``;
  the gold passages are the supporting paragraphs.
- HotpotQA / 2Wiki style: ``context`` = ``[[title, [sentence, ...]], ...]`` and
  ``supporting_facts`` = ``[[title, sentence_index], ...]``; the gold passages are the context
  paragraphs whose title has a supporting fact.

The corpus is either a list of ``{title, text}`` (``text`` may be a list of sentences) or a
dict ``{title: [sentence, ...] | text}`` (HotpotQA). Sentence lists are joined by
``join_sentences``.

A passage's gold identity is ``title + "\\n" + text`` with whitespace collapsed (``passage_key``).
The dataset name is the folder name. All questions are kept (MuSiQue's unanswerable flag is not
used for filtering); a question with no gold passage is kept for QA and left out of recall.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.errors import InvalidInput

logger = logging.getLogger(__name__)

PassageKey = tuple[str, str]

_WHITESPACE = re.compile(r"\s+")


def _collapse(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip()


def passage_key(title: str | None, text: str) -> PassageKey:
    """Gold identity of a passage: (title, text), whitespace-collapsed, case kept."""
    return _collapse(title or ""), _collapse(text)


def join_sentences(sentences: Iterable[str]) -> str:
    """A HotpotQA paragraph from its sentences.

    HotpotQA sentences carry their own separators (``[" Born in 1950.", " He ..."]`` after the
    first), and HippoRAG joins them with ``''``. We join with ``''`` too, except that one space
    is inserted where neither side has whitespace, so hand-written lists such as
    ``["A.", "B."]`` do not run together. Gold and corpus passages go through the same function,
    and matching collapses whitespace, so identity is unaffected by this choice.
    """
    out = ""
    for s in sentences:
        s = str(s)
        if out and s and not out[-1].isspace() and not s[0].isspace():
            out += " "
        out += s
    return out.strip()


@dataclass(frozen=True)
class CorpusPassage:
    title: str
    text: str

    @property
    def key(self) -> PassageKey:
        return passage_key(self.title, self.text)


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    answers: tuple[str, ...]  # the answer(s) then the aliases, deduplicated, in file order
    gold: tuple[PassageKey, ...]


@dataclass(frozen=True)
class Dataset:
    name: str
    path: Path
    corpus: list[CorpusPassage]
    questions: list[Question]
    # Gold passages that are not in the corpus (they can never be retrieved; counted as misses).
    gold_missing_from_corpus: int = 0
    # Corpus entries dropped: empty text, or the same (title, text) as an earlier entry.
    corpus_dropped: int = 0


def _text_of(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return join_sentences(value)
    return ""


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"cannot read {path}: {exc}") from exc


def _find_files(folder: Path) -> tuple[Path, Path]:
    questions, corpus = folder / "questions.json", folder / "corpus.json"
    if questions.exists() and corpus.exists():
        return questions, corpus
    # HippoRAG's own layout: <name>.json and <name>_corpus.json
    legacy_q, legacy_c = folder / f"{folder.name}.json", folder / f"{folder.name}_corpus.json"
    if legacy_q.exists() and legacy_c.exists():
        return legacy_q, legacy_c
    raise InvalidInput(f"{folder} needs questions.json and corpus.json")


def parse_corpus(data: Any) -> tuple[list[CorpusPassage], int]:
    """The corpus passages in file order, without empty or duplicate ones; and how many were
    dropped."""
    if isinstance(data, dict):
        raw = [(str(title), _text_of(value)) for title, value in data.items()]
    elif isinstance(data, list):
        raw = []
        for i, item in enumerate(data):
            if not isinstance(item, dict):
                raise InvalidInput(f"corpus[{i}] is not an object")
            text = item.get("text", item.get("paragraph_text", ""))
            raw.append((str(item.get("title") or ""), _text_of(text)))
    else:
        raise InvalidInput("corpus.json must be a list of {title, text} or a {title: sentences} object")
    passages: list[CorpusPassage] = []
    seen: set[PassageKey] = set()
    for title, text in raw:
        p = CorpusPassage(title.strip(), text.strip())
        if not p.text or p.key in seen:
            continue
        seen.add(p.key)
        passages.append(p)
    return passages, len(raw) - len(passages)


def _answers(item: dict[str, Any]) -> tuple[str, ...]:
    values: list[Any] = []
    for field in ("answer", "answers", "answer_aliases"):
        value = item.get(field)
        if value is None:
            continue
        values.extend(value if isinstance(value, list) else [value])
    out: list[str] = []
    for v in values:
        s = str(v).strip()
        if s and s not in out:
            out.append(s)
    return tuple(out)


def _gold_candidates(item: dict[str, Any]) -> list[tuple[str, str | None]]:
    """(title, text or None when only the title is known) of each gold passage."""
    if isinstance(item.get("paragraphs"), list):
        return [
            (str(p.get("title") or ""), _text_of(p.get("paragraph_text", p.get("text", ""))))
            for p in item["paragraphs"]
            if isinstance(p, dict) and p.get("is_supporting")
        ]
    facts = item.get("supporting_facts")
    if isinstance(facts, list):
        context: dict[str, str] = {}
        for entry in item.get("context") or []:
            if isinstance(entry, list | tuple) and len(entry) == 2:
                context.setdefault(str(entry[0]), _text_of(entry[1]))
        titles: list[str] = []
        for fact in facts:
            title = str(fact[0]) if isinstance(fact, list | tuple) and fact else None
            if title is not None and title not in titles:
                titles.append(title)
        return [(title, context.get(title)) for title in titles]
    return []


def _resolve(
    candidates: list[tuple[str, str | None]],
    corpus_keys: set[PassageKey],
    by_title: dict[str, list[PassageKey]],
) -> tuple[list[PassageKey], int]:
    """Gold keys as they appear in the corpus. A gold passage whose text differs from every
    corpus passage falls back to the corpus passage with its title when that title is unique."""
    keys: list[PassageKey] = []
    missing = 0
    for title, text in candidates:
        key = passage_key(title, text or "")
        if text is None or key not in corpus_keys:
            same_title = by_title.get(_collapse(title), [])
            if len(same_title) == 1:
                key = same_title[0]
            else:
                missing += 1
        if key not in keys:
            keys.append(key)
    return keys, missing


def load_dataset(folder: str | Path, *, limit: int | None = None) -> Dataset:
    folder = Path(folder)
    if not folder.is_dir():
        raise InvalidInput(f"dataset folder {folder} does not exist")
    questions_path, corpus_path = _find_files(folder)
    corpus, dropped = parse_corpus(_read_json(corpus_path))
    if not corpus:
        raise InvalidInput(f"{corpus_path} has no passages")
    raw_questions = _read_json(questions_path)
    if not isinstance(raw_questions, list):
        raise InvalidInput(f"{questions_path} must be a list of questions")
    if limit is not None:
        raw_questions = raw_questions[: max(0, limit)]

    corpus_keys = {p.key for p in corpus}
    by_title: dict[str, list[PassageKey]] = {}
    for p in corpus:
        by_title.setdefault(p.key[0], []).append(p.key)

    questions: list[Question] = []
    missing = 0
    for i, item in enumerate(raw_questions):
        if not isinstance(item, dict) or not str(item.get("question") or "").strip():
            raise InvalidInput(f"{questions_path}[{i}] needs a 'question'")
        gold, n_missing = _resolve(_gold_candidates(item), corpus_keys, by_title)
        missing += n_missing
        qid = item.get("id", item.get("_id", str(i)))
        questions.append(Question(str(qid), str(item["question"]).strip(), _answers(item), tuple(gold)))
    ids = Counter(q.id for q in questions)
    if any(n > 1 for n in ids.values()):
        logger.warning("%s: question ids are not unique", questions_path)
    if missing:
        logger.warning("%s: %d gold passage(s) are not in the corpus", folder.name, missing)
    return Dataset(folder.name, folder, corpus, questions, missing, dropped)
