"""Simple words a 3-4-year-old knows, written for tiny-interp (not taken from the paper's unpublished lists).

Grouped by theme inside each part of speech so the lists are easy to review and extend. ``NOUNS``, ``VERBS`` and
``ADJECTIVES`` are sorted, deduplicated tuples; ``FUNCTION_WORDS`` and the story names (``classes.NAMES``) are not
content words but still count as simple for the vocabulary-simplicity metric. Synthesis draws its words from here;
the metrics score stories against ``simple_vocabulary``.
"""

from __future__ import annotations

import re
from functools import lru_cache

from .classes import NAMES

_NOUNS = """
mom dad mommy daddy mama papa baby brother sister grandma grandpa granny aunt uncle cousin family friend boy girl
man woman lady kid child children teacher doctor nurse farmer baker cook king queen prince princess pirate
fairy giant wizard witch monster dragon robot clown police firefighter driver pilot sailor friends people neighbor
mailman helper captain knight elf ghost troll mermaid superhero
dog puppy cat kitten cow calf horse pony pig piglet sheep lamb goat duck duckling chicken chick hen rooster bird
owl frog toad fish shark whale dolphin turtle snake lizard bunny rabbit mouse rat bear cub lion tiger elephant
monkey giraffe zebra fox wolf deer squirrel bee butterfly ant spider bug ladybug worm snail caterpillar dinosaur
penguin seal crab octopus jellyfish parrot eagle swan goose donkey camel kangaroo koala panda hippo rhino bat moth
beetle firefly hamster puppy kitty unicorn peacock crow robin pigeon llama beaver raccoon skunk hedgehog otter
tree flower grass leaf leaves bush plant seed root stick log branch rose daisy sunflower tulip weed moss mushroom
apple banana orange grape grapes pear peach cherry lemon strawberry berry watermelon melon pumpkin carrot potato
tomato corn pea peas bean beans onion lettuce broccoli
sun moon star stars sky cloud clouds rain snow wind storm rainbow thunder lightning fog ice puddle mud dirt sand
rock stone pebble hill mountain river lake pond sea ocean beach wave waves island forest woods jungle field meadow
garden park farm yard path road street bridge cave nest hole shore desert valley stream waterfall sunshine weather
fire smoke light shadow dark air water
house home room kitchen bedroom bathroom door window wall floor roof stairs bed pillow blanket sheet chair table
couch sofa lamp clock mirror rug carpet shelf box basket bag bucket bowl cup plate spoon fork knife pot pan jar
bottle glass sink tub bath towel soap toothbrush toothpaste comb brush key lock fence gate mailbox tent barn
castle tower school store shop library hospital zoo church playground slide swing sandbox pool attic basement
closet drawer oven fridge stove tap bench porch garage
toy toys ball doll teddy block blocks puzzle kite balloon bubble bubbles drum horn bell whistle game crayon
crayons paint paper book books picture pictures card cards sticker stickers truck car bus train plane boat ship
bike bicycle wagon scooter rocket tractor helicopter wheel wheels rope string ribbon bow button zipper
hat cap coat jacket shirt dress skirt pants shorts sock socks shoe shoes boot boots glove gloves mitten mittens
scarf sweater pajamas belt pocket crown necklace ring watch glasses umbrella backpack apron
food bread toast butter jam cheese milk juice egg eggs cake cookie cookies candy pie soup rice pasta noodles
pizza sandwich cereal honey sugar salt icecream snack lunch dinner breakfast meal treat popcorn muffin cupcake
pancake chocolate tea cocoa
head hair face eye eyes ear ears nose mouth tooth teeth tongue lip lips cheek chin neck shoulder arm arms hand
hands finger fingers thumb leg legs knee foot feet toe toes tummy belly back skin tail wing wings paw paws fur
feather feathers beak claw horn hoof
day night morning afternoon evening today tomorrow yesterday time minute week year birthday holiday summer
winter spring fall season
color red blue green yellow pink purple orange brown black white
name song music dance party picnic parade trip walk race nap dream story secret surprise gift present prize
idea hug kiss smile laugh noise sound voice word words letter note joke magic wish luck fun trouble mess lesson
help job work turn rule plan way place thing things
heart love friendship kindness care
circle square triangle line dot spot shape
one two three four five six seven eight nine ten
money coin coins treasure map flag sign chalk glue tape scissors pencil pen marker brush
hammer nail shovel rake ladder net hook pail
boat sail anchor fishing jar lid cap
backyard playroom classroom bakery market farmhouse cottage hut cabin igloo palace tunnel ramp lawn
pathway sidewalk corner crosswalk village town city country world earth planet space spaceship astronaut alien
moonlight starlight sunset sunrise raindrop snowflake snowman icicle breeze cloudburst hail
acorn pinecone petal stem vine trunk bark berry bush hay straw cornfield orchard vegetable fruit salad nut
nuts peanut coconut cucumber pepper garlic spinach cabbage radish plum kiwi mango pineapple lime avocado
waffle bagel biscuit cracker pretzel yogurt oatmeal gravy ketchup sauce syrup jelly lollipop gum donut
sausage bacon ham chicken fishcake meatball burger fries
puppet marble marbles yoyo whistle tambourine piano guitar violin trumpet flute xylophone
slippers sandals boots raincoat hood apron vest tie diaper bib
crib cradle stroller highchair potty nightlight bedtime lullaby
bandage medicine thermometer tissue cough sneeze fever cold
friendship team club class lesson homework recess test
ticket station airport harbor dock lighthouse
cart basket shovel wheelbarrow hose sprinkler seesaw carousel
feather nest egg shell pearl seashell starfish seaweed coral
crayon chalkboard whiteboard eraser ruler notebook backpack lunchbox
cupboard counter cabinet mug kettle teapot saucer napkin tray
wand cape mask costume crown throne sword shield armor
fox den burrow hive web cocoon pond
candle fireplace chimney lantern flashlight torch
pillowcase quilt mattress bunk
grandmother grandfather mother father son daughter parent twin twins
postman fireman policeman dentist vet artist singer dancer clown
giggle cuddle hug tickle peekaboo
sailboat canoe raft submarine ambulance firetruck van taxi jeep
toolbox screwdriver saw drill paintbrush bucket sponge broom mop
heartbeat hiccup whisper echo
kitten puppy pup foal
sock puppet
"""

