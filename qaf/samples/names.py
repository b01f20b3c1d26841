"""A modest bank of given names and surnames for the fictional sample authority.

Names are drawn per heritage group (a given name and a surname from the same
group, sometimes mixed for children) so they look like the people on a real
case list in an English borough, and each group carries the DfE ethnicity
descriptions a case-management system would record. Everything is drawn with
the ``random.Random`` the caller passes in, never the global RNG.

The people are fictional: combinations that name a well-known person are
refused and redrawn (``FAMOUS``).
"""

from __future__ import annotations

import random
import unicodedata
from bisect import bisect
from dataclasses import dataclass
from itertools import accumulate


@dataclass(frozen=True, slots=True)
class Heritage:
    """One naming tradition: given names, surnames and recorded ethnicities."""

    key: str
    weight: float  # share of children drawn from this group
    female: tuple[str, ...]
    male: tuple[str, ...]
    surnames: tuple[str, ...]
    ethnicities: tuple[tuple[str, float], ...]
    broad: str  # "white", "asian", "black-caribbean", ...: for mixed-heritage ethnicity
    older_female: tuple[str, ...] = ()  # given names of adults only (staff), not of children
    older_male: tuple[str, ...] = ()


def _t(text: str) -> tuple[str, ...]:
    return tuple(text.split())


