"""Evaluation prompts written for tiny-interp: story beginnings (most cut mid-sentence, as in the paper's
evaluation set) and short knowledge / reasoning / context-tracking probes.

Probes carry ``expected``: words, any one of which in the first few words of a completion counts as right. That
gives an LLM-free check alongside the teacher's grades.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EvalPrompt:
    id: str
    kind: str  # "story" | "knowledge" | "reasoning" | "context"
    text: str
    expected: tuple[str, ...] = ()


_STORIES = [
    "Once upon a time, there was a little girl named Lily. She loved to play in the park with her red "
    "ball. One day, the ball rolled",
    "Tim had a big box of crayons. He wanted to draw a picture for his mom, so he",
    "There was a small bird who lived in a tall tree. Every morning, the bird would",
    "Sara and Ben went to the beach with their dad. They brought a bucket and a shovel. Ben wanted to build a",
    "One day, a fluffy cat named Max found a shiny key under the couch. He picked it up with his mouth and",
    "Mia was sad because it was raining and she could not go outside. Her grandma came into the room and said,",
    "Once upon a time, in a big green forest, there lived a brave little fox. The fox was hungry, so",
    "Tom liked to help his dad in the garden. One sunny day, they found a tiny",
    "Lucy had a new pair of shoes. They were pink and sparkly. She wanted to show them to",
    "The little boat went out on the lake. The wind was strong and the waves were big. The boat started to",
    "Jack and his dog Spot went for a walk. Spot saw a squirrel and began to",
    "Anna's teddy bear had a hole in its arm. She was worried, so she went to her mom and",
    "Once upon a time, a big elephant lived in the zoo. He was lonely because",
    "It was Ben's birthday. His friends came to his house with presents. The biggest present was",
    "Emma found a little egg in the grass. It was white and warm. She looked around for the mom bird, but",
    "There once was a grumpy old bear who did not like to share. One day, a small rabbit came and asked",
    "Sue wanted to bake a cake for her friend. She got the flour, the eggs and the milk. Then she",
    "The moon was bright and the stars were twinkling. Lily could not sleep, so she looked out the window and saw",
    "Tim's kite was stuck in a tree. He pulled and pulled, but it would not come down. Then he had an idea:",
    "Once upon a time, there was a silly monkey who loved bananas. One day, he climbed up a tall tree and",
    "Max and Mia were playing with blocks. Max built a tall tower. Then Mia bumped the table and",
    "A little duck could not swim like the other ducks. Every day, the duck would sit by the pond and",
    "Lily's mom gave her a cookie. Lily saw that her brother did not have one, so she",
    "The old car was broken and could not go. Dad opened the hood and",
    "Once upon a time, a tiny ant found a big crumb of bread. It was too heavy to carry alone, so the ant",
    "Ben was scared of the dark. At night, he always asked his dad to",
    "Sara found a map in the attic. It had a big red X on it. She ran to tell her friend Tom, and together they",
    "The sun was hot and the flowers were thirsty. Little Jack took his watering can and",
    "There was a pretty butterfly with blue wings. It flew over the garden until it saw",
    "Mia and her dad went to the store to buy food. Mia wanted a big lollipop, but dad said",
    "Once upon a time, there was a kind dragon who lived on a mountain. The people in the town were "
    "afraid of him because",
    "Tom dropped his ice cream on the ground. He started to cry. His friend Lucy came over and",
    "The farmer had a cow, a pig and a sheep. One morning, the cow was missing. The farmer looked in the barn, but",
    "Anna liked to sing. One day, her teacher asked her to sing a song in front of the class. Anna felt",
    "A small robot lived in a toy box. When the children went to sleep, the robot would",
    "Lily and Ben found a puppy in the rain. It was wet and shivering. They decided to",
    "Once upon a time, a little girl had a magic wand. When she waved it,",
    "Jack wanted to be tall like his big brother. Every day he would stand by the wall and",
    "The snowman in the yard had a carrot nose and a red scarf. When the sun came out, the children saw that",
    "Sue was playing hide and seek with her friends. She found a great place to hide:",
    "A frog sat on a lily pad in the pond. He saw a fly buzzing by and",
    "Once upon a time, a boy named Tim had a favorite blue blanket. One day he could not find it anywhere. He looked",
    "Grandpa took Mia fishing at the lake. They waited and waited. Then the line moved and",
    "The little train went up the big hill. It was hard and the train was tired, but",
    "Lucy made a card for her sick friend. She drew a sun and a flower and wrote",
    "Two birds were building a nest. One bird brought sticks, and the other bird",
    "Ben wanted to play with the big kids, but they said he was too small. Ben felt sad, so",
    "Once upon a time, in a small house by the sea, there lived an old woman and her cat. Every evening, they",
    "Max broke his mom's favorite cup. He was scared she would be angry, so he",
    "The children were having a picnic in the park when suddenly dark clouds came and",
]

_KNOWLEDGE = [
    (
        "Lily wanted to get a cat or a dog. She asked her mom for a dog. Her mom said she could have a pet "
        "that says meow, so Lily got a",
        ("cat", "kitten", "kitty"),
    ),
    (
        "Tim was thirsty after playing in the sun, so he went to the kitchen and drank a glass of",
        ("water", "milk", "juice", "lemonade"),
    ),
    (
        "It was very cold outside and there was snow everywhere. Before going out, Sara put on her warm",
        ("coat", "jacket", "hat", "mittens", "gloves", "boots", "scarf", "sweater"),
    ),
    ("The cow lives on the farm. Every morning, the farmer gets fresh", ("milk",)),
    ("When it is night, we can see the moon and the", ("stars", "star")),
    ("Ben wanted to cut the paper into a star shape, so he asked his mom for the", ("scissors",)),
    ("The bird flapped its", ("wings",)),
    (
        "Mia was going to the beach. She packed her towel, her bucket and her",
        ("shovel", "swimsuit", "hat", "ball", "sunglasses", "spade"),
    ),
]

_REASONING = [
    (
        "Lily and Ben were playing. Lily had two apples and Ben had none. Lily wanted to be kind, so she "
        "gave one apple to",
        ("ben", "him"),
    ),
    ("The glass fell off the table and hit the floor. The glass", ("broke", "shattered", "was", "cracked")),
    ("Tom was very tired after a long day, so he went to his room and got into", ("bed",)),
    ("Sara's ice cream was in the hot sun for a long time. When she came back, the ice cream had", ("melted",)),
    (
        "Max wanted to reach the cookie jar on the high shelf, but he was too small. So he got a chair and",
        ("climbed", "stood", "stepped", "got", "pushed", "put"),
    ),
    ("It started to rain, and Anna did not want to get wet. She opened her", ("umbrella",)),
    ("Jack was hungry. His mom gave him a sandwich, and he", ("ate", "took", "said", "smiled")),
    ("The dog barked at the door because someone was", ("there", "outside", "knocking", "at", "coming")),
]

_CONTEXT = [
    (
        "Lily had a red ball and Tom had a blue car. Tom wanted to play with a ball, so he asked Lily if he "
        "could play with her",
        ("ball", "red"),
    ),
    ("Mom put the cookies in the jar on the shelf. Later, Ben wanted a cookie, so he looked in the", ("jar",)),
    ('Sara had a cat named Fluffy and a dog named Rex. Sara called, "Rex, come here!" and the', ("dog", "rex")),
    (
        "Tim and his sister Mia went to the park. Tim went on the swing and Mia went on the slide. After a "
        "while, Mia got off the slide and went to Tim. Mia said,",
        ("tim",),
    ),
    (
        "The little bird lost its mom. It looked in the tree, but she was not there. It looked in the bush, "
        "and there it found its",
        ("mom", "mother", "mommy", "mama"),
    ),
    (
        "Anna put her doll in the box and went to eat lunch. When she came back, she wanted her doll, so she "
        "opened the",
        ("box",),
    ),
    (
        "Ben had three balloons: a red one, a green one and a yellow one. The red one popped. Now Ben had "
        "two balloons: a green one and a",
        ("yellow",),
    ),
    (
        "Jack wanted to give a flower to his grandma. He picked a pretty yellow flower and gave it to his",
        ("grandma", "granny", "grandmother"),
    ),
]


def eval_prompts(kinds: tuple[str, ...] = ("story", "knowledge", "reasoning", "context")) -> list[EvalPrompt]:
    """The evaluation prompts of the given kinds, with stable ids (``story-00`` ...)."""
    out: list[EvalPrompt] = []
    if "story" in kinds:
        out += [EvalPrompt(f"story-{i:02d}", "story", t) for i, t in enumerate(_STORIES)]
    for kind, rows in (("knowledge", _KNOWLEDGE), ("reasoning", _REASONING), ("context", _CONTEXT)):
        if kind in kinds:
            out += [EvalPrompt(f"{kind}-{i:02d}", kind, t, exp) for i, (t, exp) in enumerate(rows)]
    return out


def probe_correct(prompt: EvalPrompt, completion: str, window: int = 4) -> bool | None:
    """Whether an expected word is among the first ``window`` words of the completion (None for stories)."""
    if not prompt.expected:
        return None
    from ..lexicon import tokenize_words

    head = tokenize_words(completion)[:window]
    return any(e in head for e in prompt.expected)
