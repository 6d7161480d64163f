"""The one rule of every /v1 list's pages: by creation time, the id breaking ties, after a
cursor that must be one of the owner's own rows.

Riza's clients ask for the next page with `starting_after`, the id of the last item of
the page before. An id is not compared as a string: "zzzz" would come after everything
and "starting_after" before nothing. The cursor is looked up, and its row's creation
time (then id) is where the next page starts; an id that is unknown, or another owner's,
is a 400 naming the field rather than a page that silently starts somewhere else.
"""

from typing import TypeVar

from django.db.models import Model, Q, QuerySet

from sandbox.errors import Invalid

CURSOR_FIELD = "starting_after"

RowT = TypeVar("RowT", bound=Model)


async def newest_first(
    rows: QuerySet[RowT],
    *,
    starting_after: str | None,
    created: str = "created_at",
    cursors: QuerySet[RowT] | None = None,
) -> QuerySet[RowT]:
    """`rows` newest first by `created`, then by id; after the row `starting_after` names.

    `cursors` are the rows a cursor may name (the owner's of this kind, `rows` when not
    given), so that the last item of a filtered page, or a runtime deleted meanwhile,
    still says where it was. Invalid("starting_after") when it names none of them.
    """
    ordered = rows.order_by(f"-{created}", "-pk")
    if not starting_after:
        return ordered
    known = rows if cursors is None else cursors
    cursor = await known.filter(pk=starting_after).values_list(created, "pk").afirst()
    if cursor is None:
        noun = rows.model._meta.verbose_name
        raise Invalid(
            CURSOR_FIELD,
            f"there is no {noun} {starting_after!r} of yours; give the id of the last item "
            "of the previous page, or leave it out for the first page",
        )
    at, pk = cursor
    return ordered.filter(Q(**{f"{created}__lt": at}) | Q(**{created: at, "pk__lt": pk}))