HERITAGES: tuple[Heritage, ...] = (
    Heritage(
        "british",
        0.50,
        _t(
            "Olivia Amelia Isla Ava Mia Ivy Lily Freya Grace Sophie Ella Evie Poppy Ruby Chloe "
            "Megan Holly Jessica Lauren Hannah Rebecca Charlotte Abigail Harriet Imogen Phoebe "
            "Daisy Maisie Scarlett Bethany Courtney Jade Kayleigh Lucy Amy Emily Katie"
        ),
        _t(
            "Oliver George Noah Arthur Leo Jack Charlie Freddie Alfie Theo Archie Joshua Ethan "
            "Callum Liam Connor Kieran Jordan Ryan Daniel Matthew Thomas Samuel Benjamin Luke "
            "Adam Jamie Reece Tyler Mason Owen Jacob Harvey Kai Riley Toby Elliot Nathan Bradley "
            "Aaron"
        ),
        _t(
            "Walker Wright Thompson Robinson Hughes Edwards Green Hall Wood Harris Jackson Turner "
            "Hill Moore Cooper Ward Morris King Baker Harrison Allen Parker Bennett Shaw Cook "
            "Marshall Chapman Ellis Holmes Barker Fletcher Pearson Atkinson Dixon Brooks Hartley "
            "Sutcliffe Whitworth Ashworth Pickering Greenwood Barlow Kershaw Haworth Lees "
            "Ormerod Crossley Booth Riley Hargreaves Lomax Butterworth Holt Duckworth Entwistle "
            "Fairclough Heywood Schofield Tattersall Wilkinson Lawson Webster Naylor Hopkinson "
            "Smith-Hartley Stansfield Rowbotham Wardle Clegg Nuttall Haslam Walmsley Rigby"
        ),
        (
            ("White British", 0.94),
            ("Any other White background", 0.02),
            ("Information not yet obtained", 0.03),
            ("Refused", 0.01),
        ),
        "white",
        older_female=_t(
            "Sarah Claire Nicola Joanne Karen Helen Rachel Gemma Kirsty Leanne Natalie Louise "
            "Alison Julie Dawn Tracey Michelle Lisa Angela Deborah"
        ),
        older_male=_t("Craig Gareth Neil Stuart Darren Dean Lee Martin Graham Simon Paul Ian Mark"),
    ),
    Heritage(
        "irish",
        0.05,
        _t("Aoife Siobhán Niamh Róisín Caoimhe Orla Saoirse Ciara Clodagh Gráinne Bridget Nuala"),
        _t("Cian Oisín Ciarán Pádraig Darragh Eoin Seán Declan Fergal Niall Colm Tadhg"),
        _t(
            "O'Brien Murphy Kelly O'Sullivan Byrne Doyle McCarthy Gallagher Doherty Lynch Quinn "
            "Brennan Nolan Fitzgerald Donnelly McLaughlin Kavanagh Power Maguire O'Donnell "
            "Connors McDonagh"
        ),
        (
            ("White Irish", 0.78),
            ("Traveller of Irish Heritage", 0.15),
            ("White British", 0.07),
        ),
        "white",
    ),
    Heritage(
        "polish",
        0.05,
        _t(
            "Zofia Zuzanna Julia Maja Hanna Aleksandra Natalia Wiktoria Agnieszka Małgorzata "
            "Katarzyna Joanna Magdalena Oliwia"
        ),
        _t(
            "Jakub Kacper Szymon Filip Mateusz Bartosz Wojciech Tomasz Paweł Łukasz Krzysztof "
            "Piotr Michał Dawid"
        ),
        _t(
            "Nowak Kowalski Wiśniewski Wójcik Kamiński Zieliński Szymański Woźniak Dąbrowski "
            "Kozłowski Jankowski Mazur Kwiatkowski Krawczyk Piotrowski Grabowski Nowakowski "
            "Pawłowski Michalski Zając Król Wieczorek Jabłoński"
        ),
        (("Any other White background", 0.95), ("Information not yet obtained", 0.05)),
        "white",
    ),
    Heritage(
        "romanian",
        0.02,
        _t("Andreea Ioana Elena Maria Alexandra Bianca Florentina Roxana"),
        _t("Andrei Ionuț Alexandru Mihai Ștefan Gabriel Florin Marius"),
        _t("Popescu Ionescu Constantin Stan Dumitru Gheorghe Munteanu Rusu Matei Stoica Lazăr"),
        (("Any other White background", 0.7), ("Gypsy/Roma", 0.3)),
        "white",
    ),
    Heritage(
        "pakistani",
        0.09,
        _t(
            "Aisha Fatima Maryam Zainab Hafsa Ayesha Sana Amna Iqra Khadija Noor Zara Hira "
            "Mehwish Samina Rabia"
        ),
        _t(
            "Muhammad Ali Hamza Bilal Usman Zain Ibrahim Yusuf Adnan Shoaib Tariq Waqas Faisal "
            "Haris Rayyan Saqib Kashif"
        ),
        _t(
            "Khan Hussain Ahmed Akhtar Iqbal Mahmood Rashid Bashir Butt Qureshi Shah Javed "
            "Aslam Anwar Raza Saleem Siddiqui Zaman Mirza"
        ),
        (("Pakistani", 0.94), ("Any other Asian background", 0.06)),
        "asian",
    ),
    Heritage(
        "indian",
        0.05,
        _t(
            "Priya Ananya Diya Simran Anjali Kavya Neha Harpreet Jaspreet Manpreet Navdeep Pooja "
            "Riya Meera"
        ),
        _t(
            "Arjun Aarav Rohan Vikram Sanjay Rajesh Harjit Gurpreet Jaswinder Nikhil Ravi "
            "Amrit Sunil Vivek"
        ),
        _t(
            "Patel Sharma Singh Gill Sandhu Mistry Chauhan Parmar Joshi Mehta Desai Bhatt "
            "Dhillon Sidhu Kumar Nair Lad Solanki"
        ),
        (("Indian", 0.93), ("Any other Asian background", 0.07)),
        "asian",
    ),
    Heritage(
        "bangladeshi",
        0.03,
        _t("Nusrat Tasnim Sumaiya Jannat Ruksana Shirin Farzana Sadia Afia Lubna"),
        _t("Rahim Karim Abdul Shahid Jamal Arif Tanvir Rafiq Sabbir Shamim"),
        _t("Miah Uddin Rahman Islam Chowdhury Hoque Sarkar Hossain Talukder Khan"),
        (("Bangladeshi", 0.94), ("Any other Asian background", 0.06)),
        "asian",
    ),
    Heritage(
        "caribbean",
        0.05,
        _t("Shanice Tia Jada Kiara Chantelle Marcia Beverley Simone Keisha Nia Jasmine Sharelle"),
        _t("Jermaine Tyrone Andre Marlon Dwayne Delroy Leon Kyle Jerome Rhys Devon Clive"),
        _t(
            "Campbell Francis Grant Henry Williams Brown Clarke Morgan Thomas Reid Gordon "
            "Samuels Bailey Phillips Richards Stewart Barrett McKenzie Forbes Wint"
        ),
        (("Caribbean", 0.86), ("Any other Black background", 0.1), ("Refused", 0.04)),
        "black-caribbean",
    ),
    Heritage(
        "west-african",
        0.06,
        _t(
            "Adaeze Chiamaka Ifeoma Ngozi Temitope Folake Abena Ama Akosua Efua Blessing "
            "Precious Favour Oluwaseun"
        ),
        _t(
            "Chidi Emeka Tobi Olumide Femi Tunde Kwame Kofi Kwabena Yaw Samuel Daniel David "
            "Chinedu Ebuka"
        ),
        _t(
            "Okafor Okonkwo Adeyemi Adebayo Balogun Eze Nwosu Ogunleye Oyelaran Afolabi Mensah "
            "Asante Boateng Owusu Osei Appiah Darko Ansah Agyeman Danso"
        ),
        (("African", 0.95), ("Any other Black background", 0.05)),
        "black-african",
    ),
    Heritage(
        "somali",
        0.03,
        _t("Hodan Ayaan Ifrah Sagal Hibo Amran Nimco Fadumo Ubah Idil"),
        _t("Abdirahman Abdullahi Mohamed Ahmed Hassan Omar Yusuf Liban Mahad Abdi"),
        _t("Abdi Hassan Ali Warsame Jama Osman Ibrahim Aden Hussein Nur Egal Duale Yusuf"),
        (("African", 0.95), ("Information not yet obtained", 0.05)),
        "black-african",
    ),
    Heritage(
        "chinese",
        0.01,
        _t("Mei Ling Xin Yan Hui Jia"),
        _t("Wei Jun Hao Ming Kai Long"),
        _t("Chen Wang Zhang Liu Wong Cheung Lam Ng Zhou"),
        (("Chinese", 0.9), ("Any other ethnic group", 0.1)),
        "other",
    ),
)

