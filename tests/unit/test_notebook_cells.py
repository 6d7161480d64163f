"""A notebook's cells as its page sends them: checked before anything is kept."""

import pytest

from playground.notebooks.services import MAX_CELLS, cell_id_checked, cells_checked
from sandbox.errors import Invalid


def test_cells_keep_their_order_and_code_and_nothing_else() -> None:
    sent = [
        {"id": "b2", "code": "x = 1", "execution_id": "exec_of_someone_else"},
        {"id": "a1", "code": ""},
    ]
    assert cells_checked(sent) == [{"id": "b2", "code": "x = 1"}, {"id": "a1", "code": ""}]


@pytest.mark.parametrize(
    ("cells", "field"),
    [
        ({"id": "a", "code": ""}, "cells"),
        ([{"id": "a"}], "cells.0"),
        ([{"id": "a", "code": 1}], "cells.0"),
        ([{"id": "a", "code": ""}, {"id": "<b>", "code": ""}], "cells.1.id"),
        ([{"id": "a", "code": ""}, {"id": "a", "code": ""}], "cells.1.id"),
        ([{"id": "", "code": ""}], "cells.0.id"),
        ([{"id": "x" * 33, "code": ""}], "cells.0.id"),
        ([{"id": "\uff46", "code": ""}], "cells.0.id"),  # a fullwidth f: alnum, not ASCII
        ([{"id": f"c{i}", "code": ""} for i in range(MAX_CELLS + 1)], "cells"),
    ],
)
def test_a_bad_cell_is_refused_naming_it(cells: object, field: str) -> None:
    with pytest.raises(Invalid) as refused:
        cells_checked(cells)
    assert refused.value.field == field


def test_a_cell_id_is_short_ascii_letters_and_digits() -> None:
    assert cell_id_checked("0a9f3c") == "0a9f3c"
    for bad in (None, 7, "a-b", "a b", "é"):
        with pytest.raises(Invalid):
            cell_id_checked(bad)
