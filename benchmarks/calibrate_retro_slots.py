"""Calibrate RetroRAG's contradiction margin on invented pairs, before any measured run.

Each pair is an earlier and a new item about one entity that give different values; in half of them the
new passage contradicts the earlier claim (another value for the same slot), in the other half it states a
different fact (the values differ, but the slot of the earlier claim is not what the new passage is about).
Every name is invented, so no dev question or gold answer is involved. Prints both scores per pair
(how much the new passage prefers the new value, how much the earlier passage prefers its own) and their sum.

    RAGSCOPE_MODEL_CACHE=/work/cache/models python benchmarks/calibrate_retro_slots.py [margin-file]

The margin follows a rule fixed before any run: the largest sum of a consistent pair (rounded up to 0.5, at
least 1.0), so that none of the consistent pairs would withdraw anything; written to margin-file if given.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agents.events import Step  # noqa: E402
from agents.retro_rag import evidence as ev  # noqa: E402
from agents.retro_rag.nodes import same_slot, slot_scores  # noqa: E402

# (question, (title, earlier passage), (title, new passage), contradicts)
PAIRS = [
    ("Which river flows past the town where the Orvane Guild was founded?",
     ("Orvane Guild", "The Orvane Guild is a society of rope makers. The Orvane Guild was founded in the port town "
                      "of Tallow in 1702."),
     ("Guild charters", "Old charters show that the Orvane Guild was founded in the port town of Pellow; it moved "
                        "its hall to Tallow only later."), True),
    ("When was the composer of the Reed Sonatas born?",
     ("Ilse Marrow", "Ilse Marrow was born in 1850 in Brisk. She wrote chamber music."),
     ("Marrow family", "Parish records corrected the family history: Ilse Marrow was born in 1853, in the town "
                       "of Brisk."), True),
    ("Who designed the bridge over the river Ule at Holm?",
     ("Holm Bridge", "The Holm Bridge was designed by Karl Fennig. It crosses the river Ule."),
     ("Ule crossings", "The Holm Bridge was in fact designed by Agna Torvik; Karl Fennig only supervised its "
                       "building."), True),
    ("In which country is the Vestmark wool market held?",
     ("Vestmark", "Vestmark lies in the country of Daluria. It is a hilly region known for its wool."),
     ("Vestmark borders", "After the treaty of 1921, Vestmark lies in the country of Ostrava, not Daluria."), True),
    ("How many members did the Orlen Society have?",
     ("Orlen Society", "The Orlen Society is a club of amateur astronomers. The Orlen Society had 120 members."),
     ("Orlen Society history", "At its height the Orlen Society had 340 members, its yearbook says."), True),
    ("Who was the first mayor of Brisk?",
     ("Brisk", "Brisk is a market town on the river Ule. The first mayor of Brisk was Tomas Halden."),
     ("Brisk town hall", "The town hall lists the first mayor of Brisk as Ella Winsome, elected in 1801."), True),
    # consistent: the new passage is about the same entity but states another fact
    ("Which river flows past the town where the Orvane Guild was founded?",
     ("Orvane Guild", "The Orvane Guild is a society of rope makers. The Orvane Guild was founded in the port town "
                      "of Tallow in 1702."),
     ("Orvane Guild hall", "The hall of the Orvane Guild was designed by Karl Fennig and stands near the harbour."),
     False),
    ("When was the composer of the Reed Sonatas born?",
     ("Ilse Marrow", "Ilse Marrow was born in 1850 in Brisk. She wrote chamber music."),
     ("Reed Sonatas", "The Reed Sonatas were written by Ilse Marrow and first played in Holm in 1881."), False),
    ("Who designed the bridge over the river Ule at Holm?",
     ("Holm Bridge", "The Holm Bridge was designed by Karl Fennig. It crosses the river Ule."),
     ("Holm Bridge repairs", "The Holm Bridge was repaired in 1950 by the firm of Agna Torvik after a flood."),
     False),
    ("In which country is the Vestmark wool market held?",
     ("Vestmark", "Vestmark lies in the country of Daluria. It is a hilly region known for its wool."),
     ("Vestmark wool market", "The Vestmark wool market is held every spring in the town of Holm."), False),
    ("How many members did the Orlen Society have?",
     ("Orlen Society", "The Orlen Society is a club of amateur astronomers. The Orlen Society had 120 members."),
     ("Orlen Society observatory", "The Orlen Society built its observatory on Mount Kell in 1905."), False),
    ("Who was the first mayor of Brisk?",
     ("Brisk", "Brisk is a market town on the river Ule. The first mayor of Brisk was Tomas Halden."),
     ("Brisk fairs", "The autumn fair of Brisk was founded by Ella Winsome, a wool merchant."), False),
]


def item(iid: str, title: str, text: str, question: str) -> dict:
    """The evidence item the agent would file: the passage's sentence closest to the question."""
    return {"id": iid, "claim": ev.best_sentence(text, question), "entity": title, "numbers": [1]}


def main() -> int:
    """Score every pair with the real default model; print one row per pair and the separating range."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from services import Services
    from settings import Settings

    llm = Services(Settings.from_env()).llm
    step = Step("calibrate", "revise")
    rows = []
    print("| contradicts | slot | earlier | new | new passage prefers new | earlier prefers earlier | sum |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for question, (t_old, x_old), (t_new, x_new), contradicts in PAIRS:
        old, new = item("e1", t_old, x_old, question), item("e2", t_new, x_new, question)
        pair = ev.slot_pair(old, new, question)
        if pair is None:
            print(f"| {contradicts} | (no comparable values: '{old['claim']}' / '{new['claim']}') | | | | | |")
            continue
        slot, a, b = pair
        if not same_slot(slot, {"title": t_new, "text": x_new}):
            held = ev.slot_coverage(slot, t_new + " " + x_new)
            print(f"| {contradicts} | {slot} | {a} | {b} | (the new passage holds {held:.0%} of the slot's words: "
                  f"not the same relation) | | |")
            rows.append((contradicts, 0.0, 0.0))
            continue
        by_new, _ = slot_scores(llm, step, {"title": t_new, "text": x_new}, slot, a, b)
        against, _ = slot_scores(llm, step, {"title": t_old, "text": x_old}, slot, a, b)
        by_old = -against
        rows.append((contradicts, by_new, by_old))
        print(f"| {contradicts} | {slot} | {a} | {b} | {by_new:+.2f} | {by_old:+.2f} | {by_new + by_old:+.2f} |")
    both = [(c, n + o) for c, n, o in rows if n > 0 and o > 0]
    yes = sorted(round(s, 2) for c, s in both if c)
    no = sorted(round(s, 2) for c, s in both if not c)
    print(f"\nboth passages prefer their own value: contradicting {len(yes)} of {sum(c for c, *_ in rows)} "
          f"(sums {yes}), consistent {len(no)} of {sum(not c for c, *_ in rows)} (sums {no})")
    # the rule, fixed before any run: the margin is the largest sum of a consistent pair that reaches the
    # comparison, rounded up to 0.5 (no consistent pair may withdraw anything), and at least 1.0
    margin = max([1.0, *(math.ceil(s * 2) / 2 for s in no)])
    print(f"margin by the rule: {margin} (withdraws {sum(s > margin for s in yes)} of "
          f"{sum(c for c, *_ in rows)} contradicting pairs)")
    if len(sys.argv) > 1:
        Path(sys.argv[1]).write_text(f"{margin}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
