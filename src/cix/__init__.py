"""cix: a classified information exchange under bilateral security-of-information agreements.

The pure cores (`cix.labels`, `cix.agreements`, `cix.policy`, `cix.envelope`, `cix.audit`)
import no database, web framework or clock; `cix.store`, `cix.node`, `cix.api`, `cix.web` and
`cix.cli` build the national node on top of them.
"""

__version__ = "0.1.0"
