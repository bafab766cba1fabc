import pristine
import tinkex


def test_packages_import() -> None:
    assert pristine.__version__
    assert tinkex.__version__
