"""``unsaved(Model, **values)``: a new model instance, equal to ``Model(**values)``, made faster.

``Model.__init__`` is general: positional arguments, virtual fields, property names, a
``get_default()`` call per field left out, signals sent per instance. The shared builders
(``patient_build``, ``intake_build``, ``referral_build``, the referral events) make four to five
instances per case, which is about a fifth of ``generate_cases``' CPU. This does the same work
for the one form they use (keyword arguments naming concrete fields, or a related object by the
relation's name): defaults that are constants are looked up once per model, callable defaults
(``uuid4``, ``dict``) are still called per instance, and the attributes are set in the same order.

A related object given to a plain ``ForeignKey`` is set the way its descriptor
(``ForwardManyToOneDescriptor.__set__``) sets it on a new instance when no database router is
configured: the type check, both instances' database, the key and the related-object cache. Any
other relation, a configured router, or objects of two databases go through the descriptor.

When a ``pre_init`` or ``post_init`` receiver is connected for the model (Django's ``ImageField``
connects one, tests may), or a keyword is anything else, it calls ``Model(**values)``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from django.db import DEFAULT_DB_ALIAS, router
from django.db.models import ForeignKey, Model, signals
from django.db.models.base import ModelState
from django.db.models.fields import Field, return_None  # type: ignore[attr-defined]
from django.db.models.fields.related_descriptors import (
    ForeignKeyDeferredAttribute,
    ForwardManyToOneDescriptor,
)
from django.db.models.fields.reverse_related import ForeignObjectRel

# For a plain ForeignKey: (related model, key attname, target attname, cache name).
Link = tuple[type[Model], str, str, str]
# Per field, in the order Model.__init__ sets them: (name, attname, related, setter, default,
# factory, link). ``factory`` is called for each instance when the default is callable;
# otherwise ``default``. ``setter``: the attribute has a descriptor that must see the value
# (setattr). ``link``: a relation whose descriptor ``_link`` may stand in for, else None.
FieldSpec = tuple[str, str, bool, bool, Any, Callable[[], Any] | None, Link | None]
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
        if plain and field.has_default() and not related:
            # The same decision as Field._get_default, taken once instead of per instance.
            if callable(field.default):
                factory = field.default
            else:
                default, factory = field.default, None
        elif plain and not field.has_default() and not field.has_db_default():
            if made is return_None:
                factory = None
            elif made is str and not related:
                default, factory = "", None
        descriptor = inspect.getattr_static(model, field.attname, None)
        setter = hasattr(descriptor, "__set__") and not isinstance(
            descriptor, ForeignKeyDeferredAttribute
        )
        fields.append((field.name, field.attname, related, setter, default, factory, _link(field)))
    names = frozenset(key for spec in fields for key in spec[:2])
    spec = _SPECS[model] = (fields, names)
    return spec


def unsaved[M: Model](model: type[M], **values: Any) -> M:
    """``model(**values)``, without ``Model.__init__``'s general path (see the module)."""
    fields, names = _spec(model)
    if (
        model._meta.abstract
        # An empty receiver list first: has_listeners walks the (weak) receivers per call.
        or (signals.pre_init.receivers and signals.pre_init.has_listeners(model))
        or (signals.post_init.receivers and signals.post_init.has_listeners(model))
        or not names.issuperset(values)
    ):
        return model(**values)
    obj = model.__new__(model)
    obj._state = ModelState()
    state = obj.__dict__
    plain = not router.routers
    for name, attname, related, setter, default, factory, link in fields:
        if related and name in values:
            value = values[name]
            if link is None or not plain or not _linked(obj, value, link):
                # The descriptor type-checks, sets the key, caches the object and routes the db.
                setattr(obj, name, value)
            continue
        value = values[attname] if attname in values else default if factory is None else factory()
        if setter:
            setattr(obj, attname, value)
        else:
            state[attname] = value
    return obj


def _link(field: Field[Any, Any]) -> Link | None:
    """What ``_linked`` needs for a plain ForeignKey with Django's own descriptor, else None."""
    model = field.model
    if type(field) is not ForeignKey or model is None:
        return None
    descriptor = inspect.getattr_static(model, field.name, None)
    if type(descriptor) is not ForwardManyToOneDescriptor or not field.remote_field.multiple:
        return None
    pairs = field.related_fields
    if len(pairs) != 1:
        return None
    target = field.remote_field.model._meta.concrete_model
    if target is None:
        return None
    return target, pairs[0][0].attname, pairs[0][1].attname, field.cache_name


def _linked(obj: Model, value: Any, link: Link) -> bool:
    """``ForwardManyToOneDescriptor.__set__`` for a new instance with no router configured;
    False (nothing done) when the descriptor must run: a wrong type or two databases."""
    target, attname, target_attname, cache_name = link
    state = obj._state
    if value is None:
        obj.__dict__[attname] = None
    elif isinstance(value, target):
        other = value._state
        if state.db is None:
            state.db = other.db or DEFAULT_DB_ALIAS
        if other.db is None:
            other.db = state.db or DEFAULT_DB_ALIAS
        if other.db != state.db:
            return False
        obj.__dict__[attname] = getattr(value, target_attname)
    else:
        return False
    state.fields_cache[cache_name] = value
    return True
