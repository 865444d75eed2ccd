"""Message texts for the chat benchmark, their search words, and the search queries.

`tokens` reproduces vitrine's word rules (src/words.rs: lower case, `ё` as `е`, runs of
letters and digits, at most 40 characters each) for the characters the generator uses:
Latin and Cyrillic letters, ASCII digits, spaces and ASCII punctuation. For those,
Python's str.lower/isalnum and Rust's to_lowercase/is_alphanumeric agree; `check_alphabet`
refuses any other character, and chat_seed.py compares these tokens with the ones the
server itself wrote for messages sent over HTTP.
"""
import random
import re
import unicodedata

MAX_TOKEN_CHARS = 40
MAX_QUERY_WORDS = 8
_WORD_RUN = re.compile(r"[^\W_]+")
_ALPHABET = set(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ,.!?-:()«»"
    "абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ"
)


def tokens(text):
    """src/words.rs `tokens`: the words of a text in order (duplicates kept)."""
    folded = text.lower().replace("ё", "е")
    return [word[:MAX_TOKEN_CHARS] for word in _WORD_RUN.findall(folded)]


def query_words(q):
    return tokens(q)[:MAX_QUERY_WORDS]


def matches(token_set, words):
    """Every query word starts some token of the message (the server's prefix match)."""
    return all(any(t.startswith(w) for t in token_set) for w in words)


def check_alphabet(text):
    bad = set(text) - _ALPHABET
    if bad:
        raise ValueError(f"character outside the checked alphabet: {sorted(bad)!r}")
    if unicodedata.normalize("NFC", text) != text or text.strip() != text:
        raise ValueError(f"text changes under NFC or trimming: {text!r}")


# ---- the generator ---------------------------------------------------------------------
_CYR_ONSETS = ["б", "в", "г", "д", "ж", "з", "к", "л", "м", "н", "п", "р", "с", "т", "ф", "х",
               "ч", "ш", "бр", "гр", "др", "кр", "пр", "ст", "тр", "сл", "зв", "шт"]
_CYR_VOWELS = ["а", "о", "у", "е", "и", "ы", "я", "ю", "ё"]
_CYR_CODAS = ["", "", "", "н", "т", "к", "л", "м", "р", "с", "й", "сть", "нь"]
_LAT_ONSETS = ["b", "c", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z",
               "br", "cr", "st", "tr", "pl", "sh", "ch"]
_LAT_VOWELS = ["a", "e", "i", "o", "u", "y", "ea", "io"]
_LAT_CODAS = ["", "", "n", "t", "r", "s", "x", "l", "m"]

# Words planted at known rates, so the queries below have known answers.
PLANTED = [
    ("привет", 0.20),       # in one message of five
    ("встреча", 0.004),
    ("встречи", 0.004),
    ("встречу", 0.004),
    ("Ёлка", 0.002),
    ("елки", 0.002),
    ("Vostok", 0.001),
    ("Amphibia", 0.001),
    ("Vostok Amphibia", 0.0005),
    ("штурманские", 0.00005),
    ("как", 0.15),
]

# (label, q): common word, prefix of several words, ё = е, two Latin words, a rare word,
# two common words (the intersection of two large sets).
QUERIES = [
    ("common word (1 msg in 5)", "привет"),
    ("prefix of 3 words (1 in 80)", "встреч"),
    ("ё = е prefix (1 in 250)", "ёлк"),
    ("two Latin words", "vostok amph"),
    ("rare word (1 in 20,000)", "штурманские"),
    ("two common words", "Привет как"),
]


def _word(rng, onsets, vowels, codas, syllables):
    return "".join(rng.choice(onsets) + rng.choice(vowels) for _ in range(syllables)) + rng.choice(codas)


class Generator:
    """Deterministic texts: 3–12 words from a Zipf-ranked vocabulary of 4,500 pseudo-words
    (two thirds Cyrillic), planted words, digits, some capitals and punctuation."""

    def __init__(self, seed=20261201):
        self.rng = random.Random(seed)
        vocab_rng = random.Random(seed + 1)
        words = set()
        while len(words) < 3000:
            words.add(_word(vocab_rng, _CYR_ONSETS, _CYR_VOWELS, _CYR_CODAS, vocab_rng.randint(1, 4)))
        cyr = sorted(words)
        words = set()
        while len(words) < 1500:
            words.add(_word(vocab_rng, _LAT_ONSETS, _LAT_VOWELS, _LAT_CODAS, vocab_rng.randint(1, 3)))
        lat = sorted(words)
        planted_folded = {tokens(w)[0] for w, _ in PLANTED}
        vocab = [w for w in cyr + lat if tokens(w)[0] not in planted_folded
                 and not any(tokens(w)[0].startswith(tokens(q)[0][:3]) for _, q in QUERIES)]
        vocab_rng.shuffle(vocab)
        self.vocab = vocab
        self.cum = []
        total = 0.0
        for rank in range(1, len(vocab) + 1):
            total += 1.0 / rank
            self.cum.append(total)

    def text(self):
        rng = self.rng
        n = rng.randint(3, 12)
        picked = rng.choices(self.vocab, cum_weights=self.cum, k=n)
        for word, p in PLANTED:
            if rng.random() < p:
                picked.insert(rng.randint(0, len(picked)), word)
        if rng.random() < 0.2:
            picked.insert(rng.randint(0, len(picked)), str(rng.randint(1, 99999)))
        if rng.random() < 0.3:
            picked[0] = picked[0][:1].upper() + picked[0][1:]
        text = " ".join(picked)
        r = rng.random()
        if r < 0.2:
            text += "?"
        elif r < 0.35:
            text += "!"
        elif r < 0.45:
            text = text.replace(" ", ", ", 1)
        return text
