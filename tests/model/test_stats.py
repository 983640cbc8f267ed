import pytest

from advisor.model.stats import Samples


def test_median_and_quartiles_are_derived_from_raw_values():
    s = Samples((4.0, 1.0, 3.0, 2.0, 5.0))
    assert s.values == (4.0, 1.0, 3.0, 2.0, 5.0)  # order kept
    assert s.median == 3.0
    assert s.quantile(0.25) == 2.0 and s.quantile(0.75) == 4.0
    assert s.iqr == 2.0
    assert s.relative_iqr == pytest.approx(2 / 3)


def test_single_sample_has_no_spread():
    s = Samples((2.5,))
    assert (s.median, s.iqr, s.standard_error_of_median) == (2.5, 0.0, 0.0)


def test_empty_samples_are_refused():
    with pytest.raises(ValueError):
        Samples(())
