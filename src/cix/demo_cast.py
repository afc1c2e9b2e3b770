"""The people, organisations, programmes and documents the demonstration nodes are seeded with.

Data only (fictional people; real institutions named for orientation): the Canadian node has
DND programme staff, a PSPC contract security officer (the NSA role), a Canadian contractor
with a facility clearance and one without, and the CPSP programme; the Korean and German
nodes have their own officials, a programme and a few documents each.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cix.node.roles import Role


@dataclass(frozen=True)
class Org:
    """An organisation to register; `facility` is the level of a contractor's clearance."""

    id: str
    name: str
    kind: str
    facility: str | None = None


@dataclass(frozen=True)
class Member:
    """A person to register, with a clearance level (or none) and programme memberships."""

    id: str
    name: str
    org: str
    clearance: str | None
    roles: tuple[Role, ...]
    programmes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Doc:
    """A sample document: its label as a banner, its title and who uploads it."""

    key: str
    title: str
    label: str
    by: str
    text: str


@dataclass(frozen=True)
class Nation:
    """Everything one demonstration node is seeded with."""

    party: str
    agreements: tuple[str, ...]
    orgs: tuple[Org, ...]
    people: tuple[Member, ...]
    programmes: tuple[tuple[str, str], ...]
    documents: tuple[Doc, ...] = field(default=())


_R, _O, _NSA, _FSO, _AUD = (
    Role.READER,
    Role.ORIGINATOR,
    Role.NSA_OFFICER,
    Role.FSO,
    Role.AUDITOR,
)

CANADA = Nation(
    party="CAN",
    agreements=("kor-can", "can-deu"),
    orgs=(
        Org("dnd", "Department of National Defence", "government"),
        Org("pspc", "Public Services and Procurement Canada", "government"),
        Org("tidewater", "Tidewater Marine Systems Ltd. (cleared contractor)", "contractor", "S"),
        Org("northfab", "Northern Fabrication Inc. (no facility clearance)", "contractor"),
    ),
    people=(
        Member(
            "dnd-pm", "Cdr. Anne Tremblay, CPSP project manager", "dnd", "S", (_R, _O), ("CPSP",)
        ),
        Member("dnd-analyst", "Lt(N) Marc Gagnon, CPSP analyst", "dnd", "S", (_R,), ("CPSP",)),
        Member(
            "pspc-cso",
            "Priya Natarajan, PSPC contract security officer",
            "pspc",
            "S",
            (_NSA,),
            ("CPSP",),
        ),
        Member("dnd-auditor", "Louise Roy, DND security auditor", "dnd", "S", (_AUD,)),
        Member("tide-eng", "Sam Clarke, Tidewater engineer", "tidewater", "S", (_R,), ("CPSP",)),
        Member("tide-fso", "Dana White, Tidewater FSO", "tidewater", "S", (_FSO,)),
        Member(
            "northfab-eng", "Alex Martin, Northern Fabrication", "northfab", "S", (_R,), ("CPSP",)
        ),
    ),
    programmes=(("CPSP", "Canadian Patrol Submarine Project"),),
    documents=(
        Doc(
            "requirements",
            "CPSP high-level requirements",
            "CONFIDENTIAL//CPSP//REL TO CAN",
            "dnd-pm",
            "Range, endurance and under-ice requirements (sample text).\n",
        ),
        Doc(
            "acoustics",
            "CPSP acoustic signature study",
            "SECRET//CPSP//REL TO CAN, KOR",
            "dnd-pm",
            "Acoustic signature targets for the candidate designs (sample text).\n",
        ),
        Doc(
            "readiness",
            "Fleet readiness assessment",
            "SECRET//GOVONLY//REL TO CAN",
            "dnd-pm",
            "Readiness of the current fleet, government only (sample text).\n",
        ),
        Doc(
            "schedule",
            "Procurement schedule",
            "CONFIDENTIAL//REL TO CAN, KOR",
            "dnd-pm",
            "Milestones of the procurement (sample text).\n",
        ),
    ),
)

KOREA = Nation(
    party="KOR",
    agreements=("kor-can",),
    orgs=(
        Org("dapa", "Defense Acquisition Program Administration", "government"),
        Org("dcc", "Defense Counterintelligence Command", "government"),
        Org("hanwha", "Hanwha Ocean (cleared contractor)", "contractor", "II"),
    ),
    people=(
        Member(
            "dapa-pm",
            "Kim Min-jun, DAPA programme officer",
            "dapa",
            "II",
            (_R, _O),
            ("KSS3", "CPSP"),
        ),
        Member("dcc-nsa", "Lee Seo-yeon, security authority officer", "dcc", "II", (_NSA,)),
        Member(
            "hanwha-eng",
            "Park Ji-hoon, Hanwha Ocean engineer",
            "hanwha",
            "II",
            (_R, _O),
            ("KSS3", "CPSP"),
        ),
    ),
    programmes=(
        ("KSS3", "KSS-III submarine programme"),
        ("CPSP", "Canadian Patrol Submarine Project: the Korean bid"),
    ),
    documents=(
        Doc(
            "cpsp-design",
            "CPSP candidate design: hull and air-independent propulsion (Hanwha Ocean)",
            "군사Ⅱ급비밀//CPSP//배포 허용 CAN, KOR",
            "dapa-pm",
            "Hull form, AIP and battery layout of the KSS-III based offer (sample text).\n",
        ),
        Doc(
            "kss3-design",
            "KSS-III Batch-II design summary",
            "군사Ⅱ급비밀//KSS3//배포 허용 KOR",
            "dapa-pm",
            "Design summary (sample text).\n",
        ),
        Doc(
            "offer",
            "Offer to Canada: overview",
            "군사Ⅲ급비밀//배포 허용 CAN, KOR",
            "dapa-pm",
            "Overview of the offer (sample text).\n",
        ),
    ),
)

GERMANY = Nation(
    party="DEU",
    agreements=("can-deu",),
    orgs=(
        Org("baainbw", "BAAINBw (federal procurement office)", "government"),
        Org("bmwk", "BMWK security authority", "government"),
        Org("tkms", "thyssenkrupp Marine Systems (cleared contractor)", "contractor", "GEH"),
    ),
    people=(
        Member(
            "baainbw-ref",
            "Jonas Becker, BAAINBw desk officer",
            "baainbw",
            "GEH",
            (_R, _O),
            ("U212CD",),
        ),
        Member("bmwk-nsa", "Miriam Schulz, security authority officer", "bmwk", "GEH", (_NSA,)),
        Member("tkms-eng", "Lena Wagner, TKMS engineer", "tkms", "GEH", (_R,), ("U212CD", "CPSP")),
    ),
    programmes=(
        ("U212CD", "Type 212CD submarine programme"),
        ("CPSP", "Canadian Patrol Submarine Project: the hull section built by TKMS"),
    ),
    documents=(
        Doc(
            "u212cd",
            "212CD programme status",
            "GEHEIM//U212CD//FREIGABE AN DEU",
            "baainbw-ref",
            "Programme status (sample text).\n",
        ),
        Doc(
            "offer-de",
            "Offer to Canada: overview",
            "VS-VERTRAULICH//FREIGABE AN CAN, DEU",
            "baainbw-ref",
            "Overview of the offer (sample text).\n",
        ),
    ),
)

NATIONS = (CANADA, KOREA, GERMANY)
"""The three demonstration nodes, in the order their ports are given out."""
