#!/usr/bin/env python3
"""Seeded synthetic memories and queries for the load benchmark (bench/load/run.sh).

    gen.py items N OUT.jsonl     one `POST /store/batch` body per line (100 puts each)
    gen.py queries N OUT.txt     one search query per line
    gen.py conversations N OUT.jsonl   one `POST /conversations` body per line (a session)

Everything comes from `random.Random(SEED)`: the same arguments write the same bytes.
Sentences mix a few hundred content words with a Zipf-like skew, plus the function words
("the", "to", "in") that real memories and questions are full of, so FTS5 sees realistic
posting-list lengths (common terms match most rows; rare ones a handful).
"""

import json
import random
import sys

SEED = 20261126
USERS = 100

PEOPLE = """Alice Bob Carol Dave Erin Frank Grace Heidi Ivan Judy Mallory Niaj Olivia Peggy Rupert Sybil
Trent Victor Walter Yusuf Zara Amir Bianca Chen Dmitri Elena Farah Goran Hana Ines Jonas Kenji Lena Mateo
Nadia Oskar Priya Quentin Rosa Sanjay Tomas Uma Vera Wen Ximena Yara Zeno""".split()
FOODS = """coffee espresso tea matcha pizza sushi ramen tacos curry pasta risotto croissants bagels oatmeal
pancakes waffles salad burritos dumplings pho falafel hummus kimchi tofu steak salmon tuna avocado
chocolate cheesecake gelato yogurt granola smoothies kombucha lemonade""".split()
PLACES = """Berlin Lisbon Tokyo Kyoto Seoul Paris Lyon Madrid Seville Rome Naples Vienna Prague Oslo
Stockholm Helsinki Dublin Edinburgh London Boston Chicago Denver Austin Seattle Portland Vancouver
Toronto Montreal Sydney Melbourne Auckland Nairobi Cairo Istanbul Athens Reykjavik Hanoi Bangkok Lima""".split()
HOBBIES = """running cycling climbing bouldering hiking swimming rowing skiing snowboarding surfing yoga
pilates chess painting pottery knitting woodworking gardening birdwatching photography baking
fermenting journaling meditation sailing kayaking fencing archery tennis badminton volleyball
guitar piano violin cello drumming singing salsa tango""".split()
TOOLS = """Rust Python TypeScript Go Kotlin Swift Haskell Elixir Postgres SQLite Redis Kafka Kubernetes
Terraform Docker Neovim Emacs VSCode Linux macOS Windows Figma Notion Obsidian Slack Zoom Jira
GitHub GitLab Grafana Prometheus React Svelte Django Flask FastAPI Axum Tokio""".split()
ADJECTIVES = """quiet spicy early late strong mild vegan gluten-free organic cheap fancy local remote weekly
daily monthly short long loud calm cozy bright dark minimal detailed casual formal""".split()
TIMES = """morning evening weekend Monday Tuesday Wednesday Thursday Friday Saturday Sunday January
February March April May June July August September October November December summer winter
spring autumn""".split()

TEMPLATES = [
    "{p} prefers {adj} {food} in the {time} and dislikes {food2}",
    "{p} is learning {tool} and wants to use it for a project about {hobby}",
    "{p} moved to {place} last {time} and is looking for a {adj} place to eat {food}",
    "The user mentioned that {p} goes {hobby} every {time} near {place}",
    "Remember that {p} is allergic to {food} and avoids {adj} dishes",
    "{p} asked for {adj} recommendations about {hobby} gear before the trip to {place}",
    "Meeting with {p} about the {tool} migration is on {time}; bring notes on {tool2}",
    "{p} said the team switched from {tool} to {tool2} because builds were too slow",
    "{p} and {p2} are planning a {hobby} weekend in {place} in {time}",
    "For birthdays {p} likes {food} and a {adj} dinner with friends from {place}",
    "{p} writes {tool} at work and uses {tool2} for side projects on the {time}",
    "The user's sister {p} lives in {place} and teaches {hobby} to kids",
    "{p} wants reminders to practice {hobby} on {time} and to drink less {food}",
    "{p} booked a flight to {place} for {time} and needs a {adj} hotel near the center",
    "{p} prefers answers that are {adj} and include examples in {tool}",
]

QUESTION_TEMPLATES = [
    "what does {p} like to eat",
    "{food} preferences",
    "where does {p} live",
    "who goes {hobby} in {place}",
    "{tool} migration meeting",
    "trip to {place} in {time}",
    "allergies to {food}",
    "what is {p} learning",
    "{hobby} gear recommendations",
    "{adj} {food} in the {time}",
    "which tools does the team use instead of {tool}",
    "hotel near the center of {place}",
]


def zipf_choice(rng, words):
    # Rank r drawn with probability ~ 1/(r+1): a few words are common, most are rare.
    weights = ZIPF.setdefault(len(words), [1.0 / (r + 1) for r in range(len(words))])
    return rng.choices(words, weights=weights, k=1)[0]


ZIPF = {}


def fill(rng, template):
    return template.format(
        p=rng.choice(PEOPLE),
        p2=rng.choice(PEOPLE),
        food=zipf_choice(rng, FOODS),
        food2=zipf_choice(rng, FOODS),
        place=zipf_choice(rng, PLACES),
        hobby=zipf_choice(rng, HOBBIES),
        tool=zipf_choice(rng, TOOLS),
        tool2=zipf_choice(rng, TOOLS),
        adj=rng.choice(ADJECTIVES),
        time=rng.choice(TIMES),
    )


def items(n, out):
    rng = random.Random(SEED)
    ops = []
    with open(out, "w") as f:
        for i in range(n):
            text = fill(rng, rng.choice(TEMPLATES))
            if rng.random() < 0.3:
                text += ". " + fill(rng, rng.choice(TEMPLATES))
            value = {"text": text, "kind": rng.choice(["preference", "fact", "event", "plan"]), "n": i}
            namespace = ["users", f"user-{i % USERS:03}", "memories"]
            ops.append({"op": "put", "namespace": namespace, "key": f"m{i:07}", "value": value})
            if len(ops) == 100:
                f.write(json.dumps({"ops": ops}) + "\n")
                ops = []
        if ops:
            f.write(json.dumps({"ops": ops}) + "\n")


def queries(n, out):
    rng = random.Random(SEED + 1)
    with open(out, "w") as f:
        for _ in range(n):
            f.write(fill(rng, rng.choice(QUESTION_TEMPLATES)) + "\n")


def conversations(n, out):
    """`n` sessions of 6 to 16 turns, for USERS users, as JSONL `{user_id, session_id, messages}`."""
    rng = random.Random(SEED + 2)
    with open(out, "w") as f:
        for s in range(n):
            messages = []
            for turn in range(rng.randint(3, 8)):
                messages.append({"role": "user", "content": fill(rng, rng.choice(TEMPLATES))})
                messages.append({"role": "assistant", "content": "Noted: " + fill(rng, rng.choice(TEMPLATES))})
            session = {"user_id": f"user-{s % USERS:03}", "session_id": f"s{s:06}", "messages": messages}
            f.write(json.dumps(session) + "\n")


if __name__ == "__main__":
    kind, count, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    {"items": items, "queries": queries, "conversations": conversations}[kind](count, path)
