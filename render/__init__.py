"""Answers as text and Slack Block Kit, in one place.

Used by the actions (chat answers), the digests and the App Home, so a number
reads the same everywhere. Imports nothing of Slack or Rasa: it builds plain dicts.
"""

from render.answer import Answer

__all__ = ["Answer"]
