"""The LLM prompts of the service, one module per prompt, each next to nothing but itself.

* ``openie``      -- the two OpenIE steps of HippoRAG: named entities, then triples anchored on them
  (used by the ``llm`` extractor);
* ``reader``      -- the reader that answers a question from the top retrieved passages
  (used by the answer step of a query);
* ``fact_filter`` -- HippoRAG 2's recognition filter that keeps the facts useful to a question
  (used by retrieval when ``HIPPOGRAPH_RETRIEVAL__LLM_FACT_FILTER`` is on);
* ``json_answer`` -- the one helper they share: validating an LLM's JSON answer against a
  pydantic model.

Each prompt module holds

* ``VERSION``: the prompt's version string, passed to ``LLMClient.complete`` as
  ``prompt_version``. It is part of the LLM cache key, so bump it whenever the prompt's text or
  message layout changes (or cached answers to the old prompt would be served for the new one);
  conversely, keep texts and versions byte-identical when only moving code, or every cached
  answer is lost;
* its message builder(s): plain functions returning Chat Completions messages
  (``[{"role": ..., "content": ...}, ...]``);
* its response model: the pydantic model of the JSON the LLM must answer with;
* its parse function(s): ``str -> response model``, raising ``ValueError`` on a malformed answer
  (the contract ``LLMClient.complete`` expects of ``parse``: a ``ValueError`` is re-asked and
  never cached).

This package depends on nothing else in the service, so any layer may import it.
"""
