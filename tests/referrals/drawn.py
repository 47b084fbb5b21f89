"""Forms sent as a browser sends them from a page drawn by the test client."""

from __future__ import annotations

from html.parser import HTMLParser


class FormFields(HTMLParser):
    """The fields a browser would send from the form posting to ``action``."""

    def __init__(self, action: str) -> None:
        super().__init__()
        self.action, self.inside = action, False
        self.fields: list[tuple[str, str]] = []
        self.textarea: str | None = None
        # The select being read: its name, its first option's value and the one selected.
        self.select: list[str | None] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.inside = a.get("action") == self.action
        elif self.inside and tag == "input" and a.get("name"):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            if a.get("type") != "submit":
                self.fields.append((a["name"], a.get("value") or ""))
        elif self.inside and tag == "textarea" and a.get("name"):
            self.textarea = a["name"]
            self.fields.append((a["name"], ""))
        elif self.inside and tag == "select" and a.get("name"):
            self.select = [a["name"], None, None]
        elif self.select is not None and tag == "option":
            value = a.get("value") or ""
            if self.select[1] is None:
                self.select[1] = value
            if "selected" in a:
                self.select[2] = value

    def handle_data(self, data):
        if self.textarea is not None:
            name, value = self.fields.pop()
            self.fields.append((name, value + data))

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        if tag == "textarea":
            self.textarea = None
        if tag == "select" and self.select is not None:
            # A browser sends the option selected, or the first when none is.
            name, first, chosen = self.select
            self.fields.append((str(name), chosen if chosen is not None else first or ""))
            self.select = None


def send_as_drawn(client, page, action, **typed):
    """POST what the drawn form holds (its hidden fields, ticked boxes, selected options and
    text) plus ``typed``."""
    parser = FormFields(action)
    parser.feed(page.content.decode())
    data: dict[str, list[str]] = {}
    for name, value in parser.fields:
        data.setdefault(name, []).append(value)
    data.update({name: [value] for name, value in typed.items()})
    return client.post(action, data)