_VERBS = """
be have do go come get make take give put see look watch hear listen say tell talk ask answer call shout yell
whisper sing hum laugh smile cry giggle frown sigh scream speak
run walk jump hop skip climb crawl swim fly fall slide swing dance spin roll kick throw catch bounce push pull
lift carry drop hold grab hug kiss wave clap point touch tap pat pet tickle shake stretch bend reach
sit stand lie rest sleep nap wake dream yawn wait stay stop start begin finish end
eat drink bite chew lick sip taste smell cook bake boil fry stir mix pour cut chop peel spread share feed
play build draw paint color write read count learn teach show try practice pretend guess hide seek find search
lose win race chase follow lead meet visit explore discover
open close shut lock unlock fill empty wash clean wipe scrub brush comb dry wear dress tie zip button fold
sweep dust tidy fix break mend glue stick tape wrap pack unpack
want need like love hate care wish hope think know remember forget believe understand wonder worry fear dare
feel hurt heal help save rescue protect keep let leave bring send buy sell pay borrow return trade
grow plant dig water pick rake bloom sprout shine glow sparkle twinkle melt freeze rain snow blow splash
drip float sink flow
bark meow moo quack buzz roar chirp tweet hiss growl purr oink neigh squeak howl
smile nod blink wink stare peek
turn move hurry rush march tiptoe sneak wander stroll skate ride drive sail row paddle
knock ring beep honk whistle bang crash pop burst
laugh enjoy celebrate thank apologize forgive promise agree decide choose change
check fit join kneel float land spill tear scratch trip stumble slip bump
tease scare surprise cheer comfort obey behave listen
collect gather arrange stack line sort match
jump bounce flip twirl wiggle giggle cuddle snuggle
invite welcome greet hide escape
cover uncover fetch toss swap mark
giggle hiccup sneeze cough snore sniff blow
sniffle pout sulk beg nag brag boast grin
sketch scribble trace cut paste staple
wobble tumble topple crumble squeeze squish splash sprinkle scatter
bathe shower rinse soak scrub polish
hammer saw drill paint
tuck cradle rock bounce
tremble shiver sweat
gobble nibble munch slurp gulp crunch
plant water harvest pick pluck
shovel rake mow
knit sew stitch
hunt track sniff
peel slice mash
dangle hang
rattle jingle jangle clatter
buckle unbuckle
salute bow curtsy
sprint dash zoom zip
soar glide flutter flap
dive paddle float
pray hope
cheer boo
rescue guard
count add
shine flash
sparkle shimmer
pinch poke
kick punch
"""

