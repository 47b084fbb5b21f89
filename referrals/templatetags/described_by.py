"""``{% described_by field id %}``: a form field's input, described also by another element."""

from django import template
from django.forms import BoundField
from django.utils.safestring import SafeString

register = template.Library()


@register.simple_tag
def described_by(field: BoundField, element_id: str) -> SafeString:
    """``field``'s input with ``element_id`` first in its aria-describedby, then Django's own
    (its help text, its errors). The login page's username box is focused as the page loads
    (Django's autofocus), and a screen reader starts there: what the page says above the form
    (why the session ended, a wrong password or code, the wait after wrong codes) was not read
    out, only the title's "Error:". It is read with the box, as its description."""
    # Given here, Django keeps it as it is and adds nothing of its own: hence its ids (or the
    # widget's own attribute, which Django leaves alone) named here too.
    own = field.aria_describedby or field.field.widget.attrs.get("aria-describedby")
    ids = " ".join(part for part in (element_id, own) if part)
    return field.as_widget(attrs={"aria-describedby": ids} if ids else None)
