"""Every word choice the annotator and the prompt writer can make, in one table.

Each key names one fact ("head.nod", "adj.sad", "au.AU4") and lists its
phrasings for the ``train`` pool and a separate ``heldout`` pool. Held-out
phrasings exist so a model can be tested on wording it never saw: they are only
ever used when the caller asks for ``split="paraphrase"`` (see ``phrasing.py``),
and no train phrasing shares a held-out *word* (checked at import).

Keys starting with ``v.`` hold verb phrases in the base form ("nod the head");
``inflect`` turns them into "nods the head" / "nodding the head". Other keys hold
ready text. A "{p}" slot in a verb phrase is the subject's possessive ("their").
"""
from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Options:
    train: tuple[str, ...]
    heldout: tuple[str, ...] = ()


def _o(train: str, heldout: str = "") -> Options:
    """Options from '|'-separated strings (a blank item means 'say nothing')."""
    split = lambda s: tuple(x.strip() for x in s.split("|")) if s else ()  # noqa: E731
    return Options(split(train), split(heldout))


# ---------------------------------------------------------------------------
# who does it
# ---------------------------------------------------------------------------
LEXICON: dict[str, Options] = {
    "subj.describe": _o("The person|The portrait|The subject|This person", "The individual|This individual"),
    "subj.again": _o("the person|the portrait|the subject", "the individual"),
    "subj.prompt": _o("A person|Someone|A character|An avatar", "Somebody|An individual"),
    "subj.speaker": _o("A person|Someone|A narrator|A presenter", "A talker|Somebody"),
}

# ---------------------------------------------------------------------------
# emotions: adjectives, nouns, verbs
# ---------------------------------------------------------------------------
LEXICON.update({
    "adj.happy": _o("happy|cheerful|joyful|glad|pleased|content", "delighted|elated|jubilant"),
    "adj.sad": _o("sad|unhappy|downcast|gloomy|dejected|upset", "sorrowful|melancholy|forlorn"),
    "adj.angry": _o("angry|annoyed|furious|irritated|mad", "irate|livid|enraged"),
    "adj.surprised": _o("surprised|astonished|amazed|startled", "stunned|dumbfounded|flabbergasted"),
    "adj.fearful": _o("fearful|scared|anxious|frightened|nervous", "terrified|petrified|panicked"),
    "adj.disgusted": _o("disgusted|repulsed|revolted|appalled", "nauseated|sickened"),
    "adj.contempt": _o("contemptuous|scornful|disdainful|dismissive", "derisive|condescending"),
    "adj.neutral": _o("neutral|expressionless|relaxed|blank|composed", "impassive|deadpan|stony"),
    "noun.happy": _o("happiness|joy|cheer", "glee|delight"),
    "noun.sad": _o("sadness|gloom|unhappiness", "sorrow|grief"),
    "noun.angry": _o("anger|annoyance|irritation|fury", "rage|wrath"),
    "noun.surprised": _o("surprise|astonishment|amazement", "shock|disbelief"),
    "noun.fearful": _o("fear|fright|alarm", "dread|terror"),
    "noun.disgusted": _o("disgust|revulsion|distaste", "loathing|nausea"),
    "noun.contempt": _o("contempt|scorn|disdain", "derision"),
    "noun.neutral": _o("no particular emotion|no emotion|little emotion", "indifference"),
    # verbs that show the emotion on the face
    "v.happy": _o("smile|beam|smile warmly|look happy", "grin|grin broadly"),
    "v.sad": _o("look sad|pull a sad face|wear a sad expression", "mope|sulk"),
    "v.angry": _o("scowl|glare|look angry", "frown|fume"),
    "v.surprised": _o("gasp|look surprised|look astonished", "gape|gawk"),
    "v.fearful": _o("look scared|cringe|look afraid", "cower|quail"),
    "v.disgusted": _o("grimace|make a face|wrinkle the nose in disgust", "screw up the face|recoil"),
    "v.contempt": _o("smirk|look scornful|curl the lip", "sneer"),
    "v.neutral": _o("keep a straight face|stay expressionless|keep a neutral face", "keep a poker face"),
    # how strong an emotion is
    "emo.weak": _o("slightly|a little|somewhat|mildly", "vaguely"),
    "emo.strong": _o("very|really|deeply|clearly", "extremely|intensely"),
})

