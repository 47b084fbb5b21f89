"""``unsaved(Model, **values)``: a new model instance, equal to ``Model(**values)``, made faster.

``Model.__init__`` is general: positional arguments, virtual fields, property names, a
``get_default()`` call per field left out, signals sent per instance. The shared builders
(``patient_build``, ``intake_build``, ``referral_build``, the referral events) make four to five
instances per case, which is about a fifth of ``generate_cases``' CPU. This does the same work
for the one form they use (keyword arguments naming concrete fields, or a related object by the
relation's name): defaults that are constants are looked up once per model, callable defaults
(``uuid4``, ``dict``) are still called per instance, related objects still go through their
descriptor (type check, cache, database routing), and the attributes are set in the same order.

When a ``pre_init`` or ``post_init`` receiver is connected for the model (Django's ``ImageField``
connects one, tests may), or a keyword is anything else, it calls ``Model(**values)``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from django.db.models import ForeignKey, Model, signals
from django.db.models.base import ModelState
from django.db.models.fields import Field, return_None  # type: ignore[attr-defined]
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute
from django.db.models.fields.reverse_related import ForeignObjectRel

# Per field, in the order Model.__init__ sets them: (name, attname, related, setter, default,
# factory). ``factory`` is called for each instance when the default is callable; otherwise
# ``default``. ``setter``: the attribute has a descriptor that must see the value (setattr).
FieldSpec = tuple[str, str, bool, bool, Any, Callable[[], Any] | None]
_SPECS: dict[type[Model], tuple[list[FieldSpec], frozenset[str]]] = {}


def _spec(model: type[Model]) -> tuple[list[FieldSpec], frozenset[str]]:
    spec = _SPECS.get(model)
    if spec is not None:
        return spec
    fields: list[FieldSpec] = []
    for field in model._meta.fields:
        if field.column is None or field.generated:
            continue
        related = isinstance(field.remote_field, ForeignObjectRel)
        default: Any = None
        factory: Callable[[], Any] | None = field.get_default
        made = field._get_default  # type: ignore[attr-defined]
        # Only fields whose get_default is Django's own: a subclass may compute it otherwise.
        plain = type(field).get_default in (Field.get_default, ForeignKey.get_default)
        if not plain:
            pass
        elif field.has_default() and not related:
            # The same decision as Field._get_default, taken once instead of per instance.
            if callable(field.default):
                factory = field.default
            else:
                default, factory = field.default, None
        elif not field.has_default() and not field.has_db_default():
            if made is return_None:
                factory = None
            elif made is str and not related:
                default, factory = "", None
        descriptor = inspect.getattr_static(model, field.attname, None)
        setter = hasattr(descriptor, "__set__") and not isinstance(
            descriptor, ForeignKeyDeferredAttribute
        )
        fields.append((field.name, field.attname, related, setter, default, factory))
    names = frozenset(key for spec in fields for key in spec[:2])
    spec = _SPECS[model] = (fields, names)
    return spec


def unsaved[M: Model](model: type[M], **values: Any) -> M:
    """``model(**values)``, without ``Model.__init__``'s general path (see the module)."""
    fields, names = _spec(model)
    if (
        model._meta.abstract
        or signals.pre_init.has_listeners(model)
        or signals.post_init.has_listeners(model)
        or not names.issuperset(values)
    ):
        return model(**values)
    obj = model.__new__(model)
    obj._state = ModelState()
    state = obj.__dict__
    for name, attname, related, setter, default, factory in fields:
        if related and name in values:
            # The descriptor type-checks, sets the key, caches the object and routes the db.
            setattr(obj, name, values[name])
            continue
        value = values[attname] if attname in values else default if factory is None else factory()
        if setter:
            setattr(obj, attname, value)
        else:
            state[attname] = value
    return obj
