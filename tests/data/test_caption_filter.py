"""Held-out caption phrases: whole-word matching against a hand-made source."""

import pytest

from jvision.data.caption_filter import exclude_caption_phrases


def test_excludes_whole_phrases_only():
  source = [{"caption": b"a large red star in the top"}, {"caption": "a small red starfish"},
            {"caption": "a blue star"}, {"caption": "A Medium RED  STAR"}]
  kept = exclude_caption_phrases(source, ["red star"])
  assert len(kept) == 2
  assert [kept[i]["caption"] for i in range(2)] == ["a small red starfish", "a blue star"]
  with pytest.raises(ValueError, match="leaves no examples"):
    exclude_caption_phrases(source[:1], ["red star"])
  with pytest.raises(KeyError, match="no 'caption' key"):
    exclude_caption_phrases([{"text": "x"}], ["red"])
