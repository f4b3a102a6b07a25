"""Sentences for the demo model's corpus: templates over word lists, numbers, dates, times, money,
spelled letters and names. Deterministic for a given seed; `held_out=True` draws from a separate
seed so test sentences are not training sentences."""

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


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


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
        "year": str(rng.randint(1950, 2030)),
        "num": str(rng.choice([rng.randint(2, 12), rng.randint(13, 99), rng.randint(100, 999)])),
        "time": f"{hour}:{minute:02d}" if minute else f"{hour} o'clock",
        "money": f"${rng.randint(1, 500)}.{rng.randint(0, 99):02d}" if rng.random() < 0.7
        else f"${rng.randint(1, 9999)}",
        "letters": " ".join(rng.choice(LETTERS) for _ in range(rng.randint(2, 5))),
        "phone": " ".join(str(rng.randint(0, 9)) for _ in range(rng.randint(4, 7))),
    }
    return rng.choice(TEMPLATES).format(**slots)


def sentences(n: int, seed: int, held_out: bool = False) -> list[str]:
    rng = random.Random(seed * 7919 + (104729 if held_out else 0))
    return [sentence(rng) for _ in range(n)]
