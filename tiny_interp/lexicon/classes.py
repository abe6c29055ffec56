"""Story words by class, written for tiny-interp: the classes the TinyStories paper reads heads and neurons against
(character names, object nouns, pronouns, determiners). ``NAMES`` is also the list synthesis and the metrics use.
"""

from __future__ import annotations

NAMES: frozenset[str] = frozenset(
    """
lily tom ben sue tim max mia anna sam jack lucy sara sarah amy bob mike jane zoe billy timmy sally molly kitty
spot benny emma jill joe leo lila lisa mary john jim kate ella ellie bella daisy rosie rose jenny jen joey
tommy bobby danny dan susie suzy peter paul mark luke ann annie tina nina nora olivia sophie sophia jake jay
alex andy kim kai finn fin rex buddy fluffy whiskers mittens coco lulu lola luna milo oscar charlie teddy
freddy fred harry henry jimmy johnny katie lucas mila noah liam ava grace chloe ruby hannah jess bill pip
""".split()
)

OBJECTS: frozenset[str] = frozenset(
    """
ball toy toys box tree car book cake apple hat kite boat doll bear teddy blanket bed cup bowl plate spoon
truck train bike shoe shoes sock socks shirt dress coat bag basket flower flowers rock stone stick leaf leaves
door window house home chair table cookie cookies candy pie sandwich banana carrot juice milk water bottle
balloon drum bell block blocks crayon crayons paper pencil picture puzzle rope swing slide sand castle shell
box boxes key lock jar pot pan ring necklace crown sword wand map treasure coin coins egg eggs bread cheese
clock lamp phone computer robot rocket plane ship hammer brush mirror pillow tent fence gate wall bridge
""".split()
)

PRONOUNS: frozenset[str] = frozenset(
    """
he she it they him her them his hers its their theirs i me my mine you your yours we us our ours
himself herself itself themselves myself yourself ourselves
""".split()
)

DETERMINERS: frozenset[str] = frozenset(
    """
the a an this that these those some every each any another no all both either neither
""".split()
)

WORD_CLASSES: dict[str, frozenset[str]] = {
    "names": NAMES,
    "objects": OBJECTS,
    "pronouns": PRONOUNS,
    "determiners": DETERMINERS,
}
