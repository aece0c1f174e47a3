"""Lead fields about the person: names, company, email and its rejects."""

from __future__ import annotations

import json
import unicodedata

import pytest
from mapper_intercom_salesforce.names import split_name
from mapper_intercom_salesforce.text import graphemes, sf_len, truncate

from .map_helpers import contact, record, run_cli, schema, state

ZWJ_CODER = "\U0001f469\u200d\U0001f4bb"  # woman technologist: 3 code points, 5 UTF-16 units
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # 11 UTF-16 units
FLAG = "\U0001f1e9\U0001f1ea"  # two regional indicators, 4 units
THUMB = "\U0001f44d\U0001f3fd"  # with a skin tone, 4 units
Q_ACUTE = "q\u0301\u0323"  # a letter with two combining marks, 3 units

LONG_FIRST = "Maximiliane-Alexandra-Konstantina-Friederike"  # 44 characters
LONG_LAST = "Wolfeschlegelsteinhausenbergerdorff" * 3  # 105 characters

NAME_CASES = {
    "plain": ("Ada Lovelace", "ada@acme.com", "Ada", "Lovelace"),
    "one_word": ("Cher", "cher@acme.com", None, "Cher"),
    "title_only": ("Prince", "prince@acme.com", None, "Prince"),
    "middle": ("Mary Ann Smith", "mary@acme.com", "Mary Ann", "Smith"),
    "comma": ("Smith, John", "john@acme.com", "John", "Smith"),
    "prefix": ("Ludwig van Beethoven", "lvb@acme.com", "Ludwig", "van Beethoven"),
    "suffix": ("Martin Luther King Jr.", "mlk@acme.com", "Martin Luther", "King Jr."),
    "missing": (None, "j.doe@acme.com", None, "j.doe"),
    "blank": ("   ", "blank@acme.com", None, "blank"),
    "cjk_unspaced": ("山田太郎", "yamada@acme.jp", None, "山田太郎"),
    "cjk_spaced": ("山田 太郎", "taro@acme.jp", "太郎", "山田"),
    "korean": ("김 민준", "kim@acme.kr", "민준", "김"),
    "arabic": ("محمد بن سلمان", "m@acme.sa", "محمد", "بن سلمان"),
    "arabic_two": ("ليلى خالد", "l@acme.sa", "ليلى", "خالد"),
    "cyrillic": ("Анна Каренина", "anna@acme.ru", "Анна", "Каренина"),
    # Cut at the last hyphen rather than mid-word; one unbroken word is cut at the limit.
    "long": (f"{LONG_FIRST} {LONG_LAST}", "long@acme.com", LONG_FIRST[:33], LONG_LAST[:80]),
    "long_hyphenated": (
        "Maximiliana " + "Alexandrovna-" * 24 + "Featherstonehaugh",
        "long.values@example.com",
        "Maximiliana",
        "-".join(["Alexandrovna"] * 6),
    ),
    "decomposed": ("Jose\u0301 Nu\u0301n\u0303ez", "jose@acme.es", "José", "Núñez"),
    # Emoji sequences joined by U+200D, skin tones and flags stay whole (nameparser alone
    # would drop them or keep a lone joiner).
    "zwj": ("Anna \U0001f469\u200d\U0001f4bb Lee", "anna@acme.com", "Anna 👩‍💻", "Lee"),
    "skin_tone": ("\U0001f44d\U0001f3fd Bob Smith", "bob@acme.com", "👍🏽 Bob", "Smith"),
    "flag_comma": ("Lee, Anna \U0001f1e9\U0001f1ea", "lee@acme.com", "Anna 🇩🇪", "Lee"),
}


@pytest.fixture(scope="module")
def names_run(tmp_path_factory):
    messages = [schema("contacts")]
    for case, (name, email, _, _) in NAME_CASES.items():
        messages.append(record("contacts", contact(case, email, name)))
    messages.append(state({"n": 1}))
    return run_cli(messages, None, tmp_path_factory.mktemp("names"))


@pytest.mark.parametrize("case", list(NAME_CASES))
def test_name_split(names_run, case):
    _, _, first, last = NAME_CASES[case]
    lead = names_run.leads()[case]
    assert (lead["FirstName"], lead["LastName"]) == (first, last)


def test_names_fit_salesforce_lengths_without_splitting_characters(run_mapper):
    # 𠮷 lies outside the Basic Multilingual Plane: Salesforce counts it as two characters.
    rare_cjk = "𠮷" * 41
    # "q" + combining acute accent is one glyph (with no precomposed form); a cut between
    # them would corrupt it.
    accented = "Ö" * 79 + "q\u0301z"
    run = run_mapper(
        [
            record("contacts", contact("c1", "x@acme.com", rare_cjk)),
            record("contacts", contact("c2", "y@acme.com", accented)),
            state({}),
        ]
    )
    leads = run.leads()
    assert leads["c1"]["LastName"] == "𠮷" * 40
    assert leads["c2"]["LastName"] == "Ö" * 79