# ---------------------------------------------------------------------------
# the head, with the person as subject ("turns the head to the left")
# ---------------------------------------------------------------------------
LEXICON.update({
    "v.head.nod": _o("nod|nod the head|nod {p} head|move the head up and down|give a nod",
                     "bob the head|bob {p} head"),
    "v.head.shake": _o("shake the head|shake {p} head|move the head from side to side|shake the head from side to side",
                       "wag the head|waggle {p} head"),
    "v.head.turn_left": _o("turn the head to the left|turn {p} head to the left|turn to the left|look to the left|turn the head leftward|face left",
                           "glance leftwards|swivel the head leftwards"),
    "v.head.turn_right": _o("turn the head to the right|turn {p} head to the right|turn to the right|look to the right|turn the head rightward|face right",
                            "glance rightwards|swivel the head rightwards"),
    "v.head.tilt_left": _o("tilt the head to the left|tilt {p} head left|lean the head to the left|cock the head to the left",
                           "incline the head leftwards|slant the head to the left"),
    "v.head.tilt_right": _o("tilt the head to the right|tilt {p} head right|lean the head to the right|cock the head to the right",
                            "incline the head rightwards|slant the head to the right"),
    "v.head.look_up": _o("look up|raise the head|lift the head|tip the head back|look upward|lift {p} head",
                         "gaze skyward|peer upwards"),
    "v.head.look_down": _o("look down|lower the head|drop the head|look downward|bow the head|lower {p} head",
                           "hang the head|peer downwards"),
    "v.head.still": _o("keep the head still|hold the head steady|keep still|stay still|hold {p} head still",
                      "remain motionless|stay stock-still"),
    "v.head.return": _o("bring the head back to the centre|return the head to the middle|face forward again|straighten the head|come back to the centre",
                        "recentre the head"),
})

# ---------------------------------------------------------------------------
# the head as subject ("the head turns to the left"): detailed head pose
# ---------------------------------------------------------------------------
LEXICON.update({
    "hs.subject": _o("The head|The portrait's head|The person's head", "The individual's head"),
    "hs.nod": _o("nods|moves up and down|dips up and down|bows and rises", "bobs|bobs up and down"),
    "hs.shake": _o("shakes from side to side|shakes|moves from side to side|swings back and forth sideways",
                   "wags from side to side|waggles"),
    "hs.turn_left": _o("turns to the left|turns leftward|rotates to the left|swings to the left", "veers leftwards"),
    "hs.turn_right": _o("turns to the right|turns rightward|rotates to the right|swings to the right", "veers rightwards"),
    "hs.tilt_left": _o("tilts to the left|leans to the left|tips sideways to the left|cants to the left", "slants leftwards"),
    "hs.tilt_right": _o("tilts to the right|leans to the right|tips sideways to the right|cants to the right", "slants rightwards"),
    "hs.look_up": _o("lifts up|tips back|rises|tilts upward|moves up", "lifts upwards|tips skyward"),
    "hs.look_down": _o("lowers|drops down|bows|tips forward|moves down", "sinks downwards|droops"),
    "hs.still": _o("stays still|remains steady|stays in a neutral position|holds still|stays centred|remains level",
                  "remains motionless|stays stock-still"),
    "hs.return": _o("returns to the centre|comes back to the middle|moves back to a neutral position|straightens again|settles back to the centre",
                    "recentres"),
    "hs.settle": _o("comes to rest|settles|stops moving|becomes still", "goes motionless"),
    "hs.stay": _o("and stays there|and holds that position|and stays there for a while|and remains there", "and lingers there"),
    "hs.slight": _o("slightly|a little|a bit", "marginally"),
    "hs.far": _o("far|well|a long way|all the way", "considerably"),
})

