"""Production's static storage remembers each URL, and gives what WhiteNoise's would."""

import json
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from whitenoise.storage import CompressedManifestStaticFilesStorage

from clinic.storage import StaticFilesStorage

NAMES = ["site.css", "vendor/app.js", "vendor/app.js#top", "font.eot?#iefix", "folder/"]


def storages(root: Path) -> tuple[StaticFilesStorage, CompressedManifestStaticFilesStorage]:
    manifest = {
        "version": "1.1",
        "hash": "h",
        "paths": {
            "site.css": "site.1a2b.css",
            "vendor/app.js": "vendor/app.3c4d.js",
            "font.eot": "font.5e6f.eot",
        },
    }
    (root / "staticfiles.json").write_text(json.dumps(manifest))
    options = {"location": str(root), "base_url": "/static/"}
    return StaticFilesStorage(**options), CompressedManifestStaticFilesStorage(**options)


@pytest.mark.parametrize("force", [False, True])
def test_urls_are_whitenoises_the_first_time_and_after(tmp_path: Path, settings, force):
    settings.DEBUG = False
    ours, theirs = storages(tmp_path)
    for _ in range(2):
        assert [ours.url(n, force) for n in NAMES] == [theirs.url(n, force) for n in NAMES]
    assert ours.url("site.css") == "/static/site.1a2b.css"


def test_a_name_the_manifest_lacks_fails_every_time(tmp_path: Path, settings):
    settings.DEBUG = False
    ours, _ = storages(tmp_path)
    for _ in range(2):
        with pytest.raises(ValueError, match="Missing staticfiles manifest entry"):
            ours.url("missing.css")


def test_debug_gives_the_plain_name_even_after_a_remembered_url(tmp_path: Path, settings):
    ours, _ = storages(tmp_path)
    settings.DEBUG = False
    assert ours.url("site.css") == "/static/site.1a2b.css"
    settings.DEBUG = True
    assert ours.url("site.css") == "/static/site.css"
    assert ours.url("site.css", force=True) == "/static/site.1a2b.css"


def test_collectstatic_forgets_the_urls_it_rehashes(tmp_path: Path, settings):
    settings.DEBUG = False
    ours, _ = storages(tmp_path)
    assert ours.url("site.css") == "/static/site.1a2b.css"
    ours.save("site.css", ContentFile(b"body { color: red }"))
    processed = list(ours.post_process({"site.css": (ours, "site.css")}))
    assert processed
    hashed = ours.hashed_files["site.css"]
    assert hashed != "site.1a2b.css"
    assert ours.url("site.css") == f"/static/{hashed}"


def test_a_collectstatic_that_fails_half_way_forgets_the_urls_too(
    tmp_path: Path, settings, monkeypatch
):
    settings.DEBUG = False
    ours, _ = storages(tmp_path)
    assert ours.url("site.css") == "/static/site.1a2b.css"

    def fails_after_one_file(self, *args, **kwargs):
        self.hashed_files = {"site.css": "site.9f8e.css"}
        yield "site.css", "site.9f8e.css", True
        raise ValueError("a file failed")

    monkeypatch.setattr(CompressedManifestStaticFilesStorage, "post_process", fails_after_one_file)
    with pytest.raises(ValueError, match="a file failed"):
        list(ours.post_process({}))
    assert ours.url("site.css") == "/static/site.9f8e.css"
