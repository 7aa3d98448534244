"""Search statements kept per shape of query, so that a search does not build its SQL afresh.

Building a search's WHERE through SQLAlchemy's expression language, and the cache key SQLAlchemy
computes from it on every execution, cost about as much CPU as the rest of a small search
(docs/benchmarks.md). Two searches of the same shape (the same parameters, modifiers, kinds of
value, sort, paging and viewer shape) have the same SQL; only the values differ. So the
statement is built once per shape with the values as named parameters, and kept here: a
statement object built once also keeps its cache key, which SQLAlchemy memoises on it.

One per application, made where the other registries are and passed to the searches.
"""

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")
# Shapes are few in practice (the API's and the pathway's searches); the bound keeps memory flat
# whatever mix of parameters clients send. SQLAlchemy keeps 500 compiled statements per engine:
# a shape kept past that would be compiled again anyway.
DEFAULT_SHAPES = 500


class SearchStatements:
    """The most recently used statements, by shape (least recently used dropped past `size`)."""

    def __init__(self, size: int = DEFAULT_SHAPES) -> None:
        self._size = size
        self._by_shape: OrderedDict[Hashable, Any] = OrderedDict()

    def get(self, shape: Hashable, build: Callable[[], T]) -> T:
        found = self._by_shape.get(shape)
        if found is not None:
            self._by_shape.move_to_end(shape)
            return found
        built = build()
        self._by_shape[shape] = built
        if len(self._by_shape) > self._size:
            self._by_shape.popitem(last=False)
        return built

    def __len__(self) -> int:
        return len(self._by_shape)