# ---------------------------------------------------------------------------
# speed, speech, blinks, gaze
# ---------------------------------------------------------------------------
LEXICON.update({
    "speed.slow": _o("slowly|gently|gradually|at a slow pace|unhurriedly", "languidly|sluggishly|leisurely"),
    "speed.normal": _o("|steadily|at a moderate pace|", ""),
    "speed.fast": _o("quickly|rapidly|briskly|sharply|vigorously", "swiftly|hastily|hurriedly"),
    "v.speak": _o("talk|speak|chat|say something", "converse|utter some words"),
    "speak.calm": _o("calmly|quietly|softly|evenly|in a relaxed way", "serenely|in a measured tone"),
    "speak.excited": _o("excitedly|animatedly|energetically|with enthusiasm|eagerly|passionately",
                        "vivaciously|with gusto|exuberantly"),
    "v.mouth.speech": _o("move the jaw and lips as if talking|work the mouth open and shut in rhythm|work the jaw up and down while speaking|shape words with the lips and jaw",
                         "mouth words"),
    "v.blink": _o("blink|blink the eyes|close the eyes briefly", "flutter the eyelids"),
    "blink.count.few": _o("blinks a few times|blinks now and then|blinks occasionally", "blinks sporadically"),
    "blink.count.many": _o("blinks often|blinks many times|blinks repeatedly", "blinks incessantly"),
    "blink.count.once": _o("blinks once|gives a single blink", "gives a solitary blink"),
    "v.gaze.left": _o("shift the gaze to the left|look left with the eyes|move the eyes to the left|cast the eyes to the left",
                      "glance leftwards"),
    "v.gaze.right": _o("shift the gaze to the right|look right with the eyes|move the eyes to the right|cast the eyes to the right",
                       "glance rightwards"),
    "v.gaze.up": _o("roll the eyes up|look up with the eyes|shift the gaze upward", "peer upwards"),
    "v.gaze.down": _o("cast the eyes down|look down with the eyes|shift the gaze downward", "peer downwards"),
})

# ---------------------------------------------------------------------------
# chronology
# ---------------------------------------------------------------------------
LEXICON.update({
    "conn.first": _o("First,|At first,|To begin with,|Initially,|At the start,|In the beginning,", "From the outset,"),
    "conn.then": _o("Then|After that,|Next,|Afterwards,|Later,|Following this,", "Subsequently,|Thereafter,"),
    "conn.finally": _o("Finally,|In the end,|Towards the end,|Lastly,|At the end,", "Ultimately,|Eventually,"),
    "conn.while": _o("while", "whilst"),  # before a gerund: 'while nodding'
    "conn.as": _o("while|as", "whilst"),  # before a clause: 'as the head turns'

    "conn.join": _o("then|and then|and after that|and afterwards", "and subsequently|and thereafter"),
})

