"""gunicorn's access log without patient data or resume tokens (docs/SECURITY.md).

gunicorn's default access line holds the request line as sent: the queue's search
(``?q=Smith, John 17/05/1980``: a name, a birth date, a phone number) and a patient's private
resume link (``/resume/<token>/``, which opens their saved form). Each line keeps the path,
with the resume token masked as the application's own log lines mask it, and the names of
the query's parameters, never their values; the referrer likewise. ``gunicorn.conf.py``
(which gunicorn reads from the directory it is started in) names this class.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from gunicorn.glogging import Logger

from clinic.logfilters import mask


def masked_query(query: str) -> str:
    """'q=Smith&status=new' -> 'q&status': which filters were used, not what was typed."""
    names = (part.partition("=")[0] for part in query.split("&") if part)
    return "&".join(mask(name) for name in names)


def masked_target(target: str) -> str:
    """A request target or URL with the resume token masked and the query's values dropped."""
    scheme, netloc, path, query, _fragment = urlsplit(target)
    return urlunsplit((scheme, netloc, mask(path), masked_query(query), ""))


class MaskedAccessLogger(Logger):
    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> Any:
        atoms = super().atoms(resp, req, environ, request_time)
        target = masked_target(environ.get("RAW_URI") or environ.get("PATH_INFO", ""))
        atoms["r"] = f"{environ['REQUEST_METHOD']} {target} {environ['SERVER_PROTOCOL']}"
        atoms["U"] = mask(environ.get("PATH_INFO", ""))
        atoms["q"] = masked_query(environ.get("QUERY_STRING", ""))
        referrer = environ.get("HTTP_REFERER")
        if referrer:
            atoms["f"] = atoms["{referer}i"] = masked_target(referrer)
        for key in ("{raw_uri}e", "{query_string}e", "{path_info}e", "{http_referer}e"):
            atoms.pop(key, None)
        return atoms
