"""Sentences for the demo model's corpus: templates over word lists, numbers, dates, times, money,
spelled letters and names. Deterministic for a given seed; `held_out=True` draws from a separate
seed so test sentences are not training sentences.

Sentences are written in *spoken form* ("four hundred ninety nine dollars and eighty two cents",
"May twenty first", "eleven oh five"), cased and punctuated: what espeak-ng is given is exactly what
the model learns to write. That is Deepgram's unformatted output; hark's `numerals`/`smart_format`
turn it into digits, so the model never has to learn inverse text normalisation."""

import random

NAMES = """Alice Bob Carol David Emma Frank Grace Henry Isabel Jack Karen Liam Maria Noah Olivia Peter
Quinn Rachel Sam Tina Victor Wendy Xavier Yusuf Zoe Ahmed Beatriz Chen Dmitri Elena Fatima Hiro
Ingrid Jamal Kofi Lucia Mateo Nadia Oscar Priya Rosa Sven Tomas Uma""".split()
PLACES = """London Paris Berlin Tokyo Chicago Boston Denver Madrid Rome Lisbon Dublin Oslo Cairo
Sydney Toronto Seattle Austin Miami Vienna Prague Warsaw Athens Nairobi Lima Mumbai Seoul""".split()
NOUNS = """meeting report invoice package order ticket train flight table window door garden kitchen
office computer printer phone message letter email account password payment delivery doctor
teacher student manager driver engineer customer friend family morning evening weekend
project budget schedule contract update question answer problem solution market price river
mountain city street bridge station hospital school library museum restaurant coffee water
dinner breakfast music movie book story picture camera battery server network signal""".split()
VERBS = """send call check open close find move bring take start finish book cancel confirm deliver
repair update review sign print read write share visit meet call order pay change""".split()
ADJS = """new old big small quick slow early late quiet loud bright dark warm cold busy free short
long simple strange important final first last next red blue green happy ready""".split()
DAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
MONTHS = """January February March April May June July August September October November
December""".split()
LETTERS = "B C D E F G H J K L M N P Q R S T U V W X Y Z".split()

TEMPLATES = [
    "{name} will {verb} the {noun} on {day}.",
    "Please {verb} the {adj} {noun} before {time}.",
    "The {noun} in {place} is {adj}.",
    "Can you {verb} my {noun} tomorrow?",
    "We need {num} {noun}s for the {adj} {noun2}.",
    "My flight to {place} leaves at {time} on {day}.",
    "The total is {money}.",
    "{name} paid {money} for the {adj} {noun}.",
    "Her birthday is on {month} {ordinal}.",
    "The {noun} was signed on {month} {ordinal}, {year}.",
    "My code is {letters}.",
    "Spell it {letters}, please.",
    "Call me at {phone}.",
    "{name} and {name2} live in {place}.",
    "There are {num} {noun}s in the {noun2}.",
    "I think the {noun} is too {adj}.",
    "Room {num} is on the {ordinal} floor.",
    "The {adj} {noun} costs {money} in {place}.",
    "Did {name} {verb} the {noun} yet?",
    "Meet me at the {noun} at {time}.",
    "It happened in {year}.",
    "The {noun} and the {noun2} are ready.",
    "{name} said the {noun} is {adj} today.",
    "Turn left at the {ordinal} {noun}.",
    "Order {num} {adj} {noun}s for {name}.",
]


ONES = """zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen
fifteen sixteen seventeen eighteen nineteen""".split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
ORDINAL_WORDS = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
                 "nine": "ninth", "twelve": "twelfth"}


def cardinal(n: int) -> str:
    """0..999999 in words, American style: 'three hundred twelve', 'forty seven'."""
    if n < 20:
        return ONES[n]
    if n < 100:
        return TENS[n // 10] + ("" if n % 10 == 0 else " " + ONES[n % 10])
    if n < 1000:
        return ONES[n // 100] + " hundred" + ("" if n % 100 == 0 else " " + cardinal(n % 100))
    return cardinal(n // 1000) + " thousand" + ("" if n % 1000 == 0 else " " + cardinal(n % 1000))


def ordinal(n: int) -> str:
    words = cardinal(n).split()
    last = words[-1]
    if last in ORDINAL_WORDS:
        words[-1] = ORDINAL_WORDS[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return " ".join(words)


def year(n: int) -> str:
    if 2000 <= n < 2010:
        return cardinal(n)
    hi, lo = divmod(n, 100)
    return cardinal(hi) + (" hundred" if lo == 0 else " oh " + ONES[lo] if lo < 10 else " " + cardinal(lo))


def clock(hour: int, minute: int) -> str:
    if minute == 0:
        return f"{cardinal(hour)} o'clock"
    return cardinal(hour) + (" oh " + ONES[minute] if minute < 10 else " " + cardinal(minute))


def money(dollars: int, cents: int) -> str:
    parts = []
    if dollars:
        parts.append(cardinal(dollars) + (" dollar" if dollars == 1 else " dollars"))
    if cents:
        parts.append(cardinal(cents) + (" cent" if cents == 1 else " cents"))
    return " and ".join(parts) or "zero dollars"


def sentence(rng: random.Random) -> str:
    hour, minute = rng.randint(1, 12), rng.choice([0, 5, 10, 15, 20, 30, 45, 50])
    slots = {
        "name": rng.choice(NAMES),
        "name2": rng.choice(NAMES),
        "place": rng.choice(PLACES),
        "noun": rng.choice(NOUNS),
        "noun2": rng.choice(NOUNS),
        "verb": rng.choice(VERBS),
        "adj": rng.choice(ADJS),
        "day": rng.choice(DAYS),
        "month": rng.choice(MONTHS),
        "ordinal": ordinal(rng.randint(1, 31)),
        "year": year(rng.randint(1950, 2030)),
        "num": cardinal(rng.choice([rng.randint(2, 12), rng.randint(13, 99), rng.randint(100, 999)])),
        "time": clock(hour, minute),
        "money": money(rng.randint(1, 500), rng.randint(0, 99)) if rng.random() < 0.7
        else money(rng.randint(1, 9999), 0),
        "letters": " ".join(rng.choice(LETTERS) for _ in range(rng.randint(2, 5))),
        "phone": " ".join(ONES[rng.randint(0, 9)] for _ in range(rng.randint(4, 7))),
    }
    return rng.choice(TEMPLATES).format(**slots)


def sentences(n: int, seed: int, held_out: bool = False) -> list[str]:
    rng = random.Random(seed * 7919 + (104729 if held_out else 0))
    return [sentence(rng) for _ in range(n)]
