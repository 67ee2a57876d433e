from rephraser.generate.truncate import fit_tokens, snap_to_boundary, split_chunks


def words(text: str) -> int:
    return len(text.split())


def test_fits_untouched():
    assert fit_tokens("a b c", words, 3) == ("a b c", False)


def test_cuts_at_paragraph_then_line():
    text = "one two three.\n\nfour five six.\nseven eight nine ten"
    piece, truncated = fit_tokens(text, words, 7)
    assert truncated and piece == "one two three.\n\nfour five six."
    piece, truncated = fit_tokens(text, words, 4)
    assert truncated and piece == "one two three."


def test_cuts_at_sentence_when_no_newline():
    text = "Alpha beta gamma. Delta epsilon zeta. Eta theta iota kappa lambda."
    piece, truncated = fit_tokens(text, words, 7)
    assert truncated and piece == "Alpha beta gamma. Delta epsilon zeta."


def test_snap_falls_back_to_word_boundary():
    text = "x" * 10 + " " + "y" * 10 + " " + "z" * 10
    assert snap_to_boundary(text, 25) == 22


def test_split_chunks_covers_all_words_in_order():
    paras = [" ".join(f"w{i}_{j}" for j in range(30)) + "." for i in range(20)]
    text = "\n\n".join(paras)
    chunks = split_chunks(text, words, 100)
    assert all(words(c) <= 100 for c in chunks)
    assert " ".join(chunks).split() == text.split()
    assert len(chunks) >= 6
