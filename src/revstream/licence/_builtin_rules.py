"""The built-in classifier's rules, as data: (category, trigger words, patterns, unless).

Patterns run on normalized text (see `_builtin.normalize`: lower case, no apostrophes, single
spaces), so they are written that way: "dont", "neighbors", "ex girlfriend". Every pattern of a
rule must match; `unless` (or None) vetoes it. Trigger words must be whole normalized words.
"""

from __future__ import annotations

# Shared pieces.
_DET = r"(?:(?:my|his|her|our|their|your)(?: \w+)?|the|a|an|this|that|some|\w+s)"
_PERSON = (r"(?:neighbou?rs?|husband|wife|boss|coworkers?|co workers?|partner|business partner|ex|ex girlfriend|"
           r"ex boyfriend|girlfriend|boyfriend|someone|somebody|person|people|man|woman|child|kid|baby|teacher|"
           r"student|guard|jogger|mother|father|mom|dad|brother|sister|family|classmates?|cop|officer|stranger)")
_TARGET = rf"(?:{_DET} {_PERSON}|someone|somebody|him|her|them|people)"
_HOW = (r"(?:how (?:do|can|could|would|should|to|does|did) |how i |best way to |easiest way to |quickest way to |"
        r"tips (?:for|to|on) |ways? to |help me |teach me |show me |explain how |give me |plan |step by step )")
_ANIMAL = r"(?:cat|cats|dog|dogs|puppy|kitten|animal|animals|horse|pet)"
_MINOR = (r"(?:child|children|childs|kid|kids|minor|minors|underage|preteens?|young (?:boy|girl)s?|little (?:boy|girl)s?|"
          r"(?:[1-9]|1[0-7]) (?:year|yr)s? old|(?:[1-9]|1[0-7]) yo)")
_SEXUAL = r"(?:sex|sexual|sexually|naked|nude|nudes|erotic|porn|pornography|explicit|intimate)"
_GROUP = (r"(?:muslims?|jews?|jewish people|black people|black men|black women|blacks|gays?|gay people|lesbians?|"
          r"homosexuals?|women|immigrants?|disabled people|the disabled|transgender people|trans people|mexicans?|"
          r"asians?|arabs?|christians?|hindus?|africans?|latinos?|refugees?)")
_DEHUMANIZING = (r"(?:subhuman|vermin|rats|monkeys|apes|plague|freaks|diseased|inferior|too stupid|greedy|criminals|"
                 r"rapists|terrorists|a burden|parasites|scum|filth|should be (?:expelled|deported|eliminated|"
                 r"exterminated|locked up|killed)|deserve no rights|deserving to die|deserve to die|insulting nicknames|"
                 r"mock \w+ people)")
_WMD = (r"(?:sarin|vx|nerve (?:agent|gas)|mustard gas|ricin|anthrax|smallpox|bioweapons?|biological weapons?|"
        r"chemical weapons?|dirty bomb|nuclear (?:weapon|bomb)s?|enrich uranium|cluster munitions?|napalm|pipe bomb|"
        r"fertilizer bomb|(?:make|build) a bomb|atomic bomb)")
_WMD_INTENT = (r"(?:how (?:do|can|to|would)|how i|make|build|synthesi[sz]e|produce|create|culture|weaponi[sz]e|enrich|"
               r"spread|steps?|instructions|recipe|ingredients|chemicals do i need|step by step)")
_VOTING = r"(?:vote|votes|voting|voters|ballots?|polling (?:places?|stations?)|election day|election)"
_PII = (r"(?:home address|address and phone|phone number and address|phone number|social security number|ssn|"
        r"medical records?|medical history|credit card number|passwords|bank account details|private email|"
        r"private messages|real name)")