# ---------------------------------------------------------------------------
# action units in plain words (never codes): detailed expression
# ---------------------------------------------------------------------------
LEXICON.update({
    "au.AU1": _o("raise the inner brows|lift the inner corners of the eyebrows|raise the inner ends of the brows|draw the inner brows up",
                 "hoist the inner brows"),
    "au.AU1L": _o("raise the left inner brow|lift the inner end of the left eyebrow"),
    "au.AU1R": _o("raise the right inner brow|lift the inner end of the right eyebrow"),
    "au.AU2": _o("raise the outer brows|lift the outer ends of the eyebrows|arch the eyebrows", "elevate the outer brows"),
    "au.AU2L": _o("raise the left outer brow|lift the outer end of the left eyebrow"),
    "au.AU2R": _o("raise the right outer brow|lift the outer end of the right eyebrow"),
    "au.AU4": _o("lower the brows|draw the brows together|knit the brows|pull the eyebrows down and together",
                 "furrow the brow|frown"),
    "au.AU5": _o("widen the eyes|raise the upper lids|open the eyes wide", "bulge the eyes"),
    "au.AU6": _o("raise the cheeks|lift the cheeks|push the cheeks up", "plump up the cheeks"),
    "au.AU7": _o("tighten the lids|narrow the eyes|tense the eyelids|squint", "screw up the eyes"),
    "au.AU9": _o("wrinkle the nose|scrunch up the nose|crinkle the nose", "crumple the nose"),
    "au.AU10": _o("raise the upper lip|lift the upper lip|curl the upper lip up", "hitch up the upper lip"),
    "au.AU12": _o("pull the lip corners up|draw the corners of the mouth upward|turn up the corners of the mouth|smile",
                  "grin"),
    "au.AU12L": _o("pull the left lip corner up|lift the left corner of the mouth"),
    "au.AU12R": _o("pull the right lip corner up|lift the right corner of the mouth"),
    "au.AU14": _o("dimple the cheeks|tuck in the corners of the mouth|press in the mouth corners", "indent the mouth corners"),
    "au.AU15": _o("pull the lip corners down|turn down the corners of the mouth|depress the lip corners",
                  "droop the mouth corners"),
    "au.AU17": _o("raise the chin|push the chin up|bunch up the chin", "jut the chin upwards"),
    "au.AU20": _o("stretch the lips sideways|pull the lips wide|stretch the mouth", "splay the lips"),
    "au.AU23": _o("tighten the lips|tense the lips|narrow the lips", "purse the lips"),
    "au.AU24": _o("press the lips together|press the lips firmly shut|clamp the lips together", "compress the lips"),
    "au.AU25": _o("part the lips|open the lips slightly|let the lips part", "unseal the lips"),
    "au.AU26": _o("drop the jaw|let the jaw fall open|open the mouth|lower the jaw", "slacken the jaw"),
    # what relaxes when a unit ends ("relaxes the brows"), by face region
    "part.brows": _o("brows|eyebrows"), "part.eyes": _o("eyes|eyelids"), "part.cheeks": _o("cheeks"),
    "part.nose": _o("nose"), "part.upper_lip": _o("upper lip"), "part.mouth_corners": _o("mouth corners|smile"),
    "part.chin": _o("chin"), "part.lips": _o("lips|mouth"), "part.jaw": _o("jaw"),
    "v.release": _o("relax the {part}|let the {part} settle|release the {part}|ease the {part}", "unclench the {part}"),
    "int.slight": _o("slightly|a little|faintly|subtly", "barely"),
    "int.strong": _o("strongly|firmly|markedly|clearly", "intensely"),
    "int.medium": _o("|noticeably|", ""),
    "face.still": _o("The face stays relaxed and still throughout.|The face hardly moves and stays neutral.|The expression stays calm and unchanged the whole time.",
                     "The countenance remains unchanged throughout."),
    "v.face.keep": _o("keep this expression until the end|hold the expression to the end|maintain this look until the end",
                    "sustain this look until the close"),
})


# ---------------------------------------------------------------------------
# inflection of verb phrases
# ---------------------------------------------------------------------------
_DOUBLE_FINAL = {"nod", "drop", "knit", "let", "grin", "bob", "wag", "tip", "get", "put", "set", "hug", "jut", "chat",
                "slip", "sit", "spot", "step", "stop", "shut", "dip", "flap", "pat", "cut", "win"}
_IRREGULAR_3SG = {"be": "is", "have": "has", "do": "does", "go": "goes"}


def third_person(verb: str) -> str:
    if verb in _IRREGULAR_3SG:
        return _IRREGULAR_3SG[verb]
    if re.search(r"(s|sh|ch|x|z|o)$", verb):
        return verb + "es"
    if re.search(r"[^aeiou]y$", verb):
        return verb[:-1] + "ies"
    return verb + "s"


def gerund(verb: str) -> str:
    if verb.endswith("ie"):
        return verb[:-2] + "ying"
    if verb in _DOUBLE_FINAL:
        return verb + verb[-1] + "ing"
    if verb.endswith("e") and not verb.endswith(("ee", "ye", "oe")) and len(verb) > 2:
        return verb[:-1] + "ing"
    return verb + "ing"


def inflect(phrase: str, form: str) -> str:
    """Inflect a base-form verb phrase's first word: form is 'base', '3sg' or 'ing'."""
    head, _, rest = phrase.partition(" ")
    word = {"base": head, "3sg": third_person(head), "ing": gerund(head)}[form]
    return f"{word} {rest}" if rest else word


