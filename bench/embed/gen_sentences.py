"""Writes the embedding benchmark's short texts: one sentence per line, seeded, offline.

    python3 bench/embed/gen_sentences.py N OUT

Sentences look like what an agent remembers (facts, preferences, plans), 4 to 24 words
(about 8 to 35 word pieces with [CLS] and [SEP]). The same N gives the same file on every
machine (random.Random(42), no other input).
"""

import random
import sys

SUBJECTS = [
    "The user", "My manager", "Caroline", "Melanie", "The new intern", "Our team", "Her brother",
    "The support agent", "Dr. Okafor", "The landlord", "Jon", "Gina", "Their daughter", "The client",
    "My neighbour", "The database admin", "Priya", "Tomás", "The book club", "The hiring committee",
]
VERBS = [
    "prefers", "asked about", "is worried about", "wants to migrate", "forgot", "reviewed", "keeps",
    "recommended", "cancelled", "is planning", "booked", "complained about", "finished", "started",
    "loves", "can't stand", "is allergic to", "moved", "signed up for", "painted",
]
OBJECTS = [
    "dark mode in every editor", "the quarterly revenue report", "a warm rug near the window",
    "the billing service to Rust", "the meeting with the design team", "three pull requests",
    "a backup of yesterday's data", "a trip to Lisbon in May", "peanuts and shellfish",
    "the pottery class on Thursdays", "a sunset over the lake", "the on-call rotation",
    "vegetarian restaurants downtown", "the adoption paperwork", "a marathon in the autumn",
    "the Kubernetes cluster upgrade", "jazz records from the sixties", "the LGBTQ support group",
    "a new espresso machine", "the kids' swimming lessons", "the overdue invoices",
]
TAILS = [
    "", "", "", " last week", " before lunch", " every morning", " since March", " after the conference",
    " because the old one broke", " with her best friend", " for the third time this year",
    " and wants a reminder on Friday", " although it was raining", " at the community centre",
    " so the deploy can go out tomorrow", " while the baby was asleep",
]
SHORT = [
    "Remind me about the dentist.", "Coffee, no sugar.", "Prefers email over calls.", "Lives in Berlin.",
    "Birthday is on June 3rd.", "Uses Neovim.", "Vegan since 2019.", "Speaks Portuguese.",
]


def sentences(n: int) -> list[str]:
    rng = random.Random(42)
    out = []
    for i in range(n):
        if rng.random() < 0.1:
            out.append(rng.choice(SHORT))
            continue
        text = f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}{rng.choice(TAILS)}"
        if rng.random() < 0.25:
            text += f", and {rng.choice(SUBJECTS).lower()} {rng.choice(VERBS)} {rng.choice(OBJECTS)}"
        out.append(f"{text} (#{i}).")
    return out


def main() -> None:
    n, path = int(sys.argv[1]), sys.argv[2]
    with open(path, "w", encoding="utf-8") as f:
        for line in sentences(n):
            f.write(line + "\n")


if __name__ == "__main__":
    main()