_ADJECTIVES = """
big small little tiny huge giant large tall short long round flat thick thin wide narrow
fat skinny
good bad nice kind mean happy sad glad angry mad grumpy scared afraid brave shy proud calm silly funny
lonely sleepy tired hungry thirsty full sick well hurt sore lucky busy lazy bored curious careful gentle quiet
loud noisy polite rude friendly helpful naughty grateful sorry jealous excited worried nervous cheerful
hot cold warm cool wet dry clean dirty messy neat tidy soft hard smooth rough sticky fluffy fuzzy furry bumpy
shiny sparkly bright dark light heavy sharp dull pointy
new old young fresh rotten ripe raw cooked sweet sour salty yummy tasty spicy bitter juicy crunchy
red blue green yellow pink purple orange brown black white gray gold golden silver colorful
pretty beautiful ugly cute lovely fancy plain
fast slow quick early late first last next same different other
easy hard simple
open closed empty full broken whole real fake true
strong weak smart clever wise foolish
safe dangerous scary spooky magic magical special strange odd weird
wild tame fierce
high low deep shallow near far
sunny rainy snowy windy cloudy foggy stormy icy
alive dead asleep awake alone together
fair unfair right wrong
bald hairy spotted striped
wooden plastic
soft loud quiet
best better worse worst
tiny enormous little
gentle bouncy wobbly squishy slimy slippery crispy creamy
bumpy muddy sandy dusty rusty
giggly wiggly
naked hidden lost found
precious favorite secret
purple
fluffy puffy fuzzy downy silky velvety
cozy snug comfy
grumpy cranky fussy
cheeky sneaky
chubby plump
wet soggy damp
icy frosty chilly freezing boiling
sunny bright gloomy dim
shiny glossy glittery
muddy grassy rocky leafy woody
sweet sugary minty lemony
fresh crisp crunchy chewy gooey
smelly stinky
loud quiet silent
tiny teeny wee
giant mighty
bossy greedy selfish generous
honest patient impatient
playful joyful hopeful thankful careless
clumsy graceful
fancy shabby
fit healthy
heavy light
noisy peaceful
busy free
ready sure
awful terrible horrible wonderful great amazing fantastic super perfect
fine
cuddly snuggly
tidy
naughty
spotty
sparkling glowing
frozen melted
spicy
round square
straight curly wavy
open
empty
thirsty
sleepy
dizzy
sick
itchy
ticklish
sore
stuck
loose tight
hollow solid
rich poor
famous
friendly
lucky unlucky
upset
surprised
embarrassed
confused
frightened
amazed
pleased
delighted
annoyed
tired
"""

FUNCTION_WORDS = frozenset(
    """
a an the and or but so if then than because when while where who whom whose what which that this these those
there here it its it's i me my mine we us our ours you your yours he him his she her hers they them their theirs
myself yourself himself herself itself ourselves themselves
is am are was were be been being do does did done doing have has had having will would can could shall should
may might must not no yes ok okay oh wow hi hello bye goodbye please thanks thank
to of in on at by for with from up down out off over under into onto about after before around through across
along behind beside between inside outside near past until upon toward towards again away back too very also
just only even still always never ever often sometimes soon now once twice all some any many much more most few
lot lots every each both either neither other another such own
how why one two three four five six seven eight nine ten hundred
something anything nothing everything someone anyone everyone nobody somebody everybody somewhere everywhere
anywhere nowhere
don't can't won't didn't isn't wasn't aren't weren't couldn't wouldn't shouldn't doesn't haven't hasn't i'm
you're he's she's we're they're i'll you'll he'll she'll we'll they'll i've you've we've they've let's that's
there's what's
mr mrs miss
""".split()
)


def _words(block: str) -> tuple[str, ...]:
    return tuple(sorted(set(block.split())))


NOUNS: tuple[str, ...] = _words(_NOUNS)
VERBS: tuple[str, ...] = _words(_VERBS)
ADJECTIVES: tuple[str, ...] = _words(_ADJECTIVES)

