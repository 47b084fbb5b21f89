"""Static files in production: WhiteNoise's compressed manifest storage, its URLs remembered."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.conf import settings
from whitenoise.storage import CompressedManifestStaticFilesStorage

from clinic.memo import BoundedMemo

# Names come from templates, but ``{% static %}`` may be given a variable: bounded.
URLS_KEPT = 1024


class StaticFilesStorage(CompressedManifestStaticFilesStorage):
    """Each ``{% static %}`` URL worked out once per process instead of on every use.

    The manifest is read once, when the storage is made, so a name's URL cannot change until
    the next ``collectstatic`` (whose own rewriting ends with the memo emptied) or
    the next process. Working it out splits, looks up, joins and unquotes the name: some
    twenty calls for each of the eight a staff page draws. Missing names still raise
    (nothing is kept for them), and in DEBUG the plain names are given as Django does.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._urls: BoundedMemo[tuple[str, bool], str] = BoundedMemo(URLS_KEPT)

    def url(self, name: str | None, force: bool = False) -> str:
        if name is None or (settings.DEBUG and not force):
            return super().url(name, force)
        whole = super().url
        return self._urls.get((name, force), lambda: whole(name, force))

    def post_process(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        # Emptied however the rewriting ends (collectstatic stops at the first failed file):
        # a URL worked out in between came from a half-made manifest.
        try:
            yield from super().post_process(*args, **kwargs)
        finally:
            self._urls = BoundedMemo(URLS_KEPT)
