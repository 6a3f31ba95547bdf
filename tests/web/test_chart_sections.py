"""The chart hides a section only when the reader's role may not see it; any other error shows."""

import pytest

from ketaclinic.services.errors import Conflict, Forbidden, NotFound
from ketaclinic.web.views.patients import _if_allowed


def _raises(exc: Exception):
    def fn(*_args, **_kwargs):
        raise exc
    return fn


def test_a_refusal_hides_the_section() -> None:
    assert _if_allowed(_raises(Forbidden("coordinators do not read plans"))) is None
    assert _if_allowed(lambda a, b=0: a + b, 1, b=2) == 3


@pytest.mark.parametrize("exc", [NotFound("no such patient"), Conflict("broken", code="invalid_state")])
def test_any_other_service_error_is_not_swallowed(exc: Exception) -> None:
    with pytest.raises(type(exc)):
        _if_allowed(_raises(exc))