# irregular forms a simple-story writer uses; the regular ones come from the suffix rules in word_forms
IRREGULAR: dict[str, tuple[str, ...]] = {
    "be": ("am", "is", "are", "was", "were", "been", "being"),
    "have": ("has", "had"),
    "do": ("does", "did", "done"),
    "go": ("goes", "went", "gone"),
    "come": ("came",),
    "get": ("got", "gotten"),
    "make": ("made",),
    "take": ("took", "taken"),
    "give": ("gave", "given"),
    "see": ("saw", "seen"),
    "hear": ("heard",),
    "say": ("said", "says"),
    "tell": ("told",),
    "sing": ("sang", "sung"),
    "run": ("ran",),
    "swim": ("swam", "swum"),
    "fly": ("flew", "flown", "flies"),
    "fall": ("fell", "fallen"),
    "slide": ("slid",),
    "swing": ("swung",),
    "throw": ("threw", "thrown"),
    "catch": ("caught",),
    "hold": ("held",),
    "shake": ("shook", "shaken"),
    "sit": ("sat",),
    "stand": ("stood",),
    "lie": ("lay", "lain", "lying"),
    "sleep": ("slept",),
    "wake": ("woke", "woken"),
    "dream": ("dreamt",),
    "begin": ("began", "begun"),
    "eat": ("ate", "eaten"),
    "drink": ("drank", "drunk"),
    "bite": ("bit", "bitten"),
    "build": ("built",),
    "draw": ("drew", "drawn"),
    "write": ("wrote", "written"),
    "read": ("read",),
    "teach": ("taught",),
    "hide": ("hid", "hidden"),
    "seek": ("sought",),
    "find": ("found",),
    "lose": ("lost",),
    "win": ("won",),
    "lead": ("led",),
    "meet": ("met",),
    "shut": ("shut",),
    "wear": ("wore", "worn"),
    "break": ("broke", "broken"),
    "stick": ("stuck",),
    "know": ("knew", "known"),
    "think": ("thought",),
    "forget": ("forgot", "forgotten"),
    "understand": ("understood",),
    "feel": ("felt",),
    "hurt": ("hurt",),
    "keep": ("kept",),
    "leave": ("left",),
    "bring": ("brought",),
    "send": ("sent",),
    "buy": ("bought",),
    "sell": ("sold",),
    "pay": ("paid",),
    "grow": ("grew", "grown"),
    "dig": ("dug",),
    "shine": ("shone",),
    "freeze": ("froze", "frozen"),
    "blow": ("blew", "blown"),
    "sink": ("sank", "sunk"),
    "ride": ("rode", "ridden"),
    "drive": ("drove", "driven"),
    "ring": ("rang", "rung"),
    "choose": ("chose", "chosen"),
    "put": ("put",),
    "cut": ("cut",),
    "let": ("let",),
    "spread": ("spread",),
    "burst": ("burst",),
    "fit": ("fit",),
    "tear": ("tore", "torn"),
    "forgive": ("forgave",),
    "spin": ("spun",),
    "feed": ("fed",),
    "speak": ("spoke", "spoken"),
    "spill": ("spilt",),
    "kneel": ("knelt",),
    "sweep": ("swept",),
    "fight": ("fought",),
    "light": ("lit",),
    "child": ("children",),
    "man": ("men",),
    "woman": ("women",),
    "mouse": ("mice",),
    "foot": ("feet",),
    "tooth": ("teeth",),
    "goose": ("geese",),
    "leaf": ("leaves",),
    "wolf": ("wolves",),
    "knife": ("knives",),
    "sheep": ("sheep",),
    "fish": ("fish",),
    "person": ("people",),
    "good": ("better", "best"),
    "bad": ("worse", "worst"),
    "far": ("farther", "further"),
}


def word_forms(word: str) -> frozenset[str]:
    """The word and its common inflections (plural/3rd person, past, -ing, comparative, superlative)."""
    w = word.lower()
    forms = {w, w + "s", w + "es", w + "ed", w + "d", w + "ing", w + "er", w + "est", w + "ly", w + "'s"}
    if w.endswith("e"):
        forms |= {w[:-1] + "ing", w + "r", w + "st"}
    if w.endswith("y") and len(w) > 2 and w[-2] not in "aeiou":
        forms |= {w[:-1] + "ies", w[:-1] + "ied", w[:-1] + "ier", w[:-1] + "iest", w[:-1] + "ily"}
    if len(w) >= 3 and w[-1] not in "aeiouwxy" and w[-2] in "aeiou" and w[-3] not in "aeiou":
        forms |= {w + w[-1] + "ing", w + w[-1] + "ed", w + w[-1] + "er", w + w[-1] + "est"}
    if w.endswith("f"):
        forms.add(w[:-1] + "ves")
    if w.endswith("fe"):
        forms.add(w[:-2] + "ves")
    forms.update(IRREGULAR.get(w, ()))
    return frozenset(forms)


@lru_cache(maxsize=1)
def simple_vocabulary() -> frozenset[str]:
    """Every form of every listed word, plus function words and common story names (all lowercase)."""
    vocab: set[str] = set(FUNCTION_WORDS) | set(NAMES)
    for w in (*NOUNS, *VERBS, *ADJECTIVES):
        vocab |= word_forms(w)
    return frozenset(vocab)


WORD_RE = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")


def tokenize_words(text: str) -> list[str]:
    """Lowercase words of a story (letters and inner apostrophes)."""
    return WORD_RE.findall(text.lower())


def missing_words(story: str, required: list[str] | tuple[str, ...]) -> list[str]:
    """The required words that the story does not use in any of their forms."""
    present = set(tokenize_words(story))
    return [w for w in required if not (word_forms(w) & present)]
