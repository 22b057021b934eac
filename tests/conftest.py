import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def pytest_configure(config):
    # Tests read the real benchmark files; default to ../shared/data as CI lays it out.
    if "MATHDISTILL_DATA" not in os.environ and SHARED_DATA.is_dir():
        os.environ["MATHDISTILL_DATA"] = str(SHARED_DATA)


@pytest.fixture
def data_root() -> Path:
    root = Path(os.environ["MATHDISTILL_DATA"])
    if not root.is_dir():
        pytest.fail(f"MATHDISTILL_DATA={root} does not exist; tests need the real benchmark files")
    return root