# ---------------------------------------------------------------------------
# the held-out vocabulary, derived and checked
# ---------------------------------------------------------------------------
_WORD = re.compile(r"[a-z]+(?:-[a-z]+)*")


def _surface_forms(key: str, phrase: str) -> list[str]:
    phrase = phrase.replace("{p}", "their").replace("{part}", "")
    if key.startswith("v.") or key.startswith("au."):
        return [inflect(phrase, f) for f in ("base", "3sg", "ing")]
    return [phrase]


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


# Everyday words that happen to occur only in held-out phrasings: templates may
# still use them, so they do not mark a text as held-out wording.
GENERIC_WORDS = frozenset(
    "goes remain remaining upon family relative notice notices noticing hidden treasure exam critic "
    "seller landlord bin lone tone".split())


def _build_heldout() -> tuple[tuple[str, ...], tuple[str, ...]]:
    train_words: set[str] = set()
    for key, opts in LEXICON.items():
        for phrase in opts.train:
            for form in _surface_forms(key, phrase):
                train_words |= _words(form)
    phrases: set[str] = set()
    words: set[str] = set()
    for key, opts in LEXICON.items():
        for phrase in opts.heldout:
            forms = _surface_forms(key, phrase)
            own = set().union(*(_words(f) for f in forms)) - train_words - GENERIC_WORDS
            if not own:
                raise AssertionError(f"held-out phrasing {phrase!r} ({key}) has no word of its own")
            phrases |= {f.strip().lower() for f in forms}
            words |= own
    return tuple(sorted(phrases)), tuple(sorted(words))




# ---------------------------------------------------------------------------
# emotion scenarios: situations a person might be in (base-form verb phrases)
# ---------------------------------------------------------------------------
LEXICON.update({
    "v.scene.happy": _o("receive good news|meet an old friend|hear a funny joke|open a thoughtful gift|win a small prize|"
                        "watch a puppy play|see a dear friend arrive|get praised by a colleague",
                        "pass a tough exam with flying colours|reunite with family"),
    "v.scene.sad": _o("hear some bad news|remember a lost pet|say goodbye to a friend|read a sad letter|"
                      "miss an important chance|lose a treasured keepsake|watch a touching film",
                      "mourn a relative|grieve for a friend"),
    "v.scene.angry": _o("get cut off in traffic|find the car scratched|hear an unfair accusation|wait too long in a queue|"
                        "discover a broken promise|argue with a rude neighbour",
                        "get swindled by a seller|quarrel with a landlord"),
    "v.scene.surprised": _o("see an unexpected guest|walk into a surprise party|hear startling news|open an unexpected letter|"
                            "spot a celebrity nearby|win an unexpected prize",
                            "stumble upon hidden treasure"),
    "v.scene.fearful": _o("hear a strange noise at night|see a large spider|walk alone down a dark street|"
                          "slip on an icy path|watch a scary film|face a barking dog",
                          "encounter a snake|sense an intruder"),
    "v.scene.disgusted": _o("smell spoiled milk|find mould on the bread|step in something sticky|see a filthy kitchen|"
                            "taste rotten food|find a hair in the soup",
                            "sniff a foul odour|notice maggots in the bin"),
    "v.scene.contempt": _o("listen to a boastful rival|hear a feeble excuse|watch someone cheat at cards|"
                           "read a pompous speech|see a smug rival fail",
                           "scoff at a pretentious critic"),
    "v.scene.neutral": _o("wait for a bus|read the news|listen to a lecture|concentrate on a task|think about the day|"
                          "watch the traffic|sit through a meeting",
                          "ponder a crossword"),
    "v.scene.calm_down": _o("calm down|settle down again|compose themselves|let the feeling pass", "regain composure"),
})


# HELDOUT_PHRASES: every held-out phrasing in each surface form ("bobs the head").
# HELDOUT_WORDS: the words only held-out phrasings use ("bobs", "sorrowful"):
# a train/val text never contains one.
HELDOUT_PHRASES, HELDOUT_WORDS = _build_heldout()
