from rephraser.postprocess.arithmetic import explained_results, norm, unexplained


def test_correct_results_of_source_numbers_are_explained_and_chain():
    text = "1. 6,650 - 6,400 = 250 km.\n2. 250 x 2 = 500 km.\n3. 500 + 7 = 510."
    assert explained_results(text, {"6,650", "6,400", "2"}) == {"250", "500"}  # 7 is no source number
    assert unexplained(["250", "500", "510"], text, {"6,650", "6,400", "2"}) == ["510"]


def test_wrong_arithmetic_stays_invented():
    # a real 135M output (issue 25): "10 * 10 * 18 = 10000018"
    assert unexplained(["10000018"], "A: 10 * 10 * 18 = 10000018", {"10", "18"}) == ["10000018"]
    assert explained_results("12 / 0 = 5", {"12", "0"}) == set()
    assert explained_results("10 * 10 * 18 = 1800", {"10", "18"}) == {"1800"}
    assert explained_results("2 + 3 x 4 = 14", {"2", "3", "4"}) == {"14"}


def test_norm():
    assert (norm("6,650"), norm("3.50"), norm("3,5"), norm("007")) == ("6650", "3.5", "3.5", "7")
