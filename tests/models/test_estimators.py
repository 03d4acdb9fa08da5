from sklearn.utils.estimator_checks import parametrize_with_checks

from models.estimators import DropUninformativeColumns, RecentRateBaseline


@parametrize_with_checks([RecentRateBaseline(), DropUninformativeColumns()])
def test_sklearn_contract(estimator, check):  # type: ignore[no-untyped-def]
    check(estimator)