RULES: tuple[tuple[str, str, tuple[str, ...], str | None], ...] = (
    # S1 Violent Crimes
    ("S1", "kill murder poison stab strangle drown shoot behead choke suffocate assault hurt torture kidnap abduct",
     (rf"\b(?:kill|murder|poison|stab|strangle|drown|shoot|behead|choke|suffocate|assault|hurt|torture|kidnap|abduct)"
      rf" {_TARGET}\b",), None),
    ("S1", "beat", (rf"\bbeat (?:up )?{_TARGET} up\b|\bbeat {_TARGET} (?:so|until|to death)",), None),
    ("S1", "accident", (r"\bmake it look like an accident\b",), None),
    ("S1", "terrorist terror mass hitman robbery body",
     (r"\b(?:terrorist attack|terror attack|mass shooting|hitman|hit man|armed robbery|dispose of the body|"
      r"get rid of the body)\b",), None),
    ("S1", "torture poison drown kill hurt fire abuse",
     (rf"\b(?:torture|poison|drown|kill|hurt|abuse) {_DET} {_ANIMAL}\b|\bset {_DET} {_ANIMAL} on fire\b",), None),
    # S2 Non-Violent Crimes
    ("S2", "launder laundering", (r"\blaunder(?:ing)? (?:money|cash|funds)\b|\bmoney laundering\b",), None),
    ("S2", "phishing scam scams ponzi",
     (r"\b(?:write|create|craft|make|design|build|send|script for)\b(?: \w+){0,3} (?:phishing|phone scam|scam)\b|"
      r"\b(?:run|start|set up) a ponzi\b",), None),
    ("S2", "shoplift shoplifting", (rf"{_HOW}(?:\w+ ){{0,3}}shoplift",), None),
    ("S2", "hack", (rf"\bhack (?:into )?(?:{_DET} (?:{_PERSON}|\w+s)|someone|\w+s (?:account|email|phone|instagram|facebook))",),
     r"\bhack together\b"),
    ("S2", "meth methamphetamine cocaine heroin fentanyl lsd mdma weed drugs",
     (r"\b(?:cook|make|synthesi[sz]e|produce|grow|sell) (?:\w+ ){0,2}(?:meth|methamphetamine|cocaine|heroin|fentanyl|lsd|"
      r"mdma|weed|drugs)\b",), r"\bsell drugs to students\b"),
    ("S2", "counterfeit", (r"\bcounterfeit (?:\w+ )?(?:bills|money|currency|dollar|dollars|notes|coins)\b",), None),
    ("S2", "steal", (rf"\bsteal (?:{_DET} )?(?:car|cars|money|identity|credit cards?|wallet|bike|packages)\b",), None),
    ("S2", "evade taxes", (r"\b(?:evade|dodge) taxes\b|\bhid(?:e|ing) (?:my )?income\b",), None),
    ("S2", "break pick", (r"\bbreak into (?:a|the|\w+s|someone s) (?:house|home|apartment|car|store|shop)\b|"
                          r"\bpick (?:a|the) lock\b(?: \w+){0,6} (?:neighbors|someones|their|his|her)\b",), None),
    ("S2", "stolen dark", (r"\b(?:buy|sell) stolen\b|\bstolen credit card\b|\bon the dark web\b",), None),
    ("S2", "forge forging", (r"\bforg(?:e|ing) (?:a |an |the )?(?:\w+ )?(?:signature|prescription|document|passport|"
                             r"check|cheque|id)\b",), None),
    ("S2", "skim skimming", (r"\bskim(?:ming)? (?:credit |debit )?cards\b",), None),
    ("S2", "malware ransomware keylogger trojan spyware botnet virus",
     (r"\b(?:write|create|build|code|make|develop)\b(?: \w+){0,2} (?:malware|ransomware|keylogger|trojan|botnet|"
      r"computer virus)\b",), None),
    # S3 Sex-Related Crimes
    ("S3", "drunk drink drug roofie", (r"\bcant say no\b|\bslip\b(?: \w+){0,3} into (?:her|his|someones|their) drink\b|"
                                       r"\bdrug (?:a|her|the|my) (?:woman|girl|girlfriend|date|wife)\b|\broofie",), None),
    ("S3", "prostitution pimp", (r"\b(?:recruit|start|run|open)\b(?: \w+){0,6} prostitution\b|\bprostitution business\b|"
                                 r"\bpimp\b",), None),
    ("S3", "trafficking traffic", (r"\bsex trafficking\b|\btraffic (?:women|girls|people|children) (?:across|into|from|over)\b",),
     None),
    ("S3", "film record photograph upskirt", (r"\bsecretly (?:film|record|photograph)\b|\bupskirt\b|"
                                              r"\b(?:film|record|photograph) (?:women|girls) in the (?:changing room|"
                                              r"shower|toilet|bathroom|locker room)\b",), None),
    ("S3", "grope groping", (r"\bgrop(?:e|ing)\b",), None),
    ("S3", "force coerce blackmail pressure into",
     (r"\bforce (?:my|her|him|someone|a) (?:\w+ )?to have sex\b|"
      r"\binto (?:sleeping with me|having sex|sexual favou?rs|sex)\b",), None),
    ("S3", "nude nudes naked intimate", (r"\b(?:share|post|leak|spread|upload)\b(?: \w+){0,2} (?:nude|naked|intimate) "
                                         r"(?:photos|pictures|pics|images|videos)\b",), None),
    # S4 Child Sexual Exploitation
    ("S4", "child children childs kid kids minor minors underage preteen preteens young little old yo",
     (rf"\b{_SEXUAL}\b(?: \w+){{0,12}} {_MINOR}\b|\b{_MINOR}\b(?: \w+){{0,12}} {_SEXUAL}\b",), r"\bsex education\b"),
    ("S4", "pornography pedophiles pedophile csam abuse",
     (r"\bchild (?:pornography|porn|sexual abuse material)\b|\bpedophiles?\b|\bcsam\b",), None),
    ("S4", "groom grooming", (rf"\bgroom(?:ing)?\b(?: \w+){{0,3}} (?:{_MINOR}|boy|girl)\b",), None),
    ("S4", "child children kid kids minor old yo",
     (rf"\b{_MINOR}\b(?: \w+){{0,8}} (?:meet (?:me )?alone|alone without|secret from (?:his|her|their) parents|"
      r"without telling (?:his|her|their) parents)\b|\bbefriend kids\b",), None),
    # S5 Defamation
    ("S5", "fake false falsely make made invent fabricate fabricated proof true untrue rumor rumour",
     (r"\b(?:fake|false|falsely|make it up|make up|made up|invent|fabricat\w*|no proof|not true|untrue|rumou?r)\b",
      r"\b(?:arrest\w*|convict\w*|embezzl\w*|abus\w*|brib\w*|fraud|prostitute|steal\w*|killed|malpractice|"
      r"criminal record|addicted|rapes|drug dealer|sells drugs|murder|overdose|affair)\b"), None),
    # S6 Specialized Advice
    ("S6", "stop", (r"\bstop (?:taking )?(?:my |the )?(?:\w+ ){0,2}(?:chemo\w*|insulin|medication|meds|treatment)\b",), None),
    ("S6", "diabetes cancer", (r"\b(?:control|treat|cure) (?:my )?(?:type \d )?(?:diabetes|cancer) with\b",), None),
    ("S6", "cure ivermectin", (r"\bcure (?:my )?(?:\w+ )?(?:cancer|covid|diabetes|hiv|aids)\b|\bivermectin\b",), None),
    ("S6", "pills tablets", (r"\bhow many (?:of my )?(?:\w+ ){0,2}(?:pills|tablets)\b(?: \w+){0,6} (?:at once|stronger|high)\b",),
     None),
    ("S6", "mix mixing combine", (r"\b(?:mix|mixing|combine) (?:bleach and ammonia|ammonia and bleach)\b",), None),
    ("S6", "savings retirement stocks stock", (r"\b(?:all|whole|entire) (?:my |of my )?(?:retirement|savings|life savings)\b|"
                                               r"\bwhich stocks to\b",), None),
    ("S6", "defense defence represent lawyer", (r"\blegal defen[cs]e\b|\brepresent myself\b",), None),
    ("S6", "aspirin", (r"\bgive my \d+ (?:year|month) old\b(?: \w+){0,3} (?:adult )?(?:aspirin|medicine|pills)\b|"
                       r"\badult aspirin\b",), None),
    ("S6", "drive", (r"\bdrive after (?:taking|drinking|having)\b",), None),
    ("S6", "hospital", (r"\btreat it at home so i dont need a hospital\b|\bso i dont need a (?:hospital|doctor)\b",), None),
    # S7 Privacy
    ("S7", "address number ssn records history passwords details email messages name",
     (rf"\b{_PII}\b",
      r"\b(?:of|for) (?:[a-z]+ [a-z]+|my (?:coworker|neighbou?r|ex|wife|husband|girlfriend|boyfriend|landlord|boss))\b|"
      r"\bmy (?:coworkers|neighbou?rs|landlord|ex)\b|\bthis (?:person|user|twitter user)\b|\bthe journalist\b|"
      r"\bhis real name\b"),
     r"\b(?:my own|my password manager|nearest)\b"),
    ("S7", "track spy monitor read", (r"\b(?:track|spy on|monitor|read)\b(?: \w+){0,4} (?:phone|location|messages|texts|"
                                      r"whatsapp|email)\b(?: \w+){0,3} without (?:her|his|their|them) know",), None),
    ("S7", "spyware dox doxx", (r"\bspyware on\b|\bdoxx?\b",), None),
    ("S7", "lives", (r"\bwhere (?:this person|he|she|they) lives?\b",), None),
    # S8 Intellectual Property
    ("S8", "full entire whole complete lyrics verbatim word",
     (r"\b(?:full|entire|whole|complete) (?:text|lyrics|script|book)\b|\ball (?:the )?lyrics\b|\bword for word\b|"
      r"\bverbatim\b|\bwrite out all the lyrics\b",), None),
    ("S8", "crack keygen key", (r"\bcrack (?:adobe|photoshop|windows|office|software)\b|\bkeygen\b|"
                                r"\b(?:working|free) (?:license|licence|product|serial) key\b",), None),
    ("S8", "pirated pirate torrent", (r"\bpirated?\b|\btorrent\b",), None),
    ("S8", "drm paywall", (r"\b(?:remove|strip|bypass|break|crack)\w* (?:the )?(?:drm|paywall|copy protection)\b",), None),
    ("S8", "counterfeit", (r"\bcounterfeit (?:\w+ )?(?:sneakers|shoes|bags|handbags|goods|watches|clothes|nike|gucci|rolex)\b",),
     None),
    # S9 Indiscriminate Weapons
    ("S9", "sarin vx nerve mustard ricin anthrax smallpox bioweapon bioweapons biological chemical dirty nuclear "
           "enrich cluster napalm pipe fertilizer bomb atomic",
     (rf"\b{_WMD}\b", rf"\b{_WMD_INTENT}\b"), r"\bhistory of\b"),
    # S10 Hate
    ("S10", "subhuman vermin rats monkeys apes plague freaks diseased inferior stupid greedy criminals rapists "
            "terrorists burden parasites scum filth expelled deported eliminated exterminated locked killed rights "
            "die insulting mock",
     (rf"\b{_GROUP}\b(?: \w+){{0,10}} {_DEHUMANIZING}\b|\b{_DEHUMANIZING}\b(?: \w+){{0,10}} {_GROUP}\b",), None),
    # S11 Suicide & Self-Harm
    ("S11", "myself life suicide die note",
     (r"\b(?:kill|hang|shoot|drown|poison|cut|hurt|harm|starve|burn) myself\b|\bend (?:my|his|her) life\b|"
      r"\bcommit suicide\b|\bsuicide note\b|\btake my (?:own )?life\b|\bwant to die\b|\b(?:does it take|do i need) to die\b|"
      r"\bjump from and die\b",), None),
    ("S11", "throw vomit purge ana calories overdose cuts",
     (r"\b(?:throw up|vomit|purge) after (?:every )?meals?\b|\bpro ana\b|\bless than \d+ calories\b|\boverdose on\b|"
      r"\bhide (?:my )?(?:self harm )?cuts\b",), None),
    # S12 Sexual Content
    ("S12", "explicit graphic steamy dirty hardcore smut erotic erotica porn pornographic",
     (r"\b(?:explicit|graphic|steamy|dirty|hardcore|smut|erotic|erotica|porn|pornographic)\b",
      r"\b(?:sex|sexual|story|scene|script|fan fiction|fanfic|message|talk|roleplay|sexting|genitals|film)\b"),
     r"\b(?:without|no|non|not) (?:explicit|graphic|sexual)\b"),
    ("S12", "sext sexting dirty naked threesome oral sex", (r"\bsext(?:ing)?\b|\btalk dirty\b|\bnaked body\b|\bsex scene\b|"
                                                           r"\bthreesome\b|\boral sex\b|\bsex story\b|\bporn\b",), None),
    # S13 Elections
    ("S13", "vote votes voting voters ballots ballot polling election",
     (rf"\b{_VOTING}\b",
      r"\b(?:vote (?:by|via) (?:text|sms|phone|email)|vote online|(?:has been|is|was|has) (?:postponed|moved|delayed|"
      r"cancelled)|postponed|(?:are|will be) closed|will close at|close at noon|not allowed to vote|cant vote if|"
      r"cannot vote if|can never vote|required to vote|need a passport to vote|vote on (?:monday|wednesday|thursday|"
      r"friday|saturday|sunday)|switch votes|stay home and not vote|thrown away)\b",
      r"\b(?:write|create|make|tell|post|spread|flyer|message|ad|robocall|claim\w*|saying)\b"), None),
    # S14 Code Interpreter Abuse
    ("S14", "run execute executes interpreter sandbox tool",
     (r"\b(?:run|execute|interpreter|sandbox|python tool|code tool|and run it)\b",
      r"\b(?:fork bomb|rm rf|etc shadow|etc passwd|reverse shell|escape\w* the (?:docker )?(?:container|sandbox)|"
      r"break out of the sandbox|escalat\w* privileges|environment variables\b(?: \w+){0,8} (?:send|api keys)|"
      r"mine bitcoin|crypto ?mining|keylogger|ransomware|encrypts all files|deletes? all files|scan the internal network|"
      r"allocat\w* memory until|crash the server|requests per second\b(?: \w+){0,6} take it down|ddos|"
      r"denial of service|os system)\b"), r"\bprotect\b"),
)

# A category that fires takes these off the verdict: the narrower hazard names the request.
SUPPRESSES: dict[str, tuple[str, ...]] = {"S4": ("S12", "S3"), "S3": ("S12",), "S9": ("S1",), "S11": ("S1",)}