# Full names of well-known people a random draw could produce: refused and redrawn.
FAMOUS: frozenset[str] = frozenset(
    {
        "Muhammad Ali",
        "Mohamed Ali",
        "Mohamed Farah",
        "Kyle Walker",
        "Leon Bailey",
        "Leon Edwards",
        "Marlon Samuels",
        "Jerome Boateng",
        "Kofi Annan",
        "Kwame Nkrumah",
        "Sanjay Dutt",
        "Rohan Kumar",
        "Andre Gray",
        "Lily Allen",
        "Olivia Williams",
        "Emily Thomas",
        "Gary Lineker",
        "Thomas Turner",
        "Grace Jones",
        "Jack Grealish",
        "Luke Shaw",
        "Harry Kane",
        "John Barnes",
        "Andrew Robinson",
        "Jordan Henderson",
        "Ryan Giggs",
        "Declan Rice",
        "Adam Smith",
        "Sarah Lancashire",
        "Kelly Holmes",
        "Daniel Sturridge",
        "Jamie Carragher",
        "Martin Clarke",
        "Simon Cowell",
        "Kai Havertz",
        "Mason Mount",
        "Neil Morrissey",
        "Ali Shah",
        "Ravi Shastri",
        "Scott Parker",
        "Jack Whitehall",
        "Charlotte Church",
        "Lauren Bell",
        "Daisy Ridley",
        "Graham Turner",
        "Sean Connors",
    }
)

