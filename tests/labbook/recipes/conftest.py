import datetime as dt

import pytest

from labbook.projects.models import Role
from labbook.synthesis import services as synthesis
from tests.labbook.factories import (
    MembershipFactory,
    ProjectFactory,
    StockFactory,
    SynthesisFactory,
    UserFactory,
)


def split_into_four(user, pool):
    """``pool`` split into four untreated 4 mL portions (a quarter each), P1..P4."""
    specs = [
        synthesis.PortionSpec(code=f"{pool.code}-P{i}", fraction=0.25, volume="4 mL") for i in range(1, 5)
    ]
    return synthesis.batch_split(user=user, parent=pool, date=dt.date(2022, 10, 4), portions=specs)


@pytest.fixture
def bench(db):
    """A project with an editor and a viewer, a synthesis split into four portions, a 400 mM MACl stock."""
    project = ProjectFactory(name="MACl series", slug="macl")
    editor = UserFactory(username="editor")
    viewer = UserFactory(username="viewer")
    MembershipFactory(project=project, user=editor, role=Role.EDITOR)
    MembershipFactory(project=project, user=viewer, role=Role.VIEWER)

    class Bench:
        pass

    b = Bench()
    b.project, b.editor, b.viewer = project, editor, viewer
    b.pool = SynthesisFactory(project=project, code="MAPI-POOL")
    b.portions = split_into_four(editor, b.pool)
    b.stock = StockFactory(project=project, code="MACl-EtOH")
    return b
