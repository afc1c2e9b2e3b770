"""ISO 3166-1 alpha-3 country codes: the one test of a party or nationality code.

The table is the standard's 249 officially assigned codes (taken from the iso-codes data
that pycountry ships, 2026). User-assigned codes (`AAA`-`AAZ`, `QMA`-`QZZ`, `XAA`-`XZZ`,
`ZZA`-`ZZZ`) and reserved ones name no country and are refused. A code added by ISO later is
added here, one line.
"""

from __future__ import annotations

from cix.labels.errors import LabelError

ALPHA3: frozenset[str] = frozenset(
    """
    ABW AFG AGO AIA ALA ALB AND ARE ARG ARM ASM ATA ATF ATG AUS AUT AZE BDI BEL BEN BES BFA
    BGD BGR BHR BHS BIH BLM BLR BLZ BMU BOL BRA BRB BRN BTN BVT BWA CAF CAN CCK CHE CHL CHN
    CIV CMR COD COG COK COL COM CPV CRI CUB CUW CXR CYM CYP CZE DEU DJI DMA DNK DOM DZA ECU
    EGY ERI ESH ESP EST ETH FIN FJI FLK FRA FRO FSM GAB GBR GEO GGY GHA GIB GIN GLP GMB GNB
    GNQ GRC GRD GRL GTM GUF GUM GUY HKG HMD HND HRV HTI HUN IDN IMN IND IOT IRL IRN IRQ ISL
    ISR ITA JAM JEY JOR JPN KAZ KEN KGZ KHM KIR KNA KOR KWT LAO LBN LBR LBY LCA LIE LKA LSO
    LTU LUX LVA MAC MAF MAR MCO MDA MDG MDV MEX MHL MKD MLI MLT MMR MNE MNG MNP MOZ MRT MSR
    MTQ MUS MWI MYS MYT NAM NCL NER NFK NGA NIC NIU NLD NOR NPL NRU NZL OMN PAK PAN PCN PER
    PHL PLW PNG POL PRI PRK PRT PRY PSE PYF QAT REU ROU RUS RWA SAU SDN SEN SGP SGS SHN SJM
    SLB SLE SLV SMR SOM SPM SRB SSD STP SUR SVK SVN SWE SWZ SXM SYC SYR TCA TCD TGO THA TJK
    TKL TKM TLS TON TTO TUN TUR TUV TWN TZA UGA UKR UMI URY USA UZB VAT VCT VEN VGB VIR VNM
    VUT WLF WSM YEM ZAF ZMB ZWE
    """.split()
)
"""Every officially assigned ISO 3166-1 alpha-3 code."""


def is_country(code: object) -> bool:
    """Whether `code` is an officially assigned ISO 3166-1 alpha-3 code (`KOR`, `CAN`)."""
    return isinstance(code, str) and code in ALPHA3


def nationality(code: object, where: str = "nationality") -> str:
    """Return `code` if it is an ISO 3166-1 alpha-3 country code, else raise naming `where`.

    The one validator of party codes: label parsing, agreements and the node's registry of
    people all call it. The `LabelError` it raises is a `ValueError`, so it serves as a
    pydantic validator as well.
    """
    if not isinstance(code, str) or len(code) != 3 or not code.isascii() or not code.isupper():
        raise LabelError(f"{where}: {code!r} is not a party code (three capital letters)")
    if code not in ALPHA3:
        raise LabelError(f"{where}: {code!r} is not an ISO 3166-1 alpha-3 country code")
    return code