# DfE mixed-heritage categories, keyed by the two broad groups (order-free).
_MIXED: dict[frozenset[str], str] = {
    frozenset({"white", "black-caribbean"}): "White and Black Caribbean",
    frozenset({"white", "black-african"}): "White and Black African",
    frozenset({"white", "asian"}): "White and Asian",
}

_CUM_WEIGHTS: tuple[float, ...] = tuple(accumulate(h.weight for h in HERITAGES))
_ETH_CUM: tuple[tuple[tuple[str, ...], tuple[float, ...]], ...] = tuple(
    (tuple(e for e, _ in h.ethnicities), tuple(accumulate(w for _, w in h.ethnicities)))
    for h in HERITAGES
)


def _surname_for(surname: str, female: bool) -> str:
    """Polish surnames in -ski/-cki/-dzki take -ska/-cka/-dzka for women."""
    if female and surname.endswith(("ski", "cki", "dzki")):
        return surname[:-1] + "a"
    return surname


# Given-name pools by (heritage index, female, adult).
_GIVEN: dict[tuple[int, bool, bool], tuple[str, ...]] = {
    (i, female, adult): (h.female if female else h.male)
    + ((h.older_female if female else h.older_male) if adult else ())
    for i, h in enumerate(HERITAGES)
    for female in (False, True)
    for adult in (False, True)
}
_LAST = len(HERITAGES) - 1
_TOTAL = _CUM_WEIGHTS[-1]


def _pick_heritage(rng: random.Random) -> int:
    # what rng.choices does, without its per-call overhead (this runs ~100,000 times)
    return bisect(_CUM_WEIGHTS, rng.random() * _TOTAL, 0, _LAST)


def _pick(rng: random.Random, values: tuple[str, ...], cum: tuple[float, ...]) -> str:
    return values[bisect(cum, rng.random() * cum[-1], 0, len(cum) - 1)]


def person_name(
    rng: random.Random, *, female: bool, mix: float = 0.0, adult: bool = False
) -> tuple[str, str, str]:
    """(given name, surname, ethnicity) drawn from the bank.

    ``adult`` widens the given names to those of grown-ups (staff).
    ``mix`` is the chance the surname comes from a different group than the
    given name (children of mixed heritage); the ethnicity then follows.
    """
    while True:
        gi = _pick_heritage(rng)
        given_h = HERITAGES[gi]
        si = gi
        if mix and rng.random() < mix:
            si = _pick_heritage(rng)
        sur_h = HERITAGES[si]
        pool = _GIVEN[gi, female, adult]
        given = pool[int(rng.random() * len(pool))]
        surname = _surname_for(sur_h.surnames[int(rng.random() * len(sur_h.surnames))], female)
        if f"{given} {surname}" in FAMOUS:
            continue
        if si == gi:
            ethnicity = _pick(rng, *_ETH_CUM[gi])
        else:
            pair = frozenset({given_h.broad, sur_h.broad})
            if len(pair) > 1:
                ethnicity = _MIXED.get(pair, "Any other mixed background")
            else:  # two groups of the same broad heritage (British and Irish, say)
                ethnicity = _pick(rng, *_ETH_CUM[gi])
        return given, surname, ethnicity


_ASCII_FOLD = str.maketrans({"ł": "l", "Ł": "L", "ø": "o", "đ": "d", "ß": "ss"})


def email_local(given: str, surname: str) -> str:
    """'Łukasz', "O'Brien" -> 'lukasz.obrien' (ASCII, lower case, as IT would set it up)."""

    def fold(text: str) -> str:
        text = unicodedata.normalize("NFKD", text.translate(_ASCII_FOLD))
        return "".join(c for c in text if c.isascii() and (c.isalnum() or c == "-")).lower()

    return f"{fold(given)}.{fold(surname)}"
