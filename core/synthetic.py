"""Small generated corpora for the lessons that natural text hides. Deterministic: the same
seed gives the same text. Each answer is fixed by the order of what came before, so a model
that cannot see order, or cannot look at two places at once, is left guessing."""

from __future__ import annotations

import random

ALPHABET = "abcdefghijklmnop"
PAIRS_PER_LINE = 10
PAIR_LETTERS = "abcd"
PAIR_NAMES = "efghijklmnopqrst"  # one per ordered pair of PAIR_LETTERS
UNITS_PER_LINE = 5


def pairs_corpus(characters: int = 300_000, seed: int = 0) -> str:
    """Every letter written twice, "kkbbqq…": after a pair's first letter the next one repeats
    it, after its second a new random one comes. The letters seen are the same either way;
    only their order (was the previous letter the same?) says which."""
    rng = random.Random(seed)
    lines, size = [], 0
    while size < characters:
        line = "".join(2 * rng.choice(ALPHABET) for _ in range(PAIRS_PER_LINE)) + "\n"
        lines.append(line)
        size += len(line)
    return "".join(lines)


def ordered_pairs_corpus(characters: int = 300_000, seed: int = 0) -> str:
    """Units of two letters, a dash and the letter that names that ordered pair, "bd-n": the
    answer needs both letters at once and which came first ("db-" names another letter), so a
    single attention pattern that blends the two loses the order."""
    rng = random.Random(seed)
    lines, size = [], 0
    count = len(PAIR_LETTERS)
    while size < characters:
        units = []
        for _ in range(UNITS_PER_LINE):
            first, second = rng.randrange(count), rng.randrange(count)
            name = PAIR_NAMES[first * count + second]
            units.append(f"{PAIR_LETTERS[first]}{PAIR_LETTERS[second]}-{name}")
        line = "".join(units) + "\n"
        lines.append(line)
        size += len(line)
    return "".join(lines)