def test_company_fallbacks_and_size(run_mapper):
    run = run_mapper(
        [
            schema("companies"),
            record("companies", {"type": "company", "id": "co1", "name": "Acme GmbH", "size": 250}),
            record("companies", {"type": "company", "id": "co2", "name": "Second Co", "size": 5}),
            schema("contacts"),
            # Known company: its name and size, not the email domain.
            record("contacts", contact("c1", "a@acme.de", companies=["co-unknown", "co1", "co2"])),
            # Unknown company id: fall back to the email domain; size from the attribute.
            record(
                "contacts",
                contact(
                    "c2",
                    "b@Initech.example.org",
                    companies=["co-unknown"],
                    custom_attributes={"company_size": "1,200"},
                ),
            ),
            # Free-mail domain: no company can be inferred: the placeholder.
            record("contacts", contact("c3", "c@gmail.com")),
            # A domain added to the free-mail list by setting.
            record("contacts", contact("c4", "d@corp-mail.example")),
            state({}),
        ],
        {"company_placeholder": "Unknown (Intercom)", "free_mail_domains": ["corp-mail.example"]},
    )
    leads = run.leads()
    assert (leads["c1"]["Company"], leads["c1"]["Company_Size__c"]) == ("Acme GmbH", 250)
    assert (leads["c2"]["Company"], leads["c2"]["Company_Size__c"]) == (
        "initech.example.org",
        1200,
    )
    assert (leads["c3"]["Company"], leads["c3"]["Company_Size__c"]) == ("Unknown (Intercom)", None)
    assert leads["c4"]["Company"] == "Unknown (Intercom)"


def test_default_company_placeholder(run_mapper):
    run = run_mapper([record("contacts", contact("c1", "someone@outlook.com")), state({})])
    assert run.leads()["c1"]["Company"] == "[not provided]"


def test_email_is_trimmed_and_lower_cased(run_mapper):
    run = run_mapper([record("contacts", contact("c1", "  Pat.Doe@ACME.Com \n")), state({})])
    lead = run.leads()["c1"]
    assert lead["Email"] == "pat.doe@acme.com"
    assert lead["Company"] == "acme.com"
    assert lead["LeadSource"] == "Intercom"


@pytest.mark.parametrize(
    ("email", "reason_start"),
    [
        (None, "no email; cannot match or create a Lead"),
        ("   ", "no email; cannot match or create a Lead"),
        ("pat.doe-at-acme.com", "malformed email address"),
        ("pat@acme", "malformed email address"),
        ("pat doe@acme.com", "malformed email address"),
        ("two@@acme.com", "malformed email address"),
        ("x" * 64 + "@" + "d" * 20 + ".example.com", "email longer than the 80 characters"),
    ],
)
def test_unusable_email_goes_to_reject_file(run_mapper, email, reason_start):
    run = run_mapper(
        [record("contacts", contact("c9", email)), record("contacts", contact("ok", "ok@acme.com"))]
        + [state({})],
    )
    assert run.returncode == 0, run.stderr
    assert list(run.leads()) == ["ok"]
    reject = run.rejected()["c9"]
    assert reject["kind"] == "rejected"
    assert reject["stream"] == "Lead"
    assert reject["reason"].startswith(reason_start)
    assert reject["record"]["id"] == "c9"
    assert set(reject) >= {"time", "stream", "key", "reason", "record", "kind"}
    # Person-facing: the log says which contact and why.
    assert "c9" in run.stderr and reason_start in run.stderr


def test_reject_file_appends_across_runs(run_mapper, tmp_path):
    reject_file = tmp_path / "out" / "rejects.jsonl"
    for _ in range(2):
        run_mapper(
            [record("contacts", contact("c1", None)), state({})], {"reject_file": str(reject_file)}
        )
    lines = [json.loads(line) for line in reject_file.read_text("utf-8").splitlines()]
    assert [line["key"] for line in lines] == ["c1", "c1"]


def test_two_word_shortcut_agrees_with_the_parser():
    """Plain two-word names skip nameparser for speed; they must split exactly as it would."""
    from mapper_intercom_salesforce.names import _plain_word, _split_western, _split_with_parser

    names = ["John Smith", "Zoë Kravitz", "Søren Kierkegaard", "Ola Nordmann", "Li Wei"]
    names += ["Mr Bean", "Dr Who", "Van Halen", "John Jr", "Mary III", "Abdul Aziz"]
    shortcut = 0
    for full in names:
        assert _split_western(full) == _split_with_parser(full), full
        shortcut += all(_plain_word(word) for word in full.split())
    # Both paths were exercised: plain names by the shortcut, the rest by the parser.
    assert 0 < shortcut < len(names)


@pytest.mark.parametrize("cluster", [ZWJ_CODER, FAMILY, FLAG, THUMB, Q_ACUTE, "e\u0301"])
@pytest.mark.parametrize("limit", range(3, 16))
def test_truncate_never_splits_a_grapheme_cluster(cluster, limit):
    text = "ab" + cluster * 8
    cut = truncate(text, limit)
    clusters = graphemes(cut)
    assert clusters == graphemes(text)[: len(clusters)], (cut, limit)
    assert sf_len(cut) <= limit
    # As many whole clusters as fit: one more would not.
    assert sf_len(cut) + sf_len(cluster) > limit


def test_truncate_with_marker_counts_the_marker():
    assert truncate("ab" + FLAG * 3, 9, "…") == "ab" + FLAG + "…"


@pytest.mark.parametrize("cluster", [ZWJ_CODER, FLAG, THUMB, Q_ACUTE])
def test_name_parts_keep_whole_clusters_when_cut(cluster):
    first = "Maximiliane" + cluster * 20
    parts = split_name(f"{first} Lee", "m@acme.com")
    assert parts.last == "Lee"
    assert sf_len(parts.first) <= 40
    kept = graphemes(parts.first)
    # Names are NFC-normalised first (which orders the combining marks).
    assert kept == graphemes(unicodedata.normalize("NFC", first))[: len(kept)]
    assert sf_len(parts.first) + sf_len(cluster) > 40


def test_emoji_only_name_is_the_last_name():
    assert split_name(FAMILY).last == FAMILY
    parts = split_name(f"{ZWJ_CODER} {FLAG}")
    assert {parts.first, parts.last} == {ZWJ_CODER, FLAG}
