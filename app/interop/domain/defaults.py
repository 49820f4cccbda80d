"""Default interop tables: the device profile starts from these and may extend or override them.

These are interoperability data, not clinical numbers: which observation code means which
metric (LOINC, clinical.md §7.1; IEEE 11073-10101 MDC, §7.2), how units are written (UCUM, MDC
unit codes, plain text, §7.2) and which values monitors send to mean "no measurement".
A profile's ``code_map`` / ``unit_map`` entries win over these; documented in the README
("For integrators").
"""

from __future__ import annotations

from collections.abc import Mapping

# Observation code (LOINC code, MDC number or MDC reference id) → metric name (app.protocols Metric).
DEFAULT_CODE_MAP: Mapping[str, str] = {
    # LOINC
    "8480-6": "sbp",
    "8462-4": "dbp",
    "8478-0": "map",
    "8867-4": "hr",
    "2708-6": "spo2",
    "59408-5": "spo2",
    "9279-1": "rr",
    "8310-5": "temp",
    # MDC numbers and reference ids: NIBP (several vendor spellings), invasive arterial
    "150021": "sbp",
    "MDC_PRESS_BLD_NONINV_SYS": "sbp",
    "150022": "dbp",
    "MDC_PRESS_BLD_NONINV_DIA": "dbp",
    "150023": "map",
    "MDC_PRESS_BLD_NONINV_MEAN": "map",
    "150301": "sbp",
    "MDC_PRESS_CUFF_SYS": "sbp",
    "150302": "dbp",
    "MDC_PRESS_CUFF_DIA": "dbp",
    "150303": "map",
    "MDC_PRESS_CUFF_MEAN": "map",
    "150033": "sbp",
    "MDC_PRESS_BLD_ART_SYS": "sbp",
    "150034": "dbp",
    "MDC_PRESS_BLD_ART_DIA": "dbp",
    "150035": "map",
    "MDC_PRESS_BLD_ART_MEAN": "map",
    # heart and pulse rate
    "147842": "hr",
    "MDC_ECG_HEART_RATE": "hr",
    "149530": "pr",
    "MDC_PULS_OXIM_PULS_RATE": "pr",
    "149546": "pr",
    "MDC_PULS_RATE_NON_INV": "pr",
    "149514": "pr",
    "MDC_PULS_RATE": "pr",
    # SpO2
    "150456": "spo2",
    "MDC_PULS_OXIM_SAT_O2": "spo2",
    # respiratory rate
    "151562": "rr",
    "MDC_RESP_RATE": "rr",
    "151578": "rr",
    "MDC_TTHOR_RESP_RATE": "rr",
    "151594": "rr",
    "MDC_CO2_RESP_RATE": "rr",
    "151658": "rr",
    "MDC_PULS_OXIM_PLETH_RESP_RATE": "rr",
    # temperature
    "150364": "temp",
    "MDC_TEMP_BODY": "temp",
    "188424": "temp",
    "MDC_TEMP_ORAL": "temp",
    "188452": "temp",
    "MDC_TEMP_AXILLA": "temp",
    "150344": "temp",
    "MDC_TEMP": "temp",
}

# Unit as written (UCUM code, MDC unit number or reference id, plain text) → UCUM.
DEFAULT_UNIT_MAP: Mapping[str, str] = {
    # MDC unit codes (clinical.md §7.2)
    "266016": "mm[Hg]",
    "MDC_DIM_MMHG": "mm[Hg]",
    "264864": "/min",
    "MDC_DIM_BEAT_PER_MIN": "/min",
    "262688": "%",
    "MDC_DIM_PERCENT": "%",
    "264928": "/min",
    "MDC_DIM_RESP_PER_MIN": "/min",
    "268192": "Cel",
    "MDC_DIM_DEGC": "Cel",
    "266560": "[degF]",
    "MDC_DIM_FAHR": "[degF]",
    "267616": "kPa",
    "MDC_DIM_KILO_PASCAL": "kPa",
    # plain text seen on monitors and gateways
    "mmHg": "mm[Hg]",
    "mm Hg": "mm[Hg]",
    "bpm": "/min",
    "beats/min": "/min",
    "1/min": "/min",
    "rpm": "/min",
    "brpm": "/min",
    "breaths/min": "/min",
    "percent": "%",
    "degC": "Cel",
    "°C": "Cel",
    "C": "Cel",
    "degF": "[degF]",
    "°F": "[degF]",
    "F": "[degF]",
}

# Values monitors send in OBX-5 for "no measurement" (e.g. Mindray-style -100): rejected readings.
DEFAULT_SENTINELS: frozenset[float] = frozenset({-100.0, -999.0, -9999.0, -32767.0, -32768.0})

# HL7 versions we accept for ORU^R01 (issue 10: 2.3–2.6).
ACCEPTED_VERSIONS: frozenset[str] = frozenset({"2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6"})
