"""The five MMHead annotation categories, written from a ``MotionSummary``.

- action: the abstract actions strung together in time order (at most 30 words)
- emotion: one emotion throughout, or how it changes (at most 15 words)
- detail_expression: face movements in time order, action units in plain words (at most 100 words)
- detail_head_pose: head movements in time order, per MMHead's head-pose table (at most 100 words)
- emotion_scenario: a plausible situation behind the emotion (at most 15 words)

Present simple, no numbers, wording drawn from ``lexicon`` through a ``Phrasing``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.motion_analysis import HeadEvent, MotionSummary
from training.text.phrasing import Phrasing, join_clauses, sentence, word_count

LIMITS = {"action": 30, "emotion": 15, "detail_expression": 100, "detail_head_pose": 100, "emotion_scenario": 15}
MIN_EMOTION_S = 0.6  # emotion segments shorter than this are a passing blend, not a label
STRONG_EMOTION, WEAK_EMOTION = 0.85, 0.45  # prototype-relative intensity


# ============================================================================
# shared pieces
# ============================================================================
def emotion_chain(summary: MotionSummary) -> list[tuple[str, float]]:
    """Emotions in order of appearance, repeats collapsed: [(label, intensity)]."""
    out: list[tuple[str, float]] = []
    for seg in summary.emotions:
        if seg.end - seg.start < MIN_EMOTION_S and len(summary.emotions) > 1:
            continue
        if out and out[-1][0] == seg.label:
            out[-1] = (seg.label, max(out[-1][1], seg.intensity))
        else:
            out.append((seg.label, seg.intensity))
    return out or [("neutral", 0.0)]


def emotion_adjective(label: str, intensity: float, ph: Phrasing, degree: bool = True) -> str:
    """'happy', 'very happy', 'slightly sad' (degree words only for expressive emotions)."""
    adj = ph.pick(f"adj.{label}")
    if degree and label != "neutral" and intensity and ph.chance(0.6):
        if intensity >= STRONG_EMOTION:
            return f"{ph.pick('emo.strong')} {adj}"
        if intensity < WEAK_EMOTION:
            return f"{ph.pick('emo.weak')} {adj}"
    return adj


def speed_adverb(speed: str, ph: Phrasing) -> str:
    return ph.pick(f"speed.{speed}") if speed in ("slow", "normal", "fast") else ""


def with_adverb(verb: str, adverb: str, ph: Phrasing) -> str:
    """Put an adverb after the verb phrase, or (for single-word adverbs, sometimes) before it."""
    if not adverb:
        return verb
    if " " not in adverb and adverb.endswith("ly") and ph.chance(0.35):
        return f"{adverb} {verb}"
    return f"{verb} {adverb}"


def _moving_head(summary: MotionSummary) -> list[HeadEvent]:
    return [e for e in summary.head if e.kind != "still"]


def _covers(start: float, end: float, duration: float, share: float = 0.6) -> bool:
    return duration > 0 and (end - start) >= share * duration


def _fit(build, limit: int, attempts: int = 12) -> str:
    """Call ``build(level)`` with growing terseness until the text fits ``limit`` words."""
    text = ""
    for level in range(attempts):
        text = build(level)
        if word_count(text) <= limit:
            return text
    # Still too long: keep whole sentences that fit, else the first clause.
    kept = ""
    for part in text.split(". "):
        candidate = f"{kept} {part.rstrip('.')}." if kept else f"{part.rstrip('.')}."
        if word_count(candidate) > limit:
            break
        kept = candidate
    if kept:
        return kept
    first = text.split(",")[0]
    return sentence(" ".join(first.split()[:limit]))


def _thin(items: list, salience: list[float], keep: int) -> list:
    """The ``keep`` most salient items, still in time order."""
    if len(items) <= keep:
        return list(items)
    top = sorted(np.argsort(salience)[::-1][:keep])
    return [items[i] for i in top]


# ============================================================================
# action
# ============================================================================
@dataclass
class _Act:
    time: float
    key: str          # lexicon verb key
    adverb: str = ""  # already chosen adverb text
    salience: float = 1.0


def describe_action(summary: MotionSummary, ph: Phrasing) -> str:
    """Abstract actions in time order; a long-running one becomes a 'while ...' background."""
    dur = summary.duration
    background: list[_Act] = []
    acts: list[_Act] = []
    for seg in summary.speech[:1]:
        act = _Act(seg.start, "v.speak", ph.pick(f"speak.{summary.speaking}") if summary.speaking != "none" else "")
        (background if _covers(seg.start, summary.speech[-1].end, dur) else acts).append(act)
    chain = [seg for seg in summary.emotions if seg.label != "neutral" and seg.end - seg.start >= MIN_EMOTION_S]
    for seg in chain:
        act = _Act(seg.start, f"v.{seg.label}", "", (seg.end - seg.start) * max(seg.intensity, 0.3))
        if len(chain) == 1 and _covers(seg.start, seg.end, dur):
            background.append(act)
        elif not acts or acts[-1].key != act.key:
            acts.append(act)
    for ev in _moving_head(summary):
        adverb = speed_adverb(ev.speed, ph) if ph.chance(0.5) else ""
        acts.append(_Act(ev.start, f"v.head.{ev.kind}", adverb, (ev.end - ev.start) * max(ev.amplitude, 0.05) * 4))
    if not acts and len(background) < 2 and summary.gaze and ph.chance(0.7):
        g = summary.gaze[0]
        acts.append(_Act(g.start, f"v.gaze.{g.direction}"))
    if len(acts) + len(background) < 2 and summary.blinks:
        acts.append(_Act(summary.blinks[0].time, "v.blink"))
    acts.sort(key=lambda a: a.time)
    if not acts and not background:
        acts = [_Act(0.0, "v.head.still")]
        if ph.chance(0.5):
            background.append(_Act(0.0, "v.neutral"))
    if not acts:  # only background: say the first plainly, the rest as 'while'
        acts, background = background[:1], background[1:]
    subject = ph.pick("subj.describe")

    def build(level: int) -> str:
        keep = _thin(acts, [a.salience for a in acts], max(1, min(len(acts), 6) - level))
        keep = [a for i, a in enumerate(keep) if i == 0 or a.key != keep[i - 1].key]
        verbs = [with_adverb(ph.verb(a.key, "3sg"), a.adverb if level < 2 else "", ph) for a in keep]
        if len(verbs) > 1:
            joiner = ph.pick("conn.join")
            if len(verbs) > 2:
                main = f"{', '.join(verbs[:-1])}, {joiner} {verbs[-1]}"
            else:
                main = f"{verbs[0]}{ph.choice([', then', ' and then', ' and', ', and then'])} {verbs[1]}"
        else:
            main = verbs[0]
        tail = ""
        if background and level < 4:
            bg = background[: max(1, len(background) - level // 2)]
            ings = [with_adverb(ph.verb(b.key, "ing"), b.adverb if level < 3 else "", ph) for b in bg]
            tail = f" {ph.pick('conn.while')} {join_clauses(ings, ph)}"
        return sentence(f"{subject} {main}{tail}")

    return _fit(build, LIMITS["action"])


# ============================================================================
# emotion
# ============================================================================
_STEADY = (
    "{S} looks {a} throughout.", "{S} stays {a} the whole time.", "{S} remains {a} from start to finish.",
    "{S} appears {a} throughout the clip.", "The mood stays {a} all along.", "{S} seems {a} the entire time.",
    "{S} keeps {an} {a} expression throughout.",
)
_STEADY_NOUN = ("{P} face shows {n} throughout.", "{P} expression conveys {n} from start to end.")
_CHANGE = (
    "{P} mood shifts from {a} to {b}.", "{S} starts out {a} and becomes {b}.",
    "{S} looks {a} at first, then turns {b}.", "{S} goes from {a} to {b}.",
    "The expression changes from {a} to {b}.", "{S} begins {a} but ends up {b}.",
    "{S} is {a} at first and later {b}.",
)
_CHANGE3 = (
    "{P} mood shifts from {a} to {b}, then to {c}.", "{S} starts {a}, becomes {b}, then {c}.",
    "{S} goes from {a} to {b} and finally {c}.", "The expression moves from {a} through {b} to {c}.",
)
_CHANGE4 = (
    "{P} mood goes from {a} to {b}, then {c}, and finally {d}.",
    "{S} starts {a}, turns {b}, then {c}, and ends {d}.",
)
_BACK = ("{S} goes from {a} to {b} and back to {a2}.", "{S} turns {b} for a while, then returns to {a2}.")


def _possessive(subject: str) -> str:
    return subject + "'s"


def describe_emotion(summary: MotionSummary, ph: Phrasing) -> str:
    chain = emotion_chain(summary)
    subject = ph.pick("subj.describe")

    def build(level: int) -> str:
        deg = level == 0
        fill = {"S": subject, "P": _possessive(subject)}
        if len(chain) == 1:
            label, inten = chain[0]
            if ph.chance(0.2) and level == 0:
                return sentence(ph.choice(_STEADY_NOUN).format(n=ph.pick(f"noun.{label}"), **fill))
            adj = emotion_adjective(label, inten, ph, deg)
            an = "an" if adj[:1] in "aeiou" else "a"
            return sentence(ph.choice(_STEADY).format(a=adj, an=an, **fill))
        adjs = [emotion_adjective(lab, inten, ph, deg) for lab, inten in chain]
        if len(chain) == 3 and chain[0][0] == chain[2][0] and level < 3:
            template = ph.choice(_BACK)
            return sentence(template.format(a=adjs[0], b=adjs[1], a2=ph.pick(f"adj.{chain[0][0]}"), **fill))
        if len(chain) == 4 and level < 2:
            return sentence(ph.choice(_CHANGE4).format(a=adjs[0], b=adjs[1], c=adjs[2], d=adjs[3], **fill))
        if len(chain) >= 3 and level < 3:
            # A long chain keeps its start, its end and one emotion between that differs from both.
            inner = [k for k in range(1, len(chain) - 1) if chain[k][0] not in (chain[0][0], chain[-1][0])]
            if inner:
                return sentence(ph.choice(_CHANGE3).format(a=adjs[0], b=adjs[inner[0]], c=adjs[-1], **fill))
        return sentence(ph.choice(_CHANGE).format(a=adjs[0], b=adjs[-1], **fill))

    return _fit(build, LIMITS["emotion"])


# ============================================================================
# emotion scenario
# ============================================================================
_SCENE_ONE = ("{S} {x}.", "Perhaps {s} {x}.", "It may be that {s} {x}.", "Maybe {s} {x}.", "Imagine {s} who {x}.")
_SCENE_TWO = ("{S} {x}, but then {y}.", "{S} {x} and soon after {y}.", "At first {s} {x}, then {y}.",
              "{S} {x}, and a moment later {y}.")


def describe_scenario(summary: MotionSummary, ph: Phrasing) -> str:
    chain = [label for label, _ in emotion_chain(summary)]
    subject = ph.pick("subj.describe")
    lower = ph.pick("subj.again")

    def scene(label: str, after: str | None) -> str:
        if label == "neutral" and after is not None and after != "neutral":
            return ph.verb("v.scene.calm_down", "3sg")
        return ph.verb(f"v.scene.{label}", "3sg")

    def build(level: int) -> str:
        if len(chain) == 1 or level >= 3:
            x = scene(chain[0] if len(chain) == 1 else chain[-1], None)
            if "who" in (t := ph.choice(_SCENE_ONE)):
                lower_a = "a person" if ph.chance(0.5) else "someone"
                return sentence(t.format(S=subject, s=lower_a, x=x))
            return sentence(t.format(S=subject, s=lower, x=x))
        first, last = chain[0], chain[-1] if chain[-1] != chain[0] else chain[1]
        x = scene(first, None)
        y = scene(last, first)
        return sentence(ph.choice(_SCENE_TWO).format(S=subject, s=lower, x=x, y=y))

    return _fit(build, LIMITS["emotion_scenario"])


# ============================================================================
# detailed head pose
# ============================================================================
_HEAD_WHOLE_STILL = ("{H} {v} throughout.", "{H} {v} for the whole clip.", "{H} {v} from start to finish.",
                     "{H} {v} the entire time, without tilting, turning or nodding.")


def _degree(verb: str, degree: str) -> str | None:
    """'turns to the left' + 'far' -> 'turns far to the left'; None where it cannot go."""
    if " to the " in verb:
        head, _, side = verb.partition(" to the ")
        return f"{head} {degree} to the {side}"
    if " " not in degree and degree.endswith("ly"):
        return f"{degree} {verb}"
    return None


def _head_clause(ev: HeadEvent, prev: HeadEvent | None, ph: Phrasing) -> str:
    """What the head does in one event, with the head as subject ('turns to the left')."""
    if ev.kind == "still":
        if prev is None:
            return ph.pick("hs.still")
        if prev.kind in ("nod", "shake"):
            return ph.pick("hs.settle")
        return ph.pick("hs.return")
    verb = ph_verb = ph.pick(f"hs.{ev.kind}")
    if ev.kind not in ("nod", "shake"):
        if ev.amplitude < 0.15 and ph.chance(0.7):
            verb = _degree(verb, ph.pick("hs.slight")) or verb
        elif ev.amplitude > 0.45 and ph.chance(0.6):
            verb = _degree(verb, ph.pick("hs.far")) or verb
    adverb = speed_adverb(ev.speed, ph)
    plain = verb == ph_verb
    clause = with_adverb(verb, adverb, ph) if plain else f"{verb} {adverb}".strip()
    if ev.kind not in ("nod", "shake") and (ev.end - ev.start) >= 1.2 and ph.chance(0.6):
        clause = f"{clause} {ph.pick('hs.stay')}"
    return clause


def describe_head_pose(summary: MotionSummary, ph: Phrasing) -> str:
    events = list(summary.head)
    head = ph.pick("hs.subject")
    if not events or all(e.kind == "still" for e in events):
        return sentence(ph.choice(_HEAD_WHOLE_STILL).format(H=head, v=ph.pick("hs.still")))
    # A still tail after a settle/return adds nothing; keep the rest in order.
    clauses = []
    for i, ev in enumerate(events):
        prev = events[i - 1] if i else None
        clauses.append(_head_clause(ev, prev, ph))
    lower = head[0].lower() + head[1:]

    salience = [(e.end - e.start) * (0.02 if e.kind == "still" else max(e.amplitude, 0.05)) for e in events]

    def build(level: int) -> str:
        pairs = list(zip(clauses, events, salience))
        if level >= 2:
            pairs = [p for p in pairs if p[1].kind != "still"] or pairs[:1]
        pairs = _thin(pairs, [p[2] for p in pairs], max(1, 9 - level))
        pairs = [p for i, p in enumerate(pairs) if i == 0 or p[1].kind != pairs[i - 1][1].kind]
        items = [p[0] for p in pairs]
        sentences = []
        per = 2 if level < 4 else 4  # clauses a sentence
        groups = [items[i: i + per] for i in range(0, len(items), per)]
        for g, group in enumerate(groups):
            body = group[0] if len(group) == 1 else f"{group[0]}, {ph.pick('conn.join')} {group[1]}" \
                if len(group) == 2 else join_clauses(group, ph)
            if g == 0:
                opener = ph.pick("conn.first") if len(groups) > 1 and ph.chance(0.5) else ""
                sentences.append(sentence(f"{opener} {lower if opener else head} {body}"))
            else:
                conn = ph.pick("conn.finally" if g == len(groups) - 1 and len(groups) > 2 else "conn.then")
                pron = ph.choice(["it", lower, "it"])
                sentences.append(sentence(f"{conn} {pron} {body}"))
        return " ".join(sentences)

    return _fit(build, LIMITS["detail_head_pose"])


# ============================================================================
# detailed expression
# ============================================================================
@dataclass
class _Moment:
    time: float
    onsets: list      # UnitEpisode
    releases: list    # UnitEpisode
    speech: bool = False

    @property
    def salience(self) -> float:
        return max([e.peak for e in self.onsets] + [0.2 * len(self.releases)] + [0.5 if self.speech else 0.0])


# Face region of each unit (bilateral sides share their unit's region).
_REGION = {"AU1": "brows", "AU2": "brows", "AU4": "brows", "AU5": "eyes", "AU6": "cheeks", "AU7": "eyes",
           "AU9": "nose", "AU10": "upper_lip", "AU12": "mouth_corners", "AU14": "mouth_corners",
           "AU15": "mouth_corners", "AU17": "chin", "AU20": "lips", "AU23": "lips", "AU24": "lips",
           "AU25": "lips", "AU26": "jaw"}


def _lexicon_key(unit: str) -> str:
    return f"au.{unit}"


def _region(unit: str) -> str:
    return _REGION.get(unit, _REGION.get(unit[:-1], "lips"))


def _moments(summary: MotionSummary, gap: float = 0.4) -> list[_Moment]:
    events: list[tuple[float, str, object]] = []
    for ep in summary.units:
        events.append((ep.start, "on", ep))
        if ep.end < summary.duration - 0.3:
            events.append((ep.end, "off", ep))
    for seg in summary.speech[:1]:  # talking is said once, where it starts
        events.append((seg.start, "speech", seg))
    events.sort(key=lambda e: e[0])
    moments: list[_Moment] = []
    for time, what, item in events:
        if not moments or time - moments[-1].time > gap:
            moments.append(_Moment(time, [], []))
        m = moments[-1]
        if what == "on":
            m.onsets.append(item)
        elif what == "off":
            m.releases.append(item)
        else:
            m.speech = True
    return moments


def _intensity(peak: float, ph: Phrasing) -> str:
    if peak < 0.4:
        return ph.pick("int.slight")
    if peak > 0.75:
        return ph.pick("int.strong")
    return ph.pick("int.medium")


def _moment_verbs(m: _Moment, form: str, ph: Phrasing, terse: bool) -> list[str]:
    verbs = []
    for ep in sorted(m.onsets, key=lambda e: -e.peak)[: 2 if terse else 3]:
        verbs.append(with_adverb(ph.verb(_lexicon_key(ep.unit), form), "" if terse else _intensity(ep.peak, ph), ph))
    if m.speech:
        verbs.append(ph.verb("v.mouth.speech", form))
    if m.releases and not (terse and verbs):
        regions: list[str] = []
        for ep in m.releases:
            if _region(ep.unit) not in regions:
                regions.append(_region(ep.unit))
        parts = [ph.pick(f"part.{r}") for r in regions]
        verbs.append(ph.verb("v.release", form, part=join_clauses(parts[:2], ph)))
    return verbs


def _blink_sentence(summary: MotionSummary, ph: Phrasing) -> str:
    n = len(summary.blinks)
    if n == 0:
        return ""
    per_minute = n / max(summary.duration, 1e-6) * 60.0
    key = "blink.count.once" if n == 1 else "blink.count.many" if per_minute > 30 else "blink.count.few"
    lead = ph.choice(["Along the way", "Meanwhile", "Throughout", "All the while"])
    return sentence(f"{lead}, {ph.pick('subj.again')} {ph.pick(key)}")


def describe_expression(summary: MotionSummary, ph: Phrasing) -> str:
    moments = [m for m in _moments(summary) if m.onsets or m.speech or m.releases]
    subject = ph.pick("subj.describe")
    if not moments:
        text = ph.pick("face.still")
        blinks = _blink_sentence(summary, ph)
        return f"{text} {blinks}".strip()
    ends_held = bool(moments[-1].onsets) and not any(m.releases for m in moments[1:])

    def build(level: int) -> str:
        # Terser levels keep fewer, the most salient, moments; then shorten clauses.
        keep = _thin(moments, [m.salience for m in moments], max(1, int(min(len(moments), 8) * 0.75 ** level)))
        terse = level >= 3
        out = []
        for i, m in enumerate(keep):
            if i == 0:
                if ph.chance(0.4):
                    verbs = _moment_verbs(m, "ing", ph, terse)
                    out.append(sentence(f"{subject} {ph.choice(['starts by', 'begins by', 'opens by'])} "
                                        f"{join_clauses(verbs, ph)}"))
                else:
                    verbs = _moment_verbs(m, "3sg", ph, terse)
                    opener = ph.pick("conn.first") if len(keep) > 1 else ""
                    who = ph.pick("subj.again") if opener else subject
                    out.append(sentence(f"{opener} {who} {join_clauses(verbs, ph)}"))
                continue
            verbs = _moment_verbs(m, "3sg", ph, terse)
            last = i == len(keep) - 1
            conn = ph.pick("conn.finally" if last and len(keep) > 2 else "conn.then")
            who = ph.pick("subj.again")
            out.append(sentence(f"{conn} {who} {join_clauses(verbs, ph)}"))
        if ends_held and level < 2 and ph.chance(0.5):
            out[-1] = out[-1][:-1] + f" and {ph.verb('v.face.keep', '3sg')}."
        if level < 5:
            blinks = _blink_sentence(summary, ph)
            if blinks:
                out.append(blinks)
        return " ".join(out)

    return _fit(build, LIMITS["detail_expression"])


CATEGORIES = {
    "action": describe_action,
    "emotion": describe_emotion,
    "detail_expression": describe_expression,
    "detail_head_pose": describe_head_pose,
    "emotion_scenario": describe_scenario,
}


def describe(summary: MotionSummary, ph: Phrasing, tries: int = 10) -> dict[str, str]:
    """All five categories; on the paraphrase split each uses at least one held-out phrasing
    (when ``tries`` draws allow: a still face offers few facts to reword)."""
    out = {}
    for name, fn in CATEGORIES.items():
        for _ in range(tries if ph.split == "paraphrase" else 1):
            local = Phrasing(ph.rng, ph.split)
            out[name] = fn(summary, local)
            if local.heldout_used:
                break
    return out
