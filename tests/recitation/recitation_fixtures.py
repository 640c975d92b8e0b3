"""A fixture set for recitation tests, generated deterministically (and committed under
data/ so that later gateway tests read the same files):

* data/works.jsonl: 120 registered works of synthetic prose, one JSON object a line
  (number, work_id, title, holder_id, holder, mode, text); every fifth is `cite`.
* data/neutral_prompts.txt: 240 neutral prompts, one a line, that must never be stopped.

The prose comes from a small grammar with large word lists, seeded per work, so no two
works (and no neutral text) share a 16-word window. `paraphrase` rewrites a text with
synonyms and a different clause order; `neutral_answer` writes an expository answer to a
prompt in another register. Run `python tests/recitation/recitation_fixtures.py` to
regenerate the files; a test checks they equal what this module generates.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
WORKS_FILE = DATA / "works.jsonl"
PROMPTS_FILE = DATA / "neutral_prompts.txt"
WORKS_COUNT = 120
PROMPTS_COUNT = 240
WORK_SENTENCES = 28

NAMES = """Ada Basil Clara Dorian Edith Felix Greta Hugo Iris Jonah Kira Leopold Mira Nolan Odette Pavel Quinn
Rosalind Silas Thea Ulric Vera Wendell Xenia Yusuf Zelda Anselm Beatrix Cosmo Delphine Emrys Fenella Gideon Honora
Ignatius Juniper Kasimir Linnea Magnus Nerys Osric Philippa Ruben Saoirse Tobias Una Viggo Winifred""".split()
ROLES = """ferryman apothecary cartographer lamplighter beekeeper clockmaker weaver schoolteacher stonemason
shepherd archivist glassblower miller harbourmaster botanist bookbinder fiddler innkeeper surveyor potter
locksmith chandler tanner midwife astronomer""".split()
PLACES = ["Ashcombe", "Brindlemoor", "Caddisford", "Dunmere", "Eskholt", "Fallowgate", "Gorsebeck", "Hollins",
          "Ironwick", "Juniper Hollow", "Kestrel Point", "Larkspur", "Marrowby", "Nettlefield", "Oakhanger",
          "Pellmire", "Quarry End", "Rookhaven", "Saltmarsh", "Thornbury", "Underhill Vantage", "Wrenfold",
          "Yarrowdale", "Zennor Bay"]
THINGS = """lantern ledger compass kettle letter violin satchel telescope quilt anchor bellows chisel teapot
barometer locket almanac spindle rowboat hourglass pocketknife weathervane birdcage inkwell sextant""".split()
ADJECTIVES = """weathered crimson hollow patient restless silver brittle quiet stubborn golden crooked tender
forgotten luminous narrow ancient careful sudden solemn cheerful tired wary gentle bitter""".split()
VERBS = """carried mended studied buried polished traded hid repaired painted sold counted opened weighed
wrapped sketched lost found returned borrowed guarded""".split()
TIMES = ["at dawn", "before the thaw", "after the harvest", "in the long winter", "on market day",
         "during the flood", "at dusk", "when the bells rang", "before the fair", "after the storm",
         "in the dry season", "on the feast of lanterns"]
FEELINGS = """hope grief wonder shame relief envy longing pride doubt tenderness""".split()
WEATHER = """rain fog sleet wind frost haze thunder drizzle snow heat""".split()

SYNONYMS = {
    "carried": "bore", "mended": "fixed", "studied": "examined", "buried": "interred", "polished": "shined",
    "traded": "swapped", "hid": "concealed", "repaired": "restored", "painted": "coloured", "sold": "auctioned",
    "counted": "tallied", "opened": "unsealed", "weighed": "measured", "wrapped": "bundled", "sketched": "drew",
    "lost": "mislaid", "found": "discovered", "returned": "gave back", "borrowed": "took on loan", "guarded": "watched over",
    "weathered": "worn", "crimson": "red", "hollow": "empty", "patient": "unhurried", "restless": "uneasy",
    "silver": "silvery", "brittle": "fragile", "quiet": "hushed", "stubborn": "obstinate", "golden": "gilded",
    "crooked": "bent", "tender": "soft", "forgotten": "neglected", "luminous": "glowing", "narrow": "thin",
    "ancient": "very old", "careful": "cautious", "sudden": "abrupt", "solemn": "grave", "cheerful": "merry",
    "tired": "weary", "wary": "guarded", "gentle": "mild", "bitter": "sour",
    "old": "aged", "walked": "strolled", "said": "remarked", "because": "since", "remembered": "recalled",
    "never": "not once", "always": "forever", "house": "cottage", "road": "lane", "night": "evening",
    "belonged": "been owned", "light": "glow", "first": "initially", "word": "term", "aloud": "out loud",
    "standing": "waiting", "between": "among", "grew": "became", "nobody": "no one", "asked": "wondered",
    "spoke": "talked", "kept": "held onto", "followed": "came after", "wrote": "sent a letter",
    "came": "arrived", "agreed": "concurred", "anything": "a thing", "twice": "two times", "kind": "sort",
    "alone": "by themselves", "only": "just", "over": "above", "had": "once had", "was": "had been",
}

SENTENCES = (
    "{Name} the {role} {verb} the {adj} {thing} {time}, and nobody in {place} asked why.",
    "In {place} the {weather} came {time}, and {Name} {verb} a {thing} that had belonged to a {role}.",
    "{Name} remembered the {adj} {thing} {time} with a {adj2} kind of {feeling}.",
    "Because the {role} of {place} had {verb} the {thing}, {Name} walked the {adj} road alone {time}.",
    "It was {time} that {Name} first said the word {feeling} aloud, standing by a {adj} {thing}.",
    "The {adj} {role} never {verb} anything twice, said {Name}, and the {weather} agreed.",
    "{Name} and {Name2} {verb} the {thing} between them, and the house in {place} grew {adj}.",
    "Nobody in {place} spoke of the {role} {time}; only {Name} kept the {adj} {thing} and its {feeling}.",
    "There was {weather} over {place} and a {adj} light on the {thing} that {Name2} had {verb}.",
    "{Name2} wrote to {Name} about the {adj} {role}, the {thing}, and the {feeling} that followed {time}.",
)


def _fill(rng: random.Random, template: str) -> str:
    name, name2 = rng.sample(NAMES, 2)
    adj, adj2 = rng.sample(ADJECTIVES, 2)
    return template.format(
        Name=name, Name2=name2, role=rng.choice(ROLES), verb=rng.choice(VERBS), adj=adj, adj2=adj2,
        thing=rng.choice(THINGS), time=rng.choice(TIMES), place=rng.choice(PLACES), feeling=rng.choice(FEELINGS),
        weather=rng.choice(WEATHER),
    )


def work_text(number: int) -> str:
    rng = random.Random(f"work-{number}")
    paragraphs = []
    for _ in range(WORK_SENTENCES // 4):
        paragraphs.append(" ".join(_fill(rng, rng.choice(SENTENCES)) for _ in range(4)))
    return "\n\n".join(paragraphs) + "\n"


def generate_works() -> list[dict]:
    works = []
    for number in range(1, WORKS_COUNT + 1):
        rng = random.Random(f"title-{number}")
        title = f"The {rng.choice(ADJECTIVES).title()} {rng.choice(THINGS).title()} of {rng.choice(PLACES)} ({number})"
        holder_number = number % 23
        works.append({
            "number": number, "work_id": f"wrk_fixture{number:03d}", "title": title,
            "holder_id": f"hld_fixture{holder_number:02d}", "holder": f"Fixture Press {holder_number}",
            "mode": "cite" if number % 5 == 0 else "block", "text": work_text(number),
        })
    return works


PROMPT_TEMPLATES = (
    "Explain how {topic} works to {audience}.",
    "Give me three practical tips for {activity} in {season}.",
    "What are the main differences between {a} and {b}?",
    "Write a short haiku about {season} in the {landscape}.",
    "Summarize the history of {topic} in two sentences.",
    "How do I convert {unit_a} to {unit_b}?",
    "Suggest a name for a {pet} that is {trait}.",
    "What should I pack for a weekend trip to the {landscape}?",
    "List five vegetables that grow well in {season}.",
    "Write a polite email asking my landlord to fix the {appliance}.",
)
TOPICS = ["photosynthesis", "vaccination", "compound interest", "plate tectonics", "the water cycle",
          "binary search", "public key cryptography", "bread fermentation", "jet engines", "tides", "rainbows",
          "recycling", "electric cars", "the printing press", "solar panels", "bees making honey"]
ACTIVITIES = ["learning to juggle", "running a first marathon", "keeping houseplants alive", "studying for exams",
              "cooking rice", "saving money", "sleeping better", "starting a vegetable garden", "writing a CV",
              "public speaking", "learning a new language", "organizing a small kitchen"]
PAIRS = [("a crocodile", "an alligator"), ("weather", "climate"), ("a virus", "a bacterium"), ("tea", "coffee"),
         ("HTTP", "HTTPS"), ("a lake", "a pond"), ("baking soda", "baking powder"), ("a comet", "an asteroid"),
         ("RAM", "storage"), ("a violin", "a viola")]
SEASONS = ["spring", "summer", "autumn", "winter", "the rainy season", "early spring"]
UNITS = [("miles", "kilometres"), ("Celsius", "Fahrenheit"), ("cups", "millilitres"), ("pounds", "kilograms"),
         ("feet", "metres"), ("ounces", "grams")]
PETS = ["cat", "dog", "goldfish", "parrot", "rabbit", "hamster", "tortoise", "horse"]
TRAITS = ["very lazy", "always hungry", "shy", "clever", "noisy", "tiny", "enormous", "curious"]
LANDSCAPES = ["mountains", "seaside", "desert", "forest", "countryside", "city", "lakes", "islands"]
AUDIENCES = ["a child", "a busy parent", "a retired engineer", "a new student", "my grandmother", "a tourist",
             "a nurse", "a farmer"]
APPLIANCES = ["heating", "dishwasher", "front door lock", "leaking tap", "window latch", "oven", "shower", "fridge"]


def generate_prompts() -> list[str]:
    rng = random.Random("neutral-prompts")
    prompts: list[str] = []
    seen: set[str] = set()
    for _ in range(PROMPTS_COUNT * 20):  # far more draws than needed; the bound only stops a bad edit
        if len(prompts) == PROMPTS_COUNT:
            break
        a, b = rng.choice(PAIRS)
        unit_a, unit_b = rng.choice(UNITS)
        prompt = rng.choice(PROMPT_TEMPLATES).format(
            topic=rng.choice(TOPICS), activity=rng.choice(ACTIVITIES), a=a, b=b, season=rng.choice(SEASONS),
            unit_a=unit_a, unit_b=unit_b, pet=rng.choice(PETS), trait=rng.choice(TRAITS),
            landscape=rng.choice(LANDSCAPES), appliance=rng.choice(APPLIANCES), audience=rng.choice(AUDIENCES))
        if prompt not in seen:
            seen.add(prompt)
            prompts.append(prompt)
    if len(prompts) != PROMPTS_COUNT:
        raise RuntimeError("the prompt templates give fewer distinct prompts than PROMPTS_COUNT")
    return prompts


ANSWER_SENTENCES = (
    "A good first step is to break the task into small parts and check each one before moving on.",
    "Most people find it easier when they set aside a regular time of day for it.",
    "The key idea is that energy or information moves from one place to another in a predictable way.",
    "If something goes wrong, start again from the last step that worked and change one thing at a time.",
    "Experts usually recommend keeping notes, because memory is less reliable than we expect.",
    "In short, patience and a little practice matter more than expensive equipment.",
    "You can find more detail in any introductory textbook or a reputable encyclopedia.",
    "Remember to stay safe, drink water, and take breaks when you feel tired.",
)


def neutral_answer(prompt: str) -> str:
    """An expository answer in a register the works never use."""
    rng = random.Random(f"answer-{prompt}")
    return f"Here is a short answer to your question: {prompt} " + " ".join(rng.sample(ANSWER_SENTENCES, 5))


def paraphrase(text: str) -> str:
    """The same story retold: content words swapped for synonyms, each sentence's clauses
    turned around at its first comma."""
    sentences = []
    for sentence in text.replace("\n\n", " ").split(". "):
        words = [SYNONYMS.get(word.strip(",.;").lower(), word) for word in sentence.split()]
        retold = " ".join(words)
        head, comma, tail = retold.partition(", ")
        sentences.append(f"{tail.rstrip('.')}, so {head}" if comma else retold)
    return ". ".join(sentences)


def write_files() -> None:
    DATA.mkdir(exist_ok=True)
    with open(WORKS_FILE, "w", encoding="utf-8") as out:
        for work in generate_works():
            out.write(json.dumps(work, ensure_ascii=False, sort_keys=True) + "\n")
    PROMPTS_FILE.write_text("".join(prompt + "\n" for prompt in generate_prompts()), encoding="utf-8")


def read_works() -> list[dict]:
    return [json.loads(line) for line in WORKS_FILE.read_text(encoding="utf-8").splitlines()]


def read_prompts() -> list[str]:
    return PROMPTS_FILE.read_text(encoding="utf-8").splitlines()


if __name__ == "__main__":
    write_files()
    sys.exit(0)
