import pytest

from labbook.notebook import services as notebook_services
from labbook.projects.models import Role
from tests.labbook.factories import (
    MembershipFactory,
    ProjectFactory,
    StockFactory,
    SynthesisFactory,
    UserFactory,
)


@pytest.fixture
def lab(db):
    """A project with an editor and a viewer, two batches, a stock and a notebook entry; a second
    project the editor cannot see, with a batch of its own."""
    project = ProjectFactory(name="MACl series", slug="macl")
    editor = UserFactory(username="editor")
    viewer = UserFactory(username="viewer")
    MembershipFactory(project=project, user=editor, role=Role.EDITOR)
    MembershipFactory(project=project, user=viewer, role=Role.VIEWER)
    other = ProjectFactory(name="Other lab", slug="other")
    outsider = UserFactory(username="outsider")
    MembershipFactory(project=other, user=outsider, role=Role.EDITOR)

    class Lab:
        pass

    lab = Lab()
    lab.project, lab.editor, lab.viewer, lab.other, lab.outsider = project, editor, viewer, other, outsider
    lab.batch = SynthesisFactory(project=project, code="MAPI-A")
    lab.batch2 = SynthesisFactory(project=project, code="MAPI-B")
    lab.stock = StockFactory(project=project, code="MACl-1")
    lab.foreign = SynthesisFactory(project=other, code="MAPI-X")
    lab.entry = notebook_services.entry_create(
        user=editor, project=project, title="washed twice", body="ethanol"
    )
    return lab
